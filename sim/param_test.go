package sim

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
)

// paramTiny is tinyConfig changing a parameter instead of upgrading: epochs
// of 100 views, Δ = 10, governance at view 300, and the parameter's
// min_lead_views.
func paramTiny(t *testing.T, minLead uint64) *Config {
	t.Helper()
	return mustConfig(t, tinyConfig+fmt.Sprintf(`
[param_change]
key = "max_txs"
type = "uint"
old = "10"
new = "20"
min_lead_views = %d
`, minLead))
}

func TestParamChangeGovernanceNeedsMinLeadViews(t *testing.T) {
	pop := func(c *Config) *Population { return handPopulation(t, c, 0, 0, 0) }
	// The proposal is at view 0 and activates at view 300: the engine needs
	// 300 > max(Δ, min_lead_views).
	c := paramTiny(t, 300)
	o := simOne(t, c, pop(c), "gov")
	assert.False(t, o.Activated)
	assert.Equal(t, string(activation.ActivationTooSoon), o.Rejected)
	assert.Zero(t, o.EndHours, "decided at the release")
	c = paramTiny(t, 299)
	o = simOne(t, c, pop(c), "gov")
	require.True(t, o.Activated, "299 views of lead are enough for a view-300 activation")
	assert.Empty(t, o.Rejected)
	assert.Equal(t, uint64(300), o.ActivationView)
	assert.Equal(t, uint64(300), o.LeadViews, "lead from the release, where governance accepted it")
	assert.InDelta(t, 3.0, o.LeadHours, 1e-9)
	assert.False(t, o.DeferredByMinLead, "governance has no lock-in to defer")
}

func TestParamChangeStakeLockInWaitsForMinLeadViews(t *testing.T) {
	// Everyone ready at once: "strict" locks in at view 1 (epoch 0), and its
	// rules give epoch 1's boundary, view 100: 99 views of lead.
	for _, tc := range []struct {
		minLead, activation uint64
		deferred            bool
	}{
		{50, 100, false},   // 99 >= max(50, Δ+1): the rules' boundary
		{99, 100, false},   // exactly enough
		{100, 200, true},   // the first boundary at least 100 views after view 1
		{250, 300, true},   // 1 + 250 = 251: view 300
		{5, 100, false},    // never less than Δ + 1 = 11, which 99 is not
		{199, 200, true},   // 1 + 199 = 200, a boundary itself
		{200, 300, true},   // 1 + 200 = 201: the next one
		{1000, 1100, true}, // many epochs on
	} {
		c := paramTiny(t, tc.minLead)
		o := simOne(t, c, handPopulation(t, c, 0, 0, 0), "strict")
		require.True(t, o.Activated, "min_lead_views %d", tc.minLead)
		assert.Equal(t, uint64(1), o.LockInView)
		assert.Equal(t, tc.activation, o.ActivationView, "min_lead_views %d", tc.minLead)
		assert.Equal(t, tc.activation-1, o.LeadViews)
		assert.Equal(t, tc.deferred, o.DeferredByMinLead, "min_lead_views %d", tc.minLead)
	}
	// NEAR-style delay_epochs already gives 199 views of lead: a
	// min_lead_views of 150 moves nothing.
	c := paramTiny(t, 150)
	o := simOne(t, c, handPopulation(t, c, 0, 0, 0), "near")
	assert.Equal(t, uint64(200), o.ActivationView)
	assert.False(t, o.DeferredByMinLead)
	// Speedy Trial's minimum activation epoch (7) likewise.
	o = simOne(t, c, handPopulation(t, c, 0, 0, 0), "speedy")
	assert.Equal(t, uint64(700), o.ActivationView)
	assert.False(t, o.DeferredByMinLead)
}

func TestParamChangeReadinessIsTheUpgradeModel(t *testing.T) {
	// Operators pick up a parameter change as they install a release: the
	// same population gives the same unready stake, upgraded or changed, for
	// an activation at the same view.
	c := paramTiny(t, 50)
	upgrade := mustConfig(t, tinyConfig)
	pop := handPopulation(t, c, 0, 0, 0, 50)
	changed, upgraded := simOne(t, c, pop, "gov"), simOne(t, upgrade, pop, "gov")
	require.True(t, changed.Activated)
	assert.Equal(t, upgraded.ActivationView, changed.ActivationView)
	assert.Equal(t, 0.25, changed.UnreadyShare, "the operator 50 hours late had not picked up the change")
	assert.Equal(t, upgraded.UnreadyShare, changed.UnreadyShare)
	assert.Equal(t, upgraded.MissedBlockRate, changed.MissedBlockRate)
}

func TestParamChangeOutputs(t *testing.T) {
	c := paramTiny(t, 300)
	c.Mechanisms = c.Mechanisms[:2] // gov, rejected; strict, deferred to view 400
	s := runStudy(t, c, 0)
	runs := string(s.RunsCSV())
	assert.Contains(t, runs, ",rejected,lead_views,deferred_by_min_lead\n")
	assert.Contains(t, runs, "\n0,gov,false,false,0,,,,,,,,,false,,activation too soon,,\n")
	md := s.SummaryMarkdown()
	assert.Contains(t, md, "### Parameter change: max_txs from 10 to 20, min_lead_views 300 (3.00 h)")
	assert.Contains(t, md, "| gov | governance | 1/1 (activation too soon) | 0/1 | – | – | – |")
	assert.Contains(t, md, "### deferred_by_min_lead (share of lock-ins that activated)")
	report := s.Report(Provenance{}, nil)
	assert.Contains(t, report, "max(Δ, min_lead_views) = 300 views (3.00 h)")
	assert.Contains(t, report, "max(min_lead_views, Δ+1) = 300 views (3.00 h)")
	// A rejected run never activates: the Kaplan–Meier curve keeps it at
	// risk to the horizon, as a timeout, and never steps.
	km := activationKM(s.ByMechanism("gov"), 20)
	require.Len(t, km, 1)
	assert.Equal(t, 20.0, km[0].Time)
	assert.Equal(t, 1.0, km[0].Survival)
}

func TestVersionUpgradeOutputsHaveNoParameterColumns(t *testing.T) {
	s := runStudy(t, mustConfig(t, tinyConfig), 0)
	assert.NotContains(t, string(s.RunsCSV()), "rejected")
	assert.NotContains(t, string(s.SummaryCSV()), "lead_hours")
	assert.NotContains(t, s.Report(Provenance{}, nil), "Parameter change")
}
