package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
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

type cluster struct {
	t     *testing.T
	logs  map[string]*testutil.SyncBuffer
	g     *devchain.Genesis
	keys  *devchain.Keys
	ids   []string
	homes map[string]string
	nodes map[string]*Node
	// interval is the view interval (default 10 ms); api, when set, gives
	// every node an HTTP API on 127.0.0.1.
	interval time.Duration
	api      bool
}

func newCluster(t *testing.T) *cluster {
	g, keys, err := devchain.Generate(devchain.GenerateOptions{
		ChainID: "node-test", EpochViews: 40, SafetyViews: 5, Versions: map[string]string{"protocol": "1.0.0"},
		Nodes: []devchain.NodeSpec{{ID: "seq", Role: "consensus", Stake: 100}, {ID: "c2", Role: "consensus", Stake: 100},
			{ID: "c3", Role: "consensus", Stake: 100}, {ID: "e1", Role: "execution", Stake: 100}, {ID: "e2", Role: "execution", Stake: 100}},
		GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte("node-test"),
	})
	require.NoError(t, err)
	c := &cluster{t: t, g: g, keys: keys, ids: []string{"seq", "c2", "c3", "e1", "e2"}, homes: map[string]string{}, nodes: map[string]*Node{},
		logs: map[string]*testutil.SyncBuffer{}}
	for _, id := range c.ids {
		c.homes[id] = t.TempDir()
	}
	return c
}

// start (re)starts a node on its home, supporting the given versions.
func (c *cluster) start(id string, supported ...string) {
	c.t.Helper()
	sup, err := ParseSupported(append([]string{"protocol=1.0.0"}, supported...))
	require.NoError(c.t, err)
	var peers []peer.AddrInfo
	for other, n := range c.nodes {
		if other != id {
			peers = append(peers, n.AddrInfo())
		}
	}
	home := c.homes[id]
	cfg := Config{Home: home, Genesis: c.g, NodeID: id, StakingKey: c.keys.Staking[id],
		P2PKey: c.keys.P2P[id], Peers: peers, Supported: sup, ViewInterval: 10 * time.Millisecond, Engine: devchainEngine,
		Hook:   []string{"sh", "-c", `echo "$QUORUMGATE_DEPLOYMENT $QUORUMGATE_VERSION $QUORUMGATE_ACTIVATION_VIEW" >> ` + filepath.Join(home, "hook.log")},
		Logger: slog.New(slog.NewTextHandler(c.log(id), nil))}
	if c.interval > 0 {
		cfg.ViewInterval = c.interval
	}
	if c.api {
		cfg.APIListen = "127.0.0.1:0"
	}
	n, err := Start(context.Background(), cfg)
	require.NoError(c.t, err, "start %s", id)
	c.nodes[id] = n
}

// devchainEngine is what package engine gives node-plugin (which node
// cannot import: engine imports node).
func devchainEngine(env EngineEnv) (Engine, error) {
	return devchain.New(devchain.Options{Genesis: env.Genesis, Store: env.Store, NodeID: env.NodeID,
		StakingKey: env.StakingKey, Interval: env.ViewInterval, Guard: env.Guard})
}

func (c *cluster) log(id string) io.Writer {
	if c.logs[id] == nil {
		c.logs[id] = &testutil.SyncBuffer{}
	}
	return c.logs[id]
}

func (c *cluster) stop(id string) {
	assert.NoError(c.t, c.nodes[id].Close(), "close %s", id)
	delete(c.nodes, id)
}

func (c *cluster) closeAll() {
	for id := range c.nodes {
		c.stop(id)
	}
}

func (c *cluster) status(id, dep string) activation.Status {
	if d, ok := c.nodes[id].Head().Deployment(dep); ok {
		return d.Status
	}
	return activation.None
}

