package devchain

// The sequencer: what it pools for its blocks, and its loop that builds,
// signs, stores and publishes one block each view.

import (
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/internal/pool"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/signal"
)

// blockLimits bound what the sequencer puts in one block (the pool has its
// own bounds, pool.DefaultBounds): the byte bound leaves room, under gossip's
// message limit, for the signed block around the WireBlock.
var blockLimits = pool.Limits{Proposals: 16, Cancels: 16, Certificates: 64, Bytes: p2p.MaxMessageSize - 4<<10}

// HandleAttestation pools a validated attestation (p2p's OnAttestation).
// Only the sequencer pools; one the full pool drops is counted there.
//
// Delivery path 1 of 4, gossip: the main one, and the only one on every
// engine. It delivers a given set of bytes once per peer per seen-cache
// lifetime (content-addressed message IDs, 2 minutes), and a peer whose
// ingest holds the signer ignores a repeat and does not forward it. The
// others (push.go, node/republish.go, catchup.go) cover what that misses;
// see each for whether it still earns its place.
func (c *Chain) HandleAttestation(a signal.Attestation) {
	if c.IsSequencer() {
		c.pool.AddAttestation(a)
	}
}

// HandleGovernance pools a governance message (p2p's OnGovernance, and
// this node's own), once its committee approval verified.
func (c *Chain) HandleGovernance(raw []byte) {
	if !c.IsSequencer() {
		return
	}
	if _, err := chain.VerifyGovernance(c.opts.Genesis, raw); err != nil {
		return
	}
	if r := c.pool.AddGovernance(raw); r == pool.Full {
		c.opts.Logger.Warn("governance message dropped: the pool is full", "bytes", len(raw))
	}
}

// produce is the sequencer's loop: one block per interval.
func (c *Chain) produce() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if err := c.produceOne(); err != nil {
			c.fail(err)
			return
		}
	}
}

// takeBlock starts the block at height, in the next view this sequencer
// does not skip, on the stored head (produceOne's: only it commits on the
// sequencer), from the pool within blockLimits. Nothing leaves the pool
// here: commitBlock's Included takes out what the committed block carried.
func (c *Chain) takeBlock(height uint64) activation.WireBlock {
	c.mu.Lock()
	c.view++
	for c.opts.SkipView != nil && c.opts.SkipView(c.view) {
		c.view++
	}
	view := c.view
	c.mu.Unlock()
	head, _ := c.opts.Store.Head()
	return c.pool.Build(head, height, view, blockLimits)
}

// produceOne makes, signs, stores and publishes the sequencer's next block.
func (c *Chain) produceOne() error {
	head, applied := c.opts.Store.Head()
	height := uint64(0)
	if applied {
		h, _, _ := head.Head()
		height = h + 1
	}
	wire := c.takeBlock(height)
	sealed, err := c.commitBlock(head, wire, nil, func(next *activation.State) ([]byte, error) {
		sb := SignedBlock{Height: height, View: wire.View, StateID: next.ID(), Block: wire.Encode()}
		var err error
		if sb.Signature, err = signal.Sign(c.opts.StakingKey, sb.signingBytes()); err != nil {
			return nil, err
		}
		return canon.MustEncode(sb), nil
	}, "")
	if err != nil {
		return err
	}
	if c.net != nil {
		// Its own validator accepts it (p2p's own-publication rule);
		// followers that miss it catch up by sync.
		if err := c.net.PublishBlock(c.ctx, sealed); err != nil && c.ctx.Err() == nil {
			c.opts.Logger.Warn("block not published on gossip; followers fetch it by sync", "height", height, "err", err)
		}
	}
	return nil
}
