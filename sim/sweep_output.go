package sim

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Write writes sweep.csv (one row per point × run × mechanism),
// sweep_summary.csv, sensitivity.csv, the curve and tornado plots and
// report.md into dir.
func (sw *Sweep) Write(dir string, prov Provenance) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"sweep.csv": sw.CSV(), "sweep_summary.csv": sw.SummaryCSV(), "sensitivity.csv": sw.SensitivityCSV()} {
		if err := writeFileAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	plots, err := sw.Plots(dir)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, "report.md"), []byte(sw.Report(prov, plots)))
}

func (sw *Sweep) keyHeader() []string {
	var h []string
	for _, k := range sw.Keys {
		h = append(h, k.Key)
	}
	return h
}

// CSV is the long format: one row per point, run and mechanism, the swept
// values first.
func (sw *Sweep) CSV() []byte {
	w := newCSVBuffer()
	header := append([]string{"point"}, sw.keyHeader()...)
	w.row(append(header, sw.Base.runsColumns(nil)...))
	for i, st := range sw.Studies {
		lead := append([]string{strconv.Itoa(i)}, sw.Points[i].Text...)
		for _, o := range st.Outcomes {
			row := append(append([]string{}, lead...), strconv.Itoa(o.Run), o.Mechanism)
			w.row(append(row, sw.Base.runCells(o, nil)...))
		}
	}
	return w.bytes()
}

// SummaryCSV has one row per point, mechanism and metric.
func (sw *Sweep) SummaryCSV() []byte {
	w := newCSVBuffer()
	header := append([]string{"point"}, sw.keyHeader()...)
	w.row(append(header, "mechanism", "metric", "n", "estimate", "ci95_low", "ci95_high"))
	for i, st := range sw.Studies {
		for _, x := range st.Summaries() {
			row := append(append([]string{strconv.Itoa(i)}, sw.Points[i].Text...), x.Mechanism, x.Metric, strconv.Itoa(x.N),
				ff(x.Estimate), ff(x.CILow), ff(x.CIHigh))
			w.row(row)
		}
	}
	return w.bytes()
}

// SensitivityCSV has one row per key, mechanism and headline metric.
func (sw *Sweep) SensitivityCSV() []byte {
	w := newCSVBuffer()
	w.row([]string{"metric", "key", "mechanism", "key_low", "estimate_low", "n_low", "key_high", "estimate_high", "n_high",
		"effect", "effect_ci95_low", "effect_ci95_high", "effect_pairs"})
	for _, s := range sw.Sensitivities() {
		w.row([]string{s.Metric, s.Key, s.Mechanism, ff(s.Low.X), ff(s.Low.Estimate), strconv.Itoa(s.Low.N),
			ff(s.High.X), ff(s.High.Estimate), strconv.Itoa(s.High.N), ff(s.Effect()), ff(s.EffectLow), ff(s.EffectHigh), pairs(s.Pairs)})
	}
	return w.bytes()
}

var slug = regexp.MustCompile(`[^a-z0-9]+`)

// Plots draws, per swept key and headline metric, a curve per mechanism
// with its 95% band, and per metric a tornado chart.
func (sw *Sweep) Plots(dir string) ([]string, error) {
	var names []string
	for k, key := range sw.Keys {
		for _, name := range sweepMetrics {
			p, err := sw.plotCurve(k, metricByName(name))
			if err != nil {
				return nil, err
			}
			if p == nil {
				continue
			}
			file := "curve_" + strings.Trim(slug.ReplaceAllString(strings.ToLower(key.Key), "_"), "_") + "_" + name
			if err := savePlot(p, dir, file); err != nil {
				return nil, err
			}
			names = append(names, file)
		}
	}
	for _, name := range sweepMetrics {
		p, err := sw.plotTornado(name)
		if err != nil {
			return nil, err
		}
		if p == nil {
			continue
		}
		if err := savePlot(p, dir, "tornado_"+name); err != nil {
			return nil, err
		}
		names = append(names, "tornado_"+name)
	}
	return names, nil
}

