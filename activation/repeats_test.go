package activation_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// repeatFixture is a block body that starts deployment p2 (its proposal)
// and the readiness items the cases combine: a certificate of n0..n2 in
// epoch 0, and single attestations.
type repeatFixture struct {
	n        *keyedNet
	proposal activation.SignedProposal
	id       signal.DeploymentID
	cert     quorum.Certificate
}

func newRepeatFixture(t *testing.T) repeatFixture {
	n := testNet(t)
	p := stake("p2", "protocol", "2.0.0", 0, 3)
	var atts []signal.Attestation
	for i := range 3 {
		atts = append(atts, n.attest(t, p.ID(), 0, i))
	}
	cert, err := quorum.BuildCertificate(n.params.Identities.TableAt(0), atts)
	require.NoError(t, err)
	return repeatFixture{n: n, proposal: n.approveProposal(t, p, 0, 1), id: p.ID(), cert: cert}
}

func (f repeatFixture) block(certs []quorum.Certificate, atts ...signal.Attestation) activation.WireBlock {
	return activation.WireBlock{ChainID: "signed", Height: 0, View: 1, Proposals: []activation.SignedProposal{f.proposal},
		Certificates: certs, Attestations: atts}
}

// Every shape of a readiness repeat is refused, naming the signer,
// deployment and epoch and the two items; Apply, given such a block anyway
// (one decided despite the check), still counts each signer once and
// rejects the repeats as duplicates.
func TestRepeatedReadinessIsRefused(t *testing.T) {
	f := newRepeatFixture(t)
	n := f.n
	att5 := n.attest(t, f.id, 0, 5)
	cases := []struct {
		name          string
		block         activation.WireBlock
		signer        string
		first, second activation.Item
		duplicates    []string // Apply's rejections of the repeats
	}{
		{"the same certificate twice", f.block([]quorum.Certificate{f.cert, f.cert}), "n0",
			activation.Item{Kind: activation.KindCertificate, Index: 0}, activation.Item{Kind: activation.KindCertificate, Index: 1},
			[]string{"1 reject attestation p2 n0: duplicate", "1 reject attestation p2 n1: duplicate", "1 reject attestation p2 n2: duplicate"}},
		{"the same attestation three times", f.block(nil, att5, att5, att5), "n5",
			activation.Item{Kind: activation.KindAttestation, Index: 0}, activation.Item{Kind: activation.KindAttestation, Index: 1},
			[]string{"1 reject attestation p2 n5: duplicate", "1 reject attestation p2 n5: duplicate"}},
		{"a certificate and a signer's own attestation", f.block([]quorum.Certificate{f.cert}, att5, n.attest(t, f.id, 0, 2)), "n2",
			activation.Item{Kind: activation.KindCertificate, Index: 0}, activation.Item{Kind: activation.KindAttestation, Index: 1},
			[]string{"1 reject attestation p2 n2: duplicate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.block.Repeats(n.params)
			require.ErrorIs(t, err, activation.ErrRepeat)
			var re *activation.RepeatError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, c.signer, re.Signer)
			assert.Equal(t, f.id, re.Deployment)
			assert.Equal(t, uint64(0), re.Epoch)
			assert.Equal(t, c.first, re.First)
			assert.Equal(t, c.second, re.Second)
			assert.ErrorContains(t, err, `signer "`+c.signer+`" for deployment `+f.id.String()+" in epoch 0")
			assert.ErrorContains(t, err, "by "+c.first.String()+" and again by "+c.second.String())

			b, rej, err := n.verifier.Verify(n.genesis(t), c.block)
			require.NoError(t, err)
			assert.Empty(t, rej, "every item verifies on its own")
			_, events, err := activation.Apply(n.genesis(t), b)
			require.NoError(t, err)
			var dups []string
			for _, e := range events {
				if r, ok := e.(activation.Rejection); ok && r.Reason == activation.Duplicate {
					dups = append(dups, eventString(e))
				}
			}
			assert.Equal(t, c.duplicates, dups, "Apply still rejects the repeats as duplicates")
		})
	}
}

// Repeated governance (the same signed proposal, the same signed cancel) is
// the same padding: each copy costs a committee signature check.
func TestRepeatedGovernanceIsRefused(t *testing.T) {
	f := newRepeatFixture(t)
	n := f.n
	twice := f.block(nil)
	twice.Proposals = append(twice.Proposals, f.proposal)
	err := twice.Repeats(n.params)
	require.ErrorIs(t, err, activation.ErrRepeat)
	assert.EqualError(t, err, `block repeats an item: proposal 0 and proposal 1 are the same signed proposal of "p2"`)

	a, err := n.comm.Approve(activation.CancelMessage("signed", "p2"), []int{0, 2}, []signal.PrivateKey{n.govKeys[0], n.govKeys[2]})
	require.NoError(t, err)
	cancel := activation.SignedCancel{Deployment: "p2", Approval: a}
	cancels := f.block(nil)
	cancels.Cancels = []activation.SignedCancel{cancel, cancel}
	err = cancels.Repeats(n.params)
	var re *activation.RepeatError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, activation.RepeatError{First: activation.Item{Kind: activation.KindCancel, Index: 0},
		Second: activation.Item{Kind: activation.KindCancel, Index: 1}, Name: "p2"}, *re)

	// Two approvals of one proposal are two signed items (the pool keeps
	// both; Apply rejects the second by name): not a repeat.
	other := f.block(nil)
	other.Proposals = append(other.Proposals, n.approveProposal(t, f.proposal.Proposal, 1, 2))
	assert.NoError(t, other.Repeats(n.params))
}

