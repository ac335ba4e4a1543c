package devchain

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/p2p"
)

// catchUpEvery is how often, in views, the sequencer pulls its peers'
// attestation pools by the sync protocol. Gossip delivers readiness once
// and never again while peers remember it: an attestation published before
// its node had mesh peers, or lost while the sequencer restarted, would
// otherwise never be counted. Items already counted cost a duplicate check.
//
// Delivery path 4 of 4 (devchain only). Push and re-publication come from
// the signer itself, while it runs; catch-up pulls what peers hold, so it
// alone recovers readiness of a signer that is not connected to the
// sequencer, or that stopped after signing (its readiness lives on in its
// peers' pools), and refills a restarted sequencer within catchUpEvery
// views without waiting for every signer to re-publish. It costs one sync
// request per signaling deployment per connected peer every catchUpEvery
// views. CaughtUp counts what it found first; it is not exported as a
// metric, so how often it still matters beside push and re-publication is
// not measured yet.
const catchUpEvery = 10

// catchUp is the sequencer's second goroutine (owned by the chain, stopped
// by Close): every catchUpEvery views, for each signaling deployment, ask
// each connected peer for the attestations of the current epoch.
func (c *Chain) catchUp() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.Interval * catchUpEvery)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		head := c.Head()
		_, view, ok := head.Head()
		if !ok {
			continue
		}
		epoch := head.Params().Epoch(view)
		for _, d := range head.Deployments() {
			if d.Status != activation.Started {
				continue
			}
			for _, p := range c.net.ConnectedPeers() {
				ctx, cancel := context.WithTimeout(c.ctx, p2p.SyncTimeout)
				got, _ := c.net.CatchUp(ctx, p, d.ID, epoch) // a peer that fails is asked again next round
				cancel()
				c.caughtUp.Add(int64(got))
				if c.ctx.Err() != nil {
					return
				}
			}
		}
	}
}

// caughtUpCounter counts attestations the sequencer first learnt by catch-up.
type caughtUpCounter = atomic.Int64

// CaughtUp returns how many attestations the sequencer first learnt by
// catch-up rather than gossip.
func (c *Chain) CaughtUp() int64 { return c.caughtUp.Load() }
