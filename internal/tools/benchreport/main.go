// Command benchreport runs the project's benchmarks and prints each figure
// beside its target (from DESIGN.md and the issues) and its naive baseline,
// measured in the same run. It is what `make bench` runs.
//
// Usage: go run ./internal/tools/benchreport [-benchtime 1s] [-only substring]
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// figure is one line of the report.
type figure struct {
	name   string
	pkg    string
	bench  string
	metric string // "ns/op" or a custom metric such as "attestations/s"
	// target, if set: the figure must be at most (or, for rates, at least) this.
	target   float64
	atLeast  bool
	baseline string // "pkg:Benchmark", measured in the same run
	// benchtime overrides the run's -benchtime for slow benchmarks.
	benchtime string
	// baselineMetric, if set, is the baseline: another metric of the same
	// benchmark, measured in the same process.
	baselineMetric string
	// ofBaseline, if set, is a target relative to the baseline: the figure
	// must reach this fraction of it.
	ofBaseline float64
	// relTo ("pkg:Benchmark", measured in the same run) and relFactor make the
	// target a share of another figure: at least relFactor times it.
	relTo     string
	relFactor float64
}

var figures = []figure{
	{name: "Apply, empty block (incl. state ID)", pkg: "./activation", bench: "BenchmarkApplyEmptyBlock", metric: "ns/op",
		target: 20e3, baseline: "./internal/scenario:BenchmarkReferenceApplyEmptyBlock"},
	{name: "Apply, 1,000 verified attestations", pkg: "./activation", bench: "BenchmarkApply1000Attestations", metric: "ns/op",
		baseline: "./internal/scenario:BenchmarkReferenceApply1000Attestations"},
	{name: "Batch verify 1,000 attestations (one message)", pkg: "./signal", bench: "BenchmarkBatchVerify1000", metric: "ns/op",
		baseline: "./signal:BenchmarkVerifyOneByOne1000"},
	{name: "Batch verify 1,000 with one bad signature", pkg: "./signal", bench: "BenchmarkBatchVerify1000OneBad", metric: "ns/op",
		baseline: "./signal:BenchmarkVerifyOneByOne1000"},
	{name: "Certificate verify, 10,000 signers, 1/3 missing", pkg: "./quorum", bench: "BenchmarkVerifyCertificate10k", metric: "ns/op",
		target: 10e6, baseline: "./quorum:BenchmarkVerifyCertificate10kNaive"},
	{name: "Ingest, 10,000 signers (decode to tally, batched BLS)", pkg: "./p2p", bench: "BenchmarkIngest",
		metric: "attestations/s", target: 30000, atLeast: true, baseline: "./p2p:BenchmarkIngestNaive", benchtime: "3x"},
	{name: "Ingest, 10,000 signers, 1% bad signatures (from a forger's connection)", pkg: "./p2p", bench: "BenchmarkIngest1PctBad",
		metric: "attestations/s", baseline: "./p2p:BenchmarkIngestNaive", benchtime: "2x",
		relTo: "./p2p:BenchmarkIngest", relFactor: 0.5, atLeast: true},
	{name: "Forged flood, CPU per forged attestation (one peer's batch of 1,024)", pkg: "./p2p", bench: "BenchmarkIngestForgedFlood",
		metric: "ns/message", benchtime: "2x"},
	{name: "Forged flood of 2,000: forger's messages checked before it is cut off", pkg: "./p2p", bench: "BenchmarkForgerCutOff",
		metric: "verified-before-cutoff", benchtime: "1x"},
	{name: "Gossip propagation across 50 hosts on loopback, p99", pkg: "./p2p", bench: "BenchmarkGossipLatency50",
		metric: "p99-ms", target: 100, benchtime: "3x"},
	{name: "Store commit, empty blocks (synced, on disk)", pkg: "./storage", bench: "BenchmarkCommitEmptyBlocks",
		metric: "blocks/s", atLeast: true, benchtime: "500x", baseline: "./storage:BenchmarkCommitEmptyBlocksUnbatched"},
	{name: "Store commit, 10,000-signer certificate blocks (synced)", pkg: "./storage", bench: "BenchmarkCommitCertificateBlocks",
		metric: "blocks/s", atLeast: true, benchtime: "200x"},
	{name: "Store open + recover, 1,000,000 blocks", pkg: "./storage", bench: "BenchmarkOpenRecover1M", metric: "ns/op",
		target: 1e9, baseline: "./storage:BenchmarkRecoverByReplay1M", benchtime: "3x"},
	{name: "CometBFT blocks/s, 4 validators in process, quorumgate app vs kvstore", pkg: "./chain/cometbft", bench: "BenchmarkBlocks",
		metric: "blocks/s", atLeast: true, ofBaseline: 0.8, baselineMetric: "kvstore-blocks/s", benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (via gossip), p50", pkg: "./chain/cometbft", bench: "BenchmarkReadinessToFinalized",
		metric: "p50-ms", benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (via gossip), p99", pkg: "./chain/cometbft", bench: "BenchmarkReadinessToFinalized",
		metric: "p99-ms", benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (pools fed directly), p50", pkg: "./chain/cometbft",
		bench: "BenchmarkReadinessToFinalizedNoGossip", metric: "p50-ms", benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (pools fed directly), p99", pkg: "./chain/cometbft",
		bench: "BenchmarkReadinessToFinalizedNoGossip", metric: "p99-ms", benchtime: "1x"},
	{name: "Simulation, 1,000 runs × 1,000 nodes × 100 epochs, one mechanism", pkg: "./testnet/sim",
		bench: "BenchmarkSimulation1000Runs", metric: "ns/op", target: 60e9,
		baseline: "./testnet/sim:BenchmarkSimulation1000RunsOneWorker", benchtime: "1x"},
	{name: "Simulation, 1,000 runs × 10,000 nodes × 100 epochs, one mechanism", pkg: "./testnet/sim",
		bench: "BenchmarkSimulation10kNodes", metric: "ns/op", target: 120e9,
		baseline: "./testnet/sim:BenchmarkSimulation10kNodesPerViewBlocks", benchtime: "1x"},
	{name: "Simulation, one run of 1,000,000 validators × 100 epochs", pkg: "./testnet/sim",
		bench: "BenchmarkSimulation1MValidators", metric: "ns/op", target: 30e9,
		baseline: "./testnet/sim:BenchmarkSimulation1MValidatorsPerViewBlocks", benchtime: "1x"},
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func main() {
	benchtime := flag.String("benchtime", "1s", "go test -benchtime for each benchmark")
	only := flag.String("only", "", "run only figures whose name contains this")
	flag.Parse()

	results := map[string]map[string]float64{} // "pkg:bench" -> metric -> value
	measure := func(pkg, bench, bt string) error {
		key := pkg + ":" + bench
		if _, done := results[key]; done {
			return nil
		}
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^"+bench+"$", "-benchtime", bt, "-count", "1", pkg)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", pkg, bench, err, out.String())
		}
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			m := line.FindStringSubmatch(sc.Text())
			if m == nil || m[1] != bench {
				continue
			}
			fields := strings.Fields(m[2])
			metrics := map[string]float64{}
			for i := 0; i+1 < len(fields); i += 2 {
				if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
					metrics[fields[i+1]] = v
				}
			}
			results[key] = metrics
			return nil
		}
		return fmt.Errorf("%s %s: no result in the output:\n%s", pkg, bench, out.String())
	}

	w := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "figure\tmeasured\ttarget\tverdict\tnaive baseline\tspeed-up")
	failed := false
	for _, f := range figures {
		if *only != "" && !strings.Contains(f.name, *only) {
			continue
		}
		bt := *benchtime
		if f.benchtime != "" {
			bt = f.benchtime
		}
		fmt.Fprintf(os.Stderr, "measuring: %s\n", f.name)
		if err := measure(f.pkg, f.bench, bt); err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
			continue
		}
		v := results[f.pkg+":"+f.bench][f.metric]
		target, verdict := "-", "-"
		if f.relTo != "" {
			pkg, bench, _ := strings.Cut(f.relTo, ":")
			if err := measure(pkg, bench, bt); err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = true
			} else {
				f.target = f.relFactor * results[f.relTo][f.metric]
			}
		}
		if f.target != 0 {
			target = format(f.target, f.metric)
			if f.relTo != "" {
				_, bench, _ := strings.Cut(f.relTo, ":")
				target += fmt.Sprintf(" (%.0f%% of %s)", 100*f.relFactor, bench)
			}
			if f.atLeast {
				target = "≥ " + target
			} else {
				target = "≤ " + target
			}
			if (f.atLeast && v >= f.target) || (!f.atLeast && v <= f.target) {
				verdict = "meets"
			} else {
				verdict = "MISSES"
			}
		}
		base, speedup := "-", "-"
		if f.baselineMetric != "" {
			bv := results[f.pkg+":"+f.bench][f.baselineMetric]
			base = format(bv, f.baselineMetric)
			if bv > 0 {
				speedup = fmt.Sprintf("%.2fx", v/bv)
			}
			if f.ofBaseline != 0 {
				target = fmt.Sprintf("≥ %.0f%% of baseline (%s)", 100*f.ofBaseline, format(f.ofBaseline*bv, f.metric))
				verdict = "MISSES"
				if v >= f.ofBaseline*bv {
					verdict = "meets"
				}
			}
		}
		if f.baseline != "" {
			pkg, bench, _ := strings.Cut(f.baseline, ":")
			if err := measure(pkg, bench, bt); err != nil {
				fmt.Fprintln(os.Stderr, err)
				failed = true
			} else if bv, ok := results[f.baseline][f.metric]; ok && bv > 0 && v > 0 {
				base = format(bv, f.metric) + " (" + bench + ")"
				if f.metric == "ns/op" {
					speedup = fmt.Sprintf("%.1fx", bv/v)
				} else {
					speedup = fmt.Sprintf("%.1fx", v/bv)
				}
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", f.name, format(v, f.metric), target, verdict, base, speedup)
	}
	w.Flush()
	if failed {
		os.Exit(1)
	}
}

func format(v float64, metric string) string {
	if metric != "ns/op" {
		return fmt.Sprintf("%.0f %s", v, metric)
	}
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2f s", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}
