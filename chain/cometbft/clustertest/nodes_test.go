// Package clustertest holds the integration tests of quorumgate nodes on
// CometBFT: in-process clusters of node.Start on the cometbft engine, on
// 127.0.0.1 (cluster_test.go builds them). They live apart from the
// engine's unit tests, whose TestMain checks for leaks after the whole
// package: these check each test, allowing for what a halted CometBFT
// node leaves behind while it winds down.
package clustertest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// noLeaks checks that the test leaves no goroutine behind but those CometBFT
// v1.0 itself may leave after a node stopped: its WAL's file routines and
// the redials of persistent peers, which end on their own. Every goroutine
// of quorumgate's is checked.
func noLeaks(t *testing.T) {
	goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// CometBFT's pruner routines sleep between checks that the node runs,
		// and its rate meter's clock is process-wide.
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/state.(*Pruner).pruneBlocks"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/state.(*Pruner).pruneABCIResponses"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/state.(*Pruner).pruneIndexesRoutine"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/internal/flowrate.runClockUpdates"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/internal/autofile.(*AutoFile).closeFileRoutine"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/internal/autofile.OpenAutoFile.func1"),
		goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/p2p.(*Switch).reconnectToPeer"))
}

// waitHeights waits until every running node is past height h.
func (c *cluster) waitHeights(h uint64, d time.Duration) {
	c.t.Helper()
	testutil.Eventually(c.t, d, "every running node past the height", func() bool {
		for id := range c.nodes {
			if c.height(id) < h {
				return false
			}
		}
		return true
	})
}

func (c *cluster) maxHeight() uint64 {
	m := uint64(0)
	for id := range c.nodes {
		m = max(m, c.height(id))
	}
	return m
}

// A stake deployment on CometBFT: every node signals, one validator (a
// quarter of the voting power) is killed during signaling and the chain
// goes on; the deployment locks in and activates at the same height on
// every running node; the validator restarts, catches up, and agrees on
// the state ID, activation included.
func TestCometBFTStakeActivationWithAValidatorDown(t *testing.T) {
	defer noLeaks(t)
	c := newCluster(t, 40)
	defer c.closeAll()
	for _, id := range c.ids {
		c.start(id, "protocol=2.0.0")
	}
	c.waitHeights(3, 30*time.Second)
	_, view, _ := c.nodes["c1"].Head().Head()
	epoch := c.g.Params().Epoch(view)
	c.propose("c2", activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 50})
	testutil.Eventually(t, 30*time.Second, "p2 STARTED on c1", func() bool { return c.status("c1", "p2") == activation.Started })

	c.stop("c4")
	down := c.maxHeight()
	c.waitHeights(down+10, 30*time.Second) // the chain keeps finalizing without c4

	testutil.Eventually(t, 60*time.Second, "p2 ACTIVE on every running node", func() bool {
		for id := range c.nodes {
			if c.status(id, "p2") != activation.Active {
				return false
			}
		}
		return true
	})
	ref, _ := c.nodes["c1"].Head().Deployment("p2")
	refHeight, err := c.nodes["c1"].Store().HeightAtView(ref.Since)
	require.NoError(t, err)
	for id, n := range c.nodes {
		d, _ := n.Head().Deployment("p2")
		assert.Equal(t, ref.ActivatesAt, d.ActivatesAt, id)
		assert.Equal(t, ref.Since, d.Since, id)
		h, err := n.Store().HeightAtView(d.Since)
		require.NoError(t, err, id)
		assert.Equal(t, refHeight, h, "%s activates at another height", id)
		require.NoError(t, n.Err(), id)
	}
	assert.Equal(t, ref.ActivatesAt, ref.Since, "heights are views: the activation block is the activation view's")
	c.agree()

	c.start("c4", "protocol=2.0.0")
	testutil.Eventually(t, 60*time.Second, "c4 catches up past the activation", func() bool {
		return c.height("c4") > refHeight && c.status("c4", "p2") == activation.Active
	})
	c.waitHeights(c.maxHeight()+2, 30*time.Second)
	c.agree()
	testutil.Eventually(t, 10*time.Second, "c4 ran its hook", func() bool {
		_, err := os.Stat(filepath.Join(c.homes["c4"], "upgrades", "p2.done"))
		return err == nil
	})
}

