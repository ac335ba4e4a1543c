package sim

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// palette is Tableau 10: ten colours told apart by most readers, also in
// print. With dash patterns cycling over seven (coprime to ten), every
// mechanism up to seventy has its own colour and line style pair.
var palette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
}

var dashes = [][]vg.Length{
	nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}, {vg.Points(8), vg.Points(3), vg.Points(2), vg.Points(3)},
	{vg.Points(12), vg.Points(4)}, {vg.Points(4), vg.Points(6)}, {vg.Points(8), vg.Points(2), vg.Points(2), vg.Points(2), vg.Points(2), vg.Points(2)},
}

// lineStyle is mechanism i's colour and dash pattern.
func lineStyle(i int) draw.LineStyle {
	return draw.LineStyle{Color: palette[i%len(palette)], Width: vg.Points(1.6), Dashes: dashes[i%len(dashes)]}
}

func fade(c color.NRGBA, alpha uint8) color.NRGBA { c.A = alpha; return c }

// Plots draws the study's figures into dir as PNG and SVG and returns their
// base names. A figure with nothing to show (every value the same) is left
// out rather than drawn flat.
func (s *Study) Plots(dir string) ([]string, error) {
	type fig struct {
		name string
		make func() (*plot.Plot, error)
	}
	figs := []fig{
		{"time_to_activation_km", s.plotKM},
		{"unready_stake_at_activation", func() (*plot.Plot, error) {
			return s.plotMeans("Stake not upgraded at activation (these nodes halt)", "share of stake", func(o Outcome) (float64, bool) {
				return o.UnreadyShare, o.Activated
			})
		}},
		{"missed_block_rate", func() (*plot.Plot, error) {
			return s.plotMeans(fmt.Sprintf("Missed blocks in the %.0f h after activation", s.Config.LivenessWindowHours),
				"share of views without a block", func(o Outcome) (float64, bool) { return o.MissedBlockRate, o.Activated })
		}},
		{"missed_blocks_after_activation", s.plotMissedProfile},
	}
	if len(s.Config.Mechanisms) > 1 {
		figs = append(figs,
			fig{"paired_hours_to_activation", func() (*plot.Plot, error) { return s.plotPaired("hours_to_activation", "hours") }},
			fig{"paired_unready_stake", func() (*plot.Plot, error) { return s.plotPaired("unready_stake_at_activation", "share of stake") }})
	}
	var names []string
	s.dropped = nil
	for _, f := range figs {
		p, err := f.make()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		if p == nil {
			s.dropped = append(s.dropped, f.name)
			continue
		}
		if err := savePlot(p, dir, f.name); err != nil {
			return nil, err
		}
		names = append(names, f.name)
	}
	return names, nil
}

func savePlot(p *plot.Plot, dir, name string) error {
	for _, ext := range []string{".png", ".svg"} {
		if err := p.Save(8*vg.Inch, 5*vg.Inch, filepath.Join(dir, name+ext)); err != nil {
			return fmt.Errorf("%s%s: %w", name, ext, err)
		}
	}
	return nil
}

// addBand shades the area between upper and lower (same x values) in
// mechanism i's colour, faded; nothing with fewer than two points.
func addBand(p *plot.Plot, upper, lower plotter.XYs, i int) error {
	if len(upper) < 2 || len(lower) != len(upper) {
		return nil
	}
	ring := append(plotter.XYs{}, upper...)
	for j := len(lower) - 1; j >= 0; j-- {
		ring = append(ring, lower[j])
	}
	poly, err := plotter.NewPolygon(ring)
	if err != nil {
		return err
	}
	poly.Color = fade(palette[i%len(palette)], 45)
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}

// vline is a vertical marker from y0 to y1.
func vline(x, y0, y1 float64, st draw.LineStyle) (*plotter.Line, error) {
	l, err := plotter.NewLine(plotter.XYs{{X: x, Y: y0}, {X: x, Y: y1}})
	if err != nil {
		return nil, err
	}
	l.LineStyle = st
	return l, nil
}

// activationKM is the Kaplan–Meier estimate of time to activation. Runs
// still waiting at the horizon are censored there; a run whose deployment
// timed out (or whose parameter change was rejected) can never activate, so
// it was observed not activating until the horizon: censoring it at its
// timeout would let the estimate assume it might activate later.
func activationKM(runs []Outcome, horizon float64) []KMStep {
	times, events := make([]float64, len(runs)), make([]bool, len(runs))
	for j, o := range runs {
		times[j], events[j] = o.EndHours, o.Activated
		if o.Failed || o.Rejected != "" {
			times[j] = horizon
		}
	}
	return KaplanMeier(times, events)
}