func (sw *Sweep) plotCurve(k int, mt metric) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s against %s (95%% band)", mt.name, sw.Keys[k].Key)
	p.X.Label.Text = sw.Keys[k].Key
	if sw.Base.Sweep.Method == "latin_hypercube" {
		p.X.Label.Text += " (binned Latin hypercube points; the other keys vary within each bin)"
	} else if sw.Base.Sweep.Method == "one_at_a_time" && len(sw.Keys) > 1 {
		p.X.Label.Text += " (the other keys at their baseline)"
	} else if len(sw.Keys) > 1 {
		p.X.Label.Text += " (pooled over the other keys' values)"
	}
	p.Y.Label.Text = mt.unit
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	drawn := false
	for i, mech := range sw.mechanismNames() {
		cv := sw.curve(k, mech, mt)
		var line, upper, lower plotter.XYs
		minN, maxN := math.MaxInt, 0
		for _, cp := range cv {
			if math.IsNaN(cp.Estimate) {
				continue
			}
			minN, maxN = min(minN, cp.N), max(maxN, cp.N)
			line = append(line, plotter.XY{X: cp.X, Y: cp.Estimate})
			if !math.IsNaN(cp.Low) {
				upper = append(upper, plotter.XY{X: cp.X, Y: cp.High})
				lower = append(lower, plotter.XY{X: cp.X, Y: cp.Low})
			}
		}
		if len(line) == 0 {
			continue
		}
		drawn = true
		if err := addBand(p, upper, lower, i); err != nil {
			return nil, err
		}
		l, sc, err := plotter.NewLinePoints(line)
		if err != nil {
			return nil, err
		}
		l.LineStyle = lineStyle(i)
		sc.GlyphStyle = draw.GlyphStyle{Color: palette[i%len(palette)], Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		p.Add(l, sc)
		label := fmt.Sprintf("%s (n=%d per point)", mech, minN)
		if minN != maxN {
			label = fmt.Sprintf("%s (n=%d–%d per point)", mech, minN, maxN)
		}
		p.Legend.Add(label, l, sc)
	}
	if !drawn {
		return nil, nil
	}
	// Headroom above the curves for the legend, so it hides none of them
	// (Add has stretched the axis over every curve and band).
	if p.Y.Max > p.Y.Min {
		p.Y.Max += 0.4 * (p.Y.Max - p.Y.Min)
	}
	return p, nil
}

// plotTornado: each key × mechanism as a bar from the metric's estimate at
// the key's low end to its high end (a circle marks the high end); the
// largest effects on top.
func (sw *Sweep) plotTornado(metricName string) (*plot.Plot, error) {
	var rows []Sensitivity
	for _, s := range sw.Sensitivities() {
		if s.Metric == metricName && !math.IsNaN(s.Effect()) {
			rows = append(rows, s)
		}
	}
	if len(rows) > 14 {
		rows = rows[:14]
	}
	if len(rows) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = "Sensitivity of " + metricName + ": low end of each key → high end (circle)"
	p.X.Label.Text = metricByName(metricName).unit + " (blue: rises with the key; orange: falls)"
	var labels []string
	for j := len(rows) - 1; j >= 0; j-- {
		s := rows[j]
		y := float64(len(rows) - 1 - j)
		labels = append(labels, fmt.Sprintf("%s [%s]", s.Key, s.Mechanism))
		bar, err := plotter.NewLine(plotter.XYs{{X: s.Low.Estimate, Y: y}, {X: s.High.Estimate, Y: y}})
		if err != nil {
			return nil, err
		}
		c := palette[0]
		if s.Effect() < 0 {
			c = palette[1]
		}
		bar.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(7)}
		p.Add(bar)
		mk, err := plotter.NewScatter(plotter.XYs{{X: s.High.Estimate, Y: y}})
		if err != nil {
			return nil, err
		}
		mk.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(mk)
	}
	p.NominalY(labels...)
	p.Add(plotter.NewGrid())
	return p, nil
}

