package cometbft

import (
	"context"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/storage"
)

// offer offers s with appHash to a and returns the result.
func offer(t *testing.T, a *App, s *abci.Snapshot, appHash []byte) abci.OfferSnapshotResult {
	t.Helper()
	res, err := a.OfferSnapshot(context.Background(), &abci.OfferSnapshotRequest{Snapshot: s, AppHash: appHash})
	require.NoError(t, err)
	return res.Result
}

func applyChunk(t *testing.T, a *App, i int, chunk []byte, sender string) *abci.ApplySnapshotChunkResponse {
	t.Helper()
	res, err := a.ApplySnapshotChunk(context.Background(), &abci.ApplySnapshotChunkRequest{Index: uint32(i), Chunk: chunk, Sender: sender})
	require.NoError(t, err)
	return res
}

// A node serves a snapshot every interval heights, the last few; a joining
// node refuses another format, metadata that names another state than the
// verified app hash, a corrupt chunk (refetched, its sender rejected) and a
// snapshot whose chunks make another state (rejected whole, with its
// senders); it restores an honest one, reports it in Info, and goes on to
// compute the same app hash as the serving node for the next block.
func TestSnapshotServeOfferAndApply(t *testing.T) {
	f := newAppFixture(t)
	server, closeServer := f.open()
	defer closeServer()
	server.testChunkSize = 16
	require.NoError(t, server.ServeSnapshots(10, 2))
	appHash := map[int64][]byte{}
	for h := int64(1); h <= 25; h++ {
		var txs [][]byte
		if h == 1 {
			server.AddGovernance(f.proposal())
			prep, err := server.PrepareProposal(context.Background(), &abci.PrepareProposalRequest{Height: 1, MaxTxBytes: BlockMaxBytes})
			require.NoError(t, err)
			txs = prep.Txs
		}
		appHash[h] = finalize(t, server, h, txs, true).AppHash
	}
	list, err := server.ListSnapshots(context.Background(), &abci.ListSnapshotsRequest{})
	require.NoError(t, err)
	require.Len(t, list.Snapshots, 2, "the last two kept")
	assert.Equal(t, []uint64{10, 20}, []uint64{list.Snapshots[0].Height, list.Snapshots[1].Height})
	snap := list.Snapshots[1]
	require.Greater(t, snap.Chunks, uint32(2), "small chunks for the test")
	var chunks [][]byte
	for i := range snap.Chunks {
		c, err := server.LoadSnapshotChunk(context.Background(), &abci.LoadSnapshotChunkRequest{Height: 20, Format: SnapshotFormat, Chunk: i})
		require.NoError(t, err)
		require.NotEmpty(t, c.Chunk)
		chunks = append(chunks, c.Chunk)
	}
	// The app hash the light client verifies for the snapshot of height 20
	// is the one in the header of height 21: the state after height 20.
	trusted := appHash[20]

	joiner := &appFixture{t: t, g: f.g, keys: f.keys, dir: t.TempDir()}
	app, closeApp := joiner.open()
	defer closeApp()
	other := *snap
	other.Format = 7
	assert.Equal(t, abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT, offer(t, app, &other, trusted))
	assert.Equal(t, abci.OFFER_SNAPSHOT_RESULT_REJECT, offer(t, app, snap, appHash[19]), "another app hash than the snapshot's state")
	other = *snap
	other.Chunks++
	assert.Equal(t, abci.OFFER_SNAPSHOT_RESULT_REJECT, offer(t, app, &other, trusted), "a chunk count the metadata does not list")

	// A lying snapshot: the state after height 15, with metadata that
	// claims the trusted state ID.
	st15, err := server.store.StateAt(14)
	require.NoError(t, err)
	lie := makeSnapshot(20, st15, 16)
	var meta snapshotMeta
	require.NoError(t, canon.Decode(lie.abci.Metadata, &meta))
	copy(meta.StateID[:], trusted)
	lie.abci.Metadata = canon.MustEncode(meta)
	require.Equal(t, abci.OFFER_SNAPSHOT_RESULT_ACCEPT, offer(t, app, lie.abci, trusted))
	for i, c := range lie.chunks {
		res := applyChunk(t, app, i, c, "liar")
		if i < len(lie.chunks)-1 {
			require.Equal(t, abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT, res.Result, "chunk %d", i)
			continue
		}
		assert.Equal(t, abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT, res.Result, "the state is not the trusted one")
		assert.Equal(t, []string{"liar"}, res.RejectSenders)
	}
	_, ok := app.store.Head()
	assert.False(t, ok, "nothing of a refused snapshot is stored")

	// The honest snapshot, one chunk corrupted in transit.
	require.Equal(t, abci.OFFER_SNAPSHOT_RESULT_ACCEPT, offer(t, app, snap, trusted))
	bad := append([]byte(nil), chunks[1]...)
	bad[0] ^= 0xff
	require.Equal(t, abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT, applyChunk(t, app, 0, chunks[0], "peerA").Result)
	res := applyChunk(t, app, 1, bad, "peerB")
	assert.Equal(t, abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY, res.Result, "a corrupt chunk")
	assert.Equal(t, []uint32{1}, res.RefetchChunks)
	assert.Equal(t, []string{"peerB"}, res.RejectSenders)
	c, s := app.Refused()
	assert.Equal(t, 1, c)
	assert.Equal(t, 1, s)
	for i := 1; i < len(chunks); i++ {
		require.Equal(t, abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT, applyChunk(t, app, i, chunks[i], "peerA").Result, "chunk %d", i)
	}
	base, ok := app.store.Base()
	require.True(t, ok, "the store is bootstrapped")
	assert.Equal(t, uint64(19), base, "CometBFT height 20 is quorumgate height 19")
	info, err := app.Info(context.Background(), &abci.InfoRequest{})
	require.NoError(t, err)
	assert.Equal(t, int64(20), info.LastBlockHeight)
	assert.Equal(t, trusted, info.LastBlockAppHash)
	d, ok := app.consensusHead().Deployment("p2")
	require.True(t, ok, "the restored state knows the deployment")
	assert.NotEqual(t, activation.None, d.Status)
	_, err = app.store.Block(3)
	assert.ErrorIs(t, err, storage.ErrPruned)

	for h := int64(21); h <= 25; h++ {
		got := finalize(t, app, h, nil, true).AppHash
		assert.Equal(t, appHash[h], got, "height %d after the restore", h)
	}
	assert.Equal(t, abci.OFFER_SNAPSHOT_RESULT_ABORT, offer(t, app, snap, trusted), "a store with blocks restores nothing")
}

// A restarted node serves the snapshots of the heights its store holds.
func TestSnapshotsAfterARestart(t *testing.T) {
	f := newAppFixture(t)
	app, closeApp := f.open()
	require.NoError(t, app.ServeSnapshots(4, 3))
	for h := int64(1); h <= 13; h++ {
		finalize(t, app, h, nil, true)
	}
	before, err := app.ListSnapshots(context.Background(), &abci.ListSnapshotsRequest{})
	require.NoError(t, err)
	closeApp()
	app, closeApp = f.open()
	defer closeApp()
	require.NoError(t, app.ServeSnapshots(4, 3))
	after, err := app.ListSnapshots(context.Background(), &abci.ListSnapshotsRequest{})
	require.NoError(t, err)
	require.Len(t, after.Snapshots, 3)
	assert.Equal(t, before.Snapshots, after.Snapshots, "the same snapshots, rebuilt from the store")
	assert.Equal(t, uint64(12), after.Snapshots[2].Height)
}