// waitEpochs waits until every running node's head is n epochs past the
// sequencer's epoch now.
func (c *cluster) waitEpochs(n uint64) {
	c.t.Helper()
	head := c.nodes["seq"].Head()
	_, view, _ := head.Head()
	target := head.Params().Epoch(view) + n
	testutil.Eventually(c.t, 20*time.Second, fmt.Sprintf("every node at epoch %d", target), func() bool {
		for _, n := range c.nodes {
			h := n.Head()
			_, v, ok := h.Head()
			if !ok || h.Params().Epoch(v) < target {
				return false
			}
		}
		return true
	})
}

// waitBlocks waits until node id has applied n blocks past its head now.
func (c *cluster) waitBlocks(id string, n uint64) {
	c.t.Helper()
	from, _, _ := c.nodes[id].Head().Head()
	testutil.Eventually(c.t, 15*time.Second, fmt.Sprintf("%s applies %d more blocks", id, n), func() bool {
		h, _, ok := c.nodes[id].Head().Head()
		return ok && h >= from+n
	})
}

func (c *cluster) waitReady(id string) {
	c.t.Helper()
	testutil.Eventually(c.t, 15*time.Second, id+" follows the chain with gossip peers", func() bool {
		n := c.nodes[id]
		h, _, ok := n.Head().Head()
		return ok && h > 0 && n.MeshPeers() > 0
	})
}

func (c *cluster) propose(p activation.Proposal) {
	c.t.Helper()
	a, err := c.g.Committee().Approve(activation.ProposalMessage(c.g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{c.keys.Governance[0], c.keys.Governance[1]})
	require.NoError(c.t, err)
	_, err = c.nodes["c3"].SubmitGovernance(chain.ItemProposal, canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a}))
	require.NoError(c.t, err)
}

func TestStakeUpgradeOperatorByOperator(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	defer c.closeAll()
	for _, id := range c.ids {
		c.start(id)
	}
	for _, id := range c.ids {
		c.waitReady(id)
	}
	head := c.nodes["seq"].Head()
	_, view, _ := head.Head()
	epoch := head.Params().Epoch(view)
	c.propose(activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 100})
	c.waitStatus(15*time.Second, "p2", activation.Started, c.ids...)
	// Operators upgrade one by one. With 3 of 5 equal stakes ready (60%) the
	// deployment must not lock in; with 4 (80%) it must.
	for i, id := range c.ids {
		c.stop(id)
		c.start(id, "protocol=2.0.0")
		c.waitReady(id)
		if i == 2 {
			// Three epoch boundaries pass on every node with 60% ready:
			// nothing may lock in. (Waiting for the chain, not the clock.)
			c.waitEpochs(3)
			for _, other := range c.ids {
				require.Equal(t, activation.Started, c.status(other, "p2"), "with 3 of 5 nodes ready, %s sees p2", other)
			}
		}
	}
	c.waitStatus(20*time.Second, "p2", activation.Active, c.ids...)
	ref := c.checkSameActivation("p2")
	for _, id := range c.ids {
		c.checkHookRanOnce(id, ref)
	}
	c.checkLockInReadiness("p2")
	// A restart after the activation neither runs the hook again nor loses anything.
	c.stop("e2")
	c.start("e2", "protocol=2.0.0")
	c.waitReady("e2")
	c.waitBlocks("e2", 5) // the restarted node applies new blocks, where a hook would run
	log, err := os.ReadFile(filepath.Join(c.homes["e2"], "hook.log"))
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(log), "\n"), "hook ran again after a restart: %q", log)
}

// waitStatus waits until deployment dep has status want on every node in ids.
func (c *cluster) waitStatus(d time.Duration, dep string, want activation.Status, ids ...string) {
	c.t.Helper()
	testutil.Eventually(c.t, d, fmt.Sprintf("%s is %s on %v", dep, want, ids), func() bool {
		for _, id := range ids {
			if c.status(id, dep) != want {
				return false
			}
		}
		return true
	})
}