// Report describes the sweep, its points and its plots, with provenance.
func (sw *Sweep) Report(prov Provenance, plots []string) string {
	c := sw.Base
	var b strings.Builder
	fmt.Fprintf(&b, "# Activation sweep: %s\n\n", prov.ConfigPath)
	runs := 0
	if len(sw.Studies) > 0 {
		runs = sw.Studies[0].Config.Runs
	}
	fmt.Fprintf(&b, "%s sweep over %d points × %d runs each, seed %d. Every point is a whole\n"+
		"study of the real activation engine; all points use the same seed, so where the population does\n"+
		"not change between points they see the same operators (common random numbers), and the curves\n"+
		"differ by the swept keys rather than by draws.\n\n",
		c.Sweep.Method, len(sw.Points), runs, c.Seed)
	b.WriteString("## Swept keys\n\n| key | values |\n|---|---|\n")
	for _, k := range sw.Keys {
		vals := fmt.Sprint(k.Values)
		if len(k.Values) == 0 {
			vals = fmt.Sprintf("%v to %v", k.Min, k.Max)
			if k.Steps > 0 {
				vals += fmt.Sprintf(" in %d steps", k.Steps)
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", k.Key, vals)
	}
	b.WriteString("\nA `[*]` key sets every list element that sets the key itself (a mechanism left at the default\n" +
		"threshold is not swept). Time and stake metrics are over the runs that activated (n on every plot;\n" +
		"where n drops, the slowest runs are the ones missing and the mean is optimistic);\n" +
		"*activated* has Wilson intervals. The tornado charts show, per key and mechanism, the estimate at the\n" +
		"key's lowest values against its highest. One at a time, that is the key's lowest and highest value\n" +
		"with every other key at its baseline (no other key moves, so nothing else is mixed in). For a grid,\n" +
		"it pools the points at the key's lowest and\n" +
		"highest level (balanced over the other keys). For a Latin hypercube, the point estimates are fitted\n" +
		"as a linear function of all keys at once and each key moves over its range with the others at their\n" +
		"mean (n then counts every run used in the fit; the interval is the coefficient's, from the fit's\n" +
		"residuals, so a nonlinear response widens it); its curves bin one key and let the others vary.\n" +
		"For a grid and one at a time the ends are paired: each point at the key's lowest value with the point at\n" +
		"its highest that has the same values of every other key, run by run (the same seed and run index, so\n" +
		"the same draws wherever the key does not change the population); the effect is the mean paired\n" +
		"difference over the runs where the metric is defined at both ends, with a 95% bootstrap interval.\n" +
		"An effect of 0 in every run has the interval [0, 0].\n\n")
	b.WriteString("## Sensitivity (largest effects first)\n\n| metric | key | mechanism | low end | high end | effect [95% CI] |\n|---|---|---|---|---|---|\n")
	count := map[string]int{}
	for _, s := range sw.Sensitivities() {
		if count[s.Metric]++; count[s.Metric] > 6 {
			continue
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s at %s (n=%d) | %s at %s (n=%d) | %s [%s, %s] |\n", s.Metric, s.Key, s.Mechanism,
			fmtNum(s.Low.Estimate), fmtNum(s.Low.X), s.Low.N, fmtNum(s.High.Estimate), fmtNum(s.High.X), s.High.N,
			fmtNum(s.Effect()), fmtNum(s.EffectLow), fmtNum(s.EffectHigh))
	}
	b.WriteString("\n")
	if sw.Robustness != nil {
		b.WriteString(sw.Robustness.Markdown())
	}
	b.WriteString("## Plots\n\n")
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s.png) ([SVG](%s.svg))\n\n", p, p, p)
	}
	b.WriteString("## Files\n\n- `sweep.csv`: one row per point, run and mechanism (long format), swept values first.\n" +
		"- `sweep_summary.csv`: per point, mechanism and metric, the estimate and its 95% interval.\n" +
		"- `sensitivity.csv`: every key × mechanism × headline metric.\n\n")
	b.WriteString("## Provenance\n\n")
	fmt.Fprintf(&b, "- command: `%s`\n", strings.Join(prov.CommandLine, " "))
	fmt.Fprintf(&b, "- node-plugin %s, commit %s, %s\n", prov.Version, prov.Commit, prov.GoVersion)
	fmt.Fprintf(&b, "- seed %d, %d runs per point, %d points\n\n", c.Seed, runs, len(sw.Points))
	b.WriteString("### Effective config (after command-line overrides and defaults)\n\n```toml\n")
	b.WriteString(c.EffectiveTOML())
	b.WriteString("```\n\n### Config file as given\n\n```toml\n")
	b.WriteString(strings.TrimRight(string(prov.ConfigText), "\n"))
	b.WriteString("\n```\n")
	return b.String()
}

// pairs is a count of pairs, blank when the effect was not paired.
func pairs(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}
