package history_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/chaintest"
	"github.com/quorumgate/quorumgate/chain/history"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/replay"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	g     *chain.Genesis
	keys  *chain.Keys
	store *storage.Store
	fake  *chaintest.Fake
}

func newFixture(t *testing.T, params ...activation.ParamDecl) *fixture {
	t.Helper()
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "history", EpochViews: 20, SafetyViews: 2,
		Versions: map[string]string{"protocol": "1.0.0"}, ParamDecls: params,
		Nodes: []chain.NodeSpec{{ID: "a", Role: "consensus", Stake: 100}, {ID: "b", Role: "consensus", Stake: 100},
			{ID: "c", Role: "execution", Stake: 100}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("history")})
	require.NoError(t, err)
	s, err := storage.Open(t.TempDir(), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), Small: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return &fixture{g: g, keys: keys, store: s, fake: chaintest.New(g, s, nil)}
}

func (f *fixture) proposal(t *testing.T, p activation.Proposal) activation.SignedProposal {
	t.Helper()
	a, err := f.g.Committee().Approve(activation.ProposalMessage(f.g.ChainID, p), []int{0}, []signal.PrivateKey{f.keys.Governance[0]})
	require.NoError(t, err)
	return activation.SignedProposal{Proposal: p, Approval: a}
}

func (f *fixture) cancel(t *testing.T, name string) activation.SignedCancel {
	t.Helper()
	a, err := f.g.Committee().Approve(activation.CancelMessage(f.g.ChainID, name), []int{0}, []signal.PrivateKey{f.keys.Governance[0]})
	require.NoError(t, err)
	return activation.SignedCancel{Deployment: name, Approval: a}
}

func (f *fixture) ready(t *testing.T, d signal.DeploymentID, epoch uint64, signer string) signal.Attestation {
	t.Helper()
	a, err := signal.SignReadiness(f.keys.Staking[signer], f.g.ChainID, d, epoch, signer)
	require.NoError(t, err)
	return a
}

// A history with every kind of event a node reports, including the awkward
// ones: a signer listed twice, readiness the verifying layer refuses (a bad
// signature, an unknown signer) between good readiness, a proposal whose name
// is taken, a forged cancel, rule-4 rejections in block order, a stake
// lock-in and activation, a governance upgrade, and views with no block.
// Exported and replayed, it gives every event the node got, in order, and
// the node's state ID.
func TestExportReplaysToTheNodesEventsAndStateID(t *testing.T) {
	f := newFixture(t)
	stake := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: []string{"consensus"}, Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 5}
	gov := activation.Proposal{Name: "cadence-2", Component: "cadence", Version: "2.0.0", Mode: activation.Governance, ActivationView: 30}
	dep := stake.ID()
	bad := f.ready(t, dep, 1, "b")
	bad.Signature = f.ready(t, dep, 1, "a").Signature
	stranger := f.ready(t, dep, 1, "a")
	stranger.Signer = "zed"
	forged := f.cancel(t, "cadence-2")
	forged.Approval = f.cancel(t, "p2").Approval

	blocks := []viewBlock{
		{3, activation.WireBlock{Proposals: []activation.SignedProposal{f.proposal(t, stake), f.proposal(t, gov)}}},
		{5, activation.WireBlock{Proposals: []activation.SignedProposal{f.proposal(t, stake)}, // its name is taken
			Cancels:      []activation.SignedCancel{forged, f.cancel(t, "nope")},
			Attestations: []signal.Attestation{f.ready(t, dep, 0, "a")}}}, // not signaling yet
		{21, activation.WireBlock{Attestations: []signal.Attestation{f.ready(t, dep, 1, "c"), bad, f.ready(t, dep, 1, "a"), stranger,
			f.ready(t, dep, 0, "b"), f.ready(t, dep, 1, "a")}}}, // role not required, a bad signature, an unknown signer, wrong epoch, a duplicate
		{24, activation.WireBlock{Attestations: []signal.Attestation{f.ready(t, dep, 1, "b")}}}, // lock-in
	}
	// Views 0 and 2 have no block; 45 is past both activations (views 30 and 40).
	live, lastID := f.appendBlocks(t, blocks, 45, 0, 2)
	head := f.fake.Head()
	require.Equal(t, "2.0.0", must(head.ActiveVersion("protocol")), "the stake upgrade activated")
	require.Equal(t, "2.0.0", must(head.ActiveVersion("cadence")), "the governance upgrade activated")
	var reasons []activation.Reason
	for _, e := range live {
		if r, ok := e.(activation.Rejection); ok {
			reasons = append(reasons, r.Reason)
		}
	}
	for _, want := range []activation.Reason{activation.DuplicateName, activation.BadSignature, activation.UnknownDeployment,
		activation.NotSignaling, activation.RoleNotRequired, activation.UnknownSigner, activation.WrongEpoch, activation.Duplicate} {
		require.Contains(t, reasons, want, "the history lacks a rejection the test is about")
	}

	headHeight, _, _ := head.Head()
	sc := f.exportReplaysTo(t, live, lastID)
	assert.Equal(t, []uint64{0, 2}, sc.Missing)

	// An earlier height: the history up to it, and that block's state.
	sc, last, err := history.Export(history.Options{Store: f.store, Genesis: f.g, ToHeight: 3})
	require.NoError(t, err)
	assert.Equal(t, uint64(5), sc.UntilView, "height 3 is view 5 (views 0 and 2 have no block)")
	st, err := f.store.StateAt(3)
	require.NoError(t, err)
	assert.Equal(t, st.ID(), last.StateID)
	res, err := sc.Run(replay.RunOptions{}, func(activation.Event) {})
	require.NoError(t, err)
	assert.Equal(t, st.ID(), res.Final.ID())

	// Past the head: an error that says where the head is.
	_, _, err = history.Export(history.Options{Store: f.store, Genesis: f.g, ToHeight: headHeight + 1})
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.ErrorContains(t, err, "the store's head is at height 43")
}

