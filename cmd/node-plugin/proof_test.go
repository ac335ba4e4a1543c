package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/proof"
)

// A devchain node runs a stake upgrade to ACTIVE (it signals itself) and
// stops; proof export writes the proof of the deployment and of a view,
// and proof verify checks them in a folder holding only the proof and the
// genesis, by relative paths: nothing else of the node is needed. A
// flipped byte, and another chain's genesis, make verify fail with exit 1.
func TestProofExportVerifyOnARealNodeDevchain(t *testing.T) { proofRoundTrip(t, "devchain") }

// The same on CometBFT: the finality evidence is the commit signatures of
// the block whose header carries the state ID.
func TestProofExportVerifyOnARealNodeCometBFT(t *testing.T) {
	proofRoundTrip(t, "cometbft", "--engine", "cometbft", "--cometbft-p2p-listen", fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)), "--view-interval", "20ms")
}

func proofRoundTrip(t *testing.T, engine string, engineArgs ...string) {
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	home := soloHome(t)
	stop := startRun(t, home, append([]string{"--api-listen", "127.0.0.1:0", "--api-admin", "127.0.0.1:0",
		"--supported", "protocol=1.0.0,protocol=2.0.0"}, engineArgs...)...)
	defer stop()
	waitForAPI(t, home, 30*time.Second)
	head := func() node.Status {
		var st node.Status
		_, out, _ := runCLI("status", "--home", home, "--output", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		return st
	}
	start := head().Head.View/20 + 2
	code, out, errOut := runCLI("propose", "--home", home, "--name", "p2", "--version", "2.0.0", "--mode", "stake",
		"--start-epoch", fmt.Sprint(start), "--timeout-epoch", fmt.Sprint(start+20),
		"--committee-key", filepath.Join(home, node.StakingKeyFile), "--member", "0")
	require.Equal(t, exitOK, code, "propose p2: %s %s", out, errOut)
	testutil.Eventually(t, 60*time.Second, "p2 is ACTIVE", func() bool {
		_, out, _ := runCLI("deployments", "--home", home)
		return strings.Contains(out, `"state": "ACTIVE"`)
	})
	// CometBFT proves a height once two more blocks are committed (the
	// next header carries the state ID, the one after it the commit).
	active := head().Head.Height
	testutil.Eventually(t, 30*time.Second, "three more blocks", func() bool { return head().Head.Height >= active+3 })
	// While the node runs, its store is its own.
	code, _, errOut = runCLI(append([]string{"proof", "export", "--home", home, "--deployment", "p2", "--out", "-"}, engineArgs...)...)
	assert.Equal(t, exitFailure, code, errOut)
	assert.Contains(t, errOut, "stop the node first")
	require.Equal(t, exitOK, stop())

	made := t.TempDir()
	code, _, errOut = runCLI(append([]string{"proof", "export", "--home", home, "--deployment", "p2", "--out", filepath.Join(made, "p2.proof")}, engineArgs...)...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, "wrote the proof of deployment p2")
	code, viewProof, errOut := runCLI(append([]string{"proof", "export", "--home", home, "--view", fmt.Sprint(start * 20), "--out", "-"}, engineArgs...)...)
	require.Equal(t, exitOK, code, errOut)

	// Elsewhere: an empty folder, the proofs and the genesis copied in.
	elsewhere := t.TempDir()
	data, err := os.ReadFile(filepath.Join(made, "p2.proof"))
	require.NoError(t, err)
	genesis, err := os.ReadFile(filepath.Join(home, "genesis.json"))
	require.NoError(t, err)
	for name, content := range map[string][]byte{"p2.proof": data, "view.proof": []byte(viewProof), "genesis.json": genesis} {
		require.NoError(t, os.WriteFile(filepath.Join(elsewhere, name), content, 0o644))
	}
	t.Chdir(elsewhere)
	code, out, errOut = runCLI("proof", "verify", "p2.proof", "--genesis", "genesis.json")
	require.Equal(t, exitOK, code, errOut)
	assert.Regexp(t, `^deployment p2: protocol 2\.0\.0 active from view \d+ on chain solo-chain \(`+engine+`, locked in at view \d+, epoch \d+, by all stake 1/1 \(100%\)\)\n$`, out)
	code, out, errOut = runCLI("proof", "verify", "view.proof", "--genesis", "genesis.json")
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, fmt.Sprintf("view %d on chain solo-chain: protocol 1.0.0 (from view 0);", start*20))

	// A byte in every four flipped (every field is several bytes long),
	// checked in process: none verifies. (proof's tests flip every byte.)
	g, err := chain.LoadGenesis("genesis.json")
	require.NoError(t, err)
	for i := 0; i < len(data); i += 4 {
		bad := append([]byte(nil), data...)
		bad[i] ^= 1 << (i / 4 % 8)
		_, err := proof.Verify(g, bad)
		require.Error(t, err, "byte %d of %d flipped", i, len(data))
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 1
	require.NoError(t, os.WriteFile("bad.proof", bad, 0o644))
	code, out, errOut = runCLI("proof", "verify", "bad.proof", "--genesis", "genesis.json")
	assert.Equal(t, exitFailure, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "bad.proof does not verify: ")

	other := soloHome(t) // another node key, so another genesis of the same chain ID
	code, _, errOut = runCLI("proof", "verify", "p2.proof", "--genesis", filepath.Join(other, "genesis.json"))
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errOut, "proof from another chain")
}

func TestProofBadUse(t *testing.T) {
	home := soloHome(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"proof", "export", "--home", home, "--out", "-"}, exitBadInput, "one of --deployment NAME or --view V"},
		{[]string{"proof", "export", "--home", home, "--out", "-", "--deployment", "p2", "--view", "3"}, exitBadInput, "one of --deployment NAME or --view V"},
		{[]string{"proof", "export", "--home", home, "--out", "-", "--view", "-1"}, exitBadInput, "a view is 0 or more"},
		{[]string{"proof", "export", "--home", home, "--out", "-", "--deployment", "p2"}, exitBadInput, "has no store yet"},
		{[]string{"proof", "verify", "x.proof"}, exitBadInput, "needs --genesis"},
		{[]string{"proof", "verify", filepath.Join(home, "nope.proof"), "--genesis", filepath.Join(home, "genesis.json")}, exitBadInput, "cannot read the proof"},
		{[]string{"proof", "verify", filepath.Join(home, "genesis.json"), "--genesis", filepath.Join(home, "genesis.json")}, exitFailure, "not a proof file"},
		{[]string{"proof", "verify", "x.proof", "--genesis", filepath.Join(home, "nope.json")}, exitBadInput, "genesis"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		assert.Empty(t, stdout, "%v", tc.args)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}
}
