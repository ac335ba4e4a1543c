package p2p

// The ingest side of a Node: the batcher that gathers attestation
// verdict requests and judges them together, the pool of accepted
// attestations kept for catch-up, and the figures both expose.

import (
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/signal"
)

type verdictRequest struct {
	raw   []byte
	from  peer.ID
	reply chan Result
}

// accepted takes an attestation the ingest pipeline verified: it is pooled
// for catch-up (while the pool is within its bound) and handed on.
func (n *Node) accepted(a signal.Attestation) {
	k := key{a.Deployment, a.Epoch}
	raw := a.Encode()
	if n.poolBytes+len(raw) > MaxPoolBytes {
		n.poolDropped.Add(1) // still counted and forwarded; catch-up serves less
	} else {
		n.pool[k] = append(n.pool[k], raw)
		n.poolBytes += len(raw)
	}
	if h := n.handlers.Load(); h.OnAttestation != nil {
		h.OnAttestation(a)
	}
}

// batcher owns the ingest pipeline: it gathers validation requests for a
// short window (or up to a batch size) and judges them together.
func (n *Node) batcher() {
	defer n.wg.Done()
	var pending []verdictRequest
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		n.ingestMu.Lock()
		n.pruneLocked()
		for _, req := range pending {
			if r := n.ingest.AddFrom(req.raw, string(req.from), req.reply); r.Verdict != 0 {
				req.reply <- r
			}
		}
		for _, r := range n.ingest.Flush() {
			r.Tag.(chan Result) <- r
		}
		// A message validated after its sender left re-created the
		// sender's counters: drop them again.
		for _, req := range pending {
			if req.from != n.host.ID() && n.host.Network().Connectedness(req.from) != network.Connected {
				n.ingest.Forget(string(req.from))
			}
		}
		n.ingestMu.Unlock()
		pending = pending[:0]
	}
	for {
		select {
		case req := <-n.requests:
			if len(pending) == 0 {
				timer.Reset(n.cfg.BatchWindow)
			}
			pending = append(pending, req)
			if len(pending) >= n.cfg.BatchSize {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		case <-n.ctx.Done():
			for _, req := range pending {
				req.reply <- Result{Verdict: Ignore, Reason: "shutting down"}
			}
			return
		}
	}
}

// MaxPoolBytes bounds the attestations a node keeps to serve catch-up: one
// per signer per (deployment, epoch) for the current and next epoch, pruned
// as epochs pass; 32 MiB holds about 150,000 of them.
const MaxPoolBytes = 32 << 20

// pruneLocked forgets, once per epoch, the pool, tallies and duplicates of
// epochs before the current one. Called with ingestMu held.
func (n *Node) pruneLocked() {
	cur := n.cfg.View.CurrentEpoch()
	if cur <= n.prunedTo {
		return
	}
	n.prunedTo = cur
	n.ingest.Prune(cur)
	for k, list := range n.pool {
		if k.e < cur {
			for _, raw := range list {
				n.poolBytes -= len(raw)
			}
			delete(n.pool, k)
		}
	}
}

// MemoryStats tells how much per-epoch and per-peer state the node holds,
// for checks that it stays bounded.
type MemoryStats struct {
	PoolEntries, PoolBytes, Seen, Tallies, Sources, Limiters int
}

// Memory returns the node's MemoryStats.
func (n *Node) Memory() MemoryStats {
	n.ingestMu.Lock()
	seen, tallies, sources := n.ingest.Size()
	st := MemoryStats{PoolEntries: len(n.pool), PoolBytes: n.poolBytes, Seen: seen, Tallies: tallies, Sources: sources}
	n.ingestMu.Unlock()
	n.limitMu.Lock()
	st.Limiters = len(n.limiters)
	n.limitMu.Unlock()
	return st
}

// PeerStats returns how many of a peer's attestations had their signatures
// checked, and how many of those failed.
func (n *Node) PeerStats(p peer.ID) SourceStats {
	n.ingestMu.Lock()
	defer n.ingestMu.Unlock()
	return n.ingest.Source(string(p))
}

// LiveTally returns how many signers and how much stake were seen ready for
// (d, epoch) by gossip (verified, not finalized).
func (n *Node) LiveTally(d signal.DeploymentID, epoch uint64) (signers int, stake uint64) {
	n.ingestMu.Lock()
	defer n.ingestMu.Unlock()
	if tl := n.ingest.Tally(d, epoch); tl != nil {
		return tl.Count(), tl.ReadyTotal()
	}
	return 0, 0
}

// LiveReady returns the ready stake per role that gossip has verified for
// (d, epoch), a copy; nil when nothing was seen.
func (n *Node) LiveReady(d signal.DeploymentID, epoch uint64) map[string]uint64 {
	n.ingestMu.Lock()
	defer n.ingestMu.Unlock()
	tl := n.ingest.Tally(d, epoch)
	if tl == nil {
		return nil
	}
	out := map[string]uint64{"": tl.ReadyTotal()}
	for _, r := range tl.Table().Roles() {
		out[r] = tl.Ready(r)
	}
	return out
}

// Stats returns how many attestation messages were validated and rejected.
func (n *Node) Stats() (validated, rejected int64) { return n.validations.Load(), n.rejected.Load() }
