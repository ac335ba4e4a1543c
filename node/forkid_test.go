package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/quorum"
)

func TestCheckFork(t *testing.T) {
	genesis := [32]byte{1}
	_, apply := testState(t)
	s0 := apply(1, activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: 200})
	s1 := apply(250)
	_, applyOther := testState(t)
	other0 := applyOther(1, activation.Proposal{Name: "p3", Component: "protocol", Version: "3.0.0", Mode: activation.Governance, ActivationView: 200})
	other1 := applyOther(250)
	_, applyFresh := testState(t)
	fresh := applyFresh(0)

	id0, id1, idOther := ForkIDOf(s0, genesis), ForkIDOf(s1, genesis), ForkIDOf(other1, genesis)
	require.Equal(t, uint64(200), id0.Next, "LOCKED_IN announces its activation")
	require.Zero(t, id1.Next)
	require.NotEqual(t, id0.Hash, id1.Hash)
	require.Equal(t, id0.Hash, ForkIDOf(other0, genesis).Hash, "before activation both forks run the same versions")

	for _, tc := range []struct {
		name   string
		local  *activation.State
		synced bool
		remote p2p.ForkID
		ok     bool
	}{
		{"same state", s1, true, id1, true},
		{"peer on the old versions until the activation view", s1, true, id0, true},
		{"peer syncing from genesis, unaware of the activation", s1, true, ForkIDOf(fresh, genesis), true},
		{"peer behind expecting another activation", s1, true, p2p.ForkID{Hash: id0.Hash, Next: 300}, false},
		{"peer ahead: activated what this node will", s0, true, id1, true},
		{"peer on another fork", s1, true, idOther, false},
		{"peer on another fork, this node not synced: cannot tell", s1, false, idOther, true},
		{"peer expecting an activation this node passed without", s1, true, p2p.ForkID{Hash: id1.Hash, Next: 220}, false},
		{"another genesis", s1, true, ForkIDOf(s1, [32]byte{2}), false},
	} {
		err := CheckFork(tc.local, genesis, tc.synced, tc.remote)
		assert.Equal(t, tc.ok, err == nil, "%s: %v", tc.name, err)
	}
}

// A parameter change is no fork point: its activation leaves the fork hash
// as it was, so it is not announced, and a node past it keeps a peer that
// is merely behind it.
func TestParamChangesAreNoForkPoints(t *testing.T) {
	genesis := [32]byte{1}
	table, err := quorum.NewTable([]quorum.Identity{{NodeID: "a", Role: "r", Stake: 1}})
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	require.NoError(t, err)
	s, err := activation.Genesis(&activation.Params{ChainID: "n", EpochViews: 100, SafetyViews: 10, Identities: sched,
		Declared: []activation.ParamDecl{{Name: "k", Type: activation.ParamUint, Value: "1", MinLeadViews: 1}}},
		map[string]string{"protocol": "1.0.0"})
	require.NoError(t, err)
	before, _, err := activation.Apply(s, activation.Block{Height: 0, View: 1, Proposals: []activation.Proposal{
		{Name: "k2", Param: "k", Value: "2", Mode: activation.Governance, ActivationView: 50}}})
	require.NoError(t, err)
	require.Equal(t, activation.LockedIn, before.Deployments()[0].Status)
	after, _, err := activation.Apply(before, activation.Block{Height: 1, View: 60})
	require.NoError(t, err)
	v, _ := after.ParamValue("k")
	require.Equal(t, "2", v)

	idBefore, idAfter := ForkIDOf(before, genesis), ForkIDOf(after, genesis)
	assert.Zero(t, idBefore.Next, "a parameter change is not announced as a fork point")
	assert.Equal(t, idBefore.Hash, idAfter.Hash)
	assert.NoError(t, CheckFork(after, genesis, true, idBefore), "a peer behind the parameter change")
	assert.NoError(t, CheckFork(before, genesis, true, idAfter), "a peer past it")
}
