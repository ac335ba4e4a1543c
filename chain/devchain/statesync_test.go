package devchain

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// logBuffer is a slog destination tests read while nodes write.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// snapshotServer serves a fixed snapshot (a lying peer's).
type snapshotServer [][]byte

func (s snapshotServer) EncodedSnapshot() ([][]byte, error) { return s, nil }

// propose submits a stake proposal at node n, approved by the committee.
func propose(t testing.TB, g *Genesis, keys *Keys, n *testNode, p activation.Proposal) {
	t.Helper()
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0, 2},
		[]signal.PrivateKey{keys.Governance[0], keys.Governance[2]})
	require.NoError(t, err)
	require.NoError(t, n.chain.SubmitGovernance(context.Background(),
		chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: approval}}))
}

// attestAll has every node in nodes whose head has d STARTED attest for its
// current epoch (the plugin's job, done by hand).
func attestAll(t testing.TB, g *Genesis, keys *Keys, nodes []*testNode, d activation.Proposal) {
	t.Helper()
	for _, n := range nodes {
		if status(n, d.Name) == activation.Started {
			a, err := signal.SignReadiness(keys.Staking[n.id], g.ChainID, d.ID(), netView{n.chain}.CurrentEpoch(), n.id)
			require.NoError(t, err)
			n.chain.SubmitAttestation(context.Background(), a) //nolint:errcheck // repeated until it counts
		}
	}
}

// A devchain runs past an activation; a new follower with state sync on
// first meets a peer whose snapshot lies (a signed block with another
// state), refuses it with the reason logged, then joins from the
// sequencer's snapshot: it never holds a block below its base, knows every
// version and deployment at once, agrees on the state at a common height,
// and its own readiness (the only execution node, which a deployment for
// the execution role needs) locks in a deployment after it joined.
func TestFollowerJoinsByStateSync(t *testing.T) {
	checkLeaks(t)
	g, keys := devGenesis(t)
	nodes, closeAll := startMesh(t, g, keys, "seq", "c2", "c3")
	t.Cleanup(closeAll)
	seq := nodes[0]

	epoch := netView{seq.chain}.CurrentEpoch()
	p2 := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 50}
	propose(t, g, keys, nodes[1], p2)
	testutil.Eventually(t, 20*time.Second, "p2 activates before the new node joins", func() bool {
		attestAll(t, g, keys, nodes, p2)
		return status(seq, "p2") == activation.Active
	})
	// The next deployment needs the execution role's readiness: only the
	// node that joins by state sync has it.
	epoch = netView{seq.chain}.CurrentEpoch()
	p3 := activation.Proposal{Name: "p3", Component: "protocol", Version: "3.0.0", Mode: activation.Stake,
		Roles: []string{"execution"}, Threshold: quorum.TwoThirds, StartEpoch: epoch + 1, TimeoutEpoch: epoch + 60}
	propose(t, g, keys, nodes[1], p3)
	testutil.Eventually(t, 10*time.Second, "p3 is accepted", func() bool { return status(seq, "p3") != activation.None })

	// The liar serves a genuine signed block with the state before it.
	honest, err := seq.chain.EncodedSnapshot()
	require.NoError(t, err)
	sb, err := DecodeSignedBlock(honest[0])
	require.NoError(t, err)
	older, err := seq.store.StateAt(sb.Height - 1)
	require.NoError(t, err)
	k, _, err := crypto.GenerateEd25519Key(nil)
	require.NoError(t, err)
	liar, err := p2p.Start(context.Background(), p2p.Config{ChainID: g.ChainID, Identity: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		View: attackerView{g}, Unchecked: true})
	require.NoError(t, err)
	t.Cleanup(func() { liar.Close() })
	liar.Attach(p2p.Handlers{Snapshots: snapshotServer{honest[0], older.Encode()}})

	logs := &logBuffer{}
	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem(), Small: true})
	require.NoError(t, err)
	e1 := startOnWith(t, testOptions{stateSync: true, logger: slog.New(slog.NewTextHandler(logs, nil))}, g, keys, "e1",
		[]peer.AddrInfo{liar.AddrInfo()}, store, nil)
	current := e1 // the running e1, restarted below
	t.Cleanup(func() { current.close() })
	testutil.Eventually(t, 10*time.Second, "the new node refuses the liar's snapshot", func() bool { return e1.chain.RefusedSnapshots() > 0 })
	_, ok := store.Head()
	assert.False(t, ok, "a refused snapshot is not stored")
	assert.Contains(t, logs.String(), "refused a peer's snapshot")
	assert.Contains(t, logs.String(), "the sequencer signed")

	require.NoError(t, e1.net.Connect(context.Background(), seq.net.AddrInfo()))
	testutil.Eventually(t, 10*time.Second, "the new node joins from the sequencer's snapshot", func() bool {
		_, ok := store.Base()
		return ok
	})
	base, _ := store.Base()
	t.Logf("the liar served height %d; joined at height %d", sb.Height, base)
	assert.GreaterOrEqual(t, base, sb.Height, "joined at the snapshot's height or later")
	joined := e1.chain.Head()
	v, _ := joined.ActiveVersion("protocol")
	assert.Equal(t, "2.0.0", v, "the joiner knows the version activated before it joined")
	assert.Len(t, joined.History("protocol"), 2, "and the version history")
	d, ok := joined.Deployment("p3")
	require.True(t, ok, "and the pending deployment")
	assert.Contains(t, []activation.Status{activation.Defined, activation.Started}, d.Status)
	for _, h := range []uint64{0, base - 1} {
		_, err := store.Block(h)
		assert.ErrorIs(t, err, storage.ErrPruned, "block %d was never fetched", h)
	}

	// The Chain interface delivers from the block after the base, whatever
	// height the consumer asks from (the node asks from 0 on a new store).
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := e1.chain.Finalized(ctx, 0)
	require.NoError(t, err)
	select {
	case fb := <-sub:
		assert.Equal(t, base+1, fb.Height, "the first block delivered")
	case <-time.After(10 * time.Second):
		t.Fatal("no block delivered after the join")
	}
	cancel()

	all := append(nodes, e1)
	testutil.Eventually(t, 30*time.Second, "the joiner's readiness locks p3 in", func() bool {
		attestAll(t, g, keys, all, p3)
		s := status(seq, "p3")
		return s == activation.LockedIn || s == activation.Active
	})
	require.NoError(t, e1.chain.Err())
	assert.Equal(t, 0, len(e1.chain.Evidence()))
	testutil.Eventually(t, 10*time.Second, "the joiner follows past the lock-in", func() bool {
		s := status(e1, "p3")
		return s == activation.LockedIn || s == activation.Active
	})
	common, _, _ := e1.chain.Head().Head()
	want, err := seq.store.StateAt(common)
	require.NoError(t, err)
	got, err := store.StateAt(common)
	require.NoError(t, err)
	assert.Equal(t, want.ID(), got.ID(), "the same state at height %d", common)
	assert.Greater(t, common, base)

	// Restarted with state sync still on, e1 follows from its own head:
	// the setting only acts on an empty store.
	current.stop()
	current = startOnWith(t, testOptions{stateSync: true, logger: slog.New(slog.NewTextHandler(logs, nil))}, g, keys, "e1",
		[]peer.AddrInfo{seq.net.AddrInfo()}, store, nil)
	testutil.Eventually(t, 10*time.Second, "the restarted e1 follows on", func() bool {
		h, _, _ := current.chain.Head().Head()
		return h > common+3
	})
	again, _ := store.Base()
	assert.Equal(t, base, again, "the base stays where e1 joined")
	require.NoError(t, current.chain.Err())
}

