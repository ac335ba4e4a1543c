package sim

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distmv"
	"gonum.org/v1/gonum/stat/samplemv"
)

// SweepConfig varies config keys over points; every point is a whole study.
type SweepConfig struct {
	// Method: grid (every combination of the keys' values),
	// one_at_a_time (a baseline, then each key over its values with the
	// others at the baseline: the classic tornado, free of confounding), or
	// latin_hypercube (Points points spread over the keys' [min, max]).
	Method string     `toml:"method"`
	Points int        `toml:"points,omitempty"`
	Keys   []SweepKey `toml:"key"`
}

// SweepKey is one swept key: a path into the config such as
// "behaviour.deadline.hurry_share", "mechanism[2].threshold",
// "mechanism[stake-2/3].threshold" (by name) or "mechanism[*].threshold"
// (every mechanism that sets the key), with either values (grid) or min
// and max (and, for a grid, steps).
type SweepKey struct {
	Key    string  `toml:"key"`
	Values []any   `toml:"values,omitempty"`
	Min    float64 `toml:"min,omitempty"`
	Max    float64 `toml:"max,omitempty"`
	Steps  int     `toml:"steps,omitempty"`
	// Base is the key's baseline for one_at_a_time (default: its value in
	// the config).
	Base any `toml:"base,omitempty"`
}

// SweepPoint is one combination of swept values.
type SweepPoint struct {
	// Values are the keys' values as numbers (a threshold "2/3" is 0.6667),
	// Text as written into the config.
	Values []float64
	Text   []string
	// Varies is, for one_at_a_time, the key this point moves (-1: the
	// baseline, or any point of another method).
	Varies int
}

// Sweep is the outcome of every point's study.
type Sweep struct {
	Base    *Config
	Keys    []SweepKey
	Points  []SweepPoint
	Studies []*Study
	// Robustness is the robustness check at the sweep's base point
	// (RunSweepRobustness); nil until it runs.
	Robustness *Robustness
}

var integerKeys = map[string]bool{"runs": true, "horizon_epochs": true, "epoch_views": true, "safety_views": true,
	"attest_jitter_views": true, "nodes": true, "timeout_epochs": true, "start_epoch": true, "delay_epochs": true,
	"min_activation_epoch": true, "points": true}

func (c *Config) validateSweep() error {
	sw := c.Sweep
	if sw == nil {
		return nil
	}
	switch sw.Method {
	case "grid", "one_at_a_time":
		if sw.Points != 0 {
			return cfgErr("sweep.points", "applies only to latin_hypercube (%s lists its points)", sw.Method)
		}
	case "latin_hypercube":
		if sw.Points < 2 || sw.Points > 10_000 {
			return cfgErr("sweep.points", "%d: a Latin hypercube needs between 2 and 10,000 points", sw.Points)
		}
	default:
		return cfgErr("sweep.method", "%q: allowed are grid, one_at_a_time, latin_hypercube", sw.Method)
	}
	if len(sw.Keys) == 0 {
		return cfgErr("sweep.key", "at least one [[sweep.key]] is needed")
	}
	combos := 1
	for i, k := range sw.Keys {
		key := fmt.Sprintf("sweep.key[%d]", i)
		if k.Key == "" || strings.HasPrefix(k.Key, "sweep") || k.Key == "seed" || k.Key == "runs" {
			return cfgErr(key+".key", "%q: name a config key to sweep (not seed, runs or sweep itself: every point shares them)", k.Key)
		}
		ranged := k.Min != 0 || k.Max != 0
		switch {
		case len(k.Values) > 0 && (ranged || k.Steps != 0):
			return cfgErr(key, "give values, or min and max, not both")
		case len(k.Values) > 0 && sw.Method == "latin_hypercube":
			return cfgErr(key+".values", "a Latin hypercube samples between min and max")
		case len(k.Values) == 0 && !(k.Max > k.Min):
			return cfgErr(key, "min %v must be below max %v", k.Min, k.Max)
		case len(k.Values) == 0 && sw.Method != "latin_hypercube" && k.Steps < 2:
			return cfgErr(key+".steps", "%d: a grid over [min, max] needs at least 2 steps", k.Steps)
		}
		for j, v := range k.Values {
			if _, err := numberOf(v); err != nil {
				return cfgErr(fmt.Sprintf("%s.values[%d]", key, j), "%v", err)
			}
		}
		if sw.Method == "grid" {
			combos *= max(len(k.Values), k.Steps)
		}
	}
	if combos > 10_000 {
		return cfgErr("sweep.key", "the grid has %d points; at most 10,000", combos)
	}
	return nil
}