// Blocks that count every (signer, deployment, epoch) once pass, however
// their items overlap otherwise.
func TestBlocksWithoutRepeatsPass(t *testing.T) {
	f := newRepeatFixture(t)
	n := f.n
	table := n.params.Identities.TableAt(0)
	var ghost signal.DeploymentID
	ghost[0] = 0xab
	// n3..n4 of p2 in epoch 0, a disjoint certificate of the same group.
	var atts []signal.Attestation
	for i := 3; i < 5; i++ {
		atts = append(atts, n.attest(t, f.id, 0, i))
	}
	disjoint, err := quorum.BuildCertificate(table, atts)
	require.NoError(t, err)
	// The same signers for another deployment, and for another epoch.
	otherDep, err := quorum.BuildCertificate(table, []signal.Attestation{n.attest(t, ghost, 0, 0), n.attest(t, ghost, 0, 1)})
	require.NoError(t, err)
	otherEpoch, err := quorum.BuildCertificate(table, []signal.Attestation{n.attest(t, f.id, 1, 0), n.attest(t, f.id, 1, 1)})
	require.NoError(t, err)
	wb := f.block([]quorum.Certificate{f.cert, disjoint, otherDep, otherEpoch},
		n.attest(t, f.id, 0, 5), n.attest(t, f.id, 0, 6), n.attest(t, ghost, 0, 5), n.attest(t, f.id, 1, 5))
	assert.NoError(t, wb.Repeats(n.params))
	assert.NoError(t, activation.WireBlock{ChainID: "signed"}.Repeats(n.params), "an empty block")

	// A certificate whose bitmap sets bits past its table of 7 (which
	// Verify rejects) does not make a repeat out of them.
	past := f.cert
	past.Signers = quorum.Bitmap{0x80}
	assert.NoError(t, f.block([]quorum.Certificate{past, past}).Repeats(n.params))
	// A short bitmap is read as far as it goes.
	short := f.cert
	short.Signers = quorum.Bitmap{}
	assert.NoError(t, f.block([]quorum.Certificate{short, f.cert}).Repeats(n.params))
}

// Whatever decodes, Repeats judges without panicking; a block it passes
// and that applies on genesis has no readiness rejected as a duplicate
// (genesis tallies nothing, so a duplicate could only come from within the
// block).
func FuzzRepeats(f *testing.F) {
	n := testNet(f)
	p := stake("p2", "protocol", "2.0.0", 0, 3)
	table := n.params.Identities.TableAt(0)
	cert, err := quorum.BuildCertificate(table, []signal.Attestation{n.attest(f, p.ID(), 0, 0), n.attest(f, p.ID(), 0, 1)})
	require.NoError(f, err)
	sp := n.approveProposal(f, p, 0, 1)
	a2, a3 := n.attest(f, p.ID(), 0, 2), n.attest(f, p.ID(), 0, 3)
	seed := func(certs []quorum.Certificate, atts ...signal.Attestation) []byte {
		return activation.WireBlock{ChainID: "signed", Height: 0, View: 1, Proposals: []activation.SignedProposal{sp},
			Certificates: certs, Attestations: atts}.Encode()
	}
	f.Add(seed([]quorum.Certificate{cert}, a2, a3))
	f.Add(seed([]quorum.Certificate{cert, cert}, a2))
	f.Add(seed(nil, a2, a3, a2))
	f.Add(seed([]quorum.Certificate{cert}, n.attest(f, p.ID(), 0, 1)))
	genesis := n.genesis(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		wb, err := activation.DecodeWireBlock(data)
		if err != nil {
			return
		}
		if err := wb.Repeats(n.params); err != nil {
			require.ErrorIs(t, err, activation.ErrRepeat)
			return
		}
		b, _, err := n.verifier.Verify(genesis, wb)
		if err != nil {
			return
		}
		_, events, err := activation.Apply(genesis, b)
		require.NoError(t, err)
		for _, e := range events {
			if r, ok := e.(activation.Rejection); ok {
				require.NotEqual(t, activation.Duplicate, r.Reason, "a block Repeats passed counts %s twice", r.Node)
			}
		}
	})
}
