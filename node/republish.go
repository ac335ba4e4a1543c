package node

import (
	"github.com/quorumgate/quorumgate/activation"
)

// Readiness is re-published when it is not in a finalized block within
// republishViews views of its publication: gossip may have lost it (the
// node had no mesh peers yet, a forger's message was ignored in its place,
// the sequencer restarted). Gossip drops a repeat of the same bytes while
// peers remember it, so the repeat mainly reaches peers that forgot or never
// had it; the sequencer also pulls peers' pools by the sync protocol
// (devchain's catch-up), which finds it in this node's own pool.
//
// Delivery path 3 of 4, both engines. Block builders now keep readiness
// pooled until a finalized block carries it (chain/internal/pool), so
// re-publishing no longer makes up for a builder that dropped it (the
// devchain sequencer used to clear its pool at every block). It still earns
// its place for readiness that never reached a builder (no mesh peers at
// publication) or that a builder lost with its memory in a restart, and on
// CometBFT it is the only such path (no push, no catch-up). Since p2p
// accepts a node's own repeat, the re-publication does go out. Measured in
// one `testnet demo` (devchain, 7 nodes): 35 re-publications (28 on main
// before the shared pool), 2 to 12 per restarted node; a restarted node's
// readiness often needed several rounds before it was counted.
const minRepublishViews = 5

// republishViews is the bound for a chain: the finality lead time, at
// least minRepublishViews.
func republishViews(p *activation.Params) uint64 { return max(p.SafetyViews, minRepublishViews) }

// ToRepublish returns which of this node's published attestations (keyed by
// deployment and epoch, valued by the view they were published at) are due
// again at view: still in their epoch, the deployment still STARTED, this
// node's role counted by it, not yet in the finalized tally, and published at
// least bound views ago.
func ToRepublish(head *activation.State, nodeID string, published map[attestKey]uint64, view, bound uint64) []attestKey {
	epoch := head.Params().Epoch(view)
	var due []attestKey
	for k, at := range published {
		if k.e != epoch || view < at+bound {
			continue
		}
		d, ok := head.DeploymentByID(k.d)
		if !ok || d.Status != activation.Started {
			continue
		}
		table := head.Params().Identities.TableAt(epoch)
		i, ok := table.Lookup(nodeID)
		if !ok || !d.RequiresRole(table.At(i).Role) {
			continue
		}
		if tl := d.Tally(epoch); tl != nil && tl.Has(i) {
			continue
		}
		due = append(due, k)
	}
	return due
}

// notePublished records when this node's readiness for k went out.
func (n *Node) notePublished(k attestKey, view uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.published == nil {
		n.published = map[attestKey]uint64{}
	}
	n.published[k] = view
}

// republishDue forgets that readiness went out where it is due again, so
// signal publishes it anew, and drops records of past epochs.
func (n *Node) republishDue(head *activation.State) {
	_, view, ok := head.Head()
	if !ok {
		return
	}
	epoch := head.Params().Epoch(view)
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, k := range ToRepublish(head, n.cfg.NodeID, n.published, view, republishViews(head.Params())) {
		delete(n.attested, k)
		n.republished++
		n.log.Info("readiness not finalized yet; publishing it again", "epoch", k.e, "published_at_view", n.published[k], "view", view)
	}
	for k := range n.published {
		if k.e < epoch {
			delete(n.published, k)
		}
	}
	for k := range n.attested {
		if k.e < epoch {
			delete(n.attested, k)
		}
	}
}
