package sim

import (
	"math"
	"math/rand/v2"
	"slices"
)

// z95 is the two-sided 95% normal quantile.
const z95 = 1.959963984540054

// Summary describes one metric of one mechanism over the runs where it is
// defined. A yes/no metric (Proportion) has an estimate and a Wilson interval
// and no quantiles: a median of a yes/no says nothing.
type Summary struct {
	Mechanism, Metric string
	Proportion        bool
	// N counts the runs the metric is defined for (for a proportion: all runs).
	N int
	// Estimate is the mean, or for a proportion the share of yes.
	Estimate float64
	// CILow, CIHigh: 95% interval of the estimate (Wilson for a proportion,
	// percentile bootstrap of the mean otherwise).
	CILow, CIHigh float64
	// Median, P90: NaN for proportions and empty sets.
	Median, P90 float64
}

// metric is a named quantity of an outcome, defined only for some outcomes.
type metric struct {
	name       string
	unit       string
	proportion bool
	get        func(Outcome) (float64, bool)
}

var metrics = []metric{
	{"activated", "share of runs", true, func(o Outcome) (float64, bool) { return b2f(o.Activated), true }},
	{"unsafe_activation_rate", "share of runs that activated with more than unsafe_unready of stake unready", true,
		func(o Outcome) (float64, bool) { return b2f(o.Unsafe), true }},
	{"hours_to_activation", "hours, runs that activated", false, func(o Outcome) (float64, bool) { return o.HoursToActivation, o.Activated }},
	{"unready_stake_at_activation", "share of stake, runs that activated", false, func(o Outcome) (float64, bool) { return o.UnreadyShare, o.Activated }},
	{"missed_block_rate", "share of views in the window after activation, runs that activated (BFT halting model)", false,
		func(o Outcome) (float64, bool) { return o.MissedBlockRate, o.Activated && !o.PoW }},
	{"no_finality_hours", "hours in the window after activation, runs that activated (BFT halting model)", false,
		func(o Outcome) (float64, bool) { return o.NoFinalityHours, o.Activated && !o.PoW }},
	{"nodes_halted", "nodes, runs that activated (BFT halting model)", false,
		func(o Outcome) (float64, bool) { return float64(o.NodesHalted), o.Activated && !o.PoW }},
}

// powMetrics are the split statistics of proof-of-work mechanisms, after
// the others, in a study that has one.
var powMetrics = []metric{
	{"split_1_block", "share of activated runs where a non-upgraded chain grew 1 block or more (proof-of-work split model)", true,
		func(o Outcome) (float64, bool) { return b2f(o.SplitBlocks >= 1), o.Activated && o.PoW }},
	{"split_6_blocks", "share of activated runs where a non-upgraded chain grew 6 blocks or more (proof-of-work split model)", true,
		func(o Outcome) (float64, bool) { return b2f(o.SplitBlocks >= 6), o.Activated && o.PoW }},
	{"split_blocks", "longest non-upgraded chain after activation, blocks, runs that activated (proof-of-work split model)", false,
		func(o Outcome) (float64, bool) { return float64(o.SplitBlocks), o.Activated && o.PoW }},
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
		for _, mt := range s.Config.metrics() {
			var xs []float64
			for _, o := range runs {
				if v, ok := mt.get(o); ok {
					xs = append(xs, v)
				}
			}
			if mt.proportion {
				out = append(out, summarizeProportion(m.Name, mt.name, xs))
			} else {
				out = append(out, summarize(m.Name, mt.name, xs))
			}
		}
	}
	return out
}

func summarize(mech, name string, xs []float64) Summary {
	nan := math.NaN()
	s := Summary{Mechanism: mech, Metric: name, N: len(xs), Estimate: nan, CILow: nan, CIHigh: nan, Median: nan, P90: nan}
	if len(xs) == 0 {
		return s
	}
	sorted := slices.Sorted(slices.Values(xs))
	s.Median, s.P90 = quantile(sorted, 0.5), quantile(sorted, 0.9)
	s.Estimate, s.CILow, s.CIHigh = meanCI(xs)
	return s
}

func summarizeProportion(mech, name string, xs []float64) Summary {
	k := 0
	for _, x := range xs {
		if x != 0 {
			k++
		}
	}
	s := Summary{Mechanism: mech, Metric: name, Proportion: true, N: len(xs), Median: math.NaN(), P90: math.NaN()}
	s.Estimate = math.NaN()
	if len(xs) > 0 {
		s.Estimate = float64(k) / float64(len(xs))
	}
	s.CILow, s.CIHigh = wilson(k, len(xs))
	return s
}

// bootstrapResamples is how many resamples a mean's interval draws.
const bootstrapResamples = 2000

