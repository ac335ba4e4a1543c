package commit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	g     *chain.Genesis
	keys  *chain.Keys
	store *storage.Store
	dir   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "commit", EpochViews: 20, SafetyViews: 2,
		Versions: map[string]string{"protocol": "1.0.0"},
		Nodes: []chain.NodeSpec{{ID: "a", Role: "consensus", Stake: 100}, {ID: "b", Role: "consensus", Stake: 100},
			{ID: "c", Role: "consensus", Stake: 100}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("commit")})
	require.NoError(t, err)
	f := &fixture{g: g, keys: keys, dir: t.TempDir()}
	f.store = f.open(t)
	return f
}

func (f *fixture) open(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(f.dir, storage.Options{ChainID: f.g.ChainID, GenesisHash: f.g.Hash(), Genesis: f.g.State(), Small: true})
	require.NoError(t, err)
	return s
}

func (f *fixture) proposal(t *testing.T, p activation.Proposal) activation.SignedProposal {
	t.Helper()
	a, err := f.g.Committee().Approve(activation.ProposalMessage(f.g.ChainID, p), []int{0}, []signal.PrivateKey{f.keys.Governance[0]})
	require.NoError(t, err)
	return activation.SignedProposal{Proposal: p, Approval: a}
}

func (f *fixture) readiness(t *testing.T, d signal.DeploymentID, signer string) signal.Attestation {
	t.Helper()
	a, err := signal.SignReadiness(f.keys.Staking[signer], f.g.ChainID, d, 0, signer)
	require.NoError(t, err)
	return a
}

// collect delivers n blocks from height from.
func collect(t *testing.T, p *Pipeline, from uint64, n int) []chain.FinalizedBlock {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan chain.FinalizedBlock, n)
	done := make(chan struct{})
	defer close(done)
	go p.Deliver(ctx, done, from, out, nil)
	var got []chain.FinalizedBlock
	for len(got) < n {
		select {
		case fb := <-out:
			got = append(got, fb)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d blocks delivered", len(got), n)
		}
	}
	cancel()
	for range out { // Deliver closes out when it returns
	}
	return got
}

// The awkward block: a signer listed twice, readiness the verifying layer
// refuses (a bad signature, an unknown signer) between good readiness, and
// a proposal whose name is taken. The node gets exactly the events of the
// block's one Verify and Apply, in block order; a node that restarts and
// reads it back from the store gets the same ones, although the store packs
// a block's readiness into bitmaps (which keep a signer once, in table
// order).
func TestAwkwardBlockLiveAndRestartedGiveTheSameEvents(t *testing.T) {
	f := newFixture(t)
	p := New(Options{Store: f.store, Genesis: f.g})
	stake := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 10}
	dep := stake.ID()
	bad := f.readiness(t, dep, "b")
	bad.Signature = f.readiness(t, dep, "a").Signature
	stranger := f.readiness(t, dep, "a")
	stranger.Signer = "zed"

	blocks := []activation.WireBlock{
		{ChainID: f.g.ChainID, Height: 0, View: 1, Proposals: []activation.SignedProposal{f.proposal(t, stake)}},
		{ChainID: f.g.ChainID, Height: 1, View: 2,
			Proposals: []activation.SignedProposal{f.proposal(t, stake)}, // its name is taken
			Attestations: []signal.Attestation{f.readiness(t, dep, "c"), bad, f.readiness(t, dep, "a"), stranger,
				f.readiness(t, dep, "c"), f.readiness(t, dep, "a")}},
	}
	head := f.g.State()
	var live []chain.FinalizedBlock
	for _, w := range blocks {
		pr, err := p.Prepare(head, w)
		require.NoError(t, err)
		fb, err := p.Commit(pr, w.Encode(), chain.ViaGossip)
		require.NoError(t, err)
		live = append(live, fb)
		head = fb.State
	}
	events := live[1].Events
	require.GreaterOrEqual(t, len(events), 5)
	// The verifying layer's rejections first, in block order ...
	assert.Equal(t, activation.KindAttestation, events[0].(activation.Rejection).Kind)
	assert.Equal(t, "b", events[0].(activation.Rejection).Node)
	assert.Equal(t, activation.BadSignature, events[0].(activation.Rejection).Reason)
	assert.Equal(t, "zed", events[1].(activation.Rejection).Node)
	// ... then Apply's: the taken name, and each signer listed twice.
	var applyRejections []activation.Rejection
	for _, e := range events[2:] {
		if r, ok := e.(activation.Rejection); ok {
			applyRejections = append(applyRejections, r)
		}
	}
	assert.Contains(t, applyRejections, activation.Rejection{View: 2, Kind: activation.KindProposal, Deployment: "p2", Reason: activation.DuplicateName})
	dups := []activation.Rejection{}
	for _, r := range applyRejections {
		if r.Reason == activation.Duplicate {
			dups = append(dups, r)
		}
	}
	assert.Equal(t, []activation.Rejection{{View: 2, Kind: activation.KindAttestation, Deployment: dups[0].Deployment, Node: "c", Reason: activation.Duplicate},
		{View: 2, Kind: activation.KindAttestation, Deployment: dups[0].Deployment, Node: "a", Reason: activation.Duplicate}}, dups,
		"each repeat is reported, in block order (c before a)")

	// As committed, from a fresh pipeline on the reopened store (a restart):
	// the same blocks, events and states; only Via, which says how this
	// process got the block, is not known after a restart.
	require.NoError(t, f.store.Close())
	f.store = f.open(t)
	defer f.store.Close()
	again := collect(t, New(Options{Store: f.store, Genesis: f.g}), 0, 2)
	for i := range live {
		assert.Equal(t, chain.ViaGossip, live[i].Via)
		want := live[i]
		want.Via = ""
		assert.Equal(t, want.Events, again[i].Events, "block %d's events", i)
		assert.Equal(t, want.StateID, again[i].StateID)
		assert.Equal(t, want.StateID, again[i].State.ID())
		assert.Equal(t, want.Payload, again[i].Payload)
	}
	// And a live consumer gets the very values Commit returned.
	assert.Equal(t, live, collect(t, p, 0, 2))
}

