package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/storage"
)

func TestInitAndKeysShow(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n1")
	code, stdout, stderr := runCLI("init", "--home", home, "--node-id", "n1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var id node.Identity
	if err := json.Unmarshal([]byte(stdout), &id); err != nil || id.NodeID != "n1" || id.PeerID == "" || len(id.StakingKey) != 192 {
		t.Fatalf("identity %q: %v", stdout, err)
	}
	for _, f := range []string{node.StakingKeyFile, node.P2PKeyFile, node.AdminTokenFile} {
		st, err := os.Stat(filepath.Join(home, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, err, st.Mode())
		}
	}
	if code, _, stderr := runCLI("init", "--home", home, "--node-id", "n1"); code != exitBadInput || !strings.Contains(stderr, "already holds a node") {
		t.Fatalf("second init: exit %d, %s", code, stderr)
	}
	code, stdout, _ = runCLI("keys", "show", "--home", home, "--output", "json")
	var shown node.Identity
	if code != exitOK || json.Unmarshal([]byte(stdout), &shown) != nil || shown.PeerID != id.PeerID || shown.StakingKey != id.StakingKey {
		t.Fatalf("keys show: %d %s", code, stdout)
	}
	if code, _, _ := runCLI("keys", "show", "--home", t.TempDir()); code != exitBadInput {
		t.Fatalf("keys show on an empty home: exit %d", code)
	}
}

func TestRunBadConfigurationExits2(t *testing.T) {
	home := t.TempDir()
	runCLI("init", "--home", home, "--node-id", "n1")
	code, stdout, stderr := runCLI("run", "--home", home, "--view-interval", "soon")
	if code != exitBadInput || stdout != "" || !strings.Contains(stderr, "view_interval") || !strings.Contains(stderr, "--view-interval") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI("run", "--home", home)
	if code != exitBadInput || !strings.Contains(stderr, "genesis") {
		t.Fatalf("no genesis: exit %d, %q", code, stderr)
	}
}

// TestRunOneNodeChain: init a home, write a one-node genesis for it, run
// the node (it is the sequencer), stop it with its context: exit 0 and a
// store holding blocks.
func TestRunOneNodeChain(t *testing.T) {
	home := t.TempDir()
	_, stdout, _ := runCLI("init", "--home", home, "--node-id", "solo")
	var id node.Identity
	json.Unmarshal([]byte(stdout), &id)
	genesis := map[string]any{
		"chain_id": "solo-chain", "epoch_views": 20, "safety_views": 2, "versions": map[string]string{"protocol": "1.0.0"},
		"identities": []any{map[string]any{"from_epoch": 0, "nodes": []any{map[string]any{
			"id": "solo", "role": "consensus", "stake": 1, "staking_key": id.StakingKey, "pop": id.PoP,
			"peer_id": id.PeerID, "address": "/ip4/127.0.0.1/tcp/0"}}}},
		"governance": map[string]any{"threshold": 1, "members": []any{map[string]any{"key": id.StakingKey, "pop": id.PoP}}},
		"sequencer":  "solo",
	}
	data, _ := json.Marshal(genesis)
	os.WriteFile(filepath.Join(home, "genesis.json"), data, 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var errOut bytes.Buffer
	go func() {
		done <- runContext(ctx, []string{"run", "--home", home, "--view-interval", "5ms"}, &bytes.Buffer{}, &errOut)
	}()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	g, err := devchain.Load(filepath.Join(home, "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if head, ok := s.Head(); !ok {
		t.Fatal("no block was stored")
	} else if h, _, _ := head.Head(); h < 5 {
		t.Fatalf("only %d blocks in half a second at 5 ms a view", h+1)
	}
}

func TestExitCodes(t *testing.T) {
	if exitCode(nil) != 0 || exitCode(usageError{os.ErrNotExist}) != 2 || exitCode(os.ErrClosed) != 1 ||
		exitCode(haltExit{&node.HaltError{}}) != node.ExitHalted || node.ExitHalted != 3 {
		t.Fatal("exit codes")
	}
}
