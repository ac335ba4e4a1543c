package main

import (
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
