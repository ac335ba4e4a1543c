package cometbft

// State sync through ABCI 2.0's snapshot calls. Every SnapshotInterval
// CometBFT heights the application takes a snapshot of the protocol state
// after that height (in Commit, of the state consensus builds on) and keeps
// the last SnapshotKeep; peers list and load them. A node joining by state
// sync is offered a snapshot with the app hash CometBFT's light client
// verified for its height; it checks every chunk against the snapshot's
// metadata, the reassembled state against the snapshot's hash and then the
// verified app hash, and bootstraps its store from it (storage.Bootstrap).
//
// Snapshot format 1 (docs/statesync.md):
//   - Height: the CometBFT height h; the state is the one after it (after
//     quorumgate height h-1, view h), whose ID is the AppHash in the header
//     of h+1.
//   - Hash: SHA-256 of the state's canonical encoding.
//   - Chunks: the encoding cut into pieces of snapshotChunkSize bytes.
//   - Metadata: canonical CBOR {1: state ID, 2: [SHA-256 of each chunk]}.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// SnapshotFormat is the snapshot format this binary writes and reads.
const SnapshotFormat = 1

// The snapshot defaults (config.toml's [cometbft] snapshot_interval and
// snapshot_keep).
const (
	DefaultSnapshotInterval = 1000
	DefaultSnapshotKeep     = 2
)

// snapshotChunkSize is the size of a chunk (the last may be shorter), well
// below CometBFT's 16 MB chunk message limit.
const snapshotChunkSize = 1 << 20

// snapshotMeta is a snapshot's Metadata.
type snapshotMeta struct {
	StateID [32]byte   `cbor:"1,keyasint"`
	Chunks  [][32]byte `cbor:"2,keyasint"`
}

// snapshot is one snapshot this node serves.
type snapshot struct {
	abci    *abci.Snapshot
	chunks  [][]byte
	stateID [32]byte
}

// restore is a snapshot being applied on a joining node.
type restore struct {
	offer   *abci.Snapshot
	appHash []byte
	meta    snapshotMeta
	chunks  [][]byte
	senders []string
	have    int
}

// makeSnapshot cuts a state (after CometBFT height h) into a snapshot.
func makeSnapshot(h int64, state *activation.State, chunkSize int) snapshot {
	enc, id := state.EncodeWithID()
	var chunks [][]byte
	for off := 0; off < len(enc); off += chunkSize {
		chunks = append(chunks, enc[off:min(off+chunkSize, len(enc))])
	}
	meta := snapshotMeta{StateID: id}
	for _, c := range chunks {
		meta.Chunks = append(meta.Chunks, sha256.Sum256(c))
	}
	sum := sha256.Sum256(enc)
	return snapshot{chunks: chunks, stateID: meta.StateID, abci: &abci.Snapshot{Height: uint64(h), Format: SnapshotFormat,
		Chunks: uint32(len(chunks)), Hash: sum[:], Metadata: canon.MustEncode(meta)}}
}

// ServeSnapshots turns snapshots on: one every interval CometBFT heights
// (0: none), the last keep kept. The node's store provides those of the
// heights it already holds, so a restarted node serves at once. Call it
// before CometBFT starts.
func (a *App) ServeSnapshots(interval uint64, keep int) error {
	a.mu.Lock()
	a.snapshotInterval, a.snapshotKeep = interval, max(keep, 1)
	a.mu.Unlock()
	head, ok := a.store.Head()
	if interval == 0 || !ok {
		return nil
	}
	top, _, _ := head.Head()
	// CometBFT height h holds the state after quorumgate height h-1.
	var heights []uint64
	for h := (top + 1) / interval * interval; h > 0 && len(heights) < keep; h -= interval {
		heights = append([]uint64{h}, heights...)
	}
	for _, h := range heights {
		state, err := a.store.StateAt(h - 1)
		if err != nil {
			a.log.Info("no snapshot of an earlier height", "height", h, "err", err)
			continue
		}
		a.addSnapshot(makeSnapshot(int64(h), state, a.chunkSize()))
	}
	return nil
}

func (a *App) chunkSize() int {
	if a.testChunkSize > 0 {
		return a.testChunkSize
	}
	return snapshotChunkSize
}

// takeSnapshot is Commit's: a snapshot of the state after CometBFT height
// h, if h is a snapshot height.
func (a *App) takeSnapshot(h int64, state *activation.State) {
	a.mu.Lock()
	interval := a.snapshotInterval
	a.mu.Unlock()
	if interval == 0 || h <= 0 || uint64(h)%interval != 0 {
		return
	}
	a.addSnapshot(makeSnapshot(h, state, a.chunkSize()))
}

