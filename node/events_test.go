package node

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/signal"
)

// The node learns what a block did from its events: a governance proposal
// locks in (logged when it happens, with its height), and another proposal
// of the same name is a rejection counted by kind and reason, on the sequencer and on
// a follower alike.
func TestNodeCountsEventsOfFinalizedBlocks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	defer c.closeAll()
	c.start("seq")
	c.start("c2")
	c.waitReady("c2")
	_, view, _ := c.nodes["seq"].Head().Head()
	p := activation.Proposal{Name: "g2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: view + 1000}
	a, err := c.g.Committee().Approve(activation.ProposalMessage(c.g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{c.keys.Governance[0], c.keys.Governance[1]})
	require.NoError(t, err)
	signed := canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a})
	_, err = c.nodes["seq"].SubmitGovernance(chain.ItemProposal, signed)
	require.NoError(t, err)
	testutil.Eventually(t, 10*time.Second, "g2 LOCKED_IN", func() bool { return c.status("c2", "g2") == activation.LockedIn })
	// The node answers a repeat of an included item from its record of
	// submissions; another proposal of the same name reaches a block.
	again := p
	again.ActivationView++
	a, err = c.g.Committee().Approve(activation.ProposalMessage(c.g.ChainID, again), []int{0, 1},
		[]signal.PrivateKey{c.keys.Governance[0], c.keys.Governance[1]})
	require.NoError(t, err)
	_, err = c.nodes["seq"].SubmitGovernance(chain.ItemProposal, canon.MustEncode(activation.SignedProposal{Proposal: again, Approval: a}))
	require.NoError(t, err)
	for _, id := range []string{"seq", "c2"} {
		n := c.nodes[id]
		testutil.Eventually(t, 10*time.Second, id+" counts the duplicate", func() bool {
			return value(n.events.rejections.WithLabelValues("proposal", string(activation.DuplicateName))) == 1
		})
		assert.Equal(t, 1.0, value(n.events.transitions.WithLabelValues("LOCKED_IN")), id)
		assert.True(t, strings.Contains(c.logs[id].String(), `msg="locked in" node=`+id+` deployment=g2`), "%s: %s", id, c.logs[id].String())
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
