package devchain

import (
	"context"
	"errors"

	"github.com/quorumgate/quorumgate/p2p"
)

// pushToSequencer hands an item straight to the sequencer, beside gossip,
// on a goroutine owned by the chain (the caller, the node's run loop, must
// not wait on the network). It reports whether a push was started: not on
// the sequencer itself, nor once the chain stops.
//
// Gossip delivers an item once: a repeat of the same bytes is a duplicate
// to every node that saw it, including this one, so an item the sequencer
// lost in a restart could not be re-sent through gossip for minutes.
//
// Delivery path 2 of 4 (devchain only). Since p2p accepts a node's own
// publication its validator ignores, a repeat does leave this node, and
// reaches a restarted sequencer that is in this node's mesh (its seen cache
// and ingest are empty): the "including this one" above no longer holds.
// The push still earns its place where gossip cannot reach: a sequencer not
// in this node's mesh (peers in between ignore the repeat and do not
// forward it), and a node just restarted, before its mesh forms. Not
// measured: only refusals are counted (pushRefused), not pushes that
// delivered something gossip had not; count those before removing it.
func (c *Chain) pushToSequencer(kind p2p.PushKind, raw []byte) bool {
	if c.IsSequencer() || c.net == nil || c.ctx.Err() != nil {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, p2p.SyncTimeout)
		defer cancel()
		err := c.net.Push(ctx, c.seqPeer, kind, raw)
		if errors.Is(err, p2p.ErrPushRefused) {
			c.pushRefused.Add(1)
		}
	}()
	return true
}
