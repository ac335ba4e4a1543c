package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/quorumgate/quorumgate/testnet"
)

// testnet compose writes the folder and names the file; its flags reach the
// file (image, host-of, engine); a malformed --host-of, an unknown node or a
// used folder is bad usage (exit 2) and writes nothing.
func TestTestnetComposeCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	code, stdout, stderr := runCLI("testnet", "compose", "--dir", dir, "--engine", "cometbft", "--nodes", "5",
		"--image", "registry.example/np:1", "--host-of", "c1=10.0.0.1", "--host-of", "e1=10.0.0.2")
	require.Equal(t, exitOK, code, "stderr %q", stderr)
	path := filepath.Join(dir, testnet.ComposeFile)
	assert.Contains(t, stdout, "wrote "+path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var spec testnet.ComposeSpec
	require.NoError(t, yaml.Unmarshal(data, &spec))
	assert.Equal(t, "quorumgate-cometbft", spec.Name)
	require.Contains(t, spec.Services, "c2")
	assert.Equal(t, "registry.example/np:1", spec.Services["c2"].Image)
	assert.Equal(t, []string{"c1:10.0.0.1", "e1:10.0.0.2"}, spec.Services["c2"].ExtraHosts)
	assert.Len(t, spec.Services["c2"].Ports, 3, "libp2p, API and CometBFT p2p")

	for _, args := range [][]string{
		{"--host-of", "c1"},
		{"--host-of", "zz=10.0.0.1"},
		{"--nodes", "201"},
	} {
		other := filepath.Join(t.TempDir(), "net")
		code, _, stderr := runCLI(append([]string{"testnet", "compose", "--dir", other}, args...)...)
		assert.Equal(t, exitBadInput, code, "%v: stderr %q", args, stderr)
		assert.NoFileExists(t, filepath.Join(other, testnet.ComposeFile), "%v", args)
	}
	code, _, stderr = runCLI("testnet", "compose", "--dir", dir)
	assert.Equal(t, exitBadInput, code, "a used folder: stderr %q", stderr)
}
