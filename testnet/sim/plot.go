package sim

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plots draws the study's figures into dir as PNG and SVG and returns their
// base names.
func (s *Study) Plots(dir string) ([]string, error) {
	type fig struct {
		name string
		make func() (*plot.Plot, error)
	}
	figs := []fig{
		{"time_to_activation_cdf", s.plotCDF},
		{"unready_stake_at_activation", s.plotUnready},
		{"liveness_vs_speed", s.plotLiveness},
	}
	var names []string
	for _, f := range figs {
		p, err := f.make()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
		for _, ext := range []string{".png", ".svg"} {
			if err := p.Save(7*vg.Inch, 4.5*vg.Inch, filepath.Join(dir, f.name+ext)); err != nil {
				return nil, fmt.Errorf("%s%s: %w", f.name, ext, err)
			}
		}
		names = append(names, f.name)
	}
	return names, nil
}

// plotCDF: share of runs activated by each time; a curve that stays below 1
// is a mechanism that sometimes fails.
func (s *Study) plotCDF() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Time from release to activation"
	p.X.Label.Text = "hours after release"
	p.Y.Label.Text = "share of runs activated"
	p.Y.Min, p.Y.Max = 0, 1
	p.Legend.Top, p.Legend.Left = false, false
	for i, m := range s.Config.Mechanisms {
		runs := s.ByMechanism(m.Name)
		var hours []float64
		for _, o := range runs {
			if o.Activated {
				hours = append(hours, o.HoursToActivation)
			}
		}
		slices.Sort(hours)
		pts := plotter.XYs{{X: 0, Y: 0}}
		for k, h := range hours {
			pts = append(pts, plotter.XY{X: h, Y: float64(k) / float64(len(runs))}, plotter.XY{X: h, Y: float64(k+1) / float64(len(runs))})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(m.Name, line)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}

// plotUnready: box plots of the stake share left behind at activation.
func (s *Study) plotUnready() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Stake not upgraded at activation (these nodes halt)"
	p.Y.Label.Text = "share of stake"
	p.Y.Min = 0
	var names []string
	for i, m := range s.Config.Mechanisms {
		var vals plotter.Values
		for _, o := range s.ByMechanism(m.Name) {
			if o.Activated {
				vals = append(vals, o.UnreadyShare)
			}
		}
		names = append(names, m.Name)
		if len(vals) == 0 {
			continue
		}
		box, err := plotter.NewBoxPlot(vg.Points(30), float64(i), vals)
		if err != nil {
			return nil, err
		}
		box.FillColor = plotutil.Color(i)
		p.Add(box)
	}
	p.NominalX(names...)
	return p, nil
}

// plotLiveness: each run as a point, hours to activation against hours of
// liveness loss; the trade-off between speed and safety.
func (s *Study) plotLiveness() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Speed against liveness loss"
	p.X.Label.Text = "hours to activation"
	p.Y.Label.Text = "hours without a two-thirds upgraded majority"
	for i, m := range s.Config.Mechanisms {
		var pts plotter.XYs
		for _, o := range s.ByMechanism(m.Name) {
			if o.Activated {
				pts = append(pts, plotter.XY{X: o.HoursToActivation, Y: o.LivenessLossHours})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		c := plotutil.Color(i)
		r, g, b, _ := c.RGBA()
		sc.GlyphStyle = draw.GlyphStyle{Color: color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 140},
			Radius: vg.Points(2), Shape: plotutil.Shape(i)}
		p.Add(sc)
		p.Legend.Add(m.Name, sc)
	}
	p.Add(plotter.NewGrid())
	return p, nil
}
