package proof_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/proof"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// FuzzVerify: a proof file is bytes from outside. Verify never panics, and
// whatever it accepts is true of the fixture's chain: a deployment proof
// says what the node's state says of that deployment, a view proof what
// the node's history says governed that view.
func FuzzVerify(f *testing.F) {
	fx, head := deterministicFixture(f)
	seeds := [][]byte{deploymentProof(f, fx, "p2"), deploymentProof(f, fx, "timeout-2000"),
		export(f, fx, func(o proof.Options) (*proof.File, error) { return proof.ExportView(o, 80) })}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sum, err := proof.Verify(fx.genesis, data)
		if err != nil {
			return
		}
		switch sum.Kind {
		case proof.KindDeployment:
			d, ok := head.Deployment(sum.Deployment)
			require.True(t, ok, "a proof of a deployment the chain never had")
			require.Equal(t, d.ActivatesAt, sum.ActivationView)
			require.Equal(t, d.Since, sum.FirstView)
			require.Equal(t, d.Mode, sum.Mode)
			require.Equal(t, d.Version+d.Value, sum.Version+sum.Value)
		case proof.KindView:
			_, headView, _ := head.Head()
			require.LessOrEqual(t, sum.View, headView)
			for _, g := range sum.Versions {
				v, ok := head.VersionAt(g.Name, sum.View)
				require.True(t, ok)
				require.Equal(t, v, g.Value, "%s at view %d", g.Name, sum.View)
			}
			for _, g := range sum.Params {
				v, ok := head.ParamAt(g.Name, sum.View)
				require.True(t, ok)
				require.Equal(t, v, g.Value, "%s at view %d", g.Name, sum.View)
			}
		default:
			t.Fatalf("verified a proof of kind %q", sum.Kind)
		}
	})
}

// deterministicFixture seals the same chain in every process (the fuzzing
// workers check inputs made from the coordinator's seeds): the fixture's
// genesis, p2 and timeout-2000 proposed at view 1, the readiness of seq,
// c2, e1 and e2 in one certificate at view 40 (lock-in, activation at 80),
// and blocks at views 80, 90 and 95.
func deterministicFixture(tb testing.TB) (fixture, *activation.State) {
	g, keys := testGenesis(tb, "proof-test")
	home := tb.TempDir()
	store, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(),
		Genesis: g.State(), Small: true})
	require.NoError(tb, err)
	defer store.Close()
	param := activation.Proposal{Name: "timeout-2000", Param: "timeout", Value: "2000", Mode: activation.Governance, ActivationView: 90}
	var signed []activation.SignedProposal
	for _, p := range []activation.Proposal{p2, param} {
		approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, keys.Governance)
		require.NoError(tb, err)
		signed = append(signed, activation.SignedProposal{Proposal: p, Approval: approval})
	}
	table := g.Params().Identities.TableAt(1)
	var atts []signal.Attestation
	var ready []activation.Readiness
	for _, n := range []string{"c2", "e1", "e2", "seq"} {
		a, err := signal.SignReadiness(keys.Staking[n], g.ChainID, p2.ID(), 1, n)
		require.NoError(tb, err)
		atts, ready = append(atts, a), append(ready, activation.Readiness{Deployment: "p2", Epoch: 1, Node: n})
	}
	cert, err := quorum.BuildCertificate(table, atts)
	require.NoError(tb, err)
	state := g.State()
	for h, blk := range []struct {
		view  uint64
		wire  activation.WireBlock
		items activation.Block
	}{
		{1, activation.WireBlock{Proposals: signed}, activation.Block{Proposals: []activation.Proposal{p2, param}}},
		{40, activation.WireBlock{Certificates: []quorum.Certificate{cert}}, activation.Block{Readiness: ready}},
		{80, activation.WireBlock{}, activation.Block{}},
		{90, activation.WireBlock{}, activation.Block{}},
		{95, activation.WireBlock{}, activation.Block{}},
	} {
		blk.wire.ChainID, blk.wire.Height, blk.wire.View = g.ChainID, uint64(h), blk.view
		blk.items.Height, blk.items.View = uint64(h), blk.view
		next, _, err := activation.Apply(state, blk.items)
		require.NoError(tb, err)
		raw, err := devchain.Seal(keys.Staking[g.Sequencer], devchain.SignedBlock{Height: uint64(h), View: blk.view,
			StateID: next.ID(), Block: blk.wire.Encode()})
		require.NoError(tb, err)
		require.NoError(tb, store.Commit(storage.Block{Height: uint64(h), View: blk.view, Wire: raw, Verified: blk.items}, next))
		state = next
	}
	for _, name := range []string{"p2", "timeout-2000"} {
		d, _ := state.Deployment(name)
		require.Equal(tb, activation.Active, d.Status, name)
	}
	return fixture{home: home, genesis: g, keys: keys, p2ActivatesAt: 80}, state
}