func (a *App) addSnapshot(s snapshot) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.snapshots = append(a.snapshots, s)
	if n := len(a.snapshots) - a.snapshotKeep; n > 0 {
		a.snapshots = append([]snapshot(nil), a.snapshots[n:]...)
	}
}

// ListSnapshots lists the snapshots this node serves.
func (a *App) ListSnapshots(context.Context, *abci.ListSnapshotsRequest) (*abci.ListSnapshotsResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res := &abci.ListSnapshotsResponse{}
	for _, s := range a.snapshots {
		res.Snapshots = append(res.Snapshots, s.abci)
	}
	return res, nil
}

// LoadSnapshotChunk serves one chunk; nothing if this node no longer keeps
// the snapshot (CometBFT asks another peer).
func (a *App) LoadSnapshotChunk(_ context.Context, req *abci.LoadSnapshotChunkRequest) (*abci.LoadSnapshotChunkResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.snapshots {
		if s.abci.Height == req.Height && s.abci.Format == req.Format && int(req.Chunk) < len(s.chunks) {
			return &abci.LoadSnapshotChunkResponse{Chunk: s.chunks[req.Chunk]}, nil
		}
	}
	return &abci.LoadSnapshotChunkResponse{}, nil
}

// OfferSnapshot judges a snapshot CometBFT found, with the app hash its
// light client verified for it: another format is REJECT_FORMAT; metadata
// that does not decode, does not match the chunk count, or names another
// state ID than the verified app hash is REJECT (CometBFT tries another
// snapshot). A node whose store holds blocks already does not restore
// (ABORT), unless it holds exactly this state (a restart after a restore
// that CometBFT did not record).
func (a *App) OfferSnapshot(_ context.Context, req *abci.OfferSnapshotRequest) (*abci.OfferSnapshotResponse, error) {
	result := func(r abci.OfferSnapshotResult, why string) (*abci.OfferSnapshotResponse, error) {
		if why != "" {
			a.log.Warn("state sync: refused a snapshot", "height", req.Snapshot.GetHeight(), "result", r.String(), "why", why)
		}
		return &abci.OfferSnapshotResponse{Result: r}, nil
	}
	s := req.Snapshot
	if s == nil {
		return result(abci.OFFER_SNAPSHOT_RESULT_REJECT, "no snapshot")
	}
	if s.Format != SnapshotFormat {
		return result(abci.OFFER_SNAPSHOT_RESULT_REJECT_FORMAT, fmt.Sprintf("format %d, this node reads %d", s.Format, SnapshotFormat))
	}
	if head, ok := a.store.Head(); ok {
		h, _, _ := head.Head()
		id := head.ID()
		if h+1 == s.Height && bytes.Equal(id[:], req.AppHash) {
			a.mu.Lock()
			a.restore = &restore{offer: s, appHash: req.AppHash, have: -1}
			a.mu.Unlock()
			return result(abci.OFFER_SNAPSHOT_RESULT_ACCEPT, "")
		}
		return result(abci.OFFER_SNAPSHOT_RESULT_ABORT, fmt.Sprintf("the store holds blocks up to height %d already: state sync starts only on an empty store (move it aside to join afresh)", h))
	}
	var meta snapshotMeta
	switch err := canon.Decode(s.Metadata, &meta); {
	case s.Height == 0:
		return result(abci.OFFER_SNAPSHOT_RESULT_REJECT, "height 0")
	case err != nil:
		return result(abci.OFFER_SNAPSHOT_RESULT_REJECT, fmt.Sprintf("metadata: %v", err))
	case s.Chunks == 0 || int(s.Chunks) != len(meta.Chunks):
		return result(abci.OFFER_SNAPSHOT_RESULT_REJECT, fmt.Sprintf("%d chunks, the metadata lists %d", s.Chunks, len(meta.Chunks)))
	case !bytes.Equal(meta.StateID[:], req.AppHash):
		return result(abci.OFFER_SNAPSHOT_RESULT_REJECT, fmt.Sprintf("state ID %x…, the light client verified app hash %s",
			meta.StateID[:6], shortHex(req.AppHash)))
	}
	a.mu.Lock()
	a.restore = &restore{offer: s, appHash: req.AppHash, meta: meta, chunks: make([][]byte, s.Chunks), senders: make([]string, s.Chunks)}
	a.mu.Unlock()
	return result(abci.OFFER_SNAPSHOT_RESULT_ACCEPT, "")
}

