package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// within runs f and fails the test if it has not returned after d. (A bound
// on a hang, not a speed target: d is many times what f needs.)
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %s", what, d)
	}
}

// pidsIn reads the process IDs a hook script appended to path.
func pidsIn(t *testing.T, path string) []int {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	require.NotEmpty(t, pids, "the hook recorded no child")
	return pids
}

// recordPID is the shell that writes the last background child's PID to
// path all at once (written aside, then renamed), so a test that waits for
// the file never reads it empty: ">>" would create the file before the echo
// writes, and a hook killed in between would have recorded nothing.
func recordPID(path string) string {
	return `echo $! > ` + path + `.tmp && mv ` + path + `.tmp ` + path
}

func killAll(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL) // cleanup: a process already gone is what we want
	}
}

// A hook that hangs with a child holding its output pipe is killed, child
// and all, at its timeout: OnActive returns, and the activation stays
// unhandled so it is retried.
func TestHookTimeoutKillsItsProcessGroup(t *testing.T) {
	home := t.TempDir()
	pidFile := filepath.Join(home, "pids")
	// The timeout must leave the hook time to start its child and record it
	// on a loaded machine; the test waits for it, no more.
	u := &Upgrader{Home: home, HookTimeout: 2 * time.Second,
		Hook: []string{"sh", "-c", `sleep 1000 & ` + recordPID(pidFile) + `; echo started; wait`}}
	var err error
	within(t, 30*time.Second, "OnActive with a hung hook", func() {
		err = u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"})
	})
	pids := pidsIn(t, pidFile)
	t.Cleanup(func() { killAll(pids) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "killed with its process group")
	assert.Contains(t, err.Error(), "started", "the error quotes the hook's output")
	assert.False(t, u.Handled("p2"), "a killed hook must be retried, not marked done")
	for _, pid := range pids {
		require.Eventually(t, func() bool { return testutil.ProcessGone(pid) }, 10*time.Second, 20*time.Millisecond,
			"the hook's child %d outlived the timeout", pid)
	}
}

// A hook that exits 0 but leaves a child holding its output pipe (a daemon it
// started) succeeds after WaitDelay instead of waiting for the child.
func TestHookThatLeavesAChildHoldingItsOutput(t *testing.T) {
	home := t.TempDir()
	pidFile := filepath.Join(home, "pids")
	u := &Upgrader{Home: home, HookTimeout: time.Hour, WaitDelay: 200 * time.Millisecond,
		Hook: []string{"sh", "-c", `sleep 1000 & ` + recordPID(pidFile) + `; exit 0`}}
	var err error
	within(t, 30*time.Second, "OnActive with a hook whose child holds stdout", func() {
		err = u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"})
	})
	t.Cleanup(func() { killAll(pidsIn(t, pidFile)) })
	require.NoError(t, err)
	assert.True(t, u.Handled("p2"))
}

// Stopping the node (its context) kills a running hook's whole group at once.
func TestHookCanceledWithItsContext(t *testing.T) {
	home := t.TempDir()
	pidFile := filepath.Join(home, "pids")
	u := &Upgrader{Home: home, HookTimeout: time.Hour,
		Hook: []string{"sh", "-c", `sleep 1000 & ` + recordPID(pidFile) + `; wait`}}
	ctx, cancel := context.WithCancel(context.Background())
	// The watcher cancels once the hook's child runs; it ends with the test
	// even when the hook never starts.
	t.Cleanup(cancel)
	go func() {
		for ctx.Err() == nil {
			if _, err := os.Stat(pidFile); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var err error
	within(t, 30*time.Second, "OnActive after its context ended", func() {
		err = u.OnActive(ctx, UpgradeInfo{Deployment: "p2", Version: "2.0.0"})
	})
	pids := pidsIn(t, pidFile)
	t.Cleanup(func() { killAll(pids) })
	require.Error(t, err)
	assert.False(t, u.Handled("p2"))
	for _, pid := range pids {
		require.Eventually(t, func() bool { return testutil.ProcessGone(pid) }, 10*time.Second, 20*time.Millisecond, "child %d survived", pid)
	}
}

// A failing hook is retried with exponential backoff, capped, until it
// succeeds; each retry is told it is one.
func TestHookRunnerRetriesWithBackoff(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	home := t.TempDir()
	count, log := filepath.Join(home, "count"), filepath.Join(home, "hook.log")
	// Fails the first four runs, then succeeds.
	script := `n=$(cat ` + count + ` 2>/dev/null || echo 0); n=$((n+1)); echo $n > ` + count + `
echo "run $n retry=$QUORUMGATE_HOOK_RETRY" >> ` + log + `
[ $n -ge 5 ]`
	h := newHookRunner(&Upgrader{Home: home, Hook: []string{"sh", "-c", script}}, slog.New(slog.DiscardHandler))
	h.minBackoff, h.maxBackoff = time.Second, 4*time.Second
	var waits []time.Duration
	h.wait = func(ctx context.Context, d time.Duration) bool { waits = append(waits, d); return ctx.Err() == nil }
	var results []error
	h.attempted = func(_ UpgradeInfo, err error) { results = append(results, err) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	h.enqueue(UpgradeInfo{Deployment: "p2", Version: "2.0.0"})
	h.enqueue(UpgradeInfo{Deployment: "p2", Version: "2.0.0"}) // queued once only
	require.Eventually(t, func() bool { return h.u.Handled("p2") && !h.pending("p2") }, 20*time.Second, 10*time.Millisecond)
	cancel()
	<-done
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}, waits)
	require.Len(t, results, 5)
	for i, err := range results[:4] {
		assert.Error(t, err, "attempt %d", i+1)
	}
	assert.NoError(t, results[4])
	out, err := os.ReadFile(log)
	require.NoError(t, err)
	assert.Equal(t, "run 1 retry=\nrun 2 retry=1\nrun 3 retry=1\nrun 4 retry=1\nrun 5 retry=1\n", string(out))
}

// A hung hook delays nothing: the node keeps applying blocks and signaling
// readiness for a later deployment while the hook hangs, and Close returns
// promptly, killing the hook's children.
func TestHungHookDelaysNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	home := t.TempDir()
	pidFile := filepath.Join(home, "pids")
	logs := &testutil.SyncBuffer{}
	n, propose := startSolo(t, func(c *Config) {
		c.Home, c.HookTimeout, c.WarnEvery = home, time.Hour, 50*time.Millisecond
		c.Hook = []string{"sh", "-c", `sleep 1000 & ` + recordPID(pidFile) + `; wait`}
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	closed := false
	defer func() {
		if !closed {
			assert.NoError(t, n.Close())
		}
	}()
	testutil.Eventually(t, 10*time.Second, "the first blocks", func() bool { h, _, ok := n.Head().Head(); return ok && h > 2 })
	_, view, _ := n.Head().Head()
	propose(activation.Proposal{Name: "g2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: view + 15})
	testutil.Eventually(t, 10*time.Second, "g2 ACTIVE and its hook hanging", func() bool {
		d, ok := n.Head().Deployment("g2")
		_, err := os.Stat(pidFile)
		return ok && d.Status == activation.Active && err == nil
	})
	pids := pidsIn(t, pidFile)
	t.Cleanup(func() { killAll(pids) })

	// With the hook hung: a stake deployment is proposed, and the node's
	// readiness for it is counted and locks it in.
	_, view, _ = n.Head().Head()
	epoch := n.Head().Params().Epoch(view)
	propose(activation.Proposal{Name: "c11", Component: "cadence", Version: "1.1.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 20})
	testutil.Eventually(t, 15*time.Second, "c11 locks in on the node's own readiness", func() bool {
		d, ok := n.Head().Deployment("c11")
		return ok && (d.Status == activation.LockedIn || d.Status == activation.Active)
	})
	// ... and the operator is warned about an activation it cannot run.
	propose(activation.Proposal{Name: "x9", Component: "execution", Version: "9.0.0", Mode: activation.Governance, ActivationView: view + 10000})
	testutil.Eventually(t, 15*time.Second, "a warning about x9", func() bool {
		return strings.Contains(logs.String(), "UPGRADE NEEDED") && strings.Contains(logs.String(), "x9")
	})
	assert.False(t, n.hooks.u.Handled("g2"), "the hook is still hanging")
	for _, pid := range pids {
		assert.False(t, testutil.ProcessGone(pid), "the hook's child should still run before Close")
	}
	within(t, 20*time.Second, "Close with a hung hook", func() { assert.NoError(t, n.Close()) })
	closed = true
	for _, pid := range pids {
		require.Eventually(t, func() bool { return testutil.ProcessGone(pid) }, 10*time.Second, 20*time.Millisecond, "child %d survived Close", pid)
	}
}

// A deployment name never becomes a path: an unsafe one (from a state
// older than the name rule) is hashed into a marker inside upgrades/.
func TestUpgraderMarkersStayInTheirFolder(t *testing.T) {
	home := t.TempDir()
	u := &Upgrader{Home: home}
	for _, name := range []string{"../x", "../../etc/passwd", "/abs", "a/b", ".."} {
		m := u.marker(name, "done")
		assert.Equal(t, filepath.Join(home, "upgrades"), filepath.Dir(m), "%q", name)
		assert.Regexp(t, `^_[0-9a-f]{64}\.done$`, filepath.Base(m), "%q", name)
	}
	assert.Equal(t, filepath.Join(home, "upgrades", "protocol-2.done"), u.marker("protocol-2", "done"))
	require.NoError(t, u.OnActive(context.Background(), UpgradeInfo{Deployment: "../x"}))
	assert.True(t, u.Handled("../x"))
	_, err := os.Stat(filepath.Join(home, "x.done"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a marker escaped upgrades/")
}

// startSolo starts a one-node chain: the node is the sequencer, holds all
// the stake and is the whole governance committee; propose submits a
// proposal it signs. Its views are 10 ms, its epochs 20 views. The caller
// closes the node.
func startSolo(t *testing.T, configure func(*Config)) (*Node, func(activation.Proposal)) {
	t.Helper()
	g, keys, err := devchain.Generate(devchain.GenerateOptions{
		ChainID: "solo-test", EpochViews: 20, SafetyViews: 2, Versions: map[string]string{"protocol": "1.0.0", "cadence": "1.0.0"},
		Nodes:             []devchain.NodeSpec{{ID: "solo", Role: "consensus", Stake: 100}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("solo-test"),
	})
	require.NoError(t, err)
	sup, err := ParseSupported([]string{"protocol=1.0.0", "protocol=2.0.0", "cadence=1.0.0", "cadence=1.1.0"})
	require.NoError(t, err)
	cfg := Config{Home: t.TempDir(), Genesis: g, NodeID: "solo", StakingKey: keys.Staking["solo"], P2PKey: keys.P2P["solo"],
		Supported: sup, ViewInterval: 10 * time.Millisecond, Engine: devchainEngine, Logger: slog.New(slog.DiscardHandler)}
	if configure != nil {
		configure(&cfg)
	}
	n, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	propose := func(p activation.Proposal) {
		t.Helper()
		a, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, []signal.PrivateKey{keys.Governance[0]})
		require.NoError(t, err)
		_, err = n.SubmitGovernance(chain.ItemProposal, canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a}))
		require.NoError(t, err)
	}
	return n, propose
}
