package node

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/p2p"
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

// A parameter change is no fork: it is not announced as the next
// activation, and a peer still before it keeps its place.
func TestForkIDIgnoresParameterChanges(t *testing.T) {
	genesis := [32]byte{1}
	_, apply := testState(t)
	before := apply(1, activation.Proposal{Name: "t2", Param: "timeout", Value: "2000", Mode: activation.Governance, ActivationView: 200})
	require.Equal(t, activation.LockedIn, status(t, before, "t2"))
	after := apply(210)
	require.Equal(t, activation.Active, status(t, after, "t2"))
	idBefore, idAfter := ForkIDOf(before, genesis), ForkIDOf(after, genesis)
	assert.Zero(t, idBefore.Next, "a parameter change announced as an activation")
	assert.Equal(t, idBefore.Hash, idAfter.Hash, "a parameter change changed the fork hash")
	assert.NoError(t, CheckFork(after, genesis, true, idBefore), "a peer not yet at the parameter change")
	assert.NoError(t, CheckFork(before, genesis, true, idAfter), "a peer past the parameter change")
}
