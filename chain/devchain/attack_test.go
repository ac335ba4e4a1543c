package devchain

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
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

// checkLeaks checks for goroutine leaks after the test's cleanups ran.
func checkLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// follower returns a started follower chain with no network, on a fresh store.
func follower(t *testing.T, g *Genesis) *Chain {
	t.Helper()
	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem()})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	c, err := New(Options{Genesis: g, Store: store, NodeID: "c2", Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	c.Start(nil)
	t.Cleanup(c.Close)
	return c
}

// sequencerBlock signs an empty block at (height, view) whose state ID is
// what applying it to head gives, as an honest sequencer would.
func sequencerBlock(t *testing.T, g *Genesis, keys *Keys, head *activation.State, height, view uint64) []byte {
	t.Helper()
	wire := activation.WireBlock{ChainID: g.ChainID, Height: height, View: view}
	next, _, err := activation.Apply(head, activation.Block{Height: height, View: view})
	require.NoError(t, err)
	sb := SignedBlock{Height: height, View: view, StateID: next.ID(), Block: wire.Encode()}
	sb.Signature, err = signal.Sign(keys.Staking["seq"], sb.signingBytes())
	require.NoError(t, err)
	return canon.MustEncode(sb)
}

func TestEquivocationStopsTheFollowerWithEvidence(t *testing.T) {
	checkLeaks(t)
	g, keys := devGenesis(t)
	c := follower(t, g)
	b0 := sequencerBlock(t, g, keys, g.State(), 0, 1)
	require.NoError(t, c.CheckBlock(b0))
	c.HandleBlock(b0)
	testutil.Eventually(t, 5*time.Second, "block 0 applied", func() bool { return c.nextHeight() == 1 })

	// The same block again (a replay after gossip's seen-cache forgot it)
	// is ignored, at no cost to whoever sent it.
	assert.ErrorIs(t, c.CheckBlock(b0), p2p.ErrIgnore, "replayed block")
	// A far-future block is ignored before its signature is checked.
	far := sequencerBlock(t, g, keys, g.State(), 5000, 5000)
	assert.ErrorIs(t, c.CheckBlock(far), p2p.ErrIgnore, "block far ahead")
	// An old height with a signature not the sequencer's is rejected.
	forged, err := DecodeSignedBlock(sequencerBlock(t, g, keys, g.State(), 0, 2))
	require.NoError(t, err)
	forged.Signature, err = signal.Sign(keys.Staking["c3"], forged.signingBytes())
	require.NoError(t, err)
	err = c.CheckBlock(canon.MustEncode(forged))
	require.Error(t, err)
	assert.NotErrorIs(t, err, p2p.ErrIgnore)
	require.NoError(t, c.Err(), "nothing so far is evidence")

	// A second sequencer-signed block at height 0 (another view) is.
	other := sequencerBlock(t, g, keys, g.State(), 0, 2)
	assert.ErrorIs(t, c.CheckBlock(other), p2p.ErrIgnore)
	testutil.Eventually(t, 5*time.Second, "the follower stops", func() bool { return c.Err() != nil })
	assert.ErrorIs(t, c.Err(), ErrEquivocation)
	assert.Contains(t, c.Err().Error(), "height 0")
	ev := c.Evidence()
	require.Len(t, ev, 1)
	assert.Equal(t, b0, ev[0].First)
	assert.Equal(t, other, ev[0].Second)
}

func TestEquivocationAmongPendingBlocks(t *testing.T) {
	checkLeaks(t)
	g, keys := devGenesis(t)
	c := follower(t, g)
	// Two different signed blocks at height 3, both ahead of the head: the
	// second arrival is the evidence.
	a := sequencerBlock(t, g, keys, g.State(), 3, 4)
	b := sequencerBlock(t, g, keys, g.State(), 3, 5)
	c.HandleBlock(a)
	c.HandleBlock(b)
	testutil.Eventually(t, 5*time.Second, "the follower stops", func() bool { return c.Err() != nil })
	assert.ErrorIs(t, c.Err(), ErrEquivocation)
	// And the pending map never holds a block beyond its bound.
	c.HandleBlock(sequencerBlock(t, g, keys, g.State(), maxPendingBlocks+10, maxPendingBlocks+10))
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.LessOrEqual(t, len(c.pending), 1)
}

func TestGovernanceIsVerifiedBeforePooling(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g, keys := devGenesis(t)
	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem()})
	require.NoError(t, err)
	defer store.Close()
	seq, err := New(Options{Genesis: g, Store: store, NodeID: "seq", StakingKey: keys.Staking["seq"]})
	require.NoError(t, err)

	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: 500}
	good, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{keys.Governance[0], keys.Governance[1]})
	require.NoError(t, err)
	// Junk: approved by one member where two are needed, and a signature
	// over another proposal.
	few, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, []signal.PrivateKey{keys.Governance[0]})
	require.NoError(t, err)
	other := p
	other.Version = "3.0.0"
	wrong, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, other), []int{0, 1},
		[]signal.PrivateKey{keys.Governance[0], keys.Governance[1]})
	require.NoError(t, err)
	for name, a := range map[string]activation.Approval{"too few": few, "wrong message": wrong} {
		raw := canon.MustEncode(GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: a}})
		err := seq.CheckGovernance(raw)
		require.Error(t, err, name)
		assert.NotErrorIs(t, err, p2p.ErrIgnore, name)
		seq.HandleGovernance(raw)
	}
	assert.Error(t, seq.CheckGovernance([]byte{0xa0}), "empty message")
	assert.Zero(t, seq.pool.Stats().Proposals, "junk was pooled")

	raw := canon.MustEncode(GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: good}})
	require.NoError(t, seq.CheckGovernance(raw))
	seq.HandleGovernance(raw)
	assert.ErrorIs(t, seq.CheckGovernance(raw), p2p.ErrIgnore, "already pooled")
	seq.HandleGovernance(raw)
	assert.Equal(t, 1, seq.pool.Stats().Proposals)
}