// A chain that declares parameters: its history exports with the
// declarations and the parameter changes, and replays to the node's events,
// state ID and summary (with each key's history). The stake-signalled change
// locks in at view 21, when epoch 2's boundary (40) is too close for its
// min_lead_views of 25, so it activates at 60; the governance change needs
// activation_view > 3 + 25.
func TestExportOfAChainWithParameters(t *testing.T) {
	lo, hi := uint64(10), uint64(1000)
	f := newFixture(t,
		activation.ParamDecl{Name: "timeout", Type: activation.ParamUint, Min: &lo, Max: &hi, Value: "100", MinLeadViews: 25},
		activation.ParamDecl{Name: "flag", Type: activation.ParamBool, Value: "false", MinLeadViews: 25})
	gov := func(name, param, value string, at uint64) activation.Proposal {
		return activation.Proposal{Name: name, Param: param, Value: value, Mode: activation.Governance, ActivationView: at}
	}
	flagOn := activation.Proposal{Name: "flag-on", Param: "flag", Value: "true", Mode: activation.Stake,
		Roles: []string{"consensus"}, Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 5}
	dep := flagOn.ID()
	blocks := []viewBlock{
		{3, activation.WireBlock{Proposals: []activation.SignedProposal{
			f.proposal(t, gov("nope-1", "nope", "1", 50)),            // unknown parameter
			f.proposal(t, gov("timeout-abc", "timeout", "abc", 50)),  // bad value
			f.proposal(t, gov("timeout-5", "timeout", "5", 50)),      // out of bounds
			f.proposal(t, gov("flag-off", "flag", "false", 50)),      // not an upgrade
			f.proposal(t, gov("timeout-soon", "timeout", "200", 28)), // activation too soon
			f.proposal(t, gov("timeout-200", "timeout", "200", 29)),
			f.proposal(t, flagOn)}}},
		{5, activation.WireBlock{Proposals: []activation.SignedProposal{f.proposal(t, gov("timeout-300", "timeout", "300", 50))}}}, // busy
		{21, activation.WireBlock{Attestations: []signal.Attestation{f.ready(t, dep, 1, "a"), f.ready(t, dep, 1, "b")}}},
	}
	live, lastID := f.appendBlocks(t, blocks, 65, 0)
	head := f.fake.Head()
	require.Equal(t, "200", must(head.ParamValue("timeout")))
	require.Equal(t, []activation.ParamRecord{{Value: "false"}, {Value: "true", ActivationView: 60, FirstView: 60}}, head.ParamHistory("flag"))
	var reasons []activation.Reason
	for _, e := range live {
		if r, ok := e.(activation.Rejection); ok {
			reasons = append(reasons, r.Reason)
		}
	}
	require.Equal(t, []activation.Reason{activation.UnknownParameter, activation.BadValue, activation.OutOfBounds,
		activation.NotAnUpgrade, activation.ActivationTooSoon, activation.ComponentBusy}, reasons)

	sc := f.exportReplaysTo(t, live, lastID)
	assert.Equal(t, activation.SortParamDecls(f.g.ParamDecls), sc.Params.Declared)
}