// plotKM: the Kaplan–Meier estimate of the share of runs activated by each
// time, with its 95% band. Runs still waiting at the horizon are censored
// there; runs whose deployment timed out stay in the risk set to the horizon
// (they cannot activate any more). Timeouts and the horizon are marked.
func (s *Study) plotKM() (*plot.Plot, error) {
	c := s.Config
	p := plot.New()
	p.Title.Text = "Time from release to activation (Kaplan–Meier, 95% band)"
	p.X.Label.Text = "hours after release"
	p.Y.Label.Text = "share of runs activated"
	// The legend sits in a band above 1, where no curve goes, so it hides none.
	p.Y.Min, p.Y.Max = 0, 1.08+0.075*float64(len(c.Mechanisms)+1)
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"},
		{Value: 0.5, Label: "0.5"}, {Value: 0.75, Label: "0.75"}, {Value: 1, Label: "1"}})
	p.Legend.Top, p.Legend.Left = true, false
	p.Add(plotter.NewGrid())
	horizon := c.viewsToHours(c.HorizonEpochs * c.Chain.EpochViews)
	for i, m := range c.Mechanisms {
		runs := s.ByMechanism(m.Name)
		k := 0
		for _, o := range runs {
			if o.Activated {
				k++
			}
		}
		steps := activationKM(runs, horizon)
		line := plotter.XYs{{X: 0, Y: 0}}
		upper, lower := plotter.XYs{{X: 0, Y: 0}}, plotter.XYs{{X: 0, Y: 0}}
		prev := KMStep{Survival: 1, Low: 1, High: 1}
		for _, st := range steps {
			line = append(line, plotter.XY{X: st.Time, Y: 1 - prev.Survival}, plotter.XY{X: st.Time, Y: 1 - st.Survival})
			upper = append(upper, plotter.XY{X: st.Time, Y: 1 - prev.Low}, plotter.XY{X: st.Time, Y: 1 - st.Low})
			lower = append(lower, plotter.XY{X: st.Time, Y: 1 - prev.High}, plotter.XY{X: st.Time, Y: 1 - st.High})
			prev = st
		}
		st := lineStyle(i)
		if err := addBand(p, upper, lower, i); err != nil {
			return nil, err
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return nil, err
		}
		l.LineStyle = st
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d/%d activated)", m.Name, k, len(runs)), l)
		if m.Kind != "governance" {
			timeout := c.viewsToHours(m.TimeoutEpochs * c.Chain.EpochViews)
			if timeout < horizon {
				marker := st
				marker.Width = vg.Points(0.8)
				marker.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
				v, err := vline(timeout, 0, 1.03, marker)
				if err != nil {
					return nil, err
				}
				p.Add(v)
			}
		}
	}
	v, err := vline(horizon, 0, 1.03, draw.LineStyle{Color: color.Black, Width: vg.Points(1.2), Dashes: []vg.Length{vg.Points(1), vg.Points(2)}})
	if err != nil {
		return nil, err
	}
	p.Add(v)
	p.Legend.Add("horizon (thin dotted: a mechanism's timeout)", v)
	return p, nil
}

// plotMeans: per mechanism, each run's value as a faint dot and the mean with
// its 95% interval, labelled with the number of runs it covers. Nil when
// every value is the same (a flat plot says nothing; the table says it).
func (s *Study) plotMeans(title, ylabel string, get func(Outcome) (float64, bool)) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	var names []string
	first, varied := math.NaN(), false
	for i, m := range s.Config.Mechanisms {
		var xs []float64
		var dots plotter.XYs
		for j, o := range s.ByMechanism(m.Name) {
			if v, ok := get(o); ok {
				xs = append(xs, v)
				// Spread the dots sideways (deterministically) so they do not hide each other.
				dots = append(dots, plotter.XY{X: float64(i) + 0.3*(unit(splitmix(uint64(j)))-0.5), Y: v})
				if math.IsNaN(first) {
					first = v
				} else if v != first {
					varied = true
				}
			}
		}
		names = append(names, fmt.Sprintf("%s\nn=%d", m.Name, len(xs)))
		if len(xs) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: fade(palette[i%len(palette)], 60), Radius: vg.Points(1.2), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		mean, lo, hi := meanCI(xs)
		if !math.IsNaN(lo) {
			bar, err := plotter.NewLine(plotter.XYs{{X: float64(i), Y: lo}, {X: float64(i), Y: hi}})
			if err != nil {
				return nil, err
			}
			bar.LineStyle = draw.LineStyle{Color: color.Black, Width: vg.Points(2.5)}
			p.Add(bar)
		}
		mk, err := plotter.NewScatter(plotter.XYs{{X: float64(i), Y: mean}})
		if err != nil {
			return nil, err
		}
		mk.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3.5), Shape: draw.BoxGlyph{}}
		p.Add(mk)
	}
	if !varied {
		return nil, nil
	}
	p.Add(plotter.NewGrid())
	p.NominalX(names...)
	p.X.Label.Text = "black square: mean, bar: its 95% interval; dots: runs"
	return p, nil
}

