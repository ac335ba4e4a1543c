package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/signal"
)

// Sync limits: a request asks for at most MaxSyncBlocks blocks, a response
// is at most MaxSyncResponse bytes, and a stream lives at most SyncTimeout.
const (
	MaxSyncBlocks   = 256
	MaxSyncResponse = 64 << 20
	SyncTimeout     = 10 * time.Second
	maxSyncRequest  = 1 << 10
)

// ErrResponseTooLarge: a peer's sync response was over MaxSyncResponse;
// ask again for fewer blocks.
var ErrResponseTooLarge = errors.New("sync response too large")

// BlockSource serves stored blocks (the node's store).
type BlockSource interface {
	// EncodedBlocks returns up to count wire-encoded blocks from height from.
	EncodedBlocks(from, count uint64) ([][]byte, error)
}

// SnapshotSource serves the engine's latest state snapshot to nodes that
// join by state sync: the items are engine-defined (the devchain's are its
// signed block at the snapshot's height and the state's encoding), and the
// joining node verifies them all.
type SnapshotSource interface {
	EncodedSnapshot() ([][]byte, error)
}

func syncProtocol(chain string) protocol.ID { return protocol.ID("/quorumgate/" + chain + "/sync/1") }

const (
	syncBlocks       = 1
	syncAttestations = 2
	syncSnapshot     = 3
)

// SyncRequest asks a peer for blocks by height range or for the valid
// attestations it holds of one (deployment, epoch).
type SyncRequest struct {
	Kind       uint8               `cbor:"1,keyasint"`
	From       uint64              `cbor:"2,keyasint,omitempty"`
	Count      uint64              `cbor:"3,keyasint,omitempty"`
	Deployment signal.DeploymentID `cbor:"4,keyasint,omitempty"`
	Epoch      uint64              `cbor:"5,keyasint,omitempty"`
}

// SyncResponse carries encoded items, or why there are none.
type SyncResponse struct {
	Items [][]byte `cbor:"1,keyasint,omitempty"`
	Error string   `cbor:"2,keyasint,omitempty"`
}

func (r SyncRequest) encode() []byte { return canon.MustEncode(r) }

// DecodeSyncRequest decodes and bounds a request.
func DecodeSyncRequest(b []byte) (SyncRequest, error) {
	var r SyncRequest
	if err := canon.Decode(b, &r); err != nil {
		return r, fmt.Errorf("sync request: %w", err)
	}
	switch r.Kind {
	case syncBlocks:
		if r.Count == 0 || r.Count > MaxSyncBlocks {
			return r, fmt.Errorf("sync request: count %d must be 1 to %d", r.Count, MaxSyncBlocks)
		}
	case syncAttestations, syncSnapshot:
	default:
		return r, fmt.Errorf("sync request: unknown kind %d", r.Kind)
	}
	return r, nil
}

// DecodeSyncResponse decodes a response.
func DecodeSyncResponse(b []byte) (SyncResponse, error) {
	var r SyncResponse
	if err := canon.Decode(b, &r); err != nil {
		return r, fmt.Errorf("sync response: %w", err)
	}
	return r, nil
}

func (n *Node) serveSync(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(SyncTimeout))
	raw, err := io.ReadAll(io.LimitReader(s, maxSyncRequest+1))
	if err != nil || len(raw) > maxSyncRequest {
		s.Reset()
		return
	}
	var resp SyncResponse
	req, err := DecodeSyncRequest(raw)
	switch {
	case err != nil:
		resp.Error = err.Error()
	case req.Kind == syncBlocks && n.handlers.Load().Sync == nil:
		resp.Error = "this node serves no blocks"
	case req.Kind == syncBlocks:
		if resp.Items, err = n.handlers.Load().Sync.EncodedBlocks(req.From, req.Count); err != nil {
			resp.Items, resp.Error = nil, err.Error()
		}
		resp.Items = fitResponse(resp.Items, n.cfg.SyncResponseLimit)
	case req.Kind == syncSnapshot && n.handlers.Load().Snapshots == nil:
		resp.Error = "this node serves no snapshots"
	case req.Kind == syncSnapshot:
		if resp.Items, err = n.handlers.Load().Snapshots.EncodedSnapshot(); err != nil {
			resp.Items, resp.Error = nil, err.Error()
		}
	default:
		n.ingestMu.Lock()
		resp.Items = append([][]byte(nil), n.pool[key{req.Deployment, req.Epoch}]...)
		n.ingestMu.Unlock()
	}
	s.Write(canon.MustEncode(resp))
}

// fitResponse keeps the leading items that fit in a response of limit
// bytes (at least one), so a peer asking for many large blocks gets fewer
// rather than a response it must refuse.
func fitResponse(items [][]byte, limit int) [][]byte {
	size := 64 // the encoding's own overhead
	for i, it := range items {
		size += len(it) + 9
		if size > limit && i > 0 {
			return items[:i]
		}
	}
	return items
}

func (n *Node) request(ctx context.Context, p peer.ID, req SyncRequest) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, SyncTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, syncProtocol(n.cfg.ChainID))
	if err != nil {
		return nil, fmt.Errorf("sync with %s: %w", p, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := s.Write(canon.MustEncode(req)); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sync with %s: %w", p, err)
	}
	s.CloseWrite()
	limit := n.cfg.SyncResponseLimit
	raw, err := io.ReadAll(io.LimitReader(s, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("sync with %s: %w", p, err)
	}
	if len(raw) > limit {
		return nil, fmt.Errorf("sync with %s: %w: over %d bytes", p, ErrResponseTooLarge, limit)
	}
	resp, err := DecodeSyncResponse(raw)
	if err != nil {
		return nil, fmt.Errorf("sync with %s: %w", p, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("sync with %s: peer says: %s", p, resp.Error)
	}
	return resp.Items, nil
}

// RequestBlocks asks a peer for up to count blocks from height from.
func (n *Node) RequestBlocks(ctx context.Context, p peer.ID, from, count uint64) ([][]byte, error) {
	if count == 0 || count > MaxSyncBlocks {
		return nil, fmt.Errorf("sync: count %d must be 1 to %d", count, MaxSyncBlocks)
	}
	return n.request(ctx, p, SyncRequest{Kind: syncBlocks, From: from, Count: count})
}

// RequestSnapshot asks a peer for its latest state snapshot (see
// SnapshotSource); the caller verifies what it gets.
func (n *Node) RequestSnapshot(ctx context.Context, p peer.ID) ([][]byte, error) {
	return n.request(ctx, p, SyncRequest{Kind: syncSnapshot})
}

// CatchUp asks a peer for the attestations of (d, epoch) and runs them
// through this node's pipeline (so they are verified like gossip), returning
// how many were accepted.
func (n *Node) CatchUp(ctx context.Context, p peer.ID, d signal.DeploymentID, epoch uint64) (int, error) {
	items, err := n.request(ctx, p, SyncRequest{Kind: syncAttestations, Deployment: d, Epoch: epoch})
	if err != nil {
		return 0, err
	}
	accepted := 0
	n.ingestMu.Lock()
	defer n.ingestMu.Unlock()
	for _, raw := range items {
		n.ingest.Add(raw, nil)
	}
	for _, r := range n.ingest.Flush() {
		if r.Verdict == Accept {
			accepted++
		}
	}
	return accepted, nil
}
