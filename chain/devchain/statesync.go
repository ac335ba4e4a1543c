package devchain

// State sync: a follower with an empty store joins from a peer's snapshot
// (the peer's head state and the sequencer-signed block that commits to its
// ID) instead of replaying the chain from genesis, then follows from the
// block after it. Every node serves its head as a snapshot.

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/activation"
)

// ErrBadSnapshot: a snapshot a peer served does not verify (errors.Is).
var ErrBadSnapshot = errors.New("bad snapshot")

// EncodedSnapshot serves this node's snapshot (p2p's SnapshotSource): its
// stored signed block at the head and the head state's canonical encoding.
// The block is read after the head, so it is the head's (Commit stores a
// block before it moves the head).
func (c *Chain) EncodedSnapshot() ([][]byte, error) {
	head, ok := c.opts.Store.Head()
	if !ok {
		return nil, errors.New("this node holds no block yet")
	}
	h, _, _ := head.Head()
	b, err := c.opts.Store.Block(h)
	if err != nil {
		return nil, fmt.Errorf("snapshot at height %d: %w", h, err)
	}
	return [][]byte{b.Wire, head.Encode()}, nil
}

// VerifySnapshot checks a snapshot a peer served: two items, a block the
// sequencer signed, and a state of this chain, at that block's height and
// view, that hashes to the state ID the sequencer signed. It returns the
// state and the signed block's bytes. Errors are ErrBadSnapshot with the
// reason.
func VerifySnapshot(g *Genesis, items [][]byte) (*activation.State, []byte, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	if len(items) != 2 {
		return nil, nil, bad("%d items, not a signed block and a state", len(items))
	}
	raw, enc := items[0], items[1]
	if err := CheckBlock(g, raw); err != nil {
		return nil, nil, bad("%v", err)
	}
	sb, _ := DecodeSignedBlock(raw) // CheckBlock decoded it
	wire, err := activation.DecodeWireBlock(sb.Block)
	if err != nil {
		return nil, nil, bad("block %d: %v", sb.Height, err)
	}
	if wire.Height != sb.Height || wire.View != sb.View || wire.ChainID != g.ChainID {
		return nil, nil, bad("block %d: header and body disagree on chain, height or view", sb.Height)
	}
	state, err := activation.DecodeState(g.Params(), enc)
	if err != nil {
		return nil, nil, bad("state: %v", err)
	}
	if id := state.ID(); id != sb.StateID {
		return nil, nil, bad("the state hashes to %x…, the sequencer signed %x… at height %d", id[:6], sb.StateID[:6], sb.Height)
	}
	if h, v, ok := state.Head(); !ok || h != sb.Height || v != sb.View {
		return nil, nil, bad("the state is after height %d view %d, the signed block is height %d view %d", h, v, sb.Height, sb.View)
	}
	return state, raw, nil
}

// stateSync runs before a follower follows, when Options.StateSync is set
// and its store is empty: it asks its peers for a snapshot, the other
// followers first and the sequencer last (it has the most to do), until one
// verifies; a peer whose snapshot does not is logged with the reason and
// the next is asked. It returns false if the chain closed first.
func (c *Chain) stateSync() bool {
	if _, ok := c.opts.Store.Head(); ok {
		if _, joined := c.opts.Store.Base(); !joined {
			c.opts.Logger.Info("state sync: the store holds blocks already; following from its head")
		}
		return true
	}
	t := time.NewTicker(max(c.opts.Interval*4, 100*time.Millisecond))
	defer t.Stop()
	for {
		if c.trySnapshots() {
			return true
		}
		select {
		case <-c.ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// trySnapshots asks each connected peer once; true once the store is
// bootstrapped.
func (c *Chain) trySnapshots() bool {
	if c.net == nil {
		return false
	}
	var peers []peer.ID
	for _, p := range c.net.ConnectedPeers() {
		if p != c.seqPeer && p != c.net.ID() {
			peers = append(peers, p)
		}
	}
	peers = append(peers, c.seqPeer)
	for _, p := range peers {
		items, err := c.net.RequestSnapshot(c.ctx, p)
		if err != nil {
			c.opts.Logger.Debug("state sync: no snapshot from a peer", "peer", p, "err", err)
			continue
		}
		state, raw, err := VerifySnapshot(c.opts.Genesis, items)
		if err != nil {
			c.opts.Logger.Warn("state sync: refused a peer's snapshot", "peer", p, "reason", err)
			c.mu.Lock()
			c.refused++
			c.mu.Unlock()
			continue
		}
		if err := c.opts.Store.Bootstrap(state, raw); err != nil {
			c.fail(fmt.Errorf("devchain: state sync: %w", err))
			return false
		}
		h, v, _ := state.Head()
		id := state.ID()
		c.opts.Logger.Info("state sync: joined the chain from a peer's snapshot", "peer", p, "height", h, "view", v,
			"state_id", fmt.Sprintf("%x", id[:8]))
		c.mu.Lock()
		c.view = max(c.view, v)
		c.known = max(c.known, h+1)
		c.mu.Unlock()
		c.announce()
		return true
	}
	return false
}

// RefusedSnapshots is how many peers' snapshots state sync refused.
func (c *Chain) RefusedSnapshots() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refused
}