// plotPaired: a forest plot of each mechanism's paired difference from the
// reference on one metric.
func (s *Study) plotPaired(metricName, unit string) (*plot.Plot, error) {
	var diffs []PairedDiff
	for _, d := range s.PairedDiffs() {
		if d.Metric == metricName && d.N > 1 {
			diffs = append(diffs, d)
		}
	}
	if len(diffs) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: difference from %s, run by run (95%% CI)", metricName, diffs[0].Reference)
	p.X.Label.Text = unit + " (mechanism minus reference)"
	var names []string
	varied := false
	for i, d := range diffs {
		names = append(names, fmt.Sprintf("%s (n=%d)", d.Mechanism, d.N))
		if d.CILow != 0 || d.CIHigh != 0 {
			varied = true
		}
		bar, err := plotter.NewLine(plotter.XYs{{X: d.CILow, Y: float64(i)}, {X: d.CIHigh, Y: float64(i)}})
		if err != nil {
			return nil, err
		}
		bar.LineStyle = draw.LineStyle{Color: palette[mechIndexOf(s.Config, d.Mechanism)%len(palette)], Width: vg.Points(3)}
		p.Add(bar)
		mk, err := plotter.NewScatter(plotter.XYs{{X: d.Mean, Y: float64(i)}})
		if err != nil {
			return nil, err
		}
		mk.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3), Shape: draw.BoxGlyph{}}
		p.Add(mk)
	}
	if !varied {
		return nil, nil
	}
	zero, err := vline(0, -0.5, float64(len(diffs))-0.5, draw.LineStyle{Color: color.Gray{Y: 90}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(3), vg.Points(3)}})
	if err != nil {
		return nil, err
	}
	p.Add(zero)
	p.Add(plotter.NewGrid())
	p.NominalY(names...)
	return p, nil
}

// plotMissedProfile: the missed-block rate over the liveness window after
// activation, averaged over the runs that activated: the spike of missed
// slots after a fork while late operators catch up. The band is a normal
// interval of the mean, clipped to [0, 1] (a bootstrap per bin costs too much).
func (s *Study) plotMissedProfile() (*plot.Plot, error) {
	c := s.Config
	p := plot.New()
	p.Title.Text = "Missed blocks after activation (mean over runs, 95% band)"
	p.X.Label.Text = "hours after activation"
	p.Y.Label.Text = "share of views without a block"
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	binHours := c.LivenessWindowHours / profileBins
	varied, first := false, math.NaN()
	for i, m := range c.Mechanisms {
		var runs [][]float64
		for _, o := range s.ByMechanism(m.Name) {
			if o.Activated && len(o.MissedProfile) == profileBins {
				runs = append(runs, o.MissedProfile)
			}
		}
		if len(runs) == 0 {
			continue
		}
		var line, upper, lower plotter.XYs
		for b := range profileBins {
			xs := make([]float64, len(runs))
			for r := range runs {
				xs[r] = runs[r][b]
				if math.IsNaN(first) {
					first = xs[r]
				} else if xs[r] != first {
					varied = true
				}
			}
			mean, lo, hi := normalCI(xs)
			x := (float64(b) + 0.5) * binHours
			line = append(line, plotter.XY{X: x, Y: mean})
			if !math.IsNaN(lo) {
				upper = append(upper, plotter.XY{X: x, Y: math.Min(1, hi)})
				lower = append(lower, plotter.XY{X: x, Y: math.Max(0, lo)})
			}
		}
		if err := addBand(p, upper, lower, i); err != nil {
			return nil, err
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return nil, err
		}
		l.LineStyle = lineStyle(i)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", m.Name, len(runs)), l)
	}
	if !varied {
		return nil, nil
	}
	if p.Y.Max > p.Y.Min {
		p.Y.Max += 0.4 * (p.Y.Max - p.Y.Min)
	}
	p.Y.Min = 0
	return p, nil
}

// mechIndexOf is a mechanism's position in the config (its colour).
func mechIndexOf(c *Config, name string) int {
	for i, m := range c.Mechanisms {
		if m.Name == name {
			return i
		}
	}
	return 0
}