// Readiness the sequencer never received by gossip (it was down when the
// node published, and gossip never sends a message twice) is pulled from
// the node's pool by the sequencer's catch-up and counted.
func TestSequencerCatchesUpMissedReadiness(t *testing.T) {
	checkLeaks(t)
	g, keys, err := Generate(GenerateOptions{
		ChainID: "dev-catchup", EpochViews: 100000, SafetyViews: 5, Versions: map[string]string{"protocol": "1.0.0"},
		Nodes:             []NodeSpec{{ID: "seq", Role: "consensus", Stake: 100}, {ID: "c2", Role: "consensus", Stake: 100}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("devchain-catchup"),
	})
	require.NoError(t, err)
	seq := startNode(t, g, keys, "seq", nil)
	f := startNode(t, g, keys, "c2", []peer.AddrInfo{seq.net.AddrInfo()})
	t.Cleanup(f.close)
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, []signal.PrivateKey{keys.Governance[0]})
	require.NoError(t, err)
	require.NoError(t, seq.chain.SubmitGovernance(context.Background(), chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: approval}}))
	testutil.Eventually(t, 15*time.Second, "the follower sees p2 STARTED", func() bool { return status(f, "p2") == activation.Started })

	// The sequencer goes down; the follower publishes its readiness (into
	// its own pool only) and waits out gossip's message history.
	seq.stop()
	a, err := signal.SignReadiness(keys.Staking["c2"], g.ChainID, p.ID(), 0, "c2")
	require.NoError(t, err)
	require.NoError(t, f.net.PublishAttestation(context.Background(), a))
	time.Sleep(6 * time.Second)
	seq = startOn(t, g, keys, "seq", []peer.AddrInfo{f.net.AddrInfo()}, seq.store, nil)
	t.Cleanup(seq.close)
	table := g.Params().Identities.TableAt(0)
	i, _ := table.Lookup("c2")
	testutil.Eventually(t, 15*time.Second, "the sequencer counts c2's readiness", func() bool {
		d, ok := seq.chain.Head().Deployment("p2")
		return ok && d.Tally(0) != nil && d.Tally(0).Has(i)
	})
	assert.GreaterOrEqual(t, seq.chain.CaughtUp(), int64(1), "it came by catch-up")
}

// servedBlocks is a block source for a sync server that trims nothing.
type servedBlocks [][]byte

func (s servedBlocks) EncodedBlocks(from, count uint64) ([][]byte, error) {
	if from >= uint64(len(s)) {
		return nil, errors.New("no such block")
	}
	return s[from:min(uint64(len(s)), from+count)], nil
}

// A follower whose sync responses come back too large (a peer that does not
// trim them) halves its request until they fit, fetching from a peer that is
// not the sequencer, and so keeps following.
func TestFollowerShrinksSyncRequestsThatAreTooLarge(t *testing.T) {
	checkLeaks(t)
	g, keys := devGenesis(t)
	var served servedBlocks
	head := g.State()
	for h := uint64(0); h < 6; h++ {
		served = append(served, sequencerBlock(t, g, keys, head, h, h+1))
		next, _, err := activation.Apply(head, activation.Block{Height: h, View: h + 1})
		require.NoError(t, err)
		head = next
	}
	sk, _, err := p2pcrypto.GenerateEd25519Key(nil)
	require.NoError(t, err)
	server, err := p2p.Start(context.Background(), p2p.Config{ChainID: g.ChainID, Identity: sk,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, View: attackerView{g}, Handlers: p2p.Handlers{Sync: served}})
	require.NoError(t, err)
	t.Cleanup(func() { server.Close() })

	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem()})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	c, err := New(Options{Genesis: g, Store: store, NodeID: "c2", Interval: 10 * time.Millisecond})
	require.NoError(t, err)
	// Room for one block per response, not two.
	net, err := p2p.Start(context.Background(), p2p.Config{ChainID: g.ChainID, Identity: keys.P2P["c2"],
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: []peer.AddrInfo{server.AddrInfo()}, View: netView{c},
		Handlers: p2p.Handlers{Sync: c}, SyncResponseLimit: len(served[0]) + 100})
	require.NoError(t, err)
	t.Cleanup(func() { net.Close() })
	c.Start(net)
	t.Cleanup(c.Close)
	testutil.Eventually(t, 20*time.Second, "the follower applies all six blocks", func() bool { return c.nextHeight() == 6 })
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Equal(t, uint64(1), c.syncCount, "requests shrank to one block")
}
