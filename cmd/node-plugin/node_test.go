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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/storage"
)

func TestInitAndKeysShow(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n1")
	code, stdout, stderr := runCLI("init", "--home", home, "--node-id", "n1")
	require.Equal(t, exitOK, code, stderr)
	var id node.Identity
	require.NoError(t, json.Unmarshal([]byte(stdout), &id), stdout)
	assert.Equal(t, "n1", id.NodeID)
	assert.NotEmpty(t, id.PeerID)
	assert.Len(t, id.StakingKey, 192)
	for _, f := range []string{node.StakingKeyFile, node.P2PKeyFile, node.AdminTokenFile} {
		st, err := os.Stat(filepath.Join(home, f))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	code, _, stderr = runCLI("init", "--home", home, "--node-id", "n1")
	assert.Equal(t, exitBadInput, code, "second init: %s", stderr)
	assert.Contains(t, stderr, "already holds a node", "second init")
	code, stdout, _ = runCLI("keys", "show", "--home", home, "--output", "json")
	require.Equal(t, exitOK, code, "keys show: %s", stdout)
	var shown node.Identity
	require.NoError(t, json.Unmarshal([]byte(stdout), &shown), "keys show: %s", stdout)
	assert.Equal(t, id.PeerID, shown.PeerID)
	assert.Equal(t, id.StakingKey, shown.StakingKey)
	code, _, _ = runCLI("keys", "show", "--home", t.TempDir())
	assert.Equal(t, exitBadInput, code, "keys show on an empty home")
}

func TestRunBadConfigurationExits2(t *testing.T) {
	home := t.TempDir()
	code, _, stderr := runCLI("init", "--home", home, "--node-id", "n1")
	require.Equal(t, exitOK, code, stderr)
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
		assert.Equal(t, exitBadInput, code, "%s %q: stderr %q", tc.flag, tc.value, stderr)
		assert.Empty(t, stdout, "%s %q", tc.flag, tc.value)
		assert.Contains(t, stderr, "configuration "+tc.key, "%s %q", tc.flag, tc.value)
	}
	code, stdout, stderr := runCLI("run", "--home", home, "--view-interval", "soon")
	assert.Equal(t, exitBadInput, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "view_interval")
	assert.Contains(t, stderr, "--view-interval")
	code, _, stderr = runCLI("run", "--home", home)
	assert.Equal(t, exitBadInput, code, "no genesis: %q", stderr)
	assert.Contains(t, stderr, "genesis", "no genesis")
}

// An admin token under 16 bytes (after trimming) is refused at start, exit
// 2, naming the file and what to write into it, before the node opens its
// store: an empty one would leave an admin API nobody can use.
func TestRunRefusesAShortAdminToken(t *testing.T) {
	home := soloHome(t)
	path := filepath.Join(home, node.AdminTokenFile)
	for _, token := range []string{"", "  \n", "fifteen-bytes!!\n"} {
		require.NoError(t, os.WriteFile(path, []byte(token), 0o600))
		code, stdout, stderr := runCLI("run", "--home", home)
		assert.Equal(t, exitBadInput, code, "token %q: stderr %q", token, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, path, "token %q names the file", token)
		assert.Contains(t, stderr, "at least 16", "token %q", token)
		assert.Contains(t, stderr, "node-plugin init", "token %q says what to do", token)
		assert.NoDirExists(t, filepath.Join(home, "store"), "token %q: refused before the store opened", token)
	}
}

// soloHome inits a home and writes a one-node genesis for it: the node is
// the sequencer and, with its staking key, the whole governance committee.
func soloHome(t *testing.T) string {
	t.Helper()
	return soloHomeWithParams(t, nil)
}

