package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/quorumgate/quorumgate/activation"
)

// ParamChangeConfig makes the release a change of one protocol parameter
// (docs/replay.md, "Parameters") instead of a version upgrade: the simulated
// chain's genesis declares the parameter with its old value, and every
// mechanism proposes the new one through the engine, which applies the
// parameter's min_lead_views (a governance change needs an activation view
// more than max(Δ, min_lead_views) views after the proposal, or it is
// rejected; a stake lock-in activates at the first epoch boundary at least
// max(min_lead_views, Δ+1) views after it).
//
// Operators are modelled as for an upgrade: each picks up the change (a
// config, a client that honours the new value, resources sized for it)
// after a delay drawn from behaviour.delay, hurries before a known
// activation, and signals readiness only once it has; stake that has not
// picked it up at activation is "unready" and counts as unable to produce
// blocks. A change that needs nothing of operators is a short delay.
type ParamChangeConfig struct {
	Key  string `toml:"key"`
	Type string `toml:"type"` // uint | bool | string
	// Old is the value at genesis, New the proposed one, in canonical text
	// as in a genesis file's params ("true"/"false" for a bool).
	Old string `toml:"old"`
	New string `toml:"new"`
	// Min and Max bound a uint parameter (inclusive), when set.
	Min          *uint64 `toml:"min,omitempty"`
	Max          *uint64 `toml:"max,omitempty"`
	MinLeadViews uint64  `toml:"min_lead_views"`
}

// decl is the genesis declaration the config describes (unchecked).
func (p *ParamChangeConfig) decl() activation.ParamDecl {
	t, _ := activation.ParseParamType(p.Type)
	return activation.ParamDecl{Name: p.Key, Type: t, Min: p.Min, Max: p.Max, Value: p.Old, MinLeadViews: p.MinLeadViews}
}

// validateParamChange checks [param_change], if any, with the engine's own
// rules for a declaration and a value, and returns the chain's parameter
// declarations (nil without one).
func (c *Config) validateParamChange() ([]activation.ParamDecl, error) {
	p := c.ParamChange
	if p == nil {
		return nil, nil
	}
	if _, ok := activation.ParseParamType(p.Type); !ok {
		return nil, cfgErr("param_change.type", "%q: allowed are uint, bool, string", p.Type)
	}
	d := p.decl()
	if err := d.Check(); err != nil {
		field := "key"
		var de *activation.ParamDeclError
		if errors.As(err, &de) {
			field = map[string]string{"name": "key", "value": "old"}[de.Field]
			if field == "" {
				field = de.Field
			}
		}
		return nil, cfgErr("param_change."+field, "%v", err)
	}
	switch d.CheckValue(p.New) {
	case activation.BadValue:
		return nil, cfgErr("param_change.new", "%q is not a valid %v value", p.New, d.Type)
	case activation.OutOfBounds:
		return nil, cfgErr("param_change.new", "%s is out of the parameter's bounds (min, max)", p.New)
	}
	if p.New == p.Old {
		return nil, cfgErr("param_change.new", "%q is the value at genesis (old): not a change", p.New)
	}
	return []activation.ParamDecl{d}, nil
}

// paramOutcome fills in what is particular to a parameter change once the
// release activated: the lead from the block that accepted it (governance,
// at the release) or locked it in, and whether min_lead_views moved a
// lock-in's activation past the boundary the mechanism's own rules give.
func (c *Config) paramOutcome(out *Outcome, d *activation.Deployment) {
	if c.ParamChange == nil {
		return
	}
	out.LeadViews = d.ActivatesAt - out.LockInView
	out.LeadHours = c.viewsToHours(out.LeadViews)
	if out.LockInView > 0 {
		L := c.Chain.EpochViews
		rules := max(out.LockInView/L+1+d.DelayEpochs, d.MinActivationEpoch) * L
		out.DeferredByMinLead = d.ActivatesAt > rules
	}
}

// metrics are the study's metrics: a parameter change adds paramMetrics.
func (c *Config) metrics() []metric {
	out := metrics
	if c.hasPoW() {
		if !slices.ContainsFunc(c.Mechanisms, func(m MechanismConfig) bool { return !m.PoW }) {
			// No mechanism uses the halting model: its metrics would be empty tables.
			out = slices.DeleteFunc(slices.Clone(out), func(mt metric) bool { return strings.HasSuffix(mt.unit, "(BFT halting model)") })
		}
		out = append(slices.Clip(out), powMetrics...)
	}
	if c.ParamChange != nil {
		out = append(slices.Clip(out), paramMetrics...)
	}
	return out
}

// hasPoW reports whether a mechanism uses the proof-of-work model.
func (c *Config) hasPoW() bool {
	return slices.ContainsFunc(c.Mechanisms, func(m MechanismConfig) bool { return m.PoW })
}

// paramMetrics are the summary's metrics for a parameter change, after the
// others.
var paramMetrics = []metric{
	{"rejected", "share of runs", true, func(o Outcome) (float64, bool) { return b2f(o.Rejected != ""), true }},
	{"lead_hours", "hours from acceptance or lock-in to activation, runs that activated", false,
		func(o Outcome) (float64, bool) { return o.LeadHours, o.Activated }},
	{"deferred_by_min_lead", "share of lock-ins that activated", true,
		func(o Outcome) (float64, bool) { return b2f(o.DeferredByMinLead), o.Activated && o.LockInView > 0 }},
}

