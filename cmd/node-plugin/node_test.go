package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/testutil"
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
	for _, tc := range []struct{ flag, value, key string }{
		{"--listen", "127.0.0.1:7000", "listen"},
		{"--bootstrap", "nowhere", "peers"},
		{"--peer", "nowhere", "peers"}, // the older spelling
		{"--supported", "protocol", "supported"},
		{"--api-listen", "no-port", "api.listen"},
		{"--api-admin", "0.0.0.0:9000", "api.admin"},
		{"--log-format", "xml", "log.format"},
		{"--log-level", "loud", "log.level"},
		{"--node-id", "", "node_id"},
	} {
		code, stdout, stderr := runCLI("run", "--home", home, tc.flag, tc.value)
		if code != exitBadInput || stdout != "" || !strings.Contains(stderr, "configuration "+tc.key) {
			t.Errorf("%s %q: exit %d, stderr %q", tc.flag, tc.value, code, stderr)
		}
	}
	code, stdout, stderr := runCLI("run", "--home", home, "--view-interval", "soon")
	if code != exitBadInput || stdout != "" || !strings.Contains(stderr, "view_interval") || !strings.Contains(stderr, "--view-interval") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runCLI("run", "--home", home)
	if code != exitBadInput || !strings.Contains(stderr, "genesis") {
		t.Fatalf("no genesis: exit %d, %q", code, stderr)
	}
}

// soloHome inits a home and writes a one-node genesis for it: the node is
// the sequencer and, with its staking key, the whole governance committee.
func soloHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	_, stdout, _ := runCLI("init", "--home", home, "--node-id", "solo")
	var id node.Identity
	if err := json.Unmarshal([]byte(stdout), &id); err != nil {
		t.Fatal(err)
	}
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
	return home
}

// startRun runs `node-plugin run` until the returned stop is called, which
// returns the exit code.
func startRun(t *testing.T, home string, args ...string) func() int {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var errOut bytes.Buffer
	go func() {
		done <- runContext(ctx, append([]string{"run", "--home", home, "--view-interval", "5ms"}, args...), &bytes.Buffer{}, &errOut)
	}()
	var once sync.Once
	code := -1
	return func() int { // idempotent: a deferred call after an explicit one is fine
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
				if code != exitOK {
					t.Logf("run's stderr:\n%s", errOut.String())
				}
			case <-time.After(20 * time.Second):
				t.Error("run did not stop")
			}
		})
		return code
	}
}

