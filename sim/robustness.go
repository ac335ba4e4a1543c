package sim

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/BurntSushi/toml"
)

// The robustness check reruns a study's headline comparison with each
// behavioural assumption that has no dated source flipped or swept, and says
// per assumption whether the ranking of mechanisms changes. The headline
// comparison is the safety ranking: mechanisms ordered by the stake left
// unready at activation, pair by pair over the runs where both activated
// (common random numbers: the same operators in both), a pair ordered only
// when its paired 95% interval excludes 0.

// defaultRobustnessRuns caps the runs of each variant (and of the baseline
// it is compared with: the study's first runs, which a variant repeats
// draw for draw, since a run's draws depend on the seed and its index only).
const defaultRobustnessRuns = 200

// Assumption is one behavioural assumption without a dated source, and the
// values the robustness check tries in its place.
type Assumption struct {
	// Key is the config key; Baseline the study's value, as written.
	Key, Baseline string
	// Why it is unsourced, for the report.
	Note     string
	Variants []Variant
	// Swept is set when a sweep varies this key itself, for its verdict to
	// say so.
	Swept bool
}

// Variant is one value tried for an assumption, and what it gave.
type Variant struct {
	Value string
	set   func(*Config)
	// Ranking is the safety ranking under this value; Reversed lists the
	// pairs ordered one way at the baseline and the other way here.
	Ranking  Ranking
	Reversed []string
	// Unresolved counts the pairs the baseline orders that this value's
	// runs no longer tell apart (not a reversal, but less of a ranking).
	Unresolved int
}

// Ranking is a study's safety comparison: each mechanism's mean unready
// stake at activation and unsafe-activation rate, and the resolved order of
// each pair (Order[i][j] = -1: i leaves less stake unready than j; +1: more;
// 0: the runs do not tell them apart).
type Ranking struct {
	Runs       int
	Mechanisms []string
	Unready    []float64
	Unsafe     []float64
	Order      [][]int
}

// Robustness is the robustness check of a study.
type Robustness struct {
	Baseline    Ranking
	Assumptions []Assumption
	// sweepBase, for a sweep's check, says which point it ran at; empty
	// for a single study.
	sweepBase string
}

// unsourcedAssumptions are the behavioural assumptions of c that no dated
// source backs, with the values to try: hurry_on_lock_in flipped,
// hurry_share over 0, 0.5 and 1, and a lognormal delay's sigma halved and
// doubled.
func (c *Config) unsourcedAssumptions() []Assumption {
	d := &c.Behaviour.Deadline
	on := c.Behaviour.hurryOnLockIn()
	out := []Assumption{{
		Key: "behaviour.deadline.hurry_on_lock_in", Baseline: fmt.Sprint(on),
		Note: "whether late operators hurry towards the activation view a stake lock-in fixes",
		Variants: []Variant{{Value: fmt.Sprint(!on), set: func(x *Config) {
			flipped := !on
			x.Behaviour.Deadline.HurryOnLockIn = &flipped
		}}},
	}}
	hs := Assumption{Key: "behaviour.deadline.hurry_share", Baseline: ff(d.HurryShare),
		Note: "the share of late operators who make a known deadline"}
	for _, v := range []float64{0, 0.5, 1} {
		if v != d.HurryShare {
			hs.Variants = append(hs.Variants, Variant{Value: ff(v), set: func(x *Config) { x.Behaviour.Deadline.HurryShare = v }})
		}
	}
	out = append(out, hs)
	if c.Behaviour.Delay.Distribution == "lognormal" {
		s := c.Behaviour.Delay.Sigma
		sg := Assumption{Key: "behaviour.delay.sigma", Baseline: ff(s),
			Note: "the spread of operators' upgrade delays"}
		tries := []float64{s / 2, s * 2}
		if s == 0 {
			tries = []float64{0.5, 1}
		}
		for _, v := range tries {
			sg.Variants = append(sg.Variants, Variant{Value: ff(v), set: func(x *Config) { x.Behaviour.Delay.Sigma = v }})
		}
		out = append(out, sg)
	}
	return out
}

// robustnessRuns is how many runs each variant has.
func (c *Config) robustnessRuns() int {
	if c.RobustnessRuns > 0 {
		return min(c.RobustnessRuns, c.Runs)
	}
	return min(defaultRobustnessRuns, c.Runs)
}