// A governance upgrade on CometBFT: a validator (a quarter of the power)
// and a full node that do not support the version halt before finalizing
// the activation height, with the store consistent; the others go on.
// Restarted with a binary that supports it, both resume and agree.
func TestCometBFTGovernanceHaltAndResume(t *testing.T) {
	defer noLeaks(t)
	c := newCluster(t, 40)
	defer c.closeAll()
	late := []string{"c4", "e1"}
	for _, id := range c.ids {
		if id == "c4" || id == "e1" {
			c.start(id)
		} else {
			c.start(id, "protocol=2.0.0")
		}
	}
	c.waitHeights(3, 30*time.Second)
	at := c.maxHeight() + 40
	c.propose("c1", activation.Proposal{Name: "g2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: at})
	for _, id := range late {
		n := c.nodes[id]
		select {
		case <-n.Done():
		case <-time.After(60 * time.Second):
			t.Fatalf("%s did not halt", id)
		}
		var he *node.HaltError
		require.True(t, errors.As(n.Err(), &he), "%s stopped with %v", id, n.Err())
		assert.Equal(t, "2.0.0", he.Version)
		assert.Equal(t, at, he.ActivationView)
		_, v, _ := n.Head().Head()
		assert.Less(t, v, at, "%s finalized the activation view", id)
		c.stop(id)
	}
	c.waitHeights(at+3, 60*time.Second) // three validators of four go on
	for id := range c.nodes {
		assert.Equal(t, activation.Active, c.status(id, "g2"), id)
	}
	// Restarted with the same binary, they halt again: CometBFT's handshake
	// replays the block they must not finalize.
	for _, id := range late {
		var he *node.HaltError
		err := c.tryStart(id)
		require.True(t, errors.As(err, &he), "%s restarted without 2.0.0: %v", id, err)
		_, v, _ := c.storeHead(id).Head()
		assert.Less(t, v, at, "%s finalized the activation view", id)
	}
	for _, id := range late {
		c.start(id, "protocol=2.0.0")
	}
	testutil.Eventually(t, 60*time.Second, "the late nodes resume past the activation", func() bool {
		return c.height("c4") >= at && c.height("e1") >= at
	})
	c.waitHeights(c.maxHeight()+2, 30*time.Second)
	c.agree()
	for _, id := range late {
		require.NoError(t, c.nodes[id].Err(), id)
		assert.Equal(t, activation.Active, c.status(id, "g2"), id)
	}
}

// A proposer that puts a forged certificate into each of its proposals
// costs a round each time, never a fork: the others' ProcessProposal
// rejects it, the chain goes on under other proposers, and no block holds
// the forgery.
func TestCometBFTForgedCertificateIsRejected(t *testing.T) {
	defer noLeaks(t)
	c := newCluster(t, 40)
	defer c.closeAll()
	var forged atomic.Int64
	c.byzantine["c1"] = func(w *activation.WireBlock) {
		forged.Add(1)
		w.Certificates = append(w.Certificates, quorum.Certificate{ChainID: w.ChainID, Deployment: signal.DeploymentID{1, 2, 3},
			Epoch: c.g.Params().Epoch(w.View), Signers: quorum.NewBitmap(5), Signature: []byte("not a signature")})
	}
	for _, id := range c.ids {
		c.start(id)
	}
	c.waitHeights(30, 90*time.Second)
	require.NotZero(t, forged.Load(), "c1 proposed")
	assert.Contains(t, c.logs["c2"].String()+c.logs["c3"].String()+c.logs["c4"].String(), "rejected a proposal")
	top := c.agree()
	for h := uint64(0); h <= top; h++ {
		b, err := c.nodes["c2"].Store().Block(h)
		require.NoError(t, err)
		w, err := activation.DecodeWireBlock(b.Wire)
		require.NoError(t, err)
		assert.Empty(t, w.Certificates, "block %d holds a certificate", h)
	}
	for id, n := range c.nodes {
		require.NoError(t, n.Err(), id)
	}
	assert.False(t, strings.Contains(c.logs["c1"].String(), "CONSENSUS FAILURE"))
}

// The identity tables change at epoch 1: e1 becomes a consensus node and
// c4 an execution node. CometBFT's validator set follows at epoch 1's first
// height: with c3 and c4 stopped there, the chain goes on only because e1
// now votes (c1, c2 and e1 hold three quarters of the new power; without
// e1, c1 and c2 would hold half of the old).
func TestCometBFTValidatorsFollowTheIdentityTables(t *testing.T) {
	defer noLeaks(t)
	const epochViews = 20
	c := newClusterWith(t, epochViews, func(g *chain.Genesis) {
		next := chain.IdentityStep{FromEpoch: 1}
		for _, n := range g.Identities[0].Nodes {
			switch n.ID {
			case "e1":
				n.Role = "consensus"
			case "c4":
				n.Role = "execution"
			}
			next.Nodes = append(next.Nodes, n)
		}
		g.Identities = append(g.Identities, next)
	})
	defer c.closeAll()
	for _, id := range c.ids {
		c.start(id)
	}
	c.waitHeights(epochViews+2, 60*time.Second)
	c.stop("c3")
	c.stop("c4")
	at := c.maxHeight()
	c.waitHeights(at+10, 30*time.Second)
	c.agree()
	// Finality evidence verifies with the set of each height's table, on
	// both sides of the change, and with c3's votes absent.
	c.closeAll()
	_, proved := c.proveAll("c1")
	require.Greater(t, proved, uint64(epochViews+5))
}
