package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestReplayDesignScenario(t *testing.T) {
	path := filepath.Join("..", "..", "replay", "testdata", "design", "01-stake-lockin.json")
	code, stdout, stderr := runCLI("replay", "--scenario", path)
	require.Equal(t, exitOK, code, "stderr %q", stderr)
	require.Empty(t, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 6, stdout)
	// Keys in the order DESIGN.md shows them.
	assert.Equal(t, `{"type":"transition","view":140,"height":140,"epoch":1,"deployment":"protocol-v2","from":"STARTED","to":"LOCKED_IN","activation_view":200}`,
		lines[3], "line 4")
	assert.True(t, strings.HasPrefix(lines[5], `{"type":"summary","view":320,`), "summary line %s", lines[5])
}

// The CLI prints exactly the golden lines of every example scenario, byte for
// byte (what `make replay-examples` shows).
func TestReplayExamplesMatchGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "scenarios", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".expected.jsonl")
		require.NoError(t, err)
		code, stdout, stderr := runCLI("replay", "--scenario", f)
		require.Equal(t, exitOK, code, "%s: %s", f, stderr)
		assert.Equal(t, string(want), stdout, f)
	}
}

func TestReplayBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
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
			assert.Equal(t, exitBadInput, code, "exit code")
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "stderr is one line: %q", stderr)
			assert.Contains(t, stderr, tc.msg)
		})
	}
}

func TestSim(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI("sim", "--config", filepath.Join("..", "..", "examples", "sim", "flow-like.toml"),
		"--out", out, "--runs", "20", "--seed", "3")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "20 runs in", "the timing goes to stderr")
	assert.NotContains(t, stdout, "runs in")
	assert.Contains(t, stdout, "| stake-2/3 |")
	assert.Contains(t, stdout, "Robustness (each unsourced assumption flipped or swept, 20 runs each):\n- behaviour.deadline.hurry_on_lock_in (unsourced; true, tried false): the ranking")
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(report), "seed 3")
	// Provenance: the effective config carries the overrides, not the file's values.
	for _, want := range []string{"seed = 3\n", "runs = 20\n", "- command: `", "--runs 20 --seed 3`", "node-plugin ", "go1."} {
		assert.Contains(t, string(report), want, "report.md")
	}
	for _, args := range [][]string{
		{"sim", "--out", out},
		{"sim", "--config", "missing.toml", "--out", out},
		{"sim", "--config", filepath.Join("..", "..", "examples", "sim", "flow-like.toml"), "--out", out, "--runs", "0"},
	} {
		code, stdout, stderr := runCLI(args...)
		assert.Equal(t, exitBadInput, code, "%v: stderr %q", args, stderr)
		assert.Empty(t, stdout, "%v", args)
	}
}

func TestSimSweep(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := runCLI("sim", "--config", filepath.Join("..", "..", "examples", "sim", "threshold-sweep.toml"),
		"--out", out, "--runs", "2")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, "21 points × 2 runs")
	assert.Contains(t, stdout, "wrote ")
	for _, f := range []string{"sweep.csv", "sensitivity.csv", "report.md", "tornado_hours_to_activation.png",
		"curve_mechanism_threshold_unready_stake_at_activation.png"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
}

func TestExampleSimConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "sim", "*.toml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 2, "example configs")
	for _, f := range files {
		code, _, stderr := runCLI("sim", "--config", f, "--out", t.TempDir(), "--runs", "3")
		assert.Equal(t, exitOK, code, "%s: %s", f, stderr)
	}
}