// soloHomeWithParams is soloHome with the genesis declaring params (the
// genesis file's "params" object), if any.
func soloHomeWithParams(t *testing.T, params map[string]any) string {
	t.Helper()
	home := t.TempDir()
	code, stdout, stderr := runCLI("init", "--home", home, "--node-id", "solo")
	require.Equal(t, exitOK, code, stderr)
	var id node.Identity
	require.NoError(t, json.Unmarshal([]byte(stdout), &id))
	genesis := map[string]any{
		"chain_id": "solo-chain", "epoch_views": 20, "safety_views": 2, "versions": map[string]string{"protocol": "1.0.0"},
		"identities": []any{map[string]any{"from_epoch": 0, "nodes": []any{map[string]any{
			"id": "solo", "role": "consensus", "stake": 1, "staking_key": id.StakingKey, "pop": id.PoP,
			"peer_id": id.PeerID, "address": "/ip4/127.0.0.1/tcp/0"}}}},
		"governance": map[string]any{"threshold": 1, "members": []any{map[string]any{"key": id.StakingKey, "pop": id.PoP}}},
		"sequencer":  "solo",
	}
	if params != nil {
		genesis["params"] = params
	}
	data, err := json.Marshal(genesis)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(home, "genesis.json"), data, 0o644))
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
				assert.Fail(t, "run did not stop within 20 s")
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
	require.Equal(t, exitOK, stop())
	g, err := devchain.Load(filepath.Join(home, "genesis.json"))
	require.NoError(t, err)
	s, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State()})
	require.NoError(t, err)
	defer s.Close()
	head, ok := s.Head()
	require.True(t, ok, "no block was stored")
	h, _, _ := head.Head()
	assert.GreaterOrEqual(t, h, uint64(4), "only %d blocks stored (heights 0 to %d), the node reported five (heights 0 to 4)", h+1, h)
}

func TestOperatorCommandsAgainstARunningNode(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	// Idle keep-alive connections belong to the HTTP client, not the node.
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	home := soloHome(t)
	stop := startRun(t, home, "--api-listen", "127.0.0.1:0", "--api-admin", "127.0.0.1:0")
	defer stop()
	addrs := waitForAPI(t, home, 10*time.Second)
	host, _, err := net.SplitHostPort(addrs.Admin)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host, "the admin API listens on %s", addrs.Admin)

	// phase runs one step as a named subtest; a failed step ends the test,
	// since the later ones build on it.
	phase := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	phase("status and versions", func(t *testing.T) {
		code, stdout, stderr := runCLI("status", "--home", home)
		require.Equal(t, exitOK, code, "status: %q %q", stdout, stderr)
		assert.Contains(t, stdout, "node solo")
		assert.Contains(t, stdout, "no deployments")
		code, stdout, _ = runCLI("versions", "--home", home, "--at", "0")
		require.Equal(t, exitOK, code, "versions: %s", stdout)
		assert.Contains(t, stdout, `"protocol": "1.0.0"`)
	})
	phase("propose", func(t *testing.T) {
		var st node.Status
		_, stdout, _ := runCLI("status", "--home", home, "--output", "json")
		require.NoError(t, json.Unmarshal([]byte(stdout), &st))
		at := st.Head.View + 2000
		code, stdout, stderr := runCLI("propose", "--home", home, "--name", "p2", "--version", "2.0.0", "--mode", "governance",
			"--activation-view", fmt.Sprint(at), "--committee-key", filepath.Join(home, node.StakingKeyFile), "--member", "0")
		require.Equal(t, exitOK, code, "propose: %q %q", stdout, stderr)
		require.Contains(t, stdout, "proposal submitted and included in the finalized block at height")
		testutil.Eventually(t, 10*time.Second, "p2 is LOCKED_IN", func() bool {
			_, out, _ := runCLI("deployments", "--home", home)
			return strings.Contains(out, `"state": "LOCKED_IN"`)
		})
	})
	phase("readiness", func(t *testing.T) {
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
			code, body := httpGet(t, "http://"+addrs.API+"/readiness"+tc.query)
			assert.Equal(t, tc.code, code, "/readiness%s: %q", tc.query, body)
			assert.Contains(t, body, tc.want, "/readiness%s", tc.query)
		}
		code, _, stderr := runCLI("readiness", "--home", home, "--deployment", "p2", "--lock-in")
		assert.Equal(t, exitFailure, code, "readiness of a governance deployment: %q", stderr)
		assert.Contains(t, stderr, "governance deployment")
		code, _, stderr = runCLI("readiness", "--home", home, "--deployment", "p2", "--lock-in", "--height", "3")
		assert.Equal(t, exitBadInput, code, "readiness --lock-in --height: %q", stderr)
		assert.Contains(t, stderr, "give one")
	})
	phase("metrics", func(t *testing.T) {
		code, metrics := httpGet(t, "http://"+addrs.API+"/metrics")
		require.Equal(t, http.StatusOK, code)
		for _, want := range []string{`quorumgate_deployment_state{component="protocol",deployment="p2",version="2.0.0"} 3`,
			"quorumgate_head_height", "quorumgate_blocks_applied_total", "quorumgate_equivocations_detected 0",
			"quorumgate_gossip_payloads_rejected_total 0"} {
			assert.Contains(t, metrics, want)
		}
	})
	phase("the admin API needs the token", func(t *testing.T) {
		// The admin API refuses requests without the token, or with another.
		for _, auth := range []string{"", "Bearer wrong"} {
			req, err := http.NewRequest(http.MethodPost, "http://"+addrs.Admin+"/governance", strings.NewReader(`{"kind":"cancel","payload":""}`))
			require.NoError(t, err)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "admin request with %q", auth)
		}
	})
	phase("cancel", func(t *testing.T) {
		code, _, stderr := runCLI("cancel", "--home", home, "--name", "p2", "--committee-key", filepath.Join(home, node.StakingKeyFile), "--member", "0")
		require.Equal(t, exitOK, code, "cancel: %s", stderr)
		testutil.Eventually(t, 10*time.Second, "p2 is CANCELED", func() bool {
			_, out, _ := runCLI("deployments", "--home", home)
			return strings.Contains(out, `"state": "CANCELED"`)
		})
	})
	assert.Equal(t, exitOK, stop())
}

