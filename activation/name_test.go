package activation

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/quorumgate/quorumgate/quorum"
)

func TestValidName(t *testing.T) {
	for _, ok := range []string{"p2", "cadence-1.1", "protocol_2", "A", strings.Repeat("x", MaxNameLen)} {
		assert.True(t, ValidName(ok), "%q", ok)
	}
	for _, bad := range []string{"", "../x", ".hidden", "-flag", "a b", "a/b", "é", "x\n", strings.Repeat("x", MaxNameLen+1)} {
		assert.False(t, ValidName(bad), "%q", bad)
	}
}

// A proposal with an unsafe name is rejected by rule 2, first, as "bad name".
func TestProposalWithBadNameIsRejected(t *testing.T) {
	table, err := quorum.NewTable([]quorum.Identity{{NodeID: "a", Role: "r", Stake: 1}})
	assert.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	assert.NoError(t, err)
	s, err := Genesis(&Params{ChainID: "n", EpochViews: 100, SafetyViews: 10, Identities: sched}, map[string]string{"protocol": "1.0.0"})
	assert.NoError(t, err)
	_, events, err := Apply(s, Block{Height: 0, View: 1, Proposals: []Proposal{{Name: "../x", Component: "protocol",
		Version: "2.0.0", Mode: Governance, ActivationView: 900}}})
	assert.NoError(t, err)
	if assert.Len(t, events, 1) {
		r, ok := events[0].(Rejection)
		assert.True(t, ok)
		assert.Equal(t, BadName, r.Reason)
	}
}
