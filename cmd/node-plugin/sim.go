package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/quorumgate/quorumgate/sim"
)

func newSimCommand(stdout, stderr io.Writer) *cobra.Command {
	var configPath, outDir string
	var runs, workers int
	var seed uint64
	cmd := &cobra.Command{
		Use:   "sim --config FILE --out DIR [--runs N] [--seed S]",
		Short: "Compare governance-driven and stake-driven activation by simulation",
		Long: `sim runs a Monte Carlo study: a population of nodes, operators who upgrade
after a release with some delay, and several activation mechanisms
(governance: a fixed view; stake: a threshold of ready stake; hybrid: a
governance earliest view gated by stake). Each run drives the real activation
engine with synthesized blocks; all mechanisms of a run see the same operators.

It writes into DIR: runs.csv (one row per run and mechanism), summary.csv and
summary.md (shares with Wilson intervals; medians, p90 and means with 95%
intervals), paired.csv (each mechanism minus the first, run by run), plots
as PNG and SVG (Kaplan–Meier time to activation with the timeout and horizon
marked, unready stake, missed blocks, paired differences), and report.md
tying them together with a robustness section (the comparison rerun with
each unsourced behavioural assumption flipped or swept, one verdict per
assumption, also printed), the command line, the effective config, the
binary's version and commit, the Go version, seed and run count.
The same config and seed give the same files, byte for byte, report.md
included: how long the study took goes to stderr, not into a file.

A config with a [param_change] table (key, type, old, new, optional min and
max, min_lead_views) makes the release a change of one protocol parameter
instead of a version upgrade: the chain's genesis declares it, the engine
applies its min_lead_views (a governance change too close is rejected, a
stake lock-in waits for a later boundary), and the outputs add rejected,
lead and deferred_by_min_lead (examples/sim/param-change.toml).

A config with a [sweep] table runs a study per point (a grid of values, or
a Latin hypercube) and writes sweep.csv (one row per point × run ×
mechanism), sweep_summary.csv, sensitivity.csv, curves with 95% bands per
swept key, tornado charts and report.md, with the robustness section run at
the sweep's base point (verdicts also printed). --runs sets the runs per point.

Example configs: examples/sim/*.toml.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" || outDir == "" {
				return usageError{errors.New("sim needs --config FILE and --out DIR")}
			}
			text, err := os.ReadFile(configPath)
			if err != nil {
				return usageError{fmt.Errorf("cannot read the config: %w", err)}
			}
			cfg, err := sim.LoadConfig(configPath)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", configPath, err)}
			}
			if cmd.Flags().Changed("runs") {
				if runs < 1 {
					return usageError{fmt.Errorf("--runs %d: at least 1", runs)}
				}
				cfg.Runs = runs
			}
			if cmd.Flags().Changed("seed") {
				cfg.Seed = seed
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			prov := sim.BuildProvenance()
			prov.CommandLine, prov.ConfigPath, prov.ConfigText = commandLine(cmd), configPath, text
			if cfg.Sweep != nil {
				return runSweep(ctx, stdout, stderr, cfg, sim.Options{Workers: workers}, outDir, prov)
			}
			return runStudy(ctx, stdout, stderr, cfg, sim.Options{Workers: workers}, outDir, prov)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "the study's config (TOML)")
	cmd.Flags().StringVar(&outDir, "out", "", "the folder to write results into (created if missing)")
	cmd.Flags().IntVar(&runs, "runs", 0, "override the config's number of runs")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "override the config's seed")
	cmd.Flags().IntVar(&workers, "workers", 0, "parallel workers (default: one per core)")
	return cmd
}

// runSweep runs a study per sweep point and writes them into outDir; the
// time it took goes to stderr, so the files stay the same across runs.
func runSweep(ctx context.Context, stdout, stderr io.Writer, cfg *sim.Config, o sim.Options, outDir string, prov sim.Provenance) error {
	start := time.Now()
	sweep, err := sim.RunSweep(ctx, cfg, o)
	if err != nil {
		return asUsage(err)
	}
	if err := sim.RunSweepRobustness(ctx, sweep, o); err != nil {
		return asUsage(err)
	}
	elapsed := time.Since(start)
	if err := sweep.Write(outDir, prov); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d points × %d runs in %s\n", len(sweep.Points), cfg.Runs, elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "wrote %s/{sweep.csv,sweep_summary.csv,sensitivity.csv,report.md} and plots\n", outDir)
	if r := sweep.Robustness; r != nil {
		fmt.Fprintf(stdout, "\nRobustness at the sweep's base point (each unsourced assumption flipped or swept, %d runs each):\n", r.Baseline.Runs)
		for _, v := range r.Verdicts() {
			fmt.Fprintln(stdout, "- "+v)
		}
	}
	return nil
}

// runStudy runs one study, writes it into outDir and prints its summary;
// the time it took goes to stderr.
func runStudy(ctx context.Context, stdout, stderr io.Writer, cfg *sim.Config, o sim.Options, outDir string, prov sim.Provenance) error {
	start := time.Now()
	study, err := sim.Run(ctx, cfg, o)
	if err != nil {
		return asUsage(err)
	}
	if err := sim.RunRobustness(ctx, study, o); err != nil {
		return asUsage(err)
	}
	elapsed := time.Since(start)
	if err := study.Write(outDir, prov); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d runs in %s\n", cfg.Runs, elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "wrote %s/{runs.csv,summary.csv,summary.md,paired.csv,report.md} and plots\n\n", outDir)
	fmt.Fprint(stdout, study.SummaryMarkdown())
	if r := study.Robustness; r != nil {
		fmt.Fprintf(stdout, "Robustness (each unsourced assumption flipped or swept, %d runs each):\n", r.Baseline.Runs)
		for _, v := range r.Verdicts() {
			fmt.Fprintln(stdout, "- "+v)
		}
	}
	return nil
}

// commandLine rebuilds the invocation from the flags that were set (in
// name order), so the report shows what to run to get the same results.
func commandLine(cmd *cobra.Command) []string {
	line := strings.Fields(cmd.CommandPath())
	cmd.Flags().Visit(func(f *pflag.Flag) {
		v := f.Value.String()
		if v == "" || strings.ContainsAny(v, " \t'\"") {
			v = strconv.Quote(v)
		}
		line = append(line, "--"+f.Name, v)
	})
	return line
}

// asUsage makes a config problem found while running (a sweep point that is
// invalid, a threshold that cannot be applied to the drawn stakes) exit 2 like
// any other bad config; other errors stay failures.
func asUsage(err error) error {
	var ce *sim.ConfigError
	if errors.As(err, &ce) {
		return usageError{err}
	}
	return err
}
