package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/storage"
)

func TestRunBadEngineSettingsExit2(t *testing.T) {
	home := t.TempDir()
	runCLI("init", "--home", home, "--node-id", "n1")
	for _, tc := range []struct{ flag, value, key string }{
		{"--engine", "tendermint", "engine"},
		{"--cometbft-p2p-listen", "127.0.0.1:26656", "cometbft.p2p_listen"},
		{"--cometbft-persistent-peers", "somebody@127.0.0.1:26656", "cometbft.persistent_peers"},
		{"--cometbft-rpc-listen", "localhost", "cometbft.rpc_listen"},
		{"--cometbft-trust-hash", "xyz", "cometbft.trust_hash"},
		{"--cometbft-snapshot-keep", "0", "cometbft.snapshot_keep"},
	} {
		code, stdout, stderr := runCLI("run", "--home", home, tc.flag, tc.value)
		assert.Equal(t, exitBadInput, code, "%s %q: %s", tc.flag, tc.value, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "configuration "+tc.key, "%s %q", tc.flag, tc.value)
	}
	// State sync on CometBFT without its trust settings says what is missing.
	code, _, stderr := runCLI("run", "--home", home, "--engine", "cometbft", "--cometbft-state-sync")
	assert.Equal(t, exitBadInput, code, stderr)
	assert.Contains(t, stderr, "configuration cometbft.rpc_servers")
	assert.Contains(t, stderr, "at least two CometBFT RPC servers")
	code, _, stderr = runCLI("run", "--home", home, "--devchain-state-sync=perhaps")
	assert.Equal(t, exitBadInput, code, stderr)
	assert.Contains(t, stderr, "configuration devchain.state_sync (from --devchain-state-sync)")
	t.Setenv("QUORUMGATE_ENGINE", "raft")
	code, _, stderr = runCLI("run", "--home", home)
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, stderr, "configuration engine (from $QUORUMGATE_ENGINE)")
}

// A genesis without a consensus-role node has no CometBFT validators: exit 2
// naming the genesis, before anything starts.
func TestRunCometBFTWithoutValidatorsExits2(t *testing.T) {
	home := soloHome(t)
	data, err := os.ReadFile(filepath.Join(home, "genesis.json"))
	require.NoError(t, err)
	var g map[string]any
	require.NoError(t, json.Unmarshal(data, &g))
	g["identities"].([]any)[0].(map[string]any)["nodes"].([]any)[0].(map[string]any)["role"] = "execution"
	data, err = json.Marshal(g)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(home, "genesis.json"), data, 0o644))
	code, _, stderr := runCLI("run", "--home", home, "--engine", "cometbft")
	assert.Equal(t, exitBadInput, code, stderr)
	assert.Contains(t, stderr, `no node of role "consensus"`)
}

// One validator is a CometBFT network of its own: run finalizes blocks and
// stops with exit 0; init printed the CometBFT node ID.
func TestRunOneNodeCometBFT(t *testing.T) {
	home := t.TempDir()
	_, stdout, _ := runCLI("init", "--home", filepath.Join(home, "probe"), "--node-id", "probe")
	var id publicIdentity
	require.NoError(t, json.Unmarshal([]byte(stdout), &id))
	assert.Len(t, id.CometBFTNodeID, 40)

	home = soloHome(t)
	port, rpc := freePort(t), freePort(t)
	stop := startRun(t, home, "--engine", "cometbft", "--cometbft-p2p-listen", fmt.Sprintf("tcp://127.0.0.1:%d", port),
		"--cometbft-rpc-listen", fmt.Sprintf("tcp://127.0.0.1:%d", rpc), "--view-interval", "20ms")
	g, err := chain.LoadGenesis(filepath.Join(home, "genesis.json"))
	require.NoError(t, err)
	testutil.Eventually(t, 30*time.Second, "CometBFT's files written", func() bool {
		_, err = os.Stat(filepath.Join(home, "cometbft", "config", "genesis.json"))
		return err == nil
	})
	// CometBFT's RPC answers, with this node as the one validator.
	var st struct {
		Result struct {
			SyncInfo struct {
				LatestBlockHeight string `json:"latest_block_height"`
			} `json:"sync_info"`
			ValidatorInfo struct {
				VotingPower string `json:"voting_power"`
			} `json:"validator_info"`
		} `json:"result"`
	}
	testutil.Eventually(t, 30*time.Second, "CometBFT's RPC reports blocks", func() bool {
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(fmt.Sprintf("http://127.0.0.1:%d/status", rpc))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Result.SyncInfo.LatestBlockHeight != "" && st.Result.SyncInfo.LatestBlockHeight != "0"
	})
	assert.Equal(t, "1", st.Result.ValidatorInfo.VotingPower, "voting power = stake")
	time.Sleep(time.Second)
	require.Equal(t, exitOK, stop())
	s, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State()})
	require.NoError(t, err)
	defer s.Close()
	head, ok := s.Head()
	require.True(t, ok, "no block was stored")
	h, v, _ := head.Head()
	assert.GreaterOrEqual(t, h, uint64(3), "blocks in two seconds")
	assert.Equal(t, h+1, v, "on CometBFT the view is the height plus one (CometBFT's height)")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	return testutil.FreePort(t)
}
