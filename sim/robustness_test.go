package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// On the Flow-like example the safety ranking rests on hurry_on_lock_in:
// the robustness check names it, marks it unsourced, and says the ranking
// changes when it is flipped (stake-5/6 leaves less stake unready than
// governance-7d with it, more without it).
func TestRobustnessNamesHurryOnLockIn(t *testing.T) {
	c, err := LoadConfig("../examples/sim/flow-like.toml")
	require.NoError(t, err)
	c.Runs = 120
	s := runStudy(t, c, 0)
	require.NoError(t, RunRobustness(context.Background(), s, Options{}))
	r := s.Robustness
	require.NotNil(t, r)
	require.Equal(t, 120, r.Baseline.Runs, "runs fewer than the cap: every run")
	keys := make([]string, len(r.Assumptions))
	for i, a := range r.Assumptions {
		keys[i] = a.Key
	}
	assert.Equal(t, []string{"behaviour.deadline.hurry_on_lock_in", "behaviour.deadline.hurry_share", "behaviour.delay.sigma"}, keys)
	v := r.Verdicts()
	assert.Contains(t, v[0], "behaviour.deadline.hurry_on_lock_in (unsourced; true, tried false): the ranking CHANGES")
	assert.Contains(t, v[0], "governance-7d now leaves less stake unready than stake-5/6")
	report := s.Report(Provenance{}, nil)
	for _, want := range []string{"## Robustness\n", "- behaviour.deadline.hurry_on_lock_in (unsourced;", "hurry_on_lock_in, *unsourced*",
		"hybrid-3d-2/3: the BFT halting model"} {
		assert.True(t, strings.Contains(report, want), "report.md lacks %q", want)
	}
}

// A variant reruns the study's first runs draw for draw: with nothing
// changed it gives the baseline's ranking exactly, and the cap on runs
// holds.
func TestRobustnessVariantsRepeatTheBaselineDraws(t *testing.T) {
	c := mustConfig(t, "robustness_runs = 25\n"+baseConfig)
	s := runStudy(t, c, 0)
	require.NoError(t, RunRobustness(context.Background(), s, Options{}))
	require.Equal(t, 25, s.Robustness.Baseline.Runs)
	x := *c
	x.Runs = 25
	same := rank(c, runStudy(t, &x, 3).Outcomes, 25)
	assert.Equal(t, s.Robustness.Baseline, same)
	// A study with one mechanism has no ranking to check.
	one := mustConfig(t, baseConfig)
	one.Mechanisms = one.Mechanisms[:1]
	s1 := runStudy(t, one, 0)
	require.NoError(t, RunRobustness(context.Background(), s1, Options{}))
	assert.Nil(t, s1.Robustness)
	assert.NotContains(t, s1.Report(Provenance{}, nil), "## Robustness")
}

// reversals reports a pair ordered one way at the baseline and the other
// way in a variant, and nothing for a pair that only becomes unresolved.
func TestRobustnessReversals(t *testing.T) {
	base := Ranking{Mechanisms: []string{"a", "b", "c"}, Order: [][]int{{0, -1, -1}, {1, 0, 0}, {1, 0, 0}}}
	v := Ranking{Mechanisms: base.Mechanisms, Order: [][]int{{0, 1, 0}, {-1, 0, 0}, {0, 0, 0}}}
	assert.Equal(t, []string{"b now leaves less stake unready than a"}, reversals(base, v))
	assert.Empty(t, reversals(base, base))
	a := Assumption{Key: "k", Baseline: "1", Variants: []Variant{{Value: "2", Reversed: reversals(base, v)}, {Value: "3", Unresolved: 2}}}
	assert.Equal(t, "k (unsourced; 1, tried 2, 3): the ranking CHANGES at 2: b now leaves less stake unready than a.", a.Verdict())
	a.Variants[0].Reversed = nil
	assert.Equal(t, "k (unsourced; 1, tried 2, 3): the ranking does not change (no pair reverses; pairs no longer told apart: 2 at 3).", a.Verdict())
}
