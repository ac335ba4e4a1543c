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

// A component that is not a valid name (empty, or holding a newline and a
// command substitution a hook that evals would run) is refused before
// anything is signed or sent, naming the component: the chain's verifying
// layer would refuse it as malformed.
func TestProposeRefusesAnUnsafeComponent(t *testing.T) {
	for _, args := range [][]string{
		{"propose", "--home", t.TempDir(), "--name", "p2", "--component", "", "--version", "2.0.0", "--mode", "governance", "--activation-view", "500"},
		{"propose", "--home", t.TempDir(), "--name", "p2", "--component", "x\n$(touch /tmp/pwned)", "--version", "2.0.0"},
		{"testnet", "propose", "--dir", t.TempDir(), "--name", "p2", "--component", "", "--version", "2.0.0"},
		{"testnet", "propose", "--dir", t.TempDir(), "--name", "p2", "--component", "a\nb", "--version", "2.0.0"},
	} {
		code, stdout, stderr := runCLI(args...)
		assert.Equal(t, exitBadInput, code, "%q: %s", args, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "--component", "%q", args)
		assert.Contains(t, stderr, "malformed", "%q", args)
	}
}