// httpGet gets url and returns the status code and the body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestExitCodes(t *testing.T) {
	assert.Equal(t, 0, exitCode(nil))
	assert.Equal(t, 2, exitCode(usageError{os.ErrNotExist}))
	assert.Equal(t, 1, exitCode(os.ErrClosed))
	assert.Equal(t, node.ExitHalted, exitCode(haltExit{&node.HaltError{}}))
	assert.Equal(t, 3, node.ExitHalted)
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
		if assert.NoError(t, printTail(&out, strings.NewReader(tc.in), tc.n)) {
			assert.Equal(t, tc.want, out.String(), "printTail(%q, %d)", tc.in, tc.n)
		}
	}
	// A write that fails (stdout closed) is the command's error.
	r, w, err := os.Pipe()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	defer w.Close()
	assert.Error(t, printTail(w, strings.NewReader("a\n"), 0))
}

// TestRunStoppedWhileStarting: a SIGINT or SIGTERM that arrives while the
// node is still starting (its context already done) is a clean stop, exit 0,
// as after the start; the store is closed, so the next run opens it.
func TestRunStoppedWhileStarting(t *testing.T) {
	home := soloHome(t)
	for _, delay := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		ctx, cancel := context.WithCancel(context.Background())
		if delay == 0 {
			cancel()
		} else {
			time.AfterFunc(delay, cancel)
		}
		var errOut bytes.Buffer
		code := runContext(ctx, []string{"run", "--home", home, "--view-interval", "5ms"}, &bytes.Buffer{}, &errOut)
		cancel()
		assert.Equal(t, exitOK, code, "stopped %v into the start: %s", delay, errOut.String())
	}
	stop := startRun(t, home, "--api-listen", "127.0.0.1:0")
	waitForAPI(t, home, 10*time.Second)
	require.Equal(t, exitOK, stop())
}
