package devchain

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// netView adapts a chain's head to what the p2p pipeline asks.
type netView struct{ c *Chain }

func (v netView) CurrentEpoch() uint64 {
	h := v.c.Head()
	_, view, _ := h.Head()
	return h.Params().Epoch(view)
}
func (v netView) Table(e uint64) *quorum.Table {
	return v.c.opts.Genesis.Params().Identities.TableAt(e)
}
func (v netView) Signaling(d signal.DeploymentID) bool {
	dep, ok := v.c.Head().DeploymentByID(d)
	return ok && (dep.Status == activation.Started || dep.Status == activation.LockedIn)
}

type testNode struct {
	id    string
	store *storage.Store
	chain *Chain
	net   *p2p.Node
}

func (n *testNode) close() {
	n.stop()
	n.store.Close()
}

// stop stops the chain and the network but keeps the store (for a restart).
func (n *testNode) stop() {
	n.chain.Close()
	n.net.Close()
}

func devGenesis(t testing.TB) (*Genesis, *Keys) {
	t.Helper()
	g, keys, err := Generate(GenerateOptions{
		ChainID: "dev-test", EpochViews: 30, SafetyViews: 5, Versions: map[string]string{"protocol": "1.0.0"},
		Nodes: []NodeSpec{{ID: "seq", Role: "consensus", Stake: 100}, {ID: "c2", Role: "consensus", Stake: 100},
			{ID: "c3", Role: "consensus", Stake: 100}, {ID: "e1", Role: "execution", Stake: 100}},
		GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte("devchain-test"),
	})
	require.NoError(t, err)
	return g, keys
}

func startNode(t testing.TB, g *Genesis, keys *Keys, id string, peers []peer.AddrInfo) *testNode {
	return startNodeWith(t, testOptions{}, g, keys, id, peers)
}

// testOptions vary the test nodes: interval is the sequencer's (default
// 10 ms); syncOnly makes a follower drop blocks that gossip delivers, so it
// gets every block by the sync protocol's poll (a baseline).
type testOptions struct {
	interval time.Duration
	syncOnly bool
	// stateSync and logger go to Options (statesync_test.go).
	stateSync bool
	logger    *slog.Logger
}

func startNodeWith(t testing.TB, o testOptions, g *Genesis, keys *Keys, id string, peers []peer.AddrInfo) *testNode {
	t.Helper()
	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem(), Small: true})
	require.NoError(t, err)
	return startOnWith(t, o, g, keys, id, peers, store, nil)
}

// startOn starts a node's chain and network on an existing store (a restart).
func startOn(t testing.TB, g *Genesis, keys *Keys, id string, peers []peer.AddrInfo, store *storage.Store,
	guard func(*activation.State, uint64) error) *testNode {
	return startOnWith(t, testOptions{}, g, keys, id, peers, store, guard)
}

func startOnWith(t testing.TB, o testOptions, g *Genesis, keys *Keys, id string, peers []peer.AddrInfo, store *storage.Store,
	guard func(*activation.State, uint64) error) *testNode {
	t.Helper()
	if o.interval == 0 {
		o.interval = 10 * time.Millisecond
	}
	c, err := New(Options{Genesis: g, Store: store, NodeID: id, StakingKey: keys.Staking[id], Interval: o.interval, Guard: guard,
		StateSync: o.stateSync, Logger: o.logger})
	require.NoError(t, err)
	net, err := p2p.Start(context.Background(), p2p.Config{ChainID: g.ChainID, Identity: keys.P2P[id],
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, View: netView{c}, BatchWindow: 2 * time.Millisecond})
	require.NoError(t, err)
	c.Start(net) // attaches the chain's handlers to the network
	if o.syncOnly {
		// The baseline: blocks that arrive by gossip are dropped, so every
		// block comes by the sync protocol's poll.
		h := c.handlers()
		h.OnBlock = nil
		net.Attach(h)
	}
	return &testNode{id: id, store: store, chain: c, net: net}
}

