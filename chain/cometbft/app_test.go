package cometbft

import (
	"context"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// TestMain checks for leaked goroutines after the tests and the benchmarks,
// but those CometBFT itself may leave after its nodes stopped (the
// benchmarks run some): its WAL's file routines and persistent-peer
// redials, pruners, which end on their own.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// CometBFT's pruner routines sleep between checks that the node runs,
		// and its rate meter's clock is process-wide.
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/state.(*Pruner).pruneBlocks"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/state.(*Pruner).pruneABCIResponses"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/state.(*Pruner).pruneIndexesRoutine"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/internal/flowrate.runClockUpdates"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/internal/autofile.(*AutoFile).closeFileRoutine"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/internal/autofile.OpenAutoFile.func1"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/p2p.(*Switch).reconnectToPeer"))
}

type appFixture struct {
	t    testing.TB
	g    *chain.Genesis
	keys *chain.Keys
	dir  string
}

func newAppFixture(t testing.TB) *appFixture {
	var specs []chain.NodeSpec
	for i := range 4 {
		specs = append(specs, chain.NodeSpec{ID: fmt.Sprintf("v%d", i), Role: "consensus", Stake: 100})
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "app", EpochViews: 50, SafetyViews: 5,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: specs, GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("app")})
	require.NoError(t, err)
	return &appFixture{t: t, g: g, keys: keys, dir: t.TempDir()}
}

// open opens the store and the application on it; close them with the
// returned function (a "crash" is closing without Commit).
func (f *appFixture) open() (*App, func()) {
	store, err := storage.Open(f.dir, storage.Options{ChainID: f.g.ChainID, GenesisHash: f.g.Hash(), Genesis: f.g.State(), Small: true})
	require.NoError(f.t, err)
	app := NewApp(f.g, store, nil, nil)
	return app, func() { app.Close(); store.Close() }
}

func (f *appFixture) proposal() []byte {
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5}
	a, err := f.g.Committee().Approve(activation.ProposalMessage(f.g.ChainID, p), []int{0}, f.keys.Governance)
	require.NoError(f.t, err)
	return canon.MustEncode(chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: a}})
}

// finalize runs one height through the application as CometBFT does.
func finalize(t *testing.T, a *App, h int64, txs [][]byte, commit bool) *abci.FinalizeBlockResponse {
	res, err := a.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h, Txs: txs})
	require.NoError(t, err)
	if commit {
		_, err = a.Commit(context.Background(), &abci.CommitRequest{})
		require.NoError(t, err)
	}
	return res
}

func TestProposalsAreBuiltBoundedAndVerified(t *testing.T) {
	f := newAppFixture(t)
	app, closeApp := f.open()
	defer closeApp()
	ctx := context.Background()

	app.AddGovernance(f.proposal())
	app.AddGovernance([]byte("not a governance message")) // never pooled
	prep, err := app.PrepareProposal(ctx, &abci.PrepareProposalRequest{Height: 1, MaxTxBytes: BlockMaxBytes})
	require.NoError(t, err)
	require.Len(t, prep.Txs, 1)
	w, err := activation.DecodeWireBlock(prep.Txs[0])
	require.NoError(t, err)
	assert.Equal(t, uint64(0), w.Height)
	assert.Equal(t, uint64(1), w.View, "heights are views")
	assert.Len(t, w.Proposals, 1)

	accept := func(h int64, txs ...[]byte) abci.ProcessProposalStatus {
		res, err := app.ProcessProposal(ctx, &abci.ProcessProposalRequest{Height: h, Txs: txs})
		require.NoError(t, err)
		return res.Status
	}
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_ACCEPT, accept(1, prep.Txs[0]))
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_ACCEPT, accept(1), "an empty block")
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, accept(2, prep.Txs[0]), "another height")
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, accept(1, prep.Txs[0], prep.Txs[0]), "two transactions")
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, accept(1, []byte("garbage")))
	forged := w
	forged.Certificates = []quorum.Certificate{{ChainID: f.g.ChainID, Deployment: signal.DeploymentID{9}, Epoch: 0,
		Signers: quorum.NewBitmap(4), Signature: []byte("forged")}}
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, accept(1, forged.Encode()))
	unsigned := w
	unsigned.Proposals = []activation.SignedProposal{{Proposal: w.Proposals[0].Proposal}}
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, accept(1, unsigned.Encode()), "a proposal the committee did not sign")

	res := finalize(t, app, 1, prep.Txs, true)
	d, ok := app.consensusHead().Deployment("p2")
	require.True(t, ok)
	assert.Equal(t, activation.Started, d.Status)
	id := app.consensusHead().ID()
	assert.Equal(t, id[:], res.AppHash, "the AppHash is the state ID")

	// Readiness of three of four validators becomes one certificate.
	for i := range 3 {
		node := fmt.Sprintf("v%d", i)
		a, err := signal.SignReadiness(f.keys.Staking[node], f.g.ChainID, d.ID, 0, node)
		require.NoError(t, err)
		app.AddAttestation(a)
	}
	prep, err = app.PrepareProposal(ctx, &abci.PrepareProposalRequest{Height: 2, MaxTxBytes: BlockMaxBytes})
	require.NoError(t, err)
	require.Len(t, prep.Txs, 1)
	w, err = activation.DecodeWireBlock(prep.Txs[0])
	require.NoError(t, err)
	assert.Len(t, w.Certificates, 1)
	assert.Empty(t, w.Proposals, "the proposal left the pool with its block")
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_ACCEPT, accept(2, prep.Txs[0]))
	finalize(t, app, 2, prep.Txs, true)
	d, _ = app.consensusHead().Deployment("p2")
	assert.Equal(t, activation.LockedIn, d.Status, "three quarters of the stake is over two thirds")

	check, err := app.CheckTx(ctx, &abci.CheckTxRequest{Tx: []byte("x")})
	require.NoError(t, err)
	assert.NotZero(t, check.Code)
	assert.Contains(t, check.Log, "libp2p")
}