func TestExportOfAnEmptyStore(t *testing.T) {
	f := newFixture(t)
	_, _, err := history.Export(history.Options{Store: f.store, Genesis: f.g})
	assert.ErrorIs(t, err, history.ErrEmpty)
}

// viewBlock is a block's items and its view.
type viewBlock struct {
	view  uint64
	items activation.WireBlock
}

// appendBlocks finalizes the blocks, and an empty block at every other view
// from 0 to until except the missing ones, and returns the events the node
// got, in order, and the state ID it reported for the last block.
func (f *fixture) appendBlocks(t *testing.T, blocks []viewBlock, until uint64, missing ...uint64) ([]activation.Event, [32]byte) {
	t.Helper()
	var live []activation.Event
	var lastID [32]byte
	for view := uint64(0); view <= until; view++ {
		if slices.Contains(missing, view) {
			continue
		}
		var items activation.WireBlock
		if i := slices.IndexFunc(blocks, func(b viewBlock) bool { return b.view == view }); i >= 0 {
			items = blocks[i].items
		}
		fb, err := f.fake.Append(view, items)
		require.NoError(t, err, "view %d", view)
		live = append(live, fb.Events...)
		lastID = fb.StateID
	}
	return live, lastID
}

// exportReplaysTo exports the whole history, and checks that the file
// writes back to itself and, parsed back, replays to the node's events
// (live), state ID (lastID) and summary, skipping quiet stretches or not.
func (f *fixture) exportReplaysTo(t *testing.T, live []activation.Event, lastID [32]byte) *replay.Scenario {
	t.Helper()
	head := f.fake.Head()
	headHeight, headView, _ := head.Head()
	sc, last, err := history.Export(history.Options{Store: f.store, Genesis: f.g, ToHeight: headHeight})
	require.NoError(t, err)
	assert.Equal(t, lastID, last.StateID)
	assert.Equal(t, headView, sc.UntilView)
	file, err := sc.Marshal()
	require.NoError(t, err)

	back, err := replay.Parse(file)
	require.NoError(t, err)
	again, err := back.Marshal()
	require.NoError(t, err)
	assert.Equal(t, string(file), string(again), "the file writes back to itself")
	var want bytes.Buffer
	for _, e := range live {
		want.Write(replay.EventLine(e))
		want.WriteByte('\n')
	}
	fmt.Fprintf(&want, `{"type":"state","view":%d,"height":%d,"state_id":"%s"}`+"\n", headView, headHeight, hex.EncodeToString(lastID[:]))
	want.Write(replay.SummaryLine(head))
	want.WriteByte('\n')
	for _, everyView := range []bool{false, true} {
		out, err := back.Output(replay.RunOptions{StateID: true, EveryView: everyView})
		require.NoError(t, err)
		assert.Equal(t, want.String(), string(out), "every view: %v", everyView)
	}
	return sc
}

func must(v string, ok bool) string {
	if !ok {
		return "<none>"
	}
	return v
}

// A store that joined by state sync has no history from genesis: export
// says where its history starts rather than fail on a missing block.
func TestExportOfAStateSyncedStore(t *testing.T) {
	f := newFixture(t)
	state := f.g.State()
	for h := uint64(0); h < 5; h++ {
		next, _, err := activation.Apply(state, activation.Block{Height: h, View: h + 1})
		require.NoError(t, err)
		state = next
	}
	require.NoError(t, f.store.Bootstrap(state, nil))
	_, _, err := history.Export(history.Options{Store: f.store, Genesis: f.g, ToHeight: 4})
	assert.ErrorIs(t, err, storage.ErrPruned)
	assert.ErrorContains(t, err, "this node joined by state sync at height 4; its history starts there")
}