// startMesh starts the nodes ids in order, each dialling those before it,
// and waits until every node applies blocks and has gossip mesh peers.
// closeAll stops them; the caller orders it against its leak check.
func startMesh(t testing.TB, g *Genesis, keys *Keys, ids ...string) (nodes []*testNode, closeAll func()) {
	return startMeshWith(t, testOptions{}, g, keys, ids...)
}

func startMeshWith(t testing.TB, o testOptions, g *Genesis, keys *Keys, ids ...string) (nodes []*testNode, closeAll func()) {
	t.Helper()
	var once sync.Once
	closeAll = func() {
		once.Do(func() {
			for _, n := range nodes {
				n.close()
			}
		})
	}
	// A start that fails stops what it started.
	returned := false
	defer func() {
		if !returned {
			closeAll()
		}
	}()
	for _, id := range ids {
		var peers []peer.AddrInfo
		for _, n := range nodes {
			peers = append(peers, n.net.AddrInfo())
		}
		nodes = append(nodes, startNodeWith(t, o, g, keys, id, peers))
	}
	testutil.Eventually(t, 15*time.Second, "every node applies blocks and has gossip mesh peers", func() bool {
		for _, n := range nodes {
			if h, _, ok := n.chain.Head().Head(); !ok || h < 3 || n.net.MeshPeers() == 0 {
				return false
			}
		}
		return true
	})
	returned = true
	return nodes, closeAll
}

func status(n *testNode, name string) activation.Status {
	if d, ok := n.chain.Head().Deployment(name); ok {
		return d.Status
	}
	return activation.None
}

func TestDevchainStakeUpgrade(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g, keys := devGenesis(t)
	nodes, closeAll := startMesh(t, g, keys, "seq", "c2", "c3", "e1")
	defer closeAll()
	// Governance, submitted at a follower, reaches the sequencer by gossip.
	epoch := netView{nodes[1].chain}.CurrentEpoch()
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 50}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0, 2},
		[]signal.PrivateKey{keys.Governance[0], keys.Governance[2]})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, nodes[1].chain.SubmitGovernance(ctx, chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: approval}}))
	testutil.Eventually(t, 15*time.Second, "the proposal reaches every node", func() bool {
		for _, n := range nodes {
			if status(n, "p2") == activation.None {
				return false
			}
		}
		return true
	})
	// Every node attests for its current epoch until lock-in (the plugin's job, done by hand here).
	testutil.Eventually(t, 20*time.Second, "the deployment activates everywhere", func() bool {
		for _, n := range nodes {
			if status(n, "p2") == activation.Started {
				e := netView{n.chain}.CurrentEpoch()
				a, err := signal.SignReadiness(keys.Staking[n.id], g.ChainID, p.ID(), e, n.id)
				require.NoError(t, err)
				n.chain.SubmitAttestation(ctx, a)
			}
		}
		for _, n := range nodes {
			if status(n, "p2") != activation.Active {
				return false
			}
		}
		return true
	})
	// Same activation, same state at every height they share.
	var common uint64 = 1 << 62
	for _, n := range nodes {
		require.NoError(t, n.chain.Err(), "%s stopped", n.id)
		h, _, _ := n.chain.Head().Head()
		common = min(common, h)
		d, _ := n.chain.Head().Deployment("p2")
		d0, _ := nodes[0].chain.Head().Deployment("p2")
		assert.Equal(t, d0.ActivatesAt, d.ActivatesAt, "%s: activation view, against the sequencer's", n.id)
		assert.Equal(t, d0.Since, d.Since, "%s: view of the last transition, against the sequencer's", n.id)
	}
	want, err := nodes[0].store.StateAt(common)
	require.NoError(t, err)
	for _, n := range nodes[1:] {
		got, err := n.store.StateAt(common)
		require.NoError(t, err, n.id)
		assert.Equal(t, want.ID(), got.ID(), "%s: state at height %d", n.id, common)
	}
	// The Chain interface delivers the same blocks.
	sub, err := nodes[2].chain.Finalized(ctx, 0)
	require.NoError(t, err)
	for h := uint64(0); h < 3; h++ {
		fb := <-sub
		assert.Equal(t, h, fb.Height, "finalized blocks in height order")
	}
}

