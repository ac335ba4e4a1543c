package cometbft

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
)

// FuzzProcessProposal: a proposal's transaction comes from whichever
// validator proposes, so ProcessProposal takes any bytes. It never fails or
// panics, and it accepts only the canonical encoding of a WireBlock for this
// chain and height with no repeats whose every item verifies.
func FuzzProcessProposal(f *testing.F) {
	fx := newAppFixture(f)
	app, closeApp := fx.open()
	f.Cleanup(closeApp)
	app.AddGovernance(fx.proposal())
	prep, err := app.PrepareProposal(context.Background(), &abci.PrepareProposalRequest{Height: 1, MaxTxBytes: BlockMaxBytes})
	require.NoError(f, err)
	require.Len(f, prep.Txs, 1)
	f.Add(prep.Txs[0])
	f.Add(activation.WireBlock{ChainID: fx.g.ChainID, Height: 0, View: 1}.Encode())
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, tx []byte) {
		res, err := app.ProcessProposal(context.Background(), &abci.ProcessProposalRequest{Height: 1, Txs: [][]byte{tx}})
		require.NoError(t, err)
		if res.Status != abci.PROCESS_PROPOSAL_STATUS_ACCEPT {
			require.Equal(t, abci.PROCESS_PROPOSAL_STATUS_REJECT, res.Status)
			return
		}
		w, err := activation.DecodeWireBlock(tx)
		require.NoError(t, err)
		require.Equal(t, fx.g.ChainID, w.ChainID)
		require.Equal(t, uint64(0), w.Height)
		require.Equal(t, tx, w.Encode(), "only the canonical encoding is accepted")
		require.NoError(t, w.Repeats(app.verifier.Params), "a block with repeats is accepted")
		_, rej, err := app.verifier.Verify(app.consensusHead(), w)
		require.NoError(t, err)
		require.Empty(t, rej)
	})
}