// checkSameActivation checks that every node runs on, activated dep where
// the sequencer did, and holds the sequencer's state at the height all have
// reached. It returns the sequencer's deployment.
func (c *cluster) checkSameActivation(dep string) *activation.Deployment {
	t := c.t
	t.Helper()
	ref, ok := c.nodes["seq"].Head().Deployment(dep)
	require.True(t, ok)
	common := uint64(1 << 62)
	for _, id := range c.ids {
		n := c.nodes[id]
		require.NoError(t, n.Err(), "%s stopped", id)
		d, ok := n.Head().Deployment(dep)
		require.True(t, ok, id)
		assert.Equal(t, ref.ActivatesAt, d.ActivatesAt, "%s's activation view against the sequencer's", id)
		assert.Equal(t, ref.Since, d.Since, "%s's view of activation against the sequencer's", id)
		h, _, _ := n.Head().Head()
		common = min(common, h)
	}
	want, err := c.nodes["seq"].Store().StateAt(common)
	require.NoError(t, err)
	for _, id := range c.ids {
		got, err := c.nodes[id].Store().StateAt(common)
		require.NoError(t, err, "%s: state at height %d", id, common)
		assert.Equal(t, want.ID(), got.ID(), "%s: state at height %d differs", id, common)
	}
	return ref
}