// A guard error stops the block before anything is stored and comes back as
// it is; a block of another chain is an *InvalidError.
func TestPrepareGuardAndInvalid(t *testing.T) {
	f := newFixture(t)
	defer f.store.Close()
	halt := assert.AnError
	p := New(Options{Store: f.store, Genesis: f.g, Guard: func(_ *activation.State, view uint64) error {
		if view >= 5 {
			return halt
		}
		return nil
	}})
	_, err := p.Prepare(f.g.State(), activation.WireBlock{ChainID: f.g.ChainID, Height: 0, View: 5})
	assert.Same(t, halt, err)
	_, err = p.Prepare(f.g.State(), activation.WireBlock{ChainID: "other", Height: 0, View: 1})
	var invalid *InvalidError
	require.ErrorAs(t, err, &invalid)
	assert.ErrorIs(t, err, activation.ErrWrongChain)
	_, ok := f.store.Head()
	assert.False(t, ok, "nothing stored")
}

// A stored block whose wire cannot be read stops the delivery, and the
// reason reaches fail, naming the height, before out is closed.
func TestDeliverReportsWhyItStopped(t *testing.T) {
	f := newFixture(t)
	defer f.store.Close()
	p := New(Options{Store: f.store, Genesis: f.g})
	head := f.g.State()
	for h := range 3 {
		w := activation.WireBlock{ChainID: f.g.ChainID, Height: uint64(h), View: uint64(10 + h)}
		pr, err := p.Prepare(head, w)
		require.NoError(t, err)
		_, err = p.Commit(pr, w.Encode(), "")
		require.NoError(t, err)
		head = pr.Block.State
	}
	// Rebuilt (a fresh pipeline holds nothing as committed), block 1's bytes
	// are replaced by ones that do not decode as a wire block.
	second := string(activation.WireBlock{ChainID: f.g.ChainID, Height: 1, View: 11}.Encode())
	fresh := New(Options{Store: f.store, Genesis: f.g, Payload: func(b []byte) ([]byte, error) {
		if string(b) == second {
			return []byte("junk"), nil
		}
		return b, nil
	}})
	var failed error
	out := make(chan chain.FinalizedBlock, 8)
	done := make(chan struct{})
	defer close(done)
	go fresh.Deliver(context.Background(), done, 0, out, func(err error) { failed = err })
	var heights []uint64
	for fb := range out { // closed when Deliver stops
		heights = append(heights, fb.Height)
	}
	assert.Equal(t, []uint64{0}, heights)
	require.Error(t, failed) // set before out was closed
	assert.Contains(t, failed.Error(), "stored block 1")
}
