package testutil

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// BenchChain is the chain behind activation's Apply benchmarks and their
// naive baselines in replay/, so that both measure the same
// state: 10,000 nodes in five roles, then a block proposing a stake-mode
// deployment (all five roles, 2/3, epochs 0 to 10) and a governance one
// (activation view 5000), then a block with a third of the nodes ready.
type BenchChain struct {
	Params   *activation.Params
	Versions map[string]string
	// Nodes are the identity table's entries, node-00000 to node-09999.
	Nodes []quorum.Identity
	// Proposals go in the first block (view 1), Ready in the second (view 2).
	Proposals []activation.Proposal
	Ready     []activation.Readiness
}

// NewBenchChain builds the BenchChain.
func NewBenchChain(tb testing.TB) BenchChain {
	tb.Helper()
	roles := []string{"consensus", "collection", "execution", "verification", "access"}
	c := BenchChain{
		Versions: map[string]string{"protocol": "1.0.0", "cadence": "1.0.0", "execution": "3.2.0"},
		Nodes:    make([]quorum.Identity, 10000),
	}
	for i := range c.Nodes {
		c.Nodes[i] = quorum.Identity{NodeID: fmt.Sprintf("node-%05d", i), Role: roles[i%5], Stake: 1000 + uint64(i)}
	}
	table, err := quorum.NewTable(c.Nodes)
	require.NoError(tb, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	require.NoError(tb, err)
	c.Params = &activation.Params{ChainID: "bench", EpochViews: 1000, SafetyViews: 100, Identities: sched}
	c.Proposals = []activation.Proposal{
		{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
			Roles: roles, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 10},
		{Name: "cadence-1.1", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 5000},
	}
	for i := range 3333 {
		c.Ready = append(c.Ready, activation.Readiness{Deployment: "protocol-2", Epoch: 0, Node: c.Nodes[i].NodeID})
	}
	return c
}
