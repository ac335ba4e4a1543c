package devchain

// The follower: the block topic's validator, gossip blocks queued ahead of
// the head, the loop that applies them in order and verifies each against
// the sequencer's state, fetching missed blocks by sync, and equivocation
// evidence.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/p2p"
)

// ErrStateMismatch stops a follower whose own state disagrees with the sequencer's.
var ErrStateMismatch = errors.New("protocol state differs from the sequencer's")

// ErrEquivocation stops a follower that saw two different blocks signed by
// the sequencer at one height.
var ErrEquivocation = errors.New("the sequencer signed two different blocks at one height")

// Equivocation is the evidence: two sequencer-signed blocks at one height.
type Equivocation struct {
	Height uint64
	First  []byte // encoded SignedBlock
	Second []byte
}

// Evidence returns the equivocations this node has seen.
func (c *Chain) Evidence() []Equivocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Equivocation(nil), c.evidence...)
}

// Received returns how many blocks this node applied, by how each first
// arrived (gossip or sync); the sequencer's own blocks are not counted.
func (c *Chain) Received() map[chain.Via]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.received)
}

// EquivocationCount implements chain.Chain: two sequencer-signed blocks at
// one height (the node stops following at the first).
func (c *Chain) EquivocationCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evidence)
}

// equivocated records evidence and stops the chain with an error naming it.
func (c *Chain) equivocated(height uint64, first, second []byte) {
	c.mu.Lock()
	c.evidence = append(c.evidence, Equivocation{Height: height, First: first, Second: second})
	c.mu.Unlock()
	a, b := sha256.Sum256(first), sha256.Sum256(second)
	c.fail(fmt.Errorf("%w: height %d, blocks %x… and %x…; this node stops following: "+
		"the sequencer's key signed a fork (compromised, or run twice); investigate before restarting",
		ErrEquivocation, height, a[:6], b[:6]))
}

// maxPendingBlocks bounds the blocks a follower holds ahead of its head; a
// block further ahead is ignored by gossip and fetched by sync in its turn.
const maxPendingBlocks = 2 * p2p.MaxSyncBlocks

// CheckBlock is the block topic's validator. Cheap checks first: a block
// that does not decode is rejected; one too far ahead is ignored (sync
// fetches it in turn); one at a height already applied is ignored when it
// is the stored block, and is evidence of equivocation when it differs yet
// carries the sequencer's signature. Then the signature: a block the
// sequencer did not sign is rejected.
func (c *Chain) CheckBlock(raw []byte) error {
	b, err := DecodeSignedBlock(raw)
	if err != nil {
		return err
	}
	next := c.nextHeight()
	if b.Height >= next+maxPendingBlocks {
		return fmt.Errorf("%w: block %d is more than %d ahead of this node's head", p2p.ErrIgnore, b.Height, maxPendingBlocks)
	}
	if b.Height < next {
		stored, storeErr := c.opts.Store.Block(b.Height)
		if storeErr == nil && bytes.Equal(stored.Wire, raw) {
			return fmt.Errorf("%w: block %d is applied already", p2p.ErrIgnore, b.Height)
		}
		if err := CheckBlock(c.opts.Genesis, raw); err != nil {
			return err // an old height with a forged signature: a replay attempt
		}
		if storeErr == nil {
			c.equivocated(b.Height, stored.Wire, raw)
		}
		return fmt.Errorf("%w: block %d is behind this node's head", p2p.ErrIgnore, b.Height)
	}
	return CheckBlock(c.opts.Genesis, raw)
}

// pendingBlock is a block queued ahead of the head, with how it first arrived.
type pendingBlock struct {
	SignedBlock
	via chain.Via
}

// HandleBlock queues a block from the sequencer that gossip delivered (p2p's
// OnBlock; the block topic's validator has checked the signature).
func (c *Chain) HandleBlock(raw []byte) { c.queue(raw, chain.ViaGossip) }