// numberOf reads a swept value as a number: a number, or a fraction "a/b".
func numberOf(v any) (float64, error) {
	switch x := v.(type) {
	case int64:
		return float64(x), nil
	case float64:
		return x, nil
	case string:
		a, b, ok := strings.Cut(x, "/")
		num, err1 := strconv.ParseFloat(a, 64)
		den, err2 := strconv.ParseFloat(b, 64)
		if ok && err1 == nil && err2 == nil && den != 0 {
			return num / den, nil
		}
		return 0, fmt.Errorf("%q is not a number or a fraction a/b", x)
	case bool:
		return b2f(x), nil
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// SweepPoints lists the points: the grid's combinations in order (last key
// fastest), or a Latin hypercube drawn from the config's seed.
func (c *Config) SweepPoints() []SweepPoint {
	sw := c.Sweep
	var pts []SweepPoint
	if sw.Method == "one_at_a_time" {
		return c.oatPoints()
	}
	if sw.Method == "latin_hypercube" {
		batch := mat.NewDense(sw.Points, len(sw.Keys), nil)
		src := rand.NewPCG(c.Seed, 0x5eed5eed)
		samplemv.LatinHypercube{Q: distmv.NewUnitUniform(len(sw.Keys), src), Src: src}.Sample(batch)
		for i := range sw.Points {
			var p SweepPoint
			for j, k := range sw.Keys {
				v := k.Min + batch.At(i, j)*(k.Max-k.Min)
				p.Values = append(p.Values, v)
				p.Text = append(p.Text, strconv.FormatFloat(v, 'g', 6, 64))
			}
			p.Varies = -1
			pts = append(pts, p)
		}
		return pts
	}
	levels := c.levels()
	idx := make([]int, len(sw.Keys))
	for {
		p := SweepPoint{Varies: -1}
		for j := range sw.Keys {
			v := levels[j][idx[j]]
			x, _ := numberOf(v) // validateSweep checked every value
			p.Values = append(p.Values, x)
			p.Text = append(p.Text, fmt.Sprint(v))
		}
		pts = append(pts, p)
		j := len(idx) - 1
		for ; j >= 0; j-- {
			idx[j]++
			if idx[j] < len(levels[j]) {
				break
			}
			idx[j] = 0
		}
		if j < 0 {
			return pts
		}
	}
}

// levels lists each key's values: as given, or steps over [min, max].
func (c *Config) levels() [][]any {
	levels := make([][]any, len(c.Sweep.Keys))
	for j, k := range c.Sweep.Keys {
		levels[j] = k.Values
		if len(k.Values) == 0 {
			for s := range k.Steps {
				levels[j] = append(levels[j], k.Min+float64(s)*(k.Max-k.Min)/float64(k.Steps-1))
			}
		}
	}
	return levels
}

// oatPoints: the baseline, then each key over its levels (skipping its
// baseline value) with every other key at its baseline.
func (c *Config) oatPoints() []SweepPoint {
	bases := c.oatBases
	base := SweepPoint{Varies: -1}
	for _, b := range bases {
		x, _ := numberOf(b) // resolveBases checked every baseline
		base.Values = append(base.Values, x)
		base.Text = append(base.Text, fmt.Sprint(b))
	}
	pts := []SweepPoint{base}
	for k, lv := range c.levels() {
		for _, v := range lv {
			x, _ := numberOf(v) // validateSweep checked every value
			if x == base.Values[k] {
				continue
			}
			p := SweepPoint{Values: slices.Clone(base.Values), Text: slices.Clone(base.Text), Varies: k}
			p.Values[k], p.Text[k] = x, fmt.Sprint(v)
			pts = append(pts, p)
		}
	}
	return pts
}

// resolveBases finds each key's one_at_a_time baseline: as given, or the
// key's value in the config.
func (c *Config) resolveBases() ([]any, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(c.raw), &raw); err != nil {
		return nil, err
	}
	var bases []any
	for j, k := range c.Sweep.Keys {
		b := k.Base
		if b == nil {
			b = getPath(raw, k.Key)
		}
		if b == nil {
			return nil, cfgErr(fmt.Sprintf("sweep.key[%d].base", j), "%s is not set in the config: give its baseline", k.Key)
		}
		if _, err := numberOf(b); err != nil {
			return nil, cfgErr(fmt.Sprintf("sweep.key[%d].base", j), "%v", err)
		}
		bases = append(bases, b)
	}
	return bases, nil
}

// getPath reads a key's value (the first selected element's, for a list).
func getPath(doc map[string]any, path string) any {
	parts := strings.Split(path, ".")
	cur := doc
	for i, part := range parts {
		m := pathPart.FindStringSubmatch(part)
		if m == nil {
			return nil
		}
		v, ok := cur[m[1]]
		if !ok {
			return nil
		}
		if list, isList := v.([]map[string]any); isList && m[2] != "" {
			picked, err := pick(list, m[1], m[2], parts[len(parts)-1], false)
			if err != nil || len(picked) == 0 {
				return nil
			}
			v = picked[0]
		}
		if i == len(parts)-1 {
			return v
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return nil
}

var pathPart = regexp.MustCompile(`^([a-z_]+)(?:\[([^\]]+)\])?$`)

// PointConfig is the base config with a point's values set, validated as a
// whole config (a point that makes it invalid is an error naming the key).
func (c *Config) PointConfig(p SweepPoint) (*Config, error) { return c.pointConfig(&p) }

// pointConfig is PointConfig; a nil point is the config as written, without
// its sweep and with no swept key changed.
func (c *Config) pointConfig(p *SweepPoint) (*Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(c.raw), &raw); err != nil {
		return nil, err
	}
	delete(raw, "sweep")
	where := "the config as written"
	if p != nil {
		for j, k := range c.Sweep.Keys {
			if err := setPath(raw, k.Key, p.Values[j], p.Text[j]); err != nil {
				return nil, cfgErr(fmt.Sprintf("sweep.key[%d].key", j), "%s: %v", k.Key, err)
			}
		}
		where = "sweep point " + strings.Join(p.Text, ", ")
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(raw); err != nil {
		return nil, err
	}
	pc, err := ParseConfig(buf.Bytes(), c.dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	pc.Runs, pc.Seed = c.Runs, c.Seed // --runs and --seed apply to every point
	pc.perViewBlocks = c.perViewBlocks
	return pc, nil
}

// setPath sets a dotted path in a decoded TOML document.
func setPath(doc map[string]any, path string, x float64, text string) error {
	parts := strings.Split(path, ".")
	targets := []map[string]any{doc}
	for i, part := range parts {
		m := pathPart.FindStringSubmatch(part)
		if m == nil {
			return fmt.Errorf("%q is not a key or key[index]", part)
		}
		name, sel := m[1], m[2]
		last := i == len(parts)-1
		var next []map[string]any
		for _, t := range targets {
			if last && sel == "" {
				t[name] = typedValue(name, t[name], x, text)
				continue
			}
			child, ok := t[name]
			if !ok {
				if sel != "" {
					return fmt.Errorf("%s is not in the config", name)
				}
				child = map[string]any{}
				t[name] = child
			}
			switch ch := child.(type) {
			case map[string]any:
				if sel != "" {
					return fmt.Errorf("%s is a table, not a list", name)
				}
				next = append(next, ch)
			case []map[string]any:
				picked, err := pick(ch, name, sel, parts[len(parts)-1], last)
				if err != nil {
					return err
				}
				next = append(next, picked...)
			default:
				return fmt.Errorf("%s is a value, not a table", name)
			}
		}
		if last && sel != "" {
			return fmt.Errorf("the path ends in a list element, not a key")
		}
		targets = next
	}
	return nil
}

// pick selects list elements: [N], [*] (those that set leaf), or [name].
func pick(list []map[string]any, name, sel, leaf string, last bool) ([]map[string]any, error) {
	switch {
	case sel == "*":
		var out []map[string]any
		for _, el := range list {
			if _, ok := el[leaf]; ok {
				out = append(out, el)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("no %s sets %s", name, leaf)
		}
		return out, nil
	case regexp.MustCompile(`^\d+$`).MatchString(sel):
		n, err := strconv.Atoi(sel)
		if err != nil {
			return nil, fmt.Errorf("%s[%s]: there are %d", name, sel, len(list))
		}
		if n >= len(list) {
			return nil, fmt.Errorf("%s[%d]: there are %d", name, n, len(list))
		}
		return list[n : n+1], nil
	}
	for _, el := range list {
		if el["name"] == sel {
			return []map[string]any{el}, nil
		}
	}
	return nil, fmt.Errorf("no %s named %q", name, sel)
}

// typedValue writes a swept value in the type the key takes: a threshold as
// a fraction, a count as a whole number, a flag as a boolean.
func typedValue(name string, old any, x float64, text string) any {
	switch {
	case name == "threshold":
		if strings.Contains(text, "/") {
			return text
		}
		return strconv.FormatInt(int64(math.Round(x*1e6)), 10) + "/1000000"
	case integerKeys[name]:
		return int64(math.Round(x))
	}
	switch old.(type) {
	case bool:
		return x != 0
	case int64:
		if name != "share" && !strings.HasSuffix(name, "_hours") {
			return int64(math.Round(x))
		}
	}
	return x
}

// RunSweep runs every point's study, in order.
func RunSweep(ctx context.Context, c *Config, opts Options) (*Sweep, error) {
	sw := &Sweep{Base: c, Keys: c.Sweep.Keys, Points: c.SweepPoints()}
	// Every point is checked before any runs, so a bad point costs nothing.
	configs := make([]*Config, len(sw.Points))
	for i, p := range sw.Points {
		pc, err := c.PointConfig(p)
		if err != nil {
			return nil, err
		}
		configs[i] = pc
	}
	for i, p := range sw.Points {
		st, err := Run(ctx, configs[i], opts)
		if err != nil {
			return nil, fmt.Errorf("sweep point %s: %w", strings.Join(p.Text, ", "), err)
		}
		sw.Studies = append(sw.Studies, st)
	}
	return sw, nil
}

// sweepMetrics are the headline outcomes the curves and the tornado show.
var sweepMetrics = []string{"activated", "hours_to_activation", "unready_stake_at_activation", "missed_block_rate"}

func metricByName(name string) metric {
	for _, m := range metrics {
		if m.name == name {
			return m
		}
	}
	panic("unknown metric " + name)
}

// curvePoint is a metric's estimate for one mechanism over a group of points.
type curvePoint struct {
	X, Estimate, Low, High float64
	N                      int
}

// mechanismNames are the mechanisms of the sweep, in config order.
func (sw *Sweep) mechanismNames() []string {
	var out []string
	for _, m := range sw.Studies[0].Config.Mechanisms {
		out = append(out, m.Name)
	}
	return out
}

// curve groups the points by the key's value (a grid's levels; for a Latin
// hypercube, bins of about equal count) and estimates the metric for one
// mechanism in each group, pooling the runs of its points.
func (sw *Sweep) curve(key int, mech string, mt metric) []curvePoint {
	var order []int
	for i, p := range sw.Points {
		// One at a time: only the baseline and the points that move this key.
		if sw.Base.Sweep.Method != "one_at_a_time" || p.Varies == -1 || p.Varies == key {
			order = append(order, i)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmpFloat(sw.Points[a].Values[key], sw.Points[b].Values[key])
	})
	var groups [][]int
	if sw.Base.Sweep.Method != "latin_hypercube" {
		for _, i := range order {
			if n := len(groups); n > 0 && sw.Points[groups[n-1][0]].Values[key] == sw.Points[i].Values[key] {
				groups[n-1] = append(groups[n-1], i)
			} else {
				groups = append(groups, []int{i})
			}
		}
	} else {
		bins := max(2, min(10, len(order)/3))
		for b := range bins {
			groups = append(groups, order[b*len(order)/bins:(b+1)*len(order)/bins])
		}
	}
	var out []curvePoint
	for _, g := range groups {
		var xs []float64
		x := 0.0
		for _, i := range g {
			x += sw.Points[i].Values[key]
			for _, o := range sw.Studies[i].ByMechanism(mech) {
				if v, ok := mt.get(o); ok {
					xs = append(xs, v)
				}
			}
		}
		cp := curvePoint{X: x / float64(len(g)), N: len(xs)}
		if mt.proportion {
			s := summarizeProportion(mech, mt.name, xs)
			cp.Estimate, cp.Low, cp.High = s.Estimate, s.CILow, s.CIHigh
		} else {
			cp.Estimate, cp.Low, cp.High = meanCI(xs)
		}
		out = append(out, cp)
	}
	return out
}

// pointEstimates is, for each point with runs that measure the metric, its
// design row (1, then the swept values) and the metric's estimate there (the
// mean over its runs); n is the runs counted in all.
func (sw *Sweep) pointEstimates(mech string, mt metric) (rows [][]float64, ys []float64, n int) {
	for i, st := range sw.Studies {
		var xs []float64
		for _, o := range st.ByMechanism(mech) {
			if v, ok := mt.get(o); ok {
				xs = append(xs, v)
			}
		}
		if len(xs) == 0 {
			continue
		}
		sum := 0.0
		for _, x := range xs {
			sum += x
		}
		rows = append(rows, append([]float64{1}, sw.Points[i].Values...))
		ys = append(ys, sum/float64(len(xs)))
		n += len(xs)
	}
	return rows, ys, n
}

// regress fits, for a Latin hypercube, the metric's estimate at each point
// (the mean, or the share, over its runs) as a linear function of all the
// swept keys at once, and reports each key's effect over its range with the
// others held at their mean. Binning one key at a time would mix in the
// other keys' chance imbalances between bins; the joint fit removes them
// (to a linear approximation). Nil when there are too few usable points.
func (sw *Sweep) regress(mech string, mt metric) []Sensitivity {
	nk := len(sw.Keys)
	rows, ys, n := sw.pointEstimates(mech, mt)
	if len(rows) <= nk+1 {
		return nil
	}
	X := mat.NewDense(len(rows), nk+1, nil)
	for r, row := range rows {
		X.SetRow(r, row)
	}
	var beta mat.VecDense
	if err := beta.SolveVec(X, mat.NewVecDense(len(ys), ys)); err != nil {
		return nil
	}
	means := make([]float64, nk)
	for _, row := range rows {
		for k := range nk {
			means[k] += row[k+1] / float64(len(rows))
		}
	}
	at := func(k int, x float64) float64 {
		y := beta.AtVec(0)
		for j := range nk {
			v := means[j]
			if j == k {
				v = x
			}
			y += beta.AtVec(j+1) * v
		}
		return y
	}
	// Coefficient standard errors: s²·(XᵀX)⁻¹, s² the residual variance.
	var fitted mat.VecDense
	fitted.MulVec(X, &beta)
	rss := 0.0
	for r := range ys {
		d := ys[r] - fitted.AtVec(r)
		rss += d * d
	}
	var xtx, inv mat.Dense
	xtx.Mul(X.T(), X)
	invOK := inv.Inverse(&xtx) == nil
	s2 := rss / float64(len(ys)-nk-1)
	out := make([]Sensitivity, nk)
	for k, key := range sw.Keys {
		sens := Sensitivity{Key: key.Key, Mechanism: mech, Metric: mt.name,
			Low:  curvePoint{X: key.Min, Estimate: at(k, key.Min), N: n},
			High: curvePoint{X: key.Max, Estimate: at(k, key.Max), N: n}}
		sens.EffectLow, sens.EffectHigh = math.NaN(), math.NaN()
		if invOK {
			half := z95 * math.Sqrt(s2*inv.At(k+1, k+1)) * (key.Max - key.Min)
			sens.EffectLow, sens.EffectHigh = sens.Effect()-half, sens.Effect()+half
		}
		out[k] = sens
	}
	return out
}

// affects reports whether a swept key can change a mechanism: a key inside
// mechanism[...] changes only the mechanisms it selects; any other key may
// change every mechanism.
func (sw *Sweep) affects(key, mech string) bool {
	if !strings.HasPrefix(key, "mechanism[") {
		return true
	}
	// Every point's config was built from the key, so its bracket is closed.
	sel, rest, _ := strings.Cut(strings.TrimPrefix(key, "mechanism["), "]")
	leaf := rest[strings.LastIndex(rest, ".")+1:]
	var raw struct {
		Mechanism []map[string]any `toml:"mechanism"`
	}
	if _, err := toml.Decode(string(sw.Base.raw), &raw); err != nil {
		return true
	}
	picked, err := pick(raw.Mechanism, "mechanism", sel, leaf, false)
	if err != nil {
		return true
	}
	for _, el := range picked {
		if el["name"] == mech {
			return true
		}
	}
	return false
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sensitivity is one swept key's effect on one metric of one mechanism: the
// estimate at the key's lowest group of points and at its highest.
type Sensitivity struct {
	Key, Mechanism, Metric string
	Low, High              curvePoint
	// EffectLow, EffectHigh: a 95% interval of the effect (NaN if unknown).
	EffectLow, EffectHigh float64
	// Pairs counts the (point, run) pairs the effect was paired over (0:
	// not paired, a Latin hypercube's fit).
	Pairs int
	// paired: the effect is the mean paired difference, run by run, between
	// matching points at the two ends (a grid or one at a time).
	paired       bool
	pairedEffect float64
}

// Effect is the change from the key's low end to its high end: the mean of
// the paired differences where the ends were paired, the difference of the
// two ends' estimates otherwise.
func (s Sensitivity) Effect() float64 {
	if s.paired {
		return s.pairedEffect
	}
	return s.High.Estimate - s.Low.Estimate
}

// pairedEffect pairs the key's lowest and highest values, point with point
// (the same values of every other key) and run with run (the same seed and
// run index: common random numbers), and returns the mean difference of the
// metric (high minus low) over the pairs where it is defined at both ends,
// with its 95% bootstrap interval, and the number of pairs (0: none).
func (sw *Sweep) pairedEffect(key int, mech string, mt metric) (mean, lo, hi float64, n int) {
	var cand []int
	for i, p := range sw.Points {
		if sw.Base.Sweep.Method != "one_at_a_time" || p.Varies == -1 || p.Varies == key {
			cand = append(cand, i)
		}
	}
	if len(cand) == 0 {
		return 0, 0, 0, 0
	}
	lowV, highV := sw.Points[cand[0]].Values[key], sw.Points[cand[0]].Values[key]
	for _, i := range cand {
		lowV, highV = math.Min(lowV, sw.Points[i].Values[key]), math.Max(highV, sw.Points[i].Values[key])
	}
	others := func(i int) []float64 {
		v := slices.Clone(sw.Points[i].Values)
		v[key] = 0
		return v
	}
	var ds []float64
	for _, i := range cand {
		if sw.Points[i].Values[key] != lowV {
			continue
		}
		for _, j := range cand {
			if sw.Points[j].Values[key] != highV || !slices.Equal(others(i), others(j)) {
				continue
			}
			a, b := sw.Studies[i].ByMechanism(mech), sw.Studies[j].ByMechanism(mech)
			for r := range min(len(a), len(b)) {
				x, okX := mt.get(a[r])
				y, okY := mt.get(b[r])
				if okX && okY {
					ds = append(ds, y-x)
				}
			}
			break
		}
	}
	if len(ds) == 0 {
		return 0, 0, 0, 0
	}
	mean, lo, hi = meanCI(ds)
	return mean, lo, hi, len(ds)
}

// Sensitivities lists every key × mechanism × headline metric, largest
// effect first within each metric.
func (sw *Sweep) Sensitivities() []Sensitivity {
	var out []Sensitivity
	for _, name := range sweepMetrics {
		mt := metricByName(name)
		var group []Sensitivity
		var fits map[string][]Sensitivity
		if sw.Base.Sweep.Method == "latin_hypercube" {
			fits = map[string][]Sensitivity{}
			for _, mech := range sw.mechanismNames() {
				fits[mech] = sw.regress(mech, mt)
			}
		}
		for k, key := range sw.Keys {
			for _, mech := range sw.mechanismNames() {
				if !sw.affects(key.Key, mech) {
					continue
				}
				if fits != nil {
					if fits[mech] != nil {
						group = append(group, fits[mech][k])
					}
					continue
				}
				cv := sw.curve(k, mech, mt)
				if len(cv) < 2 {
					continue
				}
				sens := Sensitivity{Key: key.Key, Mechanism: mech, Metric: name, Low: cv[0], High: cv[len(cv)-1]}
				if d, lo, hi, n := sw.pairedEffect(k, mech, mt); n > 0 {
					// The ends share their random numbers run by run: the
					// effect and its interval come from the paired differences.
					sens.paired, sens.pairedEffect, sens.EffectLow, sens.EffectHigh, sens.Pairs = true, d, lo, hi, n
				} else {
					// No runs to pair: the two ends' intervals combined as if independent.
					seLow, seHigh := (sens.Low.High-sens.Low.Low)/(2*z95), (sens.High.High-sens.High.Low)/(2*z95)
					half := z95 * math.Sqrt(seLow*seLow+seHigh*seHigh)
					sens.EffectLow, sens.EffectHigh = sens.Effect()-half, sens.Effect()+half
				}
				group = append(group, sens)
			}
		}
		slices.SortStableFunc(group, func(a, b Sensitivity) int {
			ea, eb := math.Abs(a.Effect()), math.Abs(b.Effect())
			if math.IsNaN(ea) {
				ea = -1
			}
			if math.IsNaN(eb) {
				eb = -1
			}
			return cmpFloat(eb, ea)
		})
		out = append(out, group...)
	}
	return out
}
