package sim

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// calibration records how the delay curve was fitted, for the report.
type calibration struct {
	fittedSigma bool
}

// delayFit is the lognormal delay fitted to behaviour.delay.fit.
type delayFit struct {
	medianHours, sigma float64
	// fittedSigma: sigma came from the points too (it was not given).
	fittedSigma bool
}

// fitDelay fits the lognormal delay to behaviour.delay.fit, if given (nil
// if not). It checks the fit and check points and leaves the config as it is.
func (c *Config) fitDelay() (*delayFit, error) {
	d := &c.Behaviour.Delay
	for i, p := range append(append([][]float64{}, d.Fit...), d.Check...) {
		key := "behaviour.delay.fit"
		if i >= len(d.Fit) {
			key, i = "behaviour.delay.check", i-len(d.Fit)
		}
		if len(p) != 2 || !(p[0] > 0) || !(p[1] > 0 && p[1] < 1) {
			return nil, cfgErr(fmt.Sprintf("%s[%d]", key, i), "a point is [hours > 0, share strictly between 0 and 1]")
		}
	}
	if len(d.Fit) == 0 {
		if len(d.Check) > 0 && d.Distribution != "lognormal" && d.Distribution != "empirical" {
			return nil, cfgErr("behaviour.delay.check", "needs a delay distribution")
		}
		return nil, nil
	}
	switch {
	case d.Distribution != "lognormal":
		return nil, cfgErr("behaviour.delay.fit", "fits a lognormal delay only")
	case d.MedianHours != 0:
		return nil, cfgErr("behaviour.delay.median_hours", "is fitted from behaviour.delay.fit; leave it out")
	case len(d.Fit) < 2 && d.Sigma == 0:
		return nil, cfgErr("behaviour.delay.sigma", "one fit point fixes the median only: give sigma (an assumption) or a second point")
	}
	// ln h = ln m + σ·z with z the probit of the share.
	var zs, lns []float64
	for _, p := range d.Fit {
		zs = append(zs, distuv.UnitNormal.Quantile(p[1]))
		lns = append(lns, math.Log(p[0]))
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	fit := &delayFit{sigma: d.Sigma}
	if fit.sigma == 0 {
		mz, ml := mean(zs), mean(lns)
		var sxy, sxx float64
		for i := range zs {
			sxy += (zs[i] - mz) * (lns[i] - ml)
			sxx += (zs[i] - mz) * (zs[i] - mz)
		}
		if sxx == 0 || sxy <= 0 {
			return nil, cfgErr("behaviour.delay.fit", "the points do not rise with time: no lognormal fits them")
		}
		fit.sigma = sxy / sxx
		fit.fittedSigma = true
	}
	var lnm []float64
	for i := range zs {
		lnm = append(lnm, lns[i]-fit.sigma*zs[i])
	}
	fit.medianHours = math.Exp(mean(lnm))
	return fit, nil
}

// delayCDF is the share of operators upgraded by h hours with no deadline.
func (c *Config) delayCDFAt(h float64) float64 {
	d := c.Behaviour.Delay
	if d.Distribution == "lognormal" {
		if d.Sigma == 0 {
			return b2f(h >= d.MedianHours)
		}
		return distuv.UnitNormal.CDF(math.Log(h/d.MedianHours) / d.Sigma)
	}
	pts := c.delayCDF
	if h <= pts[0].hours {
		return pts[0].share
	}
	for i := 1; i < len(pts); i++ {
		if h <= pts[i].hours {
			a, b := pts[i-1], pts[i]
			return a.share + (h-a.hours)/(b.hours-a.hours)*(b.share-a.share)
		}
	}
	return pts[len(pts)-1].share
}

// calibrationMarkdown reports the fit and how well it predicts the check points.
func (c *Config) calibrationMarkdown() string {
	d := c.Behaviour.Delay
	if len(d.Fit) == 0 && len(d.Check) == 0 {
		return ""
	}
	out := "## Calibration\n\n"
	if len(d.Fit) > 0 {
		how := "sigma given: an assumption"
		if c.calib.fittedSigma {
			how = "sigma fitted too"
		}
		out += fmt.Sprintf("The lognormal delay was fitted to %d observed point(s) (`behaviour.delay.fit`): median %.1f h, "+
			"sigma %.3f (%s).\n\n", len(d.Fit), d.MedianHours, d.Sigma, how)
	}
	out += "The share of operators upgraded by each time under the delay curve (no deadline pressure), against the\n" +
		"observed share. Fit points show the residual of the fit; check points (`behaviour.delay.check`), from\n" +
		"another upgrade, show how well the curve carries over.\n\n| point | hours after release | observed | curve | curve − observed |\n|---|---:|---:|---:|---:|\n"
	row := func(kind string, p []float64) string {
		pred := c.delayCDFAt(p[0])
		return fmt.Sprintf("| %s | %.0f | %.3f | %.3f | %+.3f |\n", kind, p[0], p[1], pred, pred-p[1])
	}
	for _, p := range d.Fit {
		out += row("fit", p)
	}
	for _, p := range d.Check {
		out += row("check", p)
	}
	return out + "\n"
}
