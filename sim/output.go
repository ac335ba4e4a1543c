package sim

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Provenance is what a report needs to be reproduced: how it was invoked and
// with which binary. It holds no timing: the same config and seed give the
// same report, byte for byte (the command prints how long it took to stderr).
type Provenance struct {
	// CommandLine is the invocation, arguments as given.
	CommandLine []string
	// ConfigPath and ConfigText are the config file as given (before overrides).
	ConfigPath string
	ConfigText []byte
	// Version, Commit (with a -modified suffix for a dirty tree) and
	// GoVersion describe the binary; BuildProvenance fills them in.
	Version, Commit, GoVersion string
}

// BuildProvenance reads the running binary's version, commit and Go version.
func BuildProvenance() Provenance {
	p := Provenance{Version: "(devel)", Commit: "unknown", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			p.Version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				p.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified {
			p.Commit += "-modified"
		}
	}
	return p
}

// Write writes runs.csv, summary.csv, summary.md, paired.csv, the plots (PNG
// and SVG) and report.md into dir, creating it.
func (s *Study) Write(dir string, prov Provenance) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"runs.csv":    s.RunsCSV(),
		"summary.csv": s.SummaryCSV(),
		"summary.md":  []byte(s.SummaryMarkdown()),
		"paired.csv":  s.PairedCSV(),
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := writeFileAtomic(filepath.Join(dir, name), files[name]); err != nil {
			return err
		}
	}
	plots, err := s.Plots(dir)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, "report.md"), []byte(s.Report(prov, plots)))
}

// writeFileAtomic writes through a temporary file and a rename, so a reader
// never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Study) roles() []string {
	set := map[string]bool{}
	for _, o := range s.Outcomes {
		for r := range o.UpgradedShare {
			set[r] = true
		}
	}
	if s.Config.stakeTable == nil {
		for _, r := range s.Config.Population.Roles {
			set[r.Name] = true
		}
	}
	var out []string
	for r := range set {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

func ff(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 10, 64)
}

// runsHeader is runs.csv's columns before the per-role ones.
var runsHeader = []string{"run", "mechanism", "activated", "failed", "end_hours", "lock_in_view", "activation_view",
	"hours_to_activation", "unready_stake_share", "signaled_share_at_lock_in", "missed_block_rate",
	"no_finality_hours", "nodes_halted", "unsafe_activation"}

// runsColumns is runs.csv's header: runsHeader, a column per role, and a
// parameter change's columns.
func (c *Config) runsColumns(roles []string) []string {
	header := slices.Clone(runsHeader)
	for _, r := range roles {
		header = append(header, "upgraded_share_"+r)
	}
	if c.hasPoW() {
		header = append(header, "split_blocks")
	}
	if c.ParamChange != nil {
		header = append(header, paramHeader...)
	}
	return header
}

// runCells is one outcome's cells under runsColumns, after run and mechanism.
func (c *Config) runCells(o Outcome, roles []string) []string {
	row := outcomeRow(o, roles)
	if c.hasPoW() {
		split := ""
		if o.PoW && o.Activated {
			split = strconv.Itoa(o.SplitBlocks)
		}
		row = append(row, split)
	}
	if c.ParamChange != nil {
		row = append(row, paramRow(o)...)
	}
	return row
}

// outcomeRow is one outcome's cells after run and mechanism. A value that
// does not apply is blank, never 0: the lock-in view and the signalled
// share at lock-in for a run without a lock-in (governance never locks
// in), what activation cost for a run that did not activate.
func outcomeRow(o Outcome, roles []string) []string {
	row := []string{strconv.FormatBool(o.Activated), strconv.FormatBool(o.Failed), ff(o.EndHours)}
	lockIn, signaled := "", ""
	if o.LockInView > 0 {
		lockIn, signaled = strconv.FormatUint(o.LockInView, 10), ff(o.SignaledShareAtLockIn)
	}
	row = append(row, lockIn)
	if !o.Activated {
		row = append(row, "", "", "", signaled, "", "", "", "false") // not activated: not unsafe
		return append(row, make([]string, len(roles))...)
	}
	missed, noFinality, halted := ff(o.MissedBlockRate), ff(o.NoFinalityHours), strconv.Itoa(o.NodesHalted)
	if o.PoW {
		missed, noFinality, halted = "", "", "" // the halting model does not apply: see split_blocks
	}
	row = append(row, strconv.FormatUint(o.ActivationView, 10), ff(o.HoursToActivation), ff(o.UnreadyShare),
		signaled, missed, noFinality, halted, strconv.FormatBool(o.Unsafe))
	for _, r := range roles {
		row = append(row, ff(o.UpgradedShare[r]))
	}
	return row
}

