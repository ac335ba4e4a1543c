package feed

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newStore is an empty store of a one-node chain, closed when the test ends.
func newStore(t *testing.T) (*chain.Genesis, *storage.Store) {
	t.Helper()
	g, _, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "feed", EpochViews: 20, SafetyViews: 2,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: []chain.NodeSpec{{ID: "a", Role: "consensus", Stake: 1}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("feed")})
	require.NoError(t, err)
	store, err := storage.Open(t.TempDir(), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), Small: true})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	return g, store
}

// A governance deployment proposed at height 1 for view 30 locks in at once
// and activates at the first block at or after view 30; a second proposal
// of the same name is rejected. The feed delivers those events with their
// blocks, from height 0 and, as after a restart, from the middle.
func TestDeliverCarriesApplyEvents(t *testing.T) {
	g, store := newStore(t)

	p := activation.Proposal{Name: "up", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: 30}
	state := g.State()
	views := []uint64{10, 11, 20, 31, 32}
	for h, v := range views {
		b := activation.Block{Height: uint64(h), View: v}
		if h == 1 {
			b.Proposals = []activation.Proposal{p, p}
		}
		next, _, err := activation.Apply(state, b)
		require.NoError(t, err)
		require.NoError(t, store.Commit(storage.Block{Height: b.Height, View: v, Wire: []byte{byte(h)}, Verified: b}, next))
		state = next
	}
	done := make(chan struct{})
	src := Source{Store: store, Genesis: g.State(), Done: done,
		Payload: func(b storage.Block) ([]byte, error) { return b.Wire, nil },
		Wait:    func() <-chan struct{} { return make(chan struct{}) }}

	collect := func(from uint64) []chain.FinalizedBlock {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := make(chan chain.FinalizedBlock, len(views))
		go Deliver(ctx, src, from, out)
		var got []chain.FinalizedBlock
		for len(got) < len(views)-int(from) {
			select {
			case fb := <-out:
				got = append(got, fb)
			case <-time.After(5 * time.Second):
				t.Fatalf("only %d blocks delivered", len(got))
			}
		}
		cancel()
		for range out { // Deliver closes out when it returns
		}
		return got
	}
	got := collect(0)
	require.Len(t, got, 5)
	assert.Empty(t, got[0].Events)
	assert.Equal(t, []activation.Event{
		activation.Transition{View: 11, Height: 1, Epoch: 0, Deployment: "up", From: activation.None, To: activation.Defined},
		activation.Transition{View: 11, Height: 1, Epoch: 0, Deployment: "up", From: activation.Defined, To: activation.LockedIn, ActivationView: 30},
		activation.Rejection{View: 11, Kind: activation.KindProposal, Deployment: "up", Reason: activation.DuplicateName},
	}, got[1].Events)
	assert.Equal(t, []activation.Event{
		activation.Transition{View: 31, Height: 3, Epoch: 1, Deployment: "up", From: activation.LockedIn, To: activation.Active},
	}, got[3].Events)
	assert.Equal(t, []byte{3}, got[3].Payload)
	assert.Equal(t, uint64(1), got[3].Epoch)

	// From the middle, as a restarted node asks: the same events.
	again := collect(3)
	assert.Equal(t, got[3], again[0])
	close(done)
}

// A block whose payload cannot be read stops the delivery, and the reason
// reaches Fail, naming the height, before out is closed: the consumer never
// sees a silent end.
func TestDeliverReportsWhyItStopped(t *testing.T) {
	g, store := newStore(t)
	state := g.State()
	for h := range 4 {
		b := activation.Block{Height: uint64(h), View: uint64(10 + h)}
		next, _, err := activation.Apply(state, b)
		require.NoError(t, err)
		require.NoError(t, store.Commit(storage.Block{Height: b.Height, View: b.View, Wire: []byte{byte(h)}, Verified: b}, next))
		state = next
	}
	done := make(chan struct{})
	defer close(done)
	var failed error
	src := Source{Store: store, Genesis: g.State(), Done: done,
		Payload: func(b storage.Block) ([]byte, error) {
			if b.Height == 2 {
				return nil, errors.New("undecodable")
			}
			return b.Wire, nil
		},
		Wait: func() <-chan struct{} { return make(chan struct{}) },
		Fail: func(err error) { failed = err }}
	out := make(chan chain.FinalizedBlock, 8)
	go Deliver(context.Background(), src, 0, out)
	var heights []uint64
	for fb := range out { // closed when Deliver stops
		heights = append(heights, fb.Height)
	}
	assert.Equal(t, []uint64{0, 1}, heights)
	require.Error(t, failed) // set before out was closed
	assert.Contains(t, failed.Error(), "block 2: undecodable")

}
