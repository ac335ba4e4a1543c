package sim

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Write writes runs.csv, summary.csv, summary.md, the plots (PNG and SVG) and
// report.md into dir, creating it. configText is the config as given, quoted
// in the report so a study can be reproduced from the report alone.
func (s *Study) Write(dir, configName string, configText []byte, elapsed time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"runs.csv":    s.RunsCSV(),
		"summary.csv": s.SummaryCSV(),
		"summary.md":  []byte(s.SummaryMarkdown()),
	}
	for name, data := range files {
		if err := writeFileAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	plots, err := s.Plots(dir)
	if err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, "report.md"), []byte(s.Report(configName, configText, plots, elapsed)))
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

// RunsCSV has one row per run and mechanism.
func (s *Study) RunsCSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	roles := s.roles()
	header := []string{"run", "mechanism", "activated", "activation_view", "hours_to_activation", "unready_stake_share",
		"signaled_share_at_lock_in", "liveness_loss_views", "liveness_loss_hours", "liveness_censored",
		"stake_epochs_halted", "nodes_halted"}
	for _, r := range roles {
		header = append(header, "upgraded_share_"+r)
	}
	w.Write(header)
	for _, o := range s.Outcomes {
		row := []string{strconv.Itoa(o.Run), o.Mechanism, strconv.FormatBool(o.Activated)}
		if o.Activated {
			row = append(row, strconv.FormatUint(o.ActivationView, 10), ff(o.HoursToActivation), ff(o.UnreadyShare),
				ff(o.SignaledShareAtLockIn), strconv.FormatUint(o.LivenessLossViews, 10), ff(o.LivenessLossHours),
				strconv.FormatBool(o.Censored), ff(o.StakeEpochsHalted), strconv.Itoa(o.NodesHalted))
			for _, r := range roles {
				row = append(row, ff(o.UpgradedShare[r]))
			}
		} else {
			row = append(row, make([]string, 9+len(roles))...)
		}
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

// SummaryCSV has one row per mechanism and metric.
func (s *Study) SummaryCSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"mechanism", "metric", "n", "median", "p90", "p99", "mean", "mean_ci95_low", "mean_ci95_high"})
	for _, x := range s.Summaries() {
		w.Write([]string{x.Mechanism, x.Metric, strconv.Itoa(x.N), ff(x.Median), ff(x.P90), ff(x.P99), ff(x.Mean), ff(x.CILow), ff(x.CIHigh)})
	}
	w.Flush()
	return buf.Bytes()
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
	sums := s.Summaries()
	for _, mt := range metrics {
		fmt.Fprintf(&b, "### %s (%s)\n\n", mt.name, mt.unit)
		b.WriteString("| mechanism | n | median | p90 | p99 | mean [95% CI] |\n|---|---:|---:|---:|---:|---|\n")
		for _, x := range sums {
			if x.Metric != mt.name {
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s [%s, %s] |\n", x.Mechanism, x.N, fmtNum(x.Median), fmtNum(x.P90),
				fmtNum(x.P99), fmtNum(x.Mean), fmtNum(x.CILow), fmtNum(x.CIHigh))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Report ties the table, the plots and the config together.
func (s *Study) Report(configName string, configText []byte, plots []string, elapsed time.Duration) string {
	c := s.Config
	var b strings.Builder
	fmt.Fprintf(&b, "# Activation study: %s\n\n", configName)
	fmt.Fprintf(&b, "%d runs × %d nodes × up to %d epochs, seed %d, for %d mechanisms; computed in %s.\n\n",
		c.Runs, c.Population.Nodes, c.HorizonEpochs, c.Seed, len(c.Mechanisms), elapsed.Round(time.Millisecond))
	b.WriteString("Every run drives quorumgate's activation engine (the `Apply` the node runs) with synthesized\n" +
		"finalized blocks. Within a run, all mechanisms see the same population and the same operators\n" +
		"(common random numbers), so differences between them are not sampling noise.\n\n")
	b.WriteString("Definitions: *hours to activation* counts from the release (view 0) to the activation view;\n" +
		"*unready stake* is the stake share not upgraded at activation (those nodes halt); *liveness loss*\n" +
		"is the time after activation until upgraded stake exceeds two thirds, so the network can finalize\n" +
		"again (censored at the horizon); *stake-epochs halted* sums stake share × epochs halted.\n" +
		"Time metrics are over the runs that activated; *activated* is the share of runs that did.\n\n")
	b.WriteString("## Mechanisms\n\n| name | kind | parameters |\n|---|---|---|\n")
	for _, m := range c.Mechanisms {
		params := ""
		switch m.Kind {
		case "governance":
			params = fmt.Sprintf("activation %.1f h after release", m.DelayHours)
		case "stake":
			params = fmt.Sprintf("threshold %s, timeout epoch %d", m.Threshold, m.TimeoutEpochs)
		case "hybrid":
			params = fmt.Sprintf("not before %.1f h, then threshold %s, timeout epoch %d", m.DelayHours, m.Threshold, m.TimeoutEpochs)
		}
		if len(m.Roles) > 0 {
			params += ", roles " + strings.Join(m.Roles, ", ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", m.Name, m.Kind, params)
	}
	b.WriteString("\n## Results\n\n")
	b.WriteString(s.SummaryMarkdown())
	b.WriteString("## Plots\n\n")
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s.png) ([SVG](%s.svg))\n\n", p, p, p)
	}
	b.WriteString("## Files\n\n- `runs.csv`: one row per run and mechanism.\n- `summary.csv`, `summary.md`: the tables above.\n\n")
	fmt.Fprintf(&b, "## Config (seed %d)\n\n```toml\n%s\n```\n", c.Seed, strings.TrimRight(string(configText), "\n"))
	return b.String()
}