// csvBuffer builds a CSV file in memory. A csv.Writer fails only when the
// writer under it does, and a bytes.Buffer does not: its rows return no
// error.
type csvBuffer struct {
	buf bytes.Buffer
	w   *csv.Writer
}

func newCSVBuffer() *csvBuffer {
	c := &csvBuffer{}
	c.w = csv.NewWriter(&c.buf)
	return c
}

func (c *csvBuffer) row(fields []string) { _ = c.w.Write(fields) } // in memory: cannot fail

func (c *csvBuffer) bytes() []byte {
	c.w.Flush()
	return c.buf.Bytes()
}

// RunsCSV has one row per run and mechanism.
func (s *Study) RunsCSV() []byte {
	w := newCSVBuffer()
	roles := s.roles()
	w.row(s.Config.runsColumns(roles))
	for _, o := range s.Outcomes {
		w.row(append([]string{strconv.Itoa(o.Run), o.Mechanism}, s.Config.runCells(o, roles)...))
	}
	return w.bytes()
}

// SummaryCSV has one row per mechanism and metric.
func (s *Study) SummaryCSV() []byte {
	w := newCSVBuffer()
	w.row([]string{"mechanism", "metric", "n", "estimate", "ci95_low", "ci95_high", "interval", "median", "p90"})
	for _, x := range s.Summaries() {
		interval := "bootstrap (mean)"
		if x.Proportion {
			interval = "wilson"
		}
		w.row([]string{x.Mechanism, x.Metric, strconv.Itoa(x.N), ff(x.Estimate), ff(x.CILow), ff(x.CIHigh), interval, ff(x.Median), ff(x.P90)})
	}
	return w.bytes()
}