// queue queues a block from the sequencer, signature checked, noting how it
// arrived unless it was queued already.
func (c *Chain) queue(raw []byte, via chain.Via) {
	b, err := DecodeSignedBlock(raw)
	if err != nil {
		return
	}
	next := c.nextHeight()
	if b.Height < next || b.Height >= next+maxPendingBlocks {
		return // applied already (CheckBlock compares it), or fetched by sync when its turn comes
	}
	c.mu.Lock()
	if prev, ok := c.pending[b.Height]; ok {
		if first := canon.MustEncode(prev.SignedBlock); !bytes.Equal(first, raw) {
			c.mu.Unlock()
			c.equivocated(b.Height, first, raw)
			return
		}
		via = prev.via // it arrived first by that way
	}
	c.pending[b.Height] = pendingBlock{b, via}
	c.known = max(c.known, b.Height+1)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// follow is a follower's loop: apply queued blocks in order; when a gap
// stays open, fetch the missing blocks from the sequencer by sync.
func (c *Chain) follow() {
	defer c.wg.Done()
	if c.opts.StateSync && !c.stateSync() {
		return
	}
	t := time.NewTicker(max(c.opts.Interval*4, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
			if c.behind() {
				c.fillGap()
			}
		}
		if err := c.applyPending(); err != nil {
			c.fail(err)
			return
		}
	}
}

// behind reports whether a follower should ask peers for blocks: gossip
// left a gap (a block is queued beyond one missing), or no block arrived
// for two view intervals (it may have missed the newest ones, or be
// catching up). A follower that gossip keeps up to date does not poll: a
// poll racing gossip would fetch the block gossip is about to deliver.
func (c *Chain) behind() bool {
	next := c.nextHeight()
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastBlock) > 2*c.opts.Interval || c.known > next+1 {
		return true
	}
	for h := range c.pending {
		if h > next {
			return true
		}
	}
	return false
}

func (c *Chain) nextHeight() uint64 {
	head, applied := c.opts.Store.Head()
	if !applied {
		return 0
	}
	h, _, _ := head.Head()
	return h + 1
}

func (c *Chain) fillGap() {
	if c.net == nil {
		return
	}
	// Asked even with nothing queued: this node may have missed the newest
	// blocks. The sequencer first, then every other peer (any follower holds
	// the blocks it applied); a response too large halves the request.
	next := c.nextHeight()
	c.mu.Lock()
	count := c.syncCount
	c.mu.Unlock()
	var blocks [][]byte
	for _, p := range append([]peer.ID{c.seqPeer}, c.net.ConnectedPeers()...) {
		if p == c.net.ID() {
			continue
		}
		got, err := c.net.RequestBlocks(c.ctx, p, next, count)
		if errors.Is(err, p2p.ErrResponseTooLarge) {
			count = max(1, count/2)
			c.mu.Lock()
			c.syncCount = count
			c.mu.Unlock()
			continue
		}
		if err == nil && len(got) > 0 {
			blocks = got
			break
		}
	}
	for _, raw := range blocks {
		if c.CheckBlock(raw) == nil {
			c.queue(raw, chain.ViaSync)
		}
	}
	if uint64(len(blocks)) == count {
		// A full batch: the sequencer has more, so this node is still behind
		// once it has applied these.
		c.mu.Lock()
		c.known = max(c.known, next+uint64(len(blocks))+1)
		c.mu.Unlock()
	}
}

func (c *Chain) applyPending() error {
	for {
		next := c.nextHeight()
		c.mu.Lock()
		b, ok := c.pending[next]
		for h := range c.pending {
			if h < next {
				delete(c.pending, h)
			}
		}
		delete(c.pending, next)
		c.mu.Unlock()
		if !ok {
			return nil
		}
		if err := c.applySigned(b.SignedBlock, b.via); err != nil {
			return err
		}
		c.mu.Lock()
		c.received[b.via]++
		c.mu.Unlock()
	}
}

// applySigned verifies a sequencer block's items, applies them, and checks
// the result against the sequencer's state ID.
func (c *Chain) applySigned(b SignedBlock, via chain.Via) error {
	head, _ := c.opts.Store.Head()
	wire, err := activation.DecodeWireBlock(b.Block)
	if err != nil {
		return fmt.Errorf("devchain block %d: %w", b.Height, err)
	}
	if wire.Height != b.Height || wire.View != b.View {
		return fmt.Errorf("devchain block %d: header and body disagree on height or view", b.Height)
	}
	blockErr := func(err error) error { return fmt.Errorf("devchain block %d: %w", b.Height, err) }
	_, err = c.commitBlock(head, wire, blockErr, func(next *activation.State) ([]byte, error) {
		if id := next.ID(); id != b.StateID {
			return nil, fmt.Errorf("%w at height %d (view %d): this node computes %x…, the sequencer signed %x…; "+
				"the block carries items that do not verify here, or this node runs other rules: stop and investigate",
				ErrStateMismatch, b.Height, b.View, id[:6], b.StateID[:6])
		}
		return canon.MustEncode(b), nil
	}, via)
	return err
}
