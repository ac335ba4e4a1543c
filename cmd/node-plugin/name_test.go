package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// An unsafe deployment name is refused before anything is signed or sent,
// for the node's propose and the testnet's alike.
func TestProposeRefusesAnUnsafeName(t *testing.T) {
	for _, args := range [][]string{
		{"propose", "--home", t.TempDir(), "--name", "../x", "--version", "2.0.0", "--mode", "governance", "--activation-view", "500"},
		{"testnet", "propose", "--dir", t.TempDir(), "--name", "a b", "--version", "2.0.0"},
	} {
		code, stdout, stderr := runCLI(args...)
		assert.Equal(t, exitBadInput, code, "%v: %s", args, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "--name", "%v", args)
		assert.Contains(t, stderr, "bad name", "%v", args)
	}
}