// meanCI returns the mean and its 95% percentile-bootstrap interval
// (bootstrapResamples resamples from a fixed seed, so the same data give the
// same interval). Unlike the normal approximation, the interval stays within
// the values' range: a share never gets a negative lower bound because most
// runs are zero. NaN for fewer than two values (no spread to resample).
func meanCI(xs []float64) (mean, lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	n := len(xs)
	mean = sum / float64(n)
	if n < 2 {
		return mean, math.NaN(), math.NaN()
	}
	rng := rand.New(rand.NewPCG(0x626f6f74, uint64(n)))
	means := make([]float64, bootstrapResamples)
	for b := range means {
		s := 0.0
		for range n {
			s += xs[rng.IntN(n)]
		}
		means[b] = s / float64(n)
	}
	slices.Sort(means)
	return mean, quantile(means, 0.025), quantile(means, 0.975)
}

// normalCI is the mean and its 95% normal-approximation interval, for where
// a bootstrap would cost too much (many small summaries).
func normalCI(xs []float64) (mean, lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	mean = sum / float64(len(xs))
	if len(xs) < 2 {
		return mean, math.NaN(), math.NaN()
	}
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	half := z95 * math.Sqrt(ss/float64(len(xs)-1)/float64(len(xs)))
	return mean, mean - half, mean + half
}

// wilson is the Wilson score interval for k successes in n trials: unlike
// the Wald interval it stays inside [0, 1] and is not degenerate at 0 or n.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	p, nf, z2 := float64(k)/float64(n), float64(n), z95*z95
	den := 1 + z2/nf
	centre := (p + z2/(2*nf)) / den
	half := z95 * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// quantile interpolates linearly between order statistics (type 7, as R and NumPy default).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// KMStep is one step of a Kaplan–Meier curve: from Time on, the estimated
// share of runs still waiting is Survival, with a 95% interval.
type KMStep struct {
	Time                 float64
	Survival, Low, High  float64
	AtRisk, Events, Cens int
}

// KaplanMeier estimates the distribution of a time-to-event from runs that
// either saw the event at times[i] (event[i]) or were censored then (the run
// ended, or the mechanism timed out, before it could happen). The interval
// is Greenwood's variance on the log(-log) scale, which stays inside [0, 1].
func KaplanMeier(times []float64, event []bool) []KMStep {
	idx := make([]int, len(times))
	for i := range idx {
		idx[i] = i
	}
	// Events before censorings at the same time, the usual convention.
	slices.SortFunc(idx, func(a, b int) int {
		if times[a] != times[b] {
			if times[a] < times[b] {
				return -1
			}
			return 1
		}
		if event[a] != event[b] {
			if event[a] {
				return -1
			}
			return 1
		}
		return a - b
	})
	atRisk := len(times)
	surv, greenwood := 1.0, 0.0
	var out []KMStep
	for i := 0; i < len(idx); {
		t := times[idx[i]]
		d, c := 0, 0
		for ; i < len(idx) && times[idx[i]] == t; i++ {
			if event[idx[i]] {
				d++
			} else {
				c++
			}
		}
		if d > 0 {
			surv *= 1 - float64(d)/float64(atRisk)
			if atRisk > d {
				greenwood += float64(d) / (float64(atRisk) * float64(atRisk-d))
			}
		}
		lo, hi := kmInterval(surv, greenwood)
		out = append(out, KMStep{Time: t, Survival: surv, Low: lo, High: hi, AtRisk: atRisk, Events: d, Cens: c})
		atRisk -= d + c
	}
	return out
}

func kmInterval(s, greenwood float64) (lo, hi float64) {
	if s <= 0 || s >= 1 {
		return s, s
	}
	ls := math.Log(s)
	se := math.Sqrt(greenwood) / math.Abs(ls)
	a, b := math.Exp(-math.Exp(math.Log(-ls)+z95*se)), math.Exp(-math.Exp(math.Log(-ls)-z95*se))
	return math.Min(a, b), math.Max(a, b)
}

// PairedDiff is a metric's difference between a mechanism and the reference
// (the first mechanism), run by run: both saw the same operators, so the
// per-run difference removes the noise they share.
type PairedDiff struct {
	Mechanism, Reference, Metric string
	// N counts the runs where the metric is defined for both.
	N                   int
	Mean, CILow, CIHigh float64
}

// PairedDiffs compares every mechanism with the first on each metric.
func (s *Study) PairedDiffs() []PairedDiff {
	ms := s.Config.Mechanisms
	if len(ms) < 2 {
		return nil
	}
	ref := s.ByMechanism(ms[0].Name)
	var out []PairedDiff
	for _, m := range ms[1:] {
		runs := s.ByMechanism(m.Name)
		for _, mt := range s.Config.metrics() {
			var ds []float64
			for i := range runs {
				a, okA := mt.get(runs[i])
				b, okB := mt.get(ref[i])
				if okA && okB {
					ds = append(ds, a-b)
				}
			}
			mean, lo, hi := meanCI(ds)
			out = append(out, PairedDiff{Mechanism: m.Name, Reference: ms[0].Name, Metric: mt.name, N: len(ds), Mean: mean, CILow: lo, CIHigh: hi})
		}
	}
	return out
}
