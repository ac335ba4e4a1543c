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