// paramHeader is runs.csv's columns for a parameter change, after the others.
var paramHeader = []string{"rejected", "lead_views", "deferred_by_min_lead"}

// paramRow is an outcome's cells under paramHeader.
func paramRow(o Outcome) []string {
	if !o.Activated {
		return []string{o.Rejected, "", ""}
	}
	deferred := ""
	if o.LockInView > 0 {
		deferred = strconv.FormatBool(o.DeferredByMinLead)
	}
	return []string{"", strconv.FormatUint(o.LeadViews, 10), deferred}
}

// paramMarkdown is a parameter change's comparison at a glance (empty for
// a version upgrade): per mechanism, the runs the engine rejected and why,
// the runs that activated, the least and the median lead from acceptance or
// lock-in to activation, and the lock-ins min_lead_views moved to a later
// epoch boundary than the mechanism's rules give.
func (s *Study) paramMarkdown() string {
	c := s.Config
	pc := c.ParamChange
	if pc == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### Parameter change: %s from %s to %s, min_lead_views %d (%s h)\n\n", pc.Key, pc.Old, pc.New,
		pc.MinLeadViews, fmtNum(c.viewsToHours(pc.MinLeadViews)))
	b.WriteString("| mechanism | kind | rejected | activated | least lead (views) | median lead (h) | lock-ins moved to a later boundary by min_lead_views |\n" +
		"|---|---|---|---:|---:|---:|---:|\n")
	for _, m := range c.Mechanisms {
		runs := s.ByMechanism(m.Name)
		var rejected, activated, lockIns, deferred int
		var reasons []string
		var leads []float64
		least := uint64(math.MaxUint64)
		for _, o := range runs {
			if o.Rejected != "" {
				rejected++
				if !slices.Contains(reasons, o.Rejected) {
					reasons = append(reasons, o.Rejected)
				}
			}
			if !o.Activated {
				continue
			}
			activated++
			leads = append(leads, o.LeadHours)
			least = min(least, o.LeadViews)
			if o.LockInView > 0 {
				lockIns++
				if o.DeferredByMinLead {
					deferred++
				}
			}
		}
		rej := fmt.Sprintf("%d/%d", rejected, len(runs))
		if len(reasons) > 0 {
			rej += " (" + strings.Join(reasons, ", ") + ")"
		}
		leastCell, medianCell, deferredCell := "–", "–", "–"
		if activated > 0 {
			slices.Sort(leads)
			leastCell, medianCell = strconv.FormatUint(least, 10), fmtNum(quantile(leads, 0.5))
		}
		if lockIns > 0 {
			deferredCell = fmt.Sprintf("%d/%d", deferred, lockIns)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d/%d | %s | %s | %s |\n", m.Name, m.Kind, rej, activated, len(runs), leastCell, medianCell, deferredCell)
	}
	return b.String() + "\n"
}

// paramReport is the report's account of a parameter change: what is
// proposed, the engine's rules with this config's numbers, and what
// "upgraded" means here. Empty for a version upgrade.
func (c *Config) paramReport() string {
	pc := c.ParamChange
	if pc == nil {
		return ""
	}
	d := c.paramDecls[0]
	hours := func(v uint64) string { return fmtNum(c.viewsToHours(v)) + " h" }
	gov := max(c.Chain.SafetyViews, pc.MinLeadViews)
	lead := d.Lead(c.Chain.SafetyViews)
	var b strings.Builder
	b.WriteString("## Parameter change\n\n")
	fmt.Fprintf(&b, "The release is no new software but a change of protocol parameter `%s` (%v", pc.Key, d.Type)
	if pc.Min != nil || pc.Max != nil {
		lo, hi := "0", "2^64-1"
		if pc.Min != nil {
			lo = strconv.FormatUint(*pc.Min, 10)
		}
		if pc.Max != nil {
			hi = strconv.FormatUint(*pc.Max, 10)
		}
		fmt.Fprintf(&b, " in [%s, %s]", lo, hi)
	}
	fmt.Fprintf(&b, ") from `%s` to `%s`. The simulated chain's genesis declares it with min_lead_views = %d views (%s), "+
		"and every mechanism proposes the new value to the engine, whose rules for parameters decide:\n\n", pc.Old, pc.New, pc.MinLeadViews, hours(pc.MinLeadViews))
	fmt.Fprintf(&b, "- governance: accepted only with an activation view more than max(Δ, min_lead_views) = %d views (%s) after "+
		"the proposal, made at the release; otherwise *rejected* (activation too soon): it never activates, and the "+
		"Kaplan–Meier curve counts it as it counts a timeout;\n", gov, hours(gov))
	fmt.Fprintf(&b, "- stake and hybrid: a lock-in activates at the boundary the mechanism's rules give if that is at least "+
		"max(min_lead_views, Δ+1) = %d views (%s) after the lock-in block, else at the first epoch boundary that is "+
		"(*deferred_by_min_lead*).\n\n", lead, hours(lead))
	b.WriteString("*Lead* is the time from acceptance (governance: the release) or lock-in to activation. Operators are modelled " +
		"as for an upgrade: each picks up the change (a config, a client that honours the new value, resources sized for it) " +
		"after a delay drawn from behaviour.delay, and signals readiness only then; *upgraded* and *unready* below say whether " +
		"a node had picked it up, and unready stake counts as unable to produce blocks.\n\n")
	return b.String()
}
