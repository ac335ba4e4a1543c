package devchain

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// repeatBlocks is a first block that proposes p2 (signaling at once) and
// the readiness to combine in it.
type repeatBlocks struct {
	g        *Genesis
	keys     *Keys
	proposal activation.SignedProposal
	id       signal.DeploymentID
	cert     quorum.Certificate // c2 and seq (table order)
}

func newRepeatBlocks(t *testing.T) repeatBlocks {
	g, keys := devGenesis(t)
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 9}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{keys.Governance[0], keys.Governance[1]})
	require.NoError(t, err)
	r := repeatBlocks{g: g, keys: keys, proposal: activation.SignedProposal{Proposal: p, Approval: approval}, id: p.ID()}
	r.cert, err = quorum.BuildCertificate(g.Params().Identities.TableAt(0), []signal.Attestation{r.attest(t, "seq"), r.attest(t, "c2")})
	require.NoError(t, err)
	return r
}

func (r repeatBlocks) attest(t *testing.T, node string) signal.Attestation {
	a, err := signal.SignReadiness(r.keys.Staking[node], r.g.ChainID, r.id, 0, node)
	require.NoError(t, err)
	return a
}

func (r repeatBlocks) wire(certs []quorum.Certificate, atts ...signal.Attestation) activation.WireBlock {
	return activation.WireBlock{ChainID: r.g.ChainID, Height: 0, View: 1, Proposals: []activation.SignedProposal{r.proposal},
		Certificates: certs, Attestations: atts}
}

// signed is the block as the sequencer signs it, with the state ID a node
// that applies it computes (so only the repeat can stop a follower).
func (r repeatBlocks) signed(t *testing.T, wire activation.WireBlock) []byte {
	v := activation.Verifier{Params: r.g.Params(), Committee: r.g.Committee()}
	b, rej, err := v.Verify(r.g.State(), wire)
	require.NoError(t, err)
	require.Empty(t, rej, "every item verifies on its own")
	next, _, err := activation.Apply(r.g.State(), b)
	require.NoError(t, err)
	sb := SignedBlock{Height: 0, View: 1, StateID: next.ID(), Block: wire.Encode()}
	sb.Signature, err = signal.Sign(r.keys.Staking["seq"], sb.signingBytes())
	require.NoError(t, err)
	raw := canon.MustEncode(sb)
	require.NoError(t, CheckBlock(r.g, raw), "the block is properly signed")
	return raw
}

// follow hands a follower the block and returns its error once it stopped
// or applied the block, and whether it stored the block.
func (r repeatBlocks) follow(t *testing.T, raw []byte) (error, bool) {
	store, err := storage.Open("store", storage.Options{ChainID: r.g.ChainID, GenesisHash: r.g.Hash(), Genesis: r.g.State(), FS: vfs.NewMem()})
	require.NoError(t, err)
	defer store.Close()
	follower, err := New(Options{Genesis: r.g, Store: store, NodeID: "c2"})
	require.NoError(t, err)
	follower.Start(nil)
	defer follower.Close()
	follower.HandleBlock(raw)
	testutil.Eventually(t, 5*time.Second, "the follower stops or applies the block", func() bool {
		_, stored := store.Head()
		return follower.Err() != nil || stored
	})
	_, stored := store.Head()
	return follower.Err(), stored
}

// A sequencer-signed block with repeats stops a follower, naming them,
// before anything of it is stored; the same items without the repeat are
// applied.
func TestFollowerRefusesRepeats(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	r := newRepeatBlocks(t)
	c3 := r.attest(t, "c3")
	twice := r.wire(nil)
	twice.Proposals = append(twice.Proposals, r.proposal)
	cancel, err := r.g.Committee().Approve(activation.CancelMessage(r.g.ChainID, "p2"), []int{0, 2},
		[]signal.PrivateKey{r.keys.Governance[0], r.keys.Governance[2]})
	require.NoError(t, err)
	cancels := r.wire(nil)
	cancels.Cancels = []activation.SignedCancel{{Deployment: "p2", Approval: cancel}, {Deployment: "p2", Approval: cancel}}
	dep := r.id.String()
	for _, c := range []struct {
		name, why string
		wire      activation.WireBlock
	}{
		{"the same certificate twice", `signer "c2" for deployment ` + dep + " in epoch 0 is counted by certificate 0 and again by certificate 1",
			r.wire([]quorum.Certificate{r.cert, r.cert})},
		{"the same attestation three times", `signer "c3" for deployment ` + dep + " in epoch 0 is counted by attestation 0 and again by attestation 1",
			r.wire(nil, c3, c3, c3)},
		{"a certificate and a signer's own attestation", `signer "c2" for deployment ` + dep + " in epoch 0 is counted by certificate 0 and again by attestation 1",
			r.wire([]quorum.Certificate{r.cert}, c3, r.attest(t, "c2"))},
		{"the same proposal twice", `proposal 0 and proposal 1 are the same signed proposal of "p2"`, twice},
		{"the same cancellation twice", `cancel 0 and cancel 1 are the same signed cancel of "p2"`, cancels},
	} {
		t.Run(c.name, func(t *testing.T) {
			err, stored := r.follow(t, r.signed(t, c.wire))
			require.ErrorIs(t, err, activation.ErrRepeat)
			assert.ErrorContains(t, err, "devchain block 0: block repeats an item: "+c.why)
			assert.ErrorContains(t, err, "this node stops following")
			assert.False(t, stored, "a block with repeats was stored")
		})
	}
	err, stored := r.follow(t, r.signed(t, r.wire([]quorum.Certificate{r.cert}, c3)))
	assert.NoError(t, err)
	assert.True(t, stored, "the block without repeats is applied")
}

// The sequencer never signs a block with repeats: its commit path refuses
// one (its pool never builds one; this is the backstop).
func TestSequencerRefusesRepeats(t *testing.T) {
	r := newRepeatBlocks(t)
	store, err := storage.Open("store", storage.Options{ChainID: r.g.ChainID, GenesisHash: r.g.Hash(), Genesis: r.g.State(), FS: vfs.NewMem()})
	require.NoError(t, err)
	defer store.Close()
	seq, err := New(Options{Genesis: r.g, Store: store, NodeID: "seq", StakingKey: r.keys.Staking["seq"]})
	require.NoError(t, err)
	sealed := false
	_, err = seq.commitBlock(r.g.State(), r.wire([]quorum.Certificate{r.cert, r.cert}), nil, func(*activation.State) ([]byte, error) {
		sealed = true
		return nil, nil
	}, "")
	require.ErrorIs(t, err, activation.ErrRepeat)
	assert.False(t, sealed, "the sequencer signed a block with repeats")
	_, stored := store.Head()
	assert.False(t, stored)
}