// VerifySnapshot refuses each way a snapshot can lie, with the reason.
func TestVerifySnapshotRefusesLies(t *testing.T) {
	g, keys := devGenesis(t)
	head := g.State()
	var raws [][]byte
	var states []*activation.State
	for h := uint64(0); h < 3; h++ {
		raw := sequencerBlock(t, g, keys, head, h, h+1)
		next, _, err := activation.Apply(head, activation.Block{Height: h, View: h + 1})
		require.NoError(t, err)
		raws, states, head = append(raws, raw), append(states, next), next
	}
	st, raw, err := VerifySnapshot(g, [][]byte{raws[2], states[2].Encode()})
	require.NoError(t, err, "an honest snapshot")
	assert.Equal(t, states[2].ID(), st.ID())
	assert.Equal(t, raws[2], raw)

	forged, err := DecodeSignedBlock(raws[2])
	require.NoError(t, err)
	forged.StateID = states[1].ID()
	forgedRaw := canon.MustEncode(forged)
	flipped := states[2].Encode()
	flipped[len(flipped)-1] ^= 1
	for name, c := range map[string]struct {
		items [][]byte
		why   string
	}{
		"one item":           {[][]byte{raws[2]}, "1 items"},
		"another state":      {[][]byte{raws[2], states[1].Encode()}, "the sequencer signed"},
		"a damaged state":    {[][]byte{raws[2], flipped}, "state"},
		"a forged block":     {[][]byte{forgedRaw, states[1].Encode()}, "not signed by the sequencer"},
		"not a block":        {[][]byte{[]byte("junk"), states[2].Encode()}, "devchain block"},
		"a block of genesis": {[][]byte{raws[2], g.State().Encode()}, "the sequencer signed"},
	} {
		_, _, err := VerifySnapshot(g, c.items)
		assert.ErrorIs(t, err, ErrBadSnapshot, name)
		assert.ErrorContains(t, err, c.why, name)
	}
}

// The sequencer cannot join by state sync.
func TestSequencerRefusesStateSync(t *testing.T) {
	g, _ := devGenesis(t)
	store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem(), Small: true})
	require.NoError(t, err)
	defer store.Close()
	_, err = New(Options{Genesis: g, Store: store, NodeID: g.Sequencer, StateSync: true})
	assert.ErrorContains(t, err, "sequencer cannot join by state sync")
}
