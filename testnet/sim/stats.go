package sim

import (
	"math"
	"slices"
)

// Summary describes one metric of one mechanism over the runs where it is defined.
type Summary struct {
	Mechanism, Metric string
	N                 int
	Median, P90, P99  float64
	Mean              float64
	// CILow, CIHigh: 95% confidence interval of the mean (normal approximation).
	CILow, CIHigh float64
}

// metric is a named quantity of an outcome, defined only for some outcomes.
type metric struct {
	name string
	unit string
	get  func(Outcome) (float64, bool)
}

var metrics = []metric{
	{"activated", "share of runs", func(o Outcome) (float64, bool) { return b2f(o.Activated), true }},
	{"hours_to_activation", "hours", func(o Outcome) (float64, bool) { return o.HoursToActivation, o.Activated }},
	{"unready_stake_at_activation", "share of stake", func(o Outcome) (float64, bool) { return o.UnreadyShare, o.Activated }},
	{"liveness_loss_hours", "hours", func(o Outcome) (float64, bool) { return o.LivenessLossHours, o.Activated }},
	{"stake_epochs_halted", "stake share × epochs", func(o Outcome) (float64, bool) { return o.StakeEpochsHalted, o.Activated }},
	{"nodes_halted", "nodes", func(o Outcome) (float64, bool) { return float64(o.NodesHalted), o.Activated }},
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Summaries computes every metric for every mechanism, in config order.
func (s *Study) Summaries() []Summary {
	var out []Summary
	for _, m := range s.Config.Mechanisms {
		runs := s.ByMechanism(m.Name)
		for _, mt := range metrics {
			var xs []float64
			for _, o := range runs {
				if v, ok := mt.get(o); ok {
					xs = append(xs, v)
				}
			}
			out = append(out, summarize(m.Name, mt.name, xs))
		}
	}
	return out
}

func summarize(mech, name string, xs []float64) Summary {
	s := Summary{Mechanism: mech, Metric: name, N: len(xs)}
	if len(xs) == 0 {
		nan := math.NaN()
		s.Median, s.P90, s.P99, s.Mean, s.CILow, s.CIHigh = nan, nan, nan, nan, nan, nan
		return s
	}
	sorted := slices.Sorted(slices.Values(xs))
	s.Median, s.P90, s.P99 = quantile(sorted, 0.5), quantile(sorted, 0.9), quantile(sorted, 0.99)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	s.Mean = sum / float64(len(xs))
	half := 0.0
	if len(xs) > 1 {
		ss := 0.0
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		half = 1.96 * math.Sqrt(ss/float64(len(xs)-1)/float64(len(xs)))
	}
	s.CILow, s.CIHigh = s.Mean-half, s.Mean+half
	return s
}

// quantile interpolates linearly between order statistics (type 7, as R and NumPy default).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}