// RunRobustness reruns the study's comparison under each unsourced
// assumption's variants and stores the result in s.Robustness. With one
// mechanism there is no ranking to check, and it does nothing.
func RunRobustness(ctx context.Context, s *Study, opts Options) error {
	c := s.Config
	if len(c.Mechanisms) < 2 {
		return nil
	}
	n := c.robustnessRuns()
	r := &Robustness{Baseline: rank(c, s.Outcomes[:n*len(c.Mechanisms)], n), Assumptions: c.unsourcedAssumptions()}
	for i := range r.Assumptions {
		a := &r.Assumptions[i]
		for j := range a.Variants {
			v := &a.Variants[j]
			x := *c
			x.Runs, x.Sweep = n, nil
			v.set(&x)
			vs, err := Run(ctx, &x, opts)
			if err != nil {
				return fmt.Errorf("robustness, %s = %s: %w", a.Key, v.Value, err)
			}
			v.Ranking = rank(c, vs.Outcomes, n)
			v.Reversed = reversals(r.Baseline, v.Ranking)
			for p := range r.Baseline.Order {
				for q := p + 1; q < len(r.Baseline.Order); q++ {
					if r.Baseline.Order[p][q] != 0 && v.Ranking.Order[p][q] == 0 {
						v.Unresolved++
					}
				}
			}
		}
	}
	s.Robustness = r
	return nil
}

// rank computes the safety ranking of outcomes (run-major, as a Study keeps them).
func rank(c *Config, outcomes []Outcome, runs int) Ranking {
	nm := len(c.Mechanisms)
	r := Ranking{Runs: runs, Mechanisms: make([]string, nm), Unready: make([]float64, nm), Unsafe: make([]float64, nm), Order: make([][]int, nm)}
	for i, m := range c.Mechanisms {
		r.Mechanisms[i] = m.Name
		sum, k, unsafe := 0.0, 0, 0
		for run := range runs {
			o := outcomes[run*nm+i]
			if o.Activated {
				sum += o.UnreadyShare
				k++
			}
			if o.Unsafe {
				unsafe++
			}
		}
		r.Unready[i] = math.NaN()
		if k > 0 {
			r.Unready[i] = sum / float64(k)
		}
		r.Unsafe[i] = float64(unsafe) / float64(runs)
		r.Order[i] = make([]int, nm)
	}
	for i := range nm {
		for j := i + 1; j < nm; j++ {
			var ds []float64
			for run := range runs {
				a, b := outcomes[run*nm+i], outcomes[run*nm+j]
				if a.Activated && b.Activated {
					ds = append(ds, a.UnreadyShare-b.UnreadyShare)
				}
			}
			_, lo, hi := normalCI(ds)
			switch {
			case hi < 0:
				r.Order[i][j], r.Order[j][i] = -1, 1
			case lo > 0:
				r.Order[i][j], r.Order[j][i] = 1, -1
			}
		}
	}
	return r
}

// reversals lists the pairs the baseline orders one way and v the other.
func reversals(base, v Ranking) []string {
	var out []string
	for i := range base.Mechanisms {
		for j := i + 1; j < len(base.Mechanisms); j++ {
			if base.Order[i][j] != 0 && v.Order[i][j] == -base.Order[i][j] {
				safer, other := base.Mechanisms[i], base.Mechanisms[j]
				if v.Order[i][j] > 0 {
					safer, other = other, safer
				}
				out = append(out, fmt.Sprintf("%s now leaves less stake unready than %s", safer, other))
			}
		}
	}
	return out
}

// Verdict is the assumption's one line: whether any of its values changes
// the ranking, and how.
func (a *Assumption) Verdict() string {
	var changed, blurred []string
	for _, v := range a.Variants {
		if len(v.Reversed) > 0 {
			changed = append(changed, fmt.Sprintf("at %s: %s", v.Value, strings.Join(v.Reversed, "; ")))
		} else if v.Unresolved > 0 {
			blurred = append(blurred, fmt.Sprintf("%d at %s", v.Unresolved, v.Value))
		}
	}
	values := make([]string, len(a.Variants))
	for i, v := range a.Variants {
		values[i] = v.Value
	}
	swept := ""
	if a.Swept {
		swept = "; a swept key too: the sweep already varies it, see Sensitivity"
	}
	head := fmt.Sprintf("%s (unsourced; %s, tried %s%s)", a.Key, a.Baseline, strings.Join(values, ", "), swept)
	if len(changed) == 0 {
		if len(blurred) > 0 {
			return head + ": the ranking does not change (no pair reverses; pairs no longer told apart: " + strings.Join(blurred, ", ") + ")."
		}
		return head + ": the ranking does not change."
	}
	return head + ": the ranking CHANGES " + strings.Join(changed, "; ") + "."
}

// Verdicts are the robustness section's one line per assumption.
func (r *Robustness) Verdicts() []string {
	out := make([]string, len(r.Assumptions))
	for i := range r.Assumptions {
		out[i] = r.Assumptions[i].Verdict()
	}
	return out
}

