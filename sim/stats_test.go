package sim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWilsonInterval(t *testing.T) {
	// Reference values from the closed form (as statsmodels' proportion_confint(method="wilson")).
	lo, hi := wilson(5, 10)
	assert.InDelta(t, 0.2366, lo, 1e-4)
	assert.InDelta(t, 0.7634, hi, 1e-4)
	lo, hi = wilson(0, 10)
	assert.Equal(t, 0.0, lo)
	assert.InDelta(t, 0.2775, hi, 1e-4)
	// All yes: the Wald interval would be [1, 1] (or past 1); Wilson stays inside and is not degenerate.
	lo, hi = wilson(300, 300)
	assert.InDelta(t, 0.9874, lo, 1e-4)
	assert.InDelta(t, 1.0, hi, 1e-12)
	lo, _ = wilson(0, 0)
	assert.True(t, math.IsNaN(lo))
}

func TestProportionHasNoQuantiles(t *testing.T) {
	s := summarizeProportion("m", "activated", []float64{1, 1, 0, 1})
	assert.Equal(t, 0.75, s.Estimate)
	assert.True(t, math.IsNaN(s.Median) && math.IsNaN(s.P90), "a median of a yes/no is meaningless")
	assert.True(t, s.CILow > 0.2 && s.CIHigh < 1)
}

func TestKaplanMeier(t *testing.T) {
	// Times 1, 2, 2+, 3, 4+ (+: censored). S(1) = 4/5, S(2) = 4/5·3/4 = 0.6,
	// S(3) = 0.6·1/2 = 0.3; the censoring at 4 leaves S at 0.3.
	steps := KaplanMeier([]float64{3, 2, 1, 4, 2}, []bool{true, false, true, false, true})
	require.Len(t, steps, 4)
	want := []struct {
		t, s   float64
		atRisk int
	}{{1, 0.8, 5}, {2, 0.6, 4}, {3, 0.3, 2}, {4, 0.3, 1}}
	for i, w := range want {
		assert.Equal(t, w.t, steps[i].Time)
		assert.InDelta(t, w.s, steps[i].Survival, 1e-12, "step %d", i)
		assert.Equal(t, w.atRisk, steps[i].AtRisk, "step %d", i)
		assert.True(t, steps[i].Low <= steps[i].Survival && steps[i].Survival <= steps[i].High, "step %d band", i)
	}
	// Greenwood at t=1: var = S² · 1/(5·4); log(-log) band around 0.8.
	assert.InDelta(t, 0.2038, steps[0].Low, 1e-3)
	assert.InDelta(t, 0.9695, steps[0].High, 1e-3)
	// Everything censored: nothing happens, S stays 1.
	for _, st := range KaplanMeier([]float64{5, 5}, []bool{false, false}) {
		assert.Equal(t, 1.0, st.Survival)
	}
}

func TestPairedDiffs(t *testing.T) {
	c := mustConfig(t, baseConfig)
	s := &Study{Config: c}
	for run := range 4 {
		for i, m := range c.Mechanisms {
			// Mechanism i is i hours slower than the reference in every run,
			// on top of noise they share.
			s.Outcomes = append(s.Outcomes, Outcome{Run: run, Mechanism: m.Name, Activated: true, HoursToActivation: float64(10*run + i)})
		}
	}
	for _, d := range s.PairedDiffs() {
		if d.Metric != "hours_to_activation" {
			continue
		}
		i := mechIndex(c, d.Mechanism)
		assert.Equal(t, 4, d.N)
		assert.InDelta(t, float64(i), d.Mean, 1e-12)
		// The shared noise cancels: the interval has no width at all.
		assert.InDelta(t, d.Mean, d.CILow, 1e-12)
		assert.InDelta(t, d.Mean, d.CIHigh, 1e-12)
	}
}

func TestFlatPlotsAreLeftOutAndSaid(t *testing.T) {
	c := mustConfig(t, baseConfig)
	s := &Study{Config: c}
	for run := range 5 {
		for _, m := range c.Mechanisms {
			// Hours vary, nothing is ever left unready and no block is missed.
			s.Outcomes = append(s.Outcomes, Outcome{Run: run, Mechanism: m.Name, Activated: true, HoursToActivation: float64(run + 1),
				EndHours: float64(run + 1), MissedProfile: make([]float64, profileBins)})
		}
	}
	plots, err := s.Plots(t.TempDir())
	require.NoError(t, err)
	assert.Contains(t, plots, "time_to_activation_km")
	assert.NotContains(t, plots, "unready_stake_at_activation")
	report := s.Report(Provenance{}, plots)
	assert.Contains(t, report, "Left out, because every value they would show is the same")
	assert.Contains(t, report, "unready_stake_at_activation, missed_block_rate, missed_blocks_after_activation")
}

func TestActivationKMCountsTimeoutsAsNeverActivating(t *testing.T) {
	// Half the runs time out at 100 h, the others activate at 200 h, horizon
	// 300 h. Censoring the timeouts at 100 h would let Kaplan–Meier reach 1;
	// they can never activate, so the estimate must end at one half.
	var runs []Outcome
	for i := range 10 {
		if i%2 == 0 {
			runs = append(runs, Outcome{Failed: true, EndHours: 100})
		} else {
			runs = append(runs, Outcome{Activated: true, EndHours: 200, HoursToActivation: 200})
		}
	}
	steps := activationKM(runs, 300)
	require.NotEmpty(t, steps)
	assert.InDelta(t, 0.5, steps[len(steps)-1].Survival, 1e-12)
	// Runs still waiting at the horizon are censored there.
	runs = append(runs, Outcome{EndHours: 300})
	last := activationKM(runs, 300)
	assert.Equal(t, 6, last[len(last)-1].Cens)
}
