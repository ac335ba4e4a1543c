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

// sweepWithRobustness runs baseConfig swept as the [sweep] table's body
// says, runs times per point, and its robustness check.
func sweepWithRobustness(t *testing.T, runs int, sweep string) *Sweep {
	t.Helper()
	c := sweepConfig(t, "[sweep]"+sweep)
	c.Runs = runs
	sw, err := RunSweep(context.Background(), c, Options{})
	require.NoError(t, err)
	require.NoError(t, RunSweepRobustness(context.Background(), sw, Options{}))
	return sw
}

// A grid sweep's robustness check runs at the config as written (hurry
// share 0.7, which no grid point has), is the single-study check of that
// config, and marks the assumption the sweep varies itself.
func TestSimSweepRobustnessAtTheBasePoint(t *testing.T) {
	sw := sweepWithRobustness(t, 25, `
method = "grid"
[[sweep.key]]
key = "behaviour.deadline.hurry_share"
values = [0.0, 1.0]
[[sweep.key]]
key = "mechanism[*].threshold"
values = ["3/5", "9/10"]
`)
	r := sw.Robustness
	require.NotNil(t, r)

	plain := mustConfig(t, baseConfig)
	plain.Runs = 25
	s := runStudy(t, plain, 0)
	require.NoError(t, RunRobustness(context.Background(), s, Options{}))
	assert.Equal(t, s.Robustness.Baseline, r.Baseline, "the base point is the config as written, draw for draw")
	require.Len(t, r.Assumptions, len(s.Robustness.Assumptions))
	for i, a := range r.Assumptions {
		swept := a.Key == "behaviour.deadline.hurry_share"
		assert.Equal(t, swept, a.Swept, a.Key)
		want := s.Robustness.Assumptions[i].Verdict()
		if swept {
			assert.Equal(t, "0.7", a.Baseline)
			want = strings.Replace(want, "):", "; a swept key too: the sweep already varies it, see Sensitivity):", 1)
		}
		assert.Equal(t, want, a.Verdict(), a.Key)
	}

	report := sw.Report(Provenance{ConfigPath: "s.toml"}, nil)
	for _, want := range []string{"## Robustness\n", "At the sweep's base point,", "the config as written, before the swept keys are varied: `behaviour.deadline.hurry_share` = 0.7, `mechanism[*].threshold` = 2/3",
		"- behaviour.deadline.hurry_on_lock_in (unsourced;", "- behaviour.deadline.hurry_share (unsourced; 0.7, tried 0, 0.5, 1; a swept key too"} {
		assert.Contains(t, report, want)
	}
	assert.Less(t, strings.Index(report, "## Sensitivity"), strings.Index(report, "## Robustness"))
	assert.Less(t, strings.Index(report, "## Robustness"), strings.Index(report, "## Plots"))
}

// One at a time, the base point is the sweep's baseline point, a given
// base included, and the check reuses that point's runs.
func TestSimOneAtATimeSweepRobustnessUsesTheBaseline(t *testing.T) {
	sw := sweepWithRobustness(t, 20, `
method = "one_at_a_time"
[[sweep.key]]
key = "behaviour.deadline.hurry_share"
values = [0.0, 1.0]
base = 0.35
`)
	r := sw.Robustness
	require.NotNil(t, r)
	assert.Same(t, r, sw.Studies[0].Robustness, "the baseline point's study is the one checked")
	assert.Equal(t, rank(sw.Studies[0].Config, sw.Studies[0].Outcomes, 20), r.Baseline)
	assert.Equal(t, "0.35", r.Assumptions[1].Baseline)
	assert.True(t, r.Assumptions[1].Swept)
	assert.Contains(t, sw.Report(Provenance{}, nil), "every swept key at its one-at-a-time baseline: `behaviour.deadline.hurry_share` = 0.35")
}