// A crash between FinalizeBlock and Commit, or before the writer synced,
// leaves the store at the last synced block: Info reports it, so CometBFT's
// handshake replays the rest, and the replay gives the same state ID.
func TestInfoReportsTheSyncedHeadAfterACrash(t *testing.T) {
	f := newAppFixture(t)
	app, closeApp := f.open()
	finalize(t, app, 1, nil, true)
	res := finalize(t, app, 2, nil, true)
	want := res.AppHash
	finalize(t, app, 3, nil, false) // the crash: no Commit
	closeApp()

	app, closeApp = f.open()
	defer closeApp()
	info, err := app.Info(context.Background(), &abci.InfoRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), info.LastBlockHeight)
	assert.Equal(t, want, info.LastBlockAppHash)
	app2, close2 := f.open2(t)
	defer close2()
	replayed := finalize(t, app, 3, nil, true)
	other := finalize(t, app2, 3, nil, true)
	assert.Equal(t, other.AppHash, replayed.AppHash, "the replayed block gives the state ID another node has")

	_, err = app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: 3})
	assert.Error(t, err, "a height the application has does not come again: the application stops")
	assert.Error(t, app.Err())
}

// open2 is a second, independent node from the same genesis.
func (f *appFixture) open2(t *testing.T) (*App, func()) {
	g := &appFixture{t: t, g: f.g, keys: f.keys, dir: t.TempDir()}
	app, closeApp := g.open()
	finalize(t, app, 1, nil, true)
	finalize(t, app, 2, nil, true)
	return app, closeApp
}

// The halt: a guard error stops FinalizeBlock before anything is applied,
// and every later call fails the same way.
func TestHaltStopsBeforeTheBlock(t *testing.T) {
	f := newAppFixture(t)
	store, err := storage.Open(f.dir, storage.Options{ChainID: f.g.ChainID, GenesisHash: f.g.Hash(), Genesis: f.g.State(), Small: true})
	require.NoError(t, err)
	defer store.Close()
	halt := fmt.Errorf("halted before view 3")
	app := NewApp(f.g, store, func(_ *activation.State, view uint64) error {
		if view >= 3 {
			return halt
		}
		return nil
	}, nil)
	defer app.Close()
	finalize(t, app, 1, nil, true)
	finalize(t, app, 2, nil, true)
	_, err = app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: 3})
	assert.ErrorIs(t, err, halt)
	assert.ErrorIs(t, app.Err(), halt)
	_, err = app.Commit(context.Background(), &abci.CommitRequest{})
	assert.Error(t, err)
	app.Close()
	h, _ := store.Head()
	hh, _, _ := h.Head()
	assert.Equal(t, uint64(1), hh, "the store holds heights 0 and 1 (views 1 and 2), nothing of view 3")
}