func TestFollowerRejectsForgedCertificate(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g, keys := devGenesis(t)
	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem()})
	require.NoError(t, err)
	defer store.Close()
	follower, err := New(Options{Genesis: g, Store: store, NodeID: "c2"})
	require.NoError(t, err)
	follower.Start(nil)
	defer follower.Close()

	// A (malicious) sequencer block: a stake proposal, and a certificate
	// claiming all four nodes while only one signed.
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 9}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{keys.Governance[0], keys.Governance[1]})
	require.NoError(t, err)
	table := g.Params().Identities.TableAt(0)
	one, err := signal.SignReadiness(keys.Staking["c3"], g.ChainID, p.ID(), 0, "c3")
	require.NoError(t, err)
	cert, err := quorum.BuildCertificate(table, []signal.Attestation{one})
	require.NoError(t, err)
	for i := range table.Len() {
		cert.Signers.Set(i)
	}
	wire := activation.WireBlock{ChainID: g.ChainID, Height: 0, View: 1,
		Proposals: []activation.SignedProposal{{Proposal: p, Approval: approval}}, Certificates: []quorum.Certificate{cert}}
	// The state the sequencer claims: everyone counted, so LOCKED_IN.
	forged := activation.Block{Height: 0, View: 1, Proposals: []activation.Proposal{p}}
	for i := range table.Len() {
		forged.Readiness = append(forged.Readiness, activation.Readiness{Deployment: "p2", Epoch: 0, Node: table.At(i).NodeID})
	}
	claimed, _, err := activation.Apply(g.State(), forged)
	require.NoError(t, err)
	sb := SignedBlock{Height: 0, View: 1, StateID: claimed.ID(), Block: wire.Encode()}
	sb.Signature, err = signal.Sign(keys.Staking["seq"], sb.signingBytes())
	require.NoError(t, err)
	raw := canon.MustEncode(sb)
	require.NoError(t, CheckBlock(g, raw), "the block is properly signed")
	follower.HandleBlock(raw)
	testutil.Eventually(t, 5*time.Second, "the follower stops", func() bool { return follower.Err() != nil })
	assert.ErrorIs(t, follower.Err(), ErrStateMismatch)
	_, stored := store.Head()
	assert.False(t, stored, "the forged block was stored")
	// A block not signed by the sequencer does not pass the topic validator.
	sb.Signature, err = signal.Sign(keys.Staking["c3"], sb.signingBytes())
	require.NoError(t, err)
	assert.Error(t, CheckBlock(g, canon.MustEncode(sb)), "a block signed by another node passed")
}

// haltOnUnsupported is node.Guard in miniature (devchain cannot import node):
// halt before the first block at or past the activation of protocol 2.0.0.
type haltError struct{ view uint64 }

func (e haltError) Error() string {
	return fmt.Sprintf("halted: protocol 2.0.0 activates at view %d", e.view)
}

func haltOnUnsupported(head *activation.State, view uint64) error {
	for _, d := range head.Deployments() {
		if d.Version == "2.0.0" && (d.Status == activation.LockedIn && view >= d.ActivatesAt || d.Status == activation.Active) {
			return haltError{d.ActivatesAt}
		}
	}
	return nil
}