func shortHex(b []byte) string {
	return hex.EncodeToString(b[:min(len(b), 6)]) + "…"
}

// ApplySnapshotChunk takes one chunk of the accepted snapshot. A chunk
// whose hash is not the metadata's is refetched from another peer and its
// sender rejected (RETRY); once all are in, the state they make must hash
// to the snapshot's hash, decode, be at the snapshot's height and have the
// verified app hash as its ID, or the whole snapshot is refused
// (REJECT_SNAPSHOT, its senders rejected) and CometBFT tries another.
// Then the store is bootstrapped from it.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abci.ApplySnapshotChunkRequest) (*abci.ApplySnapshotChunkResponse, error) {
	a.mu.Lock()
	r := a.restore
	a.mu.Unlock()
	if r == nil {
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ABORT}, nil
	}
	if r.have < 0 { // the store holds this state already
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT}, nil
	}
	if int(req.Index) >= len(r.chunks) {
		return a.refuseSnapshot(r, fmt.Sprintf("chunk %d of %d", req.Index, len(r.chunks))), nil
	}
	if sha256.Sum256(req.Chunk) != r.meta.Chunks[req.Index] {
		a.log.Warn("state sync: refused a chunk that does not match the snapshot's metadata; fetching it from another peer",
			"height", r.offer.Height, "chunk", req.Index, "sender", req.Sender)
		a.mu.Lock()
		a.refusedChunks++
		a.mu.Unlock()
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_RETRY,
			RefetchChunks: []uint32{req.Index}, RejectSenders: []string{req.Sender}}, nil
	}
	if r.chunks[req.Index] == nil {
		r.have++
	}
	r.chunks[req.Index], r.senders[req.Index] = req.Chunk, req.Sender
	if r.have < len(r.chunks) {
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT}, nil
	}
	enc := bytes.Join(r.chunks, nil)
	if sum := sha256.Sum256(enc); !bytes.Equal(sum[:], r.offer.Hash) {
		return a.refuseSnapshot(r, "the chunks do not hash to the snapshot's hash"), nil
	}
	state, err := activation.DecodeState(a.genesis.Params(), enc)
	if err != nil {
		return a.refuseSnapshot(r, fmt.Sprintf("state: %v", err)), nil
	}
	if id := state.ID(); !bytes.Equal(id[:], r.appHash) {
		return a.refuseSnapshot(r, fmt.Sprintf("the state's ID is %x…, the light client verified app hash %s", id[:6], shortHex(r.appHash))), nil
	}
	if h, v, ok := state.Head(); !ok || h+1 != r.offer.Height || v != r.offer.Height {
		return a.refuseSnapshot(r, fmt.Sprintf("the state is after height %d view %d, the snapshot is of CometBFT height %d", h, v, r.offer.Height)), nil
	}
	if err := a.store.Bootstrap(state, nil); err != nil {
		// The store failed: nothing another snapshot would mend.
		a.fail(fmt.Errorf("cometbft: state sync: %w", err))
		return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ABORT}, nil
	}
	a.mu.Lock()
	a.head, a.restore = state, nil
	a.mu.Unlock()
	id := state.ID()
	a.log.Info("state sync: joined the chain from a snapshot", "height", r.offer.Height, "state_id", fmt.Sprintf("%x", id[:8]))
	return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_ACCEPT}, nil
}

// refuseSnapshot refuses the snapshot being restored, and its senders.
func (a *App) refuseSnapshot(r *restore, why string) *abci.ApplySnapshotChunkResponse {
	a.log.Warn("state sync: refused a snapshot", "height", r.offer.Height, "why", why)
	var senders []string
	for _, s := range r.senders {
		if s != "" && !slices.Contains(senders, s) {
			senders = append(senders, s)
		}
	}
	a.mu.Lock()
	a.restore = nil
	a.refusedSnapshots++
	a.mu.Unlock()
	return &abci.ApplySnapshotChunkResponse{Result: abci.APPLY_SNAPSHOT_CHUNK_RESULT_REJECT_SNAPSHOT, RejectSenders: senders}
}

// Refused returns how many snapshot chunks and whole snapshots state sync
// refused on this node.
func (a *App) Refused() (chunks, snapshots int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refusedChunks, a.refusedSnapshots
}
