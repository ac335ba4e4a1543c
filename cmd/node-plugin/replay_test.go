package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestReplayDesignScenario(t *testing.T) {
	path := filepath.Join("..", "..", "internal", "scenario", "testdata", "design", "01-stake-lockin.json")
	code, stdout, stderr := runCLI("replay", "--scenario", path)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines:\n%s", len(lines), stdout)
	}
	// Keys in the order DESIGN.md shows them.
	want := `{"type":"transition","view":140,"height":140,"epoch":1,"deployment":"protocol-v2","from":"STARTED","to":"LOCKED_IN","activation_view":200}`
	if lines[3] != want {
		t.Fatalf("line 4:\n got  %s\n want %s", lines[3], want)
	}
	if !strings.HasPrefix(lines[5], `{"type":"summary","view":320,`) {
		t.Fatalf("summary line %s", lines[5])
	}
}

func TestReplayBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"no file flag", []string{"replay"}, "needs --scenario"},
		{"unreadable", []string{"replay", "--scenario", filepath.Join(dir, "nope.json")}, "cannot read"},
		{"bad JSON", []string{"replay", "--scenario", write("bad.json", "{\n  \"chain\": ,\n}")}, "line 2, column"},
		{"unknown field", []string{"replay", "--scenario", write("unk.json", `{"chain":{"id":"x","epoch_views":10,"safety_views":1},"until_view":5,"blockz":[]}`)}, "blockz: unknown field"},
		{"unknown flag", []string{"replay", "--scenarios", "x"}, "unknown flag"},
		{"stray argument", []string{"replay", "--scenario", "a", "b"}, "accepts 0 arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(tc.args...)
			if code != exitBadInput {
				t.Errorf("exit %d, want %d", code, exitBadInput)
			}
			if stdout != "" {
				t.Errorf("stdout not empty: %q", stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr should be one line mentioning %q, got %q", tc.msg, stderr)
			}
		})
	}
}

func TestSim(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI("sim", "--config", filepath.Join("..", "..", "examples", "sim", "flow-like.toml"),
		"--out", out, "--runs", "20", "--seed", "3")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "20 runs in") || !strings.Contains(stdout, "| stake-2/3 |") {
		t.Fatalf("stdout:\n%s", stdout)
	}
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(report), "seed 3") {
		t.Fatalf("report: %v", err)
	}
	// Provenance: the effective config carries the overrides, not the file's values.
	for _, want := range []string{"seed = 3\n", "runs = 20\n", "- command: `", "--runs 20 --seed 3`", "node-plugin ", "go1."} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, args := range [][]string{
		{"sim", "--out", out},
		{"sim", "--config", "missing.toml", "--out", out},
		{"sim", "--config", filepath.Join("..", "..", "examples", "sim", "flow-like.toml"), "--out", out, "--runs", "0"},
	} {
		if code, stdout, _ := runCLI(args...); code != exitBadInput || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
}

func TestSimSweep(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI("sim", "--config", filepath.Join("..", "..", "examples", "sim", "threshold-sweep.toml"),
		"--out", out, "--runs", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "21 points × 2 runs") {
		t.Fatalf("stdout: %s", stdout)
	}
	for _, f := range []string{"sweep.csv", "sensitivity.csv", "report.md", "tornado_hours_to_activation.png",
		"curve_mechanism_threshold_unready_stake_at_activation.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

func TestExampleSimConfigsAreValid(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "sim", "*.toml"))
	if len(files) < 2 {
		t.Fatalf("found %d example configs", len(files))
	}
	for _, f := range files {
		out := t.TempDir()
		if code, _, stderr := runCLI("sim", "--config", f, "--out", out, "--runs", "3"); code != exitOK {
			t.Errorf("%s: exit %d: %s", f, code, stderr)
		}
	}
}