// waitForAPI waits until the node in home has written its API addresses
// and answers /readyz (synced), and returns the addresses.
func waitForAPI(t *testing.T, home string, d time.Duration) node.APIAddrs {
	t.Helper()
	var addrs node.APIAddrs
	testutil.Eventually(t, d, "the API is up and the node synced", func() bool {
		data, err := os.ReadFile(filepath.Join(home, node.APIAddrFile))
		if err != nil || json.Unmarshal(data, &addrs) != nil {
			return false
		}
		resp, err := http.Get("http://" + addrs.API + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return addrs
}

// TestRunOneNodeChain: run a one-node chain, stop it: exit 0, blocks stored.
func TestRunOneNodeChain(t *testing.T) {
	home := soloHome(t)
	stop := startRun(t, home, "--api-listen", "127.0.0.1:0")
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	addrs := waitForAPI(t, home, 10*time.Second)
	// Wait for the blocks themselves, not for a time in which they ought to
	// have been made: a slow machine makes fewer.
	testutil.Eventually(t, 10*time.Second, "the node makes five blocks", func() bool {
		resp, err := http.Get("http://" + addrs.API + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st node.Status
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.Head.Height >= 4
	})
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d", code)
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
	} else if h, _, _ := head.Head(); h < 4 {
		t.Fatalf("only %d blocks stored (heights 0 to %d), the node reported five (heights 0 to 4)", h+1, h)
	}
}

func TestOperatorCommandsAgainstARunningNode(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// Idle keep-alive connections belong to the HTTP client, not the node.
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	home := soloHome(t)
	stop := startRun(t, home, "--api-listen", "127.0.0.1:0", "--api-admin", "127.0.0.1:0")
	defer stop()
	addrs := waitForAPI(t, home, 10*time.Second)
	if host, _, _ := net.SplitHostPort(addrs.Admin); host != "127.0.0.1" {
		t.Fatalf("the admin API listens on %s", addrs.Admin)
	}
	code, stdout, stderr := runCLI("status", "--home", home)
	if code != exitOK || !strings.Contains(stdout, "node solo") || !strings.Contains(stdout, "no deployments") {
		t.Fatalf("status: %d %q %q", code, stdout, stderr)
	}
	code, stdout, _ = runCLI("versions", "--home", home, "--at", "0")
	if code != exitOK || !strings.Contains(stdout, `"protocol": "1.0.0"`) {
		t.Fatalf("versions: %d %s", code, stdout)
	}
	var st node.Status
	_, stdout, _ = runCLI("status", "--home", home, "--output", "json")
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	at := st.Head.View + 2000
	code, stdout, stderr = runCLI("propose", "--home", home, "--name", "p2", "--version", "2.0.0", "--mode", "governance",
		"--activation-view", fmt.Sprint(at), "--committee-key", filepath.Join(home, node.StakingKeyFile), "--member", "0")
	if code != exitOK || !strings.Contains(stdout, "proposal submitted and included in the finalized block at height") {
		t.Fatalf("propose: %d %q %q", code, stdout, stderr)
	}
	testutil.Eventually(t, 10*time.Second, "p2 is LOCKED_IN", func() bool {
		_, out, _ := runCLI("deployments", "--home", home)
		return strings.Contains(out, `"state": "LOCKED_IN"`)
	})
	// /readiness answers stake deployments; every other question gets a
	// status and a reason.
	for _, tc := range []struct {
		query string
		code  int
		want  string
	}{
		{"", http.StatusBadRequest, "deployment=NAME is required"},
		{"?deployment=nope", http.StatusNotFound, `no deployment "nope"`},
		{"?deployment=p2", http.StatusNotFound, "governance deployment"},
		{"?deployment=p2&at=lock-in", http.StatusNotFound, "governance deployment"},
		{"?deployment=p2&at=soon", http.StatusBadRequest, "the only value is lock-in"},
		{"?deployment=p2&height=x", http.StatusBadRequest, "whole number"},
		{"?deployment=p2&height=999999999", http.StatusNotFound, "no state at height 999999999"},
	} {
		resp, err := http.Get("http://" + addrs.API + "/readiness" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("/readiness%s: %s %q; want %d and %q", tc.query, resp.Status, body, tc.code, tc.want)
		}
	}
	if code, _, stderr := runCLI("readiness", "--home", home, "--deployment", "p2", "--lock-in"); code != exitFailure || !strings.Contains(stderr, "governance deployment") {
		t.Errorf("readiness of a governance deployment: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI("readiness", "--home", home, "--deployment", "p2", "--lock-in", "--height", "3"); code != exitBadInput || !strings.Contains(stderr, "give one") {
		t.Errorf("readiness --lock-in --height: exit %d, %q", code, stderr)
	}
	resp, err := http.Get("http://" + addrs.API + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`quorumgate_deployment_state{component="protocol",deployment="p2",version="2.0.0"} 3`,
		"quorumgate_head_height", "quorumgate_blocks_applied_total", "quorumgate_equivocations_detected 0",
		"quorumgate_gossip_payloads_rejected_total 0"} {
		if !strings.Contains(string(metrics), want) {
			t.Fatalf("metrics lack %q:\n%s", want, metrics)
		}
	}
	// The admin API refuses requests without the token, or with another.
	for _, auth := range []string{"", "Bearer wrong"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addrs.Admin+"/governance", strings.NewReader(`{"kind":"cancel","payload":""}`))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("admin request with %q: %s", auth, resp.Status)
		}
	}
	code, _, stderr = runCLI("cancel", "--home", home, "--name", "p2", "--committee-key", filepath.Join(home, node.StakingKeyFile), "--member", "0")
	if code != exitOK {
		t.Fatalf("cancel: %d %s", code, stderr)
	}
	testutil.Eventually(t, 10*time.Second, "p2 is CANCELED", func() bool {
		_, out, _ := runCLI("deployments", "--home", home)
		return strings.Contains(out, `"state": "CANCELED"`)
	})
	if code := stop(); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

func TestExitCodes(t *testing.T) {
	if exitCode(nil) != 0 || exitCode(usageError{os.ErrNotExist}) != 2 || exitCode(os.ErrClosed) != 1 ||
		exitCode(haltExit{&node.HaltError{}}) != node.ExitHalted || node.ExitHalted != 3 {
		t.Fatal("exit codes")
	}
}

func TestPrintTail(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 0, "a\nb\nc\n"},
		{"a\n", 5, "a\n"},
		{"", 3, ""},
	} {
		var out strings.Builder
		if err := printTail(&out, strings.NewReader(tc.in), tc.n); err != nil || out.String() != tc.want {
			t.Errorf("printTail(%q, %d) = %q, %v; want %q", tc.in, tc.n, out.String(), err, tc.want)
		}
	}
}
