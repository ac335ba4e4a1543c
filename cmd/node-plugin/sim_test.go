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