func TestDevchainGovernanceHaltAndResume(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g, keys := devGenesis(t)
	var nodes []*testNode
	for _, id := range []string{"seq", "c2", "c3"} {
		var peers []peer.AddrInfo
		for _, n := range nodes {
			peers = append(peers, n.net.AddrInfo())
		}
		nodes = append(nodes, startNode(t, g, keys, id, peers))
	}
	// e1 runs an old binary: it halts rather than run protocol 2.0.0.
	e1Store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem(), Small: true})
	require.NoError(t, err)
	var peers []peer.AddrInfo
	for _, n := range nodes {
		peers = append(peers, n.net.AddrInfo())
	}
	e1 := startOn(t, g, keys, "e1", peers, e1Store, haltOnUnsupported)
	all := append(nodes, e1)
	defer func() {
		for _, n := range nodes {
			n.close()
		}
		e1.close()
	}()
	testutil.Eventually(t, 15*time.Second, "blocks flow and meshes form", func() bool {
		for _, n := range all {
			if h, _, ok := n.chain.Head().Head(); !ok || h < 3 || n.net.MeshPeers() == 0 {
				return false
			}
		}
		return true
	})
	_, view, _ := nodes[0].chain.Head().Head()
	at := view + 60
	p := activation.Proposal{Name: "gov-2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: at}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{1, 2},
		[]signal.PrivateKey{keys.Governance[1], keys.Governance[2]})
	require.NoError(t, err)
	require.NoError(t, nodes[2].chain.SubmitGovernance(context.Background(), chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: approval}}))
	testutil.Eventually(t, 20*time.Second, "the ready nodes activate and e1 halts", func() bool {
		for _, n := range nodes {
			if status(n, "gov-2") != activation.Active {
				return false
			}
		}
		return e1.chain.Err() != nil
	})
	var he haltError
	require.ErrorAs(t, e1.chain.Err(), &he)
	assert.Equal(t, at, he.view, "e1 halts for the activation")
	head, _ := e1Store.Head()
	_, v, _ := head.Head()
	assert.Less(t, v, at, "e1 stored a block at or past the activation")
	// The operator upgrades e1: it resumes from its consistent store and catches up.
	e1.stop()
	e1 = startOn(t, g, keys, "e1", peers, e1Store, nil)
	testutil.Eventually(t, 20*time.Second, "the upgraded e1 catches up and activates", func() bool {
		return status(e1, "gov-2") == activation.Active
	})
	d, _ := e1.chain.Head().Deployment("gov-2")
	d0, _ := nodes[0].chain.Head().Deployment("gov-2")
	assert.Equal(t, d0.Since, d.Since, "e1's activation view, against the sequencer's")
}

func TestSequencerSkipsViews(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g, keys := devGenesis(t)
	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem()})
	require.NoError(t, err)
	defer store.Close()
	seq, err := New(Options{Genesis: g, Store: store, NodeID: "seq", StakingKey: keys.Staking["seq"], Interval: time.Millisecond,
		SkipView: func(v uint64) bool { return v%3 == 0 }})
	require.NoError(t, err)
	seq.Start(nil)
	testutil.Eventually(t, 10*time.Second, "ten blocks", func() bool { h, _, ok := seq.Head().Head(); return ok && h >= 10 })
	seq.Close()
	for h := uint64(0); h <= 10; h++ {
		b, err := store.Block(h)
		require.NoError(t, err)
		assert.NotZero(t, b.View%3, "block %d is at view %d, which should have been skipped", h, b.View)
		assert.NoError(t, CheckBlock(g, b.Wire), "block %d", h)
	}
}

func TestSyncedRule(t *testing.T) {
	const iv = 20 * time.Millisecond
	for _, tc := range []struct {
		name  string
		since time.Duration
		known uint64 // next is 10
		want  bool
	}{
		{"knows of nothing unapplied", 10 * time.Millisecond, 10, true},
		{"the next block is being applied", 10 * time.Millisecond, 11, true},
		{"two blocks ahead arrived early", 10 * time.Millisecond, 12, true},
		{"three blocks behind", 10 * time.Millisecond, 13, false},
		{"far behind, between sync batches", 10 * time.Millisecond, 500, false},
		{"no block for 2 s", 2 * time.Second, 10, false},
		{"just under the window", 1999 * time.Millisecond, 10, true},
	} {
		assert.Equal(t, tc.want, synced(tc.since, iv, 10, tc.known), tc.name)
	}
	// A slow chain gets a longer window: ten intervals.
	assert.True(t, synced(4*time.Second, time.Second, 10, 10), "the window is ten view intervals when that is longer than 2 s")
	assert.False(t, synced(10*time.Second, time.Second, 10, 10), "no block for ten view intervals")
}