// checkHookRanOnce checks that node id handled the activation of ref: its
// upgrade-info.json names it, and its hook ran exactly once.
func (c *cluster) checkHookRanOnce(id string, ref *activation.Deployment) {
	t := c.t
	t.Helper()
	testutil.Eventually(t, 5*time.Second, id+" ran its hook", func() bool {
		_, err := os.Stat(filepath.Join(c.homes[id], "upgrades", ref.Name+".done"))
		return err == nil
	})
	var info UpgradeInfo
	data, err := os.ReadFile(filepath.Join(c.homes[id], "upgrade-info.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &info), "%s: upgrade-info.json %s", id, data)
	assert.Equal(t, ref.Version, info.Version, "%s: upgrade-info.json", id)
	assert.Equal(t, ref.ActivatesAt, info.ActivationView, "%s: upgrade-info.json", id)
	log, err := os.ReadFile(filepath.Join(c.homes[id], "hook.log"))
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(string(log), "\n"), "%s: hook log %q", id, log)
	assert.True(t, strings.HasPrefix(string(log), ref.Name+" "+ref.Version+" "), "%s: hook log %q", id, log)
}

// checkLockInReadiness checks who was ready at dep's lock-in: every node
// finds the same block, the first after which dep was LOCKED_IN, whose
// tally passes the threshold (two thirds of one role, 100 stake a node).
func (c *cluster) checkLockInReadiness(dep string) {
	t := c.t
	t.Helper()
	lock, err := c.nodes["seq"].LockInReadiness(dep)
	require.NoError(t, err)
	assert.Equal(t, "LOCKED_IN", lock.State)
	if assert.Len(t, lock.Roles, 1) {
		role := lock.Roles[0]
		assert.Greater(t, role.ReadyStake*3, role.TotalStake*2, "the ready stake passes two thirds: %+v", lock)
		assert.GreaterOrEqual(t, len(lock.Ready), 4, "%+v", lock)
		assert.Equal(t, uint64(len(lock.Ready))*100, role.ReadyStake, "the ready signers make the ready stake: %+v", lock)
	}
	before, err := c.nodes["seq"].ReadinessAt(dep, lock.Height-1)
	require.NoError(t, err, "the block before lock-in")
	assert.Equal(t, "STARTED", before.State, "the block before lock-in")
	for _, id := range c.ids {
		got, err := c.nodes[id].LockInReadiness(dep)
		require.NoError(t, err, id)
		assert.Equal(t, lock, got, "%s's readiness at lock-in against the sequencer's", id)
	}
}

func TestGovernanceUpgradeHaltsUnreadyNodes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	defer c.closeAll()
	// Two of five nodes (40% of stake) are not ready for protocol 2.0.0.
	for _, id := range c.ids {
		if id == "e1" || id == "e2" {
			c.start(id)
		} else {
			c.start(id, "protocol=2.0.0")
		}
	}
	for _, id := range c.ids {
		c.waitReady(id)
	}
	_, view, _ := c.nodes["seq"].Head().Head()
	at := view + 60
	c.propose(activation.Proposal{Name: "g2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: at})
	for _, id := range []string{"e1", "e2"} {
		n := c.nodes[id]
		select {
		case <-n.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s did not halt", id)
		}
		var he *HaltError
		require.ErrorAs(t, n.Err(), &he, "%s stopped", id)
		assert.Equal(t, "2.0.0", he.Version, id)
		assert.Equal(t, at, he.ActivationView, id)
		_, v, _ := n.Head().Head()
		assert.Less(t, v, at, "%s applied a view at or past the activation", id)
		// It warned the operator before halting, and said what to install when it did.
		logs := c.logs[id].String()
		assert.Contains(t, logs, "UPGRADE NEEDED", id)
		assert.Contains(t, logs, fmt.Sprintf("upgrade before view %d", at), id)
		assert.Contains(t, logs, "supports protocol=2.0.0", id)
	}
	c.waitStatus(15*time.Second, "g2", activation.Active, "seq", "c2", "c3") // the ready nodes
	// The operators upgrade: the halted nodes resume from their stores and catch up.
	for _, id := range []string{"e1", "e2"} {
		c.stop(id)
		c.start(id, "protocol=2.0.0")
	}
	c.waitStatus(20*time.Second, "g2", activation.Active, "e1", "e2") // the upgraded nodes too
	ref, ok := c.nodes["seq"].Head().Deployment("g2")
	require.True(t, ok)
	for _, id := range c.ids {
		d, ok := c.nodes[id].Head().Deployment("g2")
		require.True(t, ok, id)
		assert.Equal(t, ref.Since, d.Since, "%s's activation view against the sequencer's", id)
	}
}

// TestCatchUpDoesNotWarnAboutThePast: a node that replays a stretch where a
// deployment it does not support was LOCKED_IN, since cancelled, must not tell
// its operator to upgrade: warnings speak of the chain's head, and a node
// catching up does not know it yet.
func TestCatchUpDoesNotWarnAboutThePast(t *testing.T) {
	c := newCluster(t)
	defer c.closeAll()
	for _, id := range []string{"seq", "c2", "c3", "e1"} {
		c.start(id)
	}
	for _, id := range []string{"seq", "c2", "c3", "e1"} {
		c.waitReady(id)
	}
	_, view, _ := c.nodes["seq"].Head().Head()
	c.propose(activation.Proposal{Name: "g2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: view + 400})
	testutil.Eventually(t, 15*time.Second, "g2 LOCKED_IN", func() bool { return c.status("seq", "g2") == activation.LockedIn })
	_, lockedAt, _ := c.nodes["seq"].Head().Head()
	testutil.Eventually(t, 15*time.Second, "50 views in LOCKED_IN", func() bool {
		_, v, _ := c.nodes["seq"].Head().Head()
		return v >= lockedAt+50
	})
	require.Contains(t, c.logs["c2"].String(), "UPGRADE NEEDED", "c2, live while g2 was LOCKED_IN, did not warn")
	a, err := c.g.Committee().Approve(activation.CancelMessage(c.g.ChainID, "g2"), []int{0, 1},
		[]signal.PrivateKey{c.keys.Governance[0], c.keys.Governance[1]})
	require.NoError(t, err)
	_, err = c.nodes["c3"].SubmitGovernance(chain.ItemCancel, canon.MustEncode(activation.SignedCancel{Deployment: "g2", Approval: a}))
	require.NoError(t, err)
	testutil.Eventually(t, 15*time.Second, "g2 CANCELED", func() bool { return c.status("seq", "g2") == activation.Canceled })

	c.start("e2") // late, and without 2.0.0
	testutil.Eventually(t, 30*time.Second, "e2 catches up past the cancellation", func() bool {
		return c.status("e2", "g2") == activation.Canceled && c.nodes["e2"].chain.Synced()
	})
	assert.NotContains(t, c.logs["e2"].String(), "UPGRADE NEEDED", "e2 warned about g2 while replaying blocks from before its cancellation")
}

// A proposal submitted while the sequencer is down (its pool lives in
// memory) is not lost: the submitting node keeps it and sends it again,
// straight to the sequencer, until a finalized block carries it; it survives
// the submitting node's own restart too.
func TestSubmissionSurvivesRestarts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	defer c.closeAll()
	for _, id := range []string{"seq", "c2", "c3"} {
		c.start(id)
	}
	c.waitReady("c2")
	c.waitReady("c3")
	c.stop("seq")
	_, view, _ := c.nodes["c3"].Head().Head()
	c.propose(activation.Proposal{Name: "g2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: view + 5000})
	c.stop("c3")
	c.start("c3")
	c.start("seq")
	testutil.Eventually(t, 30*time.Second, "the proposal reaches the chain", func() bool { return c.status("c2", "g2") != activation.None })
	var included Submission
	testutil.Eventually(t, 10*time.Second, "c3 records the height that carried it", func() bool {
		subs := c.nodes["c3"].subs
		subs.mu.Lock()
		defer subs.mu.Unlock()
		for _, it := range subs.items {
			if it.Deployment == "g2" && it.Included {
				included = *it
				return true
			}
		}
		return false
	})
	b, err := c.nodes["c2"].Store().Block(included.Height)
	require.NoError(t, err)
	assert.Equal(t, included.View, b.View)
}

// Start names the step that failed: here the API, whose listen address
// is not one.
func TestStartSaysWhichStepFailed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	_, err := Start(context.Background(), Config{Home: c.homes["seq"], Genesis: c.g, NodeID: "seq", StakingKey: c.keys.Staking["seq"],
		P2PKey: c.keys.P2P["seq"], Engine: devchainEngine, Logger: slog.New(slog.DiscardHandler), APIListen: "127.0.0.1:notaport"})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "node: start the API: "), err.Error())
}

// closeCountingEngine is devchain, counting the calls to Close.
type closeCountingEngine struct {
	Engine
	closed *int
}

func (e closeCountingEngine) Close() { *e.closed++; e.Engine.Close() }

// A Start that fails after building the engine closes it and the store,
// before the network and after it: nothing it built is left open.
func TestStartClosesWhatItBuiltWhenAStepFails(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	for _, tc := range []struct {
		name, step string
		home       func(home string)
		apiListen  string
	}{
		{name: "before the network", step: "node: load pending submissions: ",
			home: func(home string) {
				require.NoError(t, os.WriteFile(filepath.Join(home, SubmissionsFile), []byte("{"), 0o600))
			}},
		{name: "after the network", step: "node: start the API: ", home: func(string) {}, apiListen: "127.0.0.1:notaport"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			tc.home(home)
			closed := 0
			engine := func(env EngineEnv) (Engine, error) {
				e, err := devchainEngine(env)
				return closeCountingEngine{Engine: e, closed: &closed}, err
			}
			cfg := Config{Home: home, Genesis: c.g, NodeID: "seq", StakingKey: c.keys.Staking["seq"], P2PKey: c.keys.P2P["seq"],
				Engine: engine, Logger: slog.New(slog.DiscardHandler), APIListen: tc.apiListen}
			_, err := Start(context.Background(), cfg)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.step), err.Error())
			assert.Equal(t, 1, closed, "the engine is closed once")
			// The store's lock is released: the home opens again.
			require.NoError(t, os.RemoveAll(filepath.Join(home, SubmissionsFile)))
			cfg.APIListen = ""
			n, err := Start(context.Background(), cfg)
			require.NoError(t, err, "the store was left open")
			require.NoError(t, n.Close())
		})
	}
}
