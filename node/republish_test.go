package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

func TestToRepublish(t *testing.T) {
	table, err := quorum.NewTable([]quorum.Identity{{NodeID: "a", Role: "r", Stake: 1}, {NodeID: "b", Role: "r", Stake: 5},
		{NodeID: "x", Role: "other", Stake: 1}})
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	require.NoError(t, err)
	s, err := activation.Genesis(&activation.Params{ChainID: "n", EpochViews: 100, SafetyViews: 10, Identities: sched},
		map[string]string{"protocol": "1.0.0"})
	require.NoError(t, err)
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: []string{"r"}, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5}
	s, _, err = activation.Apply(s, activation.Block{Height: 0, View: 1, Proposals: []activation.Proposal{p}})
	require.NoError(t, err)
	// a's readiness for epoch 0 is finalized at view 20; b's is not.
	s, _, err = activation.Apply(s, activation.Block{Height: 1, View: 20,
		Readiness: []activation.Readiness{{Deployment: "p2", Epoch: 0, Node: "a"}}})
	require.NoError(t, err)
	k0, k1 := attestKey{p.ID(), 0}, attestKey{p.ID(), 1}

	for _, tc := range []struct {
		name      string
		node      string
		published map[attestKey]uint64
		view      uint64
		want      []attestKey
	}{
		{"not finalized, bound passed", "b", map[attestKey]uint64{k0: 5}, 20, []attestKey{k0}},
		{"not finalized, bound not yet passed", "b", map[attestKey]uint64{k0: 15}, 20, nil},
		{"finalized", "a", map[attestKey]uint64{k0: 5}, 20, nil},
		{"another epoch's readiness", "b", map[attestKey]uint64{k1: 5}, 20, nil},
		{"a role the deployment does not count", "x", map[attestKey]uint64{k0: 5}, 20, nil},
		{"not in the table", "stranger", map[attestKey]uint64{k0: 5}, 20, nil},
	} {
		assert.Equal(t, tc.want, ToRepublish(s, tc.node, tc.published, tc.view, 10), tc.name)
	}
}
