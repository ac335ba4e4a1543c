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

// A sweep point that makes the config invalid is bad input (exit 2, the key
// named), found before any point runs.
func TestSimBadSweepPointIsBadInput(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "examples", "sim", "threshold-sweep.toml"))
	require.NoError(t, err)
	bad := strings.Replace(string(text), "values = [0.0, 0.5, 0.85]", "values = [0.0, 1.5]", 1)
	require.NotEqual(t, string(text), bad)
	path := filepath.Join(t.TempDir(), "bad.toml")
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
	out := t.TempDir()
	code, stdout, stderr := runCLI("sim", "--config", path, "--out", out)
	assert.Equal(t, exitBadInput, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "behaviour.deadline.hurry_share: 1.5 is not a share")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is written for a bad sweep")
}

// The parameter-change example runs from the command line: the comparison
// table on stdout, the rules in report.md, and a bad [param_change] is bad
// input naming its key.
func TestSimParamChangeExample(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "sim", "param-change.toml")
	out := t.TempDir()
	code, stdout, stderr := runCLI("sim", "--config", example, "--out", out, "--runs", "4")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "| governance-6h | governance | 4/4 (activation too soon) | 0/4 |")
	assert.Contains(t, stdout, "### deferred_by_min_lead")
	report, err := os.ReadFile(filepath.Join(out, "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(report), "## Parameter change")

	text, err := os.ReadFile(example)
	require.NoError(t, err)
	bad := strings.Replace(string(text), `new = "4194304"`, `new = "2097152"`, 1)
	require.NotEqual(t, string(text), bad)
	path := filepath.Join(t.TempDir(), "bad.toml")
	require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
	code, _, stderr = runCLI("sim", "--config", path, "--out", t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, stderr, `param_change.new: "2097152" is the value at genesis (old): not a change`)
}

// Two identical runs write the same report.md, byte for byte: it carries
// no timing (that goes to stderr).
func TestSimReportIsTheSameAcrossIdenticalRuns(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "sim", "flow-like.toml")
	var reports [2][]byte
	out := t.TempDir() // the same command twice: --out is part of the command line the report shows
	for i := range reports {
		code, _, stderr := runCLI("sim", "--config", example, "--out", out, "--runs", "6", "--seed", "5")
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stderr, "6 runs in")
		var err error
		reports[i], err = os.ReadFile(filepath.Join(out, "report.md"))
		require.NoError(t, err)
	}
	assert.NotContains(t, string(reports[0]), "computed in")
	assert.True(t, bytes.Equal(reports[0], reports[1]), "report.md differs between identical runs")
}

// A schedule that cannot activate before the horizon is bad input (exit 2)
// naming the key, its value and the horizon, for every mechanism kind.
func TestSimScheduleBeyondTheHorizonIsBadInput(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "sim", "presets", "near.toml")
	text, err := os.ReadFile(example)
	require.NoError(t, err)
	for _, tc := range []struct{ name, from, to, want string }{
		{"governance", "[[mechanism]]", "[[mechanism]]\nname = \"gov\"\nkind = \"governance\"\ndelay_hours = 720\n[[mechanism]]",
			"mechanism[0].delay_hours: 720 (activation view 2592000) is at or past the horizon, horizon_epochs 60 × chain.epoch_views 43200 = view 2592000 (720.00 hours)"},
		{"hybrid", "[[mechanism]]", "[[mechanism]]\nname = \"hy\"\nkind = \"hybrid\"\ndelay_hours = 716\ntimeout_epochs = 60\n[[mechanism]]",
			"mechanism[0].delay_hours: 716 (earliest activation at the epoch boundary, view 2592000) is at or past the horizon"},
		{"stake delay_epochs", "\ndelay_epochs = 1\n", "\ndelay_epochs = 46\n", "mechanism[0].delay_epochs: 46 puts the earliest activation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(strings.Replace(string(text), "horizon_epochs = 120", "horizon_epochs = 60", 1),
				"timeout_epochs = 120", "timeout_epochs = 60", 1)
			bad = strings.Replace(bad, tc.from, tc.to, 1)
			path := filepath.Join(t.TempDir(), "bad.toml")
			require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
			code, stdout, stderr := runCLI("sim", "--config", path, "--out", t.TempDir())
			assert.Equal(t, exitBadInput, code, stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

// A sweep's report has the Robustness section too, run at the sweep's base
// point, its verdicts on stdout, and it is the same bytes across two
// identical runs.
func TestSimSweepRobustnessAndSameReport(t *testing.T) {
	example := filepath.Join("..", "..", "examples", "sim", "threshold-sweep.toml")
	var reports [2][]byte
	out := t.TempDir()
	for i := range reports {
		code, stdout, stderr := runCLI("sim", "--config", example, "--out", out, "--runs", "4", "--seed", "5")
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stderr, "points × 4 runs in")
		assert.Contains(t, stdout, "Robustness at the sweep's base point (each unsourced assumption flipped or swept, 4 runs each):\n"+
			"- behaviour.deadline.hurry_on_lock_in (unsourced; true, tried false): the ranking")
		assert.Contains(t, stdout, "- behaviour.deadline.hurry_share (unsourced; 0.85, tried 0, 0.5, 1; a swept key too: the sweep already varies it")
		var err error
		reports[i], err = os.ReadFile(filepath.Join(out, "report.md"))
		require.NoError(t, err)
	}
	report := string(reports[0])
	assert.Contains(t, report, "## Robustness\n")
	assert.Contains(t, report, "At the sweep's base point,")
	assert.Contains(t, report, "- behaviour.deadline.hurry_on_lock_in (unsourced; true, tried false)")
	assert.NotContains(t, report, "points × 4 runs in", "no timing in report.md")
	assert.True(t, bytes.Equal(reports[0], reports[1]), "report.md differs between identical runs")
}