// PairedCSV has one row per mechanism (other than the reference) and metric.
func (s *Study) PairedCSV() []byte {
	w := newCSVBuffer()
	w.row([]string{"mechanism", "reference", "metric", "n_pairs", "mean_difference", "ci95_low", "ci95_high"})
	for _, d := range s.PairedDiffs() {
		w.row([]string{d.Mechanism, d.Reference, d.Metric, strconv.Itoa(d.N), ff(d.Mean), ff(d.CILow), ff(d.CIHigh)})
	}
	return w.bytes()
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

// SummaryMarkdown is the summary as tables, one per metric.
func (s *Study) SummaryMarkdown() string {
	var b strings.Builder
	b.WriteString(s.paramMarkdown())
	sums := s.Summaries()
	for _, mt := range s.Config.metrics() {
		fmt.Fprintf(&b, "### %s (%s)\n\n", mt.name, mt.unit)
		if mt.proportion {
			b.WriteString("| mechanism | runs | share | 95% interval (Wilson) |\n|---|---:|---:|---|\n")
		} else {
			b.WriteString("| mechanism | n | median | p90 | mean [95% CI] |\n|---|---:|---:|---:|---|\n")
		}
		for _, x := range sums {
			if x.Metric != mt.name {
				continue
			}
			if mt.proportion {
				fmt.Fprintf(&b, "| %s | %d | %s | [%s, %s] |\n", x.Mechanism, x.N, fmtNum(x.Estimate), fmtNum(x.CILow), fmtNum(x.CIHigh))
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s [%s, %s] |\n", x.Mechanism, x.N, fmtNum(x.Median), fmtNum(x.P90),
				fmtNum(x.Estimate), fmtNum(x.CILow), fmtNum(x.CIHigh))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// pairedMarkdown is the paired differences against the reference mechanism.
func (s *Study) pairedMarkdown() string {
	diffs := s.PairedDiffs()
	if len(diffs) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Each mechanism minus **%s**, run by run (the same operators in both), over the runs where\n"+
		"the metric is defined for both; mean difference with a 95%% bootstrap interval. An interval that\n"+
		"excludes 0 is a difference the runs resolve; one that includes 0 is not.\n\n", diffs[0].Reference)
	b.WriteString("| mechanism | metric | pairs | mean difference [95% CI] |\n|---|---|---:|---|\n")
	for _, d := range diffs {
		fmt.Fprintf(&b, "| %s | %s | %d | %s [%s, %s] |\n", d.Mechanism, d.Metric, d.N, fmtNum(d.Mean), fmtNum(d.CILow), fmtNum(d.CIHigh))
	}
	return b.String() + "\n"
}

// identicalMechanisms lists pairs of mechanisms whose outcomes were the same
// in every run, with the reason when it follows from their parameters.
func (s *Study) identicalMechanisms() []string {
	c := s.Config
	var out []string
	for i := range c.Mechanisms {
		for j := i + 1; j < len(c.Mechanisms); j++ {
			a, b := s.ByMechanism(c.Mechanisms[i].Name), s.ByMechanism(c.Mechanisms[j].Name)
			agree := 0
			for k := range a {
				if a[k].Activated == b[k].Activated && a[k].ActivationView == b[k].ActivationView && a[k].UnreadyShare == b[k].UnreadyShare {
					agree++
				}
			}
			if agree < len(a) {
				if line := c.hybridMatchesGovernance(c.Mechanisms[i], c.Mechanisms[j], agree, len(a)); line != "" {
					out = append(out, line)
				}
				continue
			}
			mi, mj := c.Mechanisms[i], c.Mechanisms[j]
			line := fmt.Sprintf("**%s** and **%s** activated at the same view with the same unready stake in every run.", mi.Name, mj.Name)
			if mj.Kind == "hybrid" {
				mi, mj = mj, mi
			}
			if mi.Kind == "hybrid" {
				L := c.Chain.EpochViews
				boundary := c.viewsToHours(max((c.hoursToViews(mi.DelayHours)+L-1)/L, mi.MinActivationEpoch) * L)
				switch mj.Kind {
				case "governance":
					line += fmt.Sprintf(" %s's earliest view (%.1f h) rounds up to the epoch boundary at %.1f h and its threshold was "+
						"always met by then, so it is a governance activation at that boundary: identical by construction.",
						mi.Name, mi.DelayHours, boundary)
				case "stake":
					line += fmt.Sprintf(" %s's earliest view (%.1f h, epoch boundary %.1f h) never held activation back: %s's "+
						"threshold was met only after it in every run.", mi.Name, mi.DelayHours, boundary, mj.Name)
				}
			}
			out = append(out, line)
		}
	}
	return out
}

// hybridMatchesGovernance: a hybrid whose earliest view rounds up to the
// very view a governance mechanism activates at is that governance mechanism
// whenever its threshold is met by then. Said even when a few runs differ.
func (c *Config) hybridMatchesGovernance(x, y MechanismConfig, agree, runs int) string {
	if y.Kind == "hybrid" {
		x, y = y, x
	}
	if x.Kind != "hybrid" || y.Kind != "governance" {
		return ""
	}
	L := c.Chain.EpochViews
	boundary := max((c.hoursToViews(x.DelayHours)+L-1)/L, x.MinActivationEpoch) * L
	if boundary != c.hoursToViews(y.DelayHours) {
		return ""
	}
	return fmt.Sprintf("**%s** is **%s** by construction whenever its threshold is met in time: its earliest view (%.1f h) "+
		"rounds up to the epoch boundary at %.1f h, %s's activation view. They agreed in %d of %d runs; they differ only "+
		"where the threshold came later.", x.Name, y.Name, x.DelayHours, c.viewsToHours(boundary), y.Name, agree, runs)
}

// Report ties the tables, the plots, the effective config and the provenance together.
func (s *Study) Report(prov Provenance, plots []string) string {
	c := s.Config
	var b strings.Builder
	fmt.Fprintf(&b, "# Activation study: %s\n\n", prov.ConfigPath)
	fmt.Fprintf(&b, "%d runs × %d nodes × up to %d epochs, seed %d, for %d mechanisms.\n\n",
		c.Runs, c.Population.Nodes, c.HorizonEpochs, c.Seed, len(c.Mechanisms))
	b.WriteString("Every run drives quorumgate's activation engine (the `Apply` the node runs) with synthesized\n" +
		"finalized blocks. Within a run, all mechanisms see the same population and the same operators\n" +
		"(common random numbers); the paired differences below use that to separate mechanisms from\n" +
		"sampling noise, with intervals.\n\n")
	fmt.Fprintf(&b, "Definitions: *activated* is the share of runs that activated before the timeout and the horizon\n"+
		"(95%% Wilson interval). *unsafe activation rate* is the share of all runs that activated while more than\n"+
		"%s of the stake (or hash power) was not upgraded (unsafe_unready), a yes/no per run with a 95%% Wilson\n"+
		"interval: a run that never activated is not unsafe. *hours to activation* counts from the release (view 0) to the activation\n"+
		"view; its plot is a Kaplan–Meier estimate in which runs still waiting at the horizon are censored\n"+
		"there, and runs that timed out (FAILED) count as never activating. *unready stake* is the stake share not upgraded at activation (those nodes\n"+
		"halt). *missed block rate* is the expected share of views without a block in the %.0f hours after\n"+
		"activation: a view's leader, drawn by stake, cannot run the active version or is offline, and while\n"+
		"the stake that is up to date and online is two thirds or less the chain cannot finalize, so every\n"+
		"view counts (*no-finality hours*). Time metrics are over the runs that activated (n in each table):\n"+
		"where fewer runs activate, the slowest are the ones missing, so read a mean with its n and the KM curve;\n"+
		"their intervals are 95%% percentile-bootstrap intervals of the mean (2,000 resamples, fixed seed).\n\n",
		fmtShare(c.UnsafeUnready), c.LivenessWindowHours)
	b.WriteString("## Mechanisms\n\n| name | kind | parameters |\n|---|---|---|\n")
	for _, m := range c.Mechanisms {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", m.Name, m.Kind, c.describe(m))
	}
	fmt.Fprintf(&b, "\nOperators who would be late hurry before a known deadline (hurry_share %v, *unsourced*; margin %v h, window %v h)",
		c.Behaviour.Deadline.HurryShare, c.Behaviour.Deadline.MarginHours, c.Behaviour.Deadline.HurryWindowHours)
	if c.Behaviour.hurryOnLockIn() {
		b.WriteString("; the same applies once a stake lock-in fixes the activation view (hurry_on_lock_in, *unsourced*).\n\n")
	} else {
		b.WriteString("; not after a stake lock-in (hurry_on_lock_in = false, *unsourced*), which favours governance.\n\n")
	}
	b.WriteString(c.modelNotes())
	b.WriteString(c.paramReport())
	if same := s.identicalMechanisms(); len(same) > 0 {
		b.WriteString("**Identical or nearly identical mechanisms.** ")
		b.WriteString(strings.Join(same, " "))
		b.WriteString("\n\n")
	}
	b.WriteString(c.calibrationMarkdown())
	b.WriteString("## Results\n\n")
	b.WriteString(s.SummaryMarkdown())
	if p := s.pairedMarkdown(); p != "" {
		b.WriteString("## Paired differences\n\n" + p)
	}
	if s.Robustness != nil {
		b.WriteString(s.Robustness.Markdown())
	}
	b.WriteString("## Plots\n\n")
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s.png) ([SVG](%s.svg))\n\n", p, p, p)
	}
	if len(s.dropped) > 0 {
		fmt.Fprintf(&b, "Left out, because every value they would show is the same (the tables give it): %s.\n\n",
			strings.Join(s.dropped, ", "))
	}
	b.WriteString("## Files\n\n- `runs.csv`: one row per run and mechanism.\n- `summary.csv`, `summary.md`: the tables above.\n" +
		"- `paired.csv`: the paired differences.\n\n")
	b.WriteString("## Provenance\n\n")
	fmt.Fprintf(&b, "- command: `%s`\n", strings.Join(prov.CommandLine, " "))
	fmt.Fprintf(&b, "- node-plugin %s, commit %s, %s\n", prov.Version, prov.Commit, prov.GoVersion)
	fmt.Fprintf(&b, "- seed %d, %d runs\n- config file: %s\n\n", c.Seed, c.Runs, prov.ConfigPath)
	b.WriteString("### Effective config (after command-line overrides and defaults)\n\n```toml\n")
	b.WriteString(c.EffectiveTOML())
	b.WriteString("```\n\n### Config file as given\n\n```toml\n")
	b.WriteString(strings.TrimRight(string(prov.ConfigText), "\n"))
	b.WriteString("\n```\n")
	return b.String()
}

// EffectiveTOML is the config as the simulation used it, defaults filled in:
// it reproduces the study when run as a config (a fitted delay appears as its
// fitted median and sigma; the points it was fitted to are in the report).
func (c *Config) EffectiveTOML() string {
	var buf bytes.Buffer
	eff := *c
	eff.Behaviour.Delay.Fit, eff.Behaviour.Delay.Check = nil, nil
	if err := toml.NewEncoder(&buf).Encode(&eff); err != nil {
		return "# cannot encode the config: " + err.Error() + "\n"
	}
	return buf.String()
}

// describe is a mechanism's parameters in words.
func (c *Config) describe(m MechanismConfig) string {
	var parts []string
	switch m.Kind {
	case "governance":
		return fmt.Sprintf("activation %.1f h after release", m.DelayHours)
	case "hybrid":
		parts = append(parts, fmt.Sprintf("not before %.1f h", m.DelayHours))
	}
	rel := ">"
	if m.Strict != nil && !*m.Strict {
		rel = "≥"
	}
	parts = append(parts, fmt.Sprintf("ready stake %s %s", rel, m.Threshold))
	if len(m.Roles) > 0 {
		parts = append(parts, "in each of roles "+strings.Join(m.Roles, ", "))
	}
	if m.SignalWholePeriod {
		parts = append(parts, "counting only nodes upgraded when the period began")
	}
	if m.StartEpoch > 0 {
		parts = append(parts, fmt.Sprintf("signaling from epoch %d", m.StartEpoch))
	}
	parts = append(parts, fmt.Sprintf("timeout epoch %d", m.TimeoutEpochs))
	if m.DelayEpochs > 0 {
		parts = append(parts, fmt.Sprintf("activation %d epochs after the next boundary", m.DelayEpochs))
	}
	if m.MinActivationEpoch > 0 {
		parts = append(parts, fmt.Sprintf("not before epoch %d", m.MinActivationEpoch))
	}
	return strings.Join(parts, ", ")
}

// fmtShare writes a share, 1/3 and 2/3 as fractions (the usual bounds).
func fmtShare(v float64) string {
	switch v {
	case 1.0 / 3:
		return "1/3"
	case 2.0 / 3:
		return "2/3"
	}
	return ff(v)
}

// modelNotes says which model of what happens after activation each
// mechanism uses. Every mechanism here uses the halting model: the chain is
// BFT, nodes that cannot run the active version stop, and finality needs
// more than two thirds of stake up to date.
func (c *Config) modelNotes() string {
	var bft, pow []string
	for _, m := range c.Mechanisms {
		if m.PoW {
			pow = append(pow, m.Name)
		} else {
			bft = append(bft, m.Name)
		}
	}
	var b strings.Builder
	b.WriteString("**Model after activation.**")
	if len(bft) > 0 {
		b.WriteString(" " + strings.Join(bft, ", ") + ": the BFT halting model: a node that cannot run the active\n" +
			"version stops, and the chain finalizes only while more than two thirds of stake is up to date.")
	}
	if len(pow) > 0 {
		b.WriteString(" " + strings.Join(pow, ", ") + ": the proof-of-work model: signalling is counted block by block, each\n" +
			"block's miner drawn by hash power (the period's count is binomial), lock-in at the period's end, activation\n" +
			"one period later; after it non-upgraded miners keep mining, their blocks are invalid to upgraded nodes, and\n" +
			"a chain of them lasts while it is at least as long as the upgraded chain since the fork (split_1_block,\n" +
			"split_6_blocks, split_blocks). Every block of a non-upgraded miner counts as invalid, the worst case (a\n" +
			"version rule, as BIP66 had); read the split rates as an upper bound. Missed blocks, no-finality hours and\n" +
			"halted nodes do not apply to it.")
	}
	b.WriteString("\n\n")
	return b.String()
}