// Markdown is the report's robustness section.
func (r *Robustness) Markdown() string {
	var b strings.Builder
	b.WriteString("## Robustness\n\n")
	if r.sweepBase == "" {
		fmt.Fprintf(&b, "The comparison above rests on behavioural assumptions that no dated source backs (marked\n"+
			"*unsourced* in the config). Each is flipped or swept below, everything else unchanged, over the\n"+
			"study's first %d runs (the same operators as the baseline, draw for draw). ", r.Baseline.Runs)
	} else {
		fmt.Fprintf(&b, "The sweep's comparisons rest on behavioural assumptions that no dated source backs (marked\n"+
			"*unsourced* in the config). At the sweep's base point, each is flipped or swept below,\n"+
			"everything else unchanged, over the base point's first %d runs (the same operators as the\n"+
			"baseline, draw for draw). The base point is %s.\n"+
			"An assumption the sweep varies too is still flipped or swept here, from its value at the base\n"+
			"point. ", r.Baseline.Runs, r.sweepBase)
	}
	b.WriteString("The ranking is the\n" +
		"safety ranking: mechanisms ordered pair by pair by mean stake unready at activation, over the runs\n" +
		"where both activated; a pair is ordered only when its paired 95% interval excludes 0. The ranking\n" +
		"*changes* when a pair ordered one way at the baseline is ordered the other way.\n\n")
	for _, v := range r.Verdicts() {
		b.WriteString("- " + v + "\n")
	}
	b.WriteString("\nMean unready stake at activation (unsafe-activation rate) per mechanism:\n\n| assumption | value |")
	for _, m := range r.Baseline.Mechanisms {
		b.WriteString(" " + m + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(r.Baseline.Mechanisms)) + "\n")
	row := func(key, value string, rk Ranking) {
		fmt.Fprintf(&b, "| %s | %s |", key, value)
		for i := range rk.Mechanisms {
			fmt.Fprintf(&b, " %s (%s) |", fmtNum(rk.Unready[i]), fmtNum(rk.Unsafe[i]))
		}
		b.WriteString("\n")
	}
	row("baseline", "", r.Baseline)
	for _, a := range r.Assumptions {
		for _, v := range a.Variants {
			row(a.Key, v.Value, v.Ranking)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// RunSweepRobustness runs the robustness check of RunRobustness at the
// sweep's base point and stores it in sw.Robustness: one at a time, the
// baseline point (every swept key at its baseline), whose study the sweep
// has already run; for a grid or a Latin hypercube, the config as written,
// before any swept key is varied, run for the check's runs. An assumption
// that is also a swept key is checked all the same, and its verdict says
// the sweep varies it.
func RunSweepRobustness(ctx context.Context, sw *Sweep, opts Options) error {
	c := sw.Base
	var base *Study
	if c.Sweep.Method == "one_at_a_time" {
		base = sw.Studies[0] // SweepPoints puts the baseline first
	} else {
		pc, err := c.pointConfig(nil)
		if err != nil {
			return fmt.Errorf("robustness at the sweep's base point: %w", err)
		}
		pc.Runs = pc.robustnessRuns()
		if base, err = Run(ctx, pc, opts); err != nil {
			return fmt.Errorf("robustness at the sweep's base point: %w", err)
		}
	}
	if err := RunRobustness(ctx, base, opts); err != nil {
		return err
	}
	r := base.Robustness
	if r == nil {
		return nil
	}
	for i := range r.Assumptions {
		for _, k := range sw.Keys {
			if k.Key == r.Assumptions[i].Key {
				r.Assumptions[i].Swept = true
			}
		}
	}
	r.sweepBase = sw.baseDescription()
	sw.Robustness = r
	return nil
}

// baseDescription names the sweep's base point for the report: each swept
// key's value there.
func (sw *Sweep) baseDescription() string {
	var parts []string
	if sw.Base.Sweep.Method == "one_at_a_time" {
		for j, k := range sw.Keys {
			parts = append(parts, fmt.Sprintf("`%s` = %s", k.Key, sw.Points[0].Text[j]))
		}
		return "every swept key at its one-at-a-time baseline: " + strings.Join(parts, ", ")
	}
	var raw map[string]any
	_, err := toml.Decode(string(sw.Base.raw), &raw) // it decoded when the config was loaded
	for _, k := range sw.Keys {
		var v any
		if err == nil {
			v = getPath(raw, k.Key)
		}
		if v == nil {
			parts = append(parts, fmt.Sprintf("`%s` at its default", k.Key))
		} else {
			parts = append(parts, fmt.Sprintf("`%s` = %v", k.Key, v))
		}
	}
	return "the config as written, before the swept keys are varied: " + strings.Join(parts, ", ")
}
