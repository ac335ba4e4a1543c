package cometbft

import (
	"context"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// A proposal that counts a (signer, deployment, epoch) twice, or carries a
// signed governance item twice, is rejected before its signatures are
// checked, with a reason naming the repeat; the same block decided anyway
// applies as before (Apply rejects the repeats as duplicates).
func TestProcessProposalRejectsRepeats(t *testing.T) {
	f := newAppFixture(t)
	app, closeApp := f.open()
	defer closeApp()
	ctx := context.Background()
	process := func(h int64, w activation.WireBlock) abci.ProcessProposalStatus {
		res, err := app.ProcessProposal(ctx, &abci.ProcessProposalRequest{Height: h, Txs: [][]byte{w.Encode()}})
		require.NoError(t, err)
		return res.Status
	}

	// Height 1: the proposal of p2 twice; a cancellation twice.
	gm, err := chain.DecodeGovernance(f.proposal())
	require.NoError(t, err)
	sp := *gm.Proposal
	wire := activation.WireBlock{ChainID: f.g.ChainID, Height: 0, View: 1, Proposals: []activation.SignedProposal{sp}}
	twice := wire
	twice.Proposals = []activation.SignedProposal{sp, sp}
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, process(1, twice), "the same proposal twice")
	assert.Contains(t, app.check(app.consensusHead(), 1, twice.Encode()), `proposal 0 and proposal 1 are the same signed proposal of "p2"`)
	ca, err := f.g.Committee().Approve(activation.CancelMessage(f.g.ChainID, "p2"), []int{0}, f.keys.Governance)
	require.NoError(t, err)
	cancels := wire
	cancels.Cancels = []activation.SignedCancel{{Deployment: "p2", Approval: ca}, {Deployment: "p2", Approval: ca}}
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, process(1, cancels), "the same cancellation twice")
	assert.Contains(t, app.check(app.consensusHead(), 1, cancels.Encode()), `cancel 0 and cancel 1 are the same signed cancel of "p2"`)
	require.Equal(t, abci.PROCESS_PROPOSAL_STATUS_ACCEPT, process(1, wire), "the proposal once")
	finalize(t, app, 1, [][]byte{wire.Encode()}, true)
	d, ok := app.consensusHead().Deployment("p2")
	require.True(t, ok)
	require.Equal(t, activation.Started, d.Status)

	// Height 2: readiness of p2 in epoch 0.
	attest := func(i int) signal.Attestation {
		node := fmt.Sprintf("v%d", i)
		a, err := signal.SignReadiness(f.keys.Staking[node], f.g.ChainID, d.ID, 0, node)
		require.NoError(t, err)
		return a
	}
	cert, err := quorum.BuildCertificate(f.g.Params().Identities.TableAt(0), []signal.Attestation{attest(0), attest(1)})
	require.NoError(t, err)
	at := func(certs []quorum.Certificate, atts ...signal.Attestation) activation.WireBlock {
		return activation.WireBlock{ChainID: f.g.ChainID, Height: 1, View: 2, Certificates: certs, Attestations: atts}
	}
	v2 := attest(2)
	for _, c := range []struct {
		name, why string
		block     activation.WireBlock
	}{
		{"the same certificate twice", `signer "v0" for deployment ` + d.ID.String() + " in epoch 0 is counted by certificate 0 and again by certificate 1",
			at([]quorum.Certificate{cert, cert})},
		{"the same attestation three times", `signer "v2" for deployment ` + d.ID.String() + " in epoch 0 is counted by attestation 0 and again by attestation 1",
			at(nil, v2, v2, v2)},
		{"a certificate and a signer's own attestation", `signer "v1" for deployment ` + d.ID.String() + " in epoch 0 is counted by certificate 0 and again by attestation 1",
			at([]quorum.Certificate{cert}, v2, attest(1))},
	} {
		assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, process(2, c.block), c.name)
		assert.Contains(t, app.check(app.consensusHead(), 2, c.block.Encode()), c.why, c.name)
	}
	assert.Equal(t, abci.PROCESS_PROPOSAL_STATUS_ACCEPT, process(2, at([]quorum.Certificate{cert}, v2)), "no repeats")
	// The repeat is found before any signature is checked: copies of a
	// forged certificate are refused as repeats.
	forged := cert
	forged.Signature = v2.Signature
	assert.Contains(t, app.check(app.consensusHead(), 2, at([]quorum.Certificate{forged, forged}).Encode()), "block repeats an item: ")

	// Decided anyway (more than a third faulty, or an older node's vote):
	// Apply counts v0 and v1 once and rejects the copies as duplicates.
	finalize(t, app, 2, [][]byte{at([]quorum.Certificate{cert, cert}, v2).Encode()}, false)
	var dups []string
	for _, e := range app.pending.prepared.Block.Events {
		if r, ok := e.(activation.Rejection); ok && r.Reason == activation.Duplicate {
			dups = append(dups, r.Node)
		}
	}
	assert.Equal(t, []string{"v0", "v1"}, dups)
	d, _ = app.pending.prepared.Block.State.Deployment("p2")
	assert.Equal(t, activation.LockedIn, d.Status, "three of four validators counted once each")
}
