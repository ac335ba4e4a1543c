// Command benchreport runs the project's benchmarks and prints each figure
// beside its target (from DESIGN.md and the issues) and its naive baseline,
// measured in the same run. It is what `make bench` runs.
//
// Usage: go run ./internal/tools/benchreport [-benchtime 1s] [-only substring]
//
// Every number the report uses, whether a figure, the reference of a target
// or a baseline, is named the same way: "pkg:Benchmark:metric", one metric
// that one benchmark reports (see [ref]).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// figure is one line of the report.
type figure struct {
	name string
	// measured is the figure itself.
	measured ref
	// target, if set, is the bound the figure must meet.
	target target
	// baseline, if set, is the naive figure it is compared with, measured in
	// the same run.
	baseline ref
	// benchtime overrides the run's -benchtime for slow benchmarks. The
	// benchmarks of the target and the baseline run with it too, unless an
	// earlier figure ran them already.
	benchtime string
}

// ref names one number in a run: metric, as benchmark bench in package pkg
// reports it. The table writes it "pkg:Benchmark:metric". The zero ref names
// nothing.
type ref struct {
	pkg, bench, metric string
}

func parseRef(s string) (ref, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "Benchmark") || parts[2] == "" {
		return ref{}, fmt.Errorf("%q is not pkg:BenchmarkName:metric", s)
	}
	return ref{pkg: parts[0], bench: parts[1], metric: parts[2]}, nil
}

// mustRef is parseRef for the figure table, which is code: a malformed name
// is a programming error.
func mustRef(s string) ref {
	r, err := parseRef(s)
	if err != nil {
		panic(err)
	}
	return r
}

func (r ref) isSet() bool { return r != ref{} }

// benchmark is the key of r's benchmark in [results]: "pkg:Benchmark".
func (r ref) benchmark() string { return r.pkg + ":" + r.bench }

// target is the bound a figure must meet: at most or at least a bound given
// outright, or a share of another number measured in the same run.
type target struct {
	atLeast bool
	// bound is the bound itself, when of is not set.
	bound float64
	// Or the bound is share × the number that of names: another
	// benchmark's figure, or another metric of the same benchmark.
	share float64
	of    ref
}

func atMost(bound float64) target  { return target{bound: bound} }
func atLeast(bound float64) target { return target{atLeast: true, bound: bound} }

// atLeastShareOf is a target of at least share × the number named by of
// ("pkg:Benchmark:metric").
func atLeastShareOf(share float64, of string) target {
	return target{atLeast: true, share: share, of: mustRef(of)}
}

func (t target) isSet() bool { return t.bound != 0 || t.of.isSet() }

var figures = []figure{
	{name: "Apply, empty block (incl. state ID)",
		measured: mustRef("./activation:BenchmarkApplyEmptyBlock:ns/op"), target: atMost(20e3),
		baseline: mustRef("./replay:BenchmarkReferenceApplyEmptyBlock:ns/op")},
	{name: "Apply, 1,000 verified attestations",
		measured: mustRef("./activation:BenchmarkApply1000Attestations:ns/op"),
		baseline: mustRef("./replay:BenchmarkReferenceApply1000Attestations:ns/op")},
	{name: "Batch verify 1,000 attestations (one message)",
		measured: mustRef("./signal:BenchmarkBatchVerify1000:ns/op"),
		baseline: mustRef("./signal:BenchmarkVerifyOneByOne1000:ns/op")},
	{name: "Batch verify 1,000 with one bad signature",
		measured: mustRef("./signal:BenchmarkBatchVerify1000OneBad:ns/op"),
		baseline: mustRef("./signal:BenchmarkVerifyOneByOne1000:ns/op")},
	{name: "Certificate verify, 10,000 signers, 1/3 missing",
		measured: mustRef("./quorum:BenchmarkVerifyCertificate10k:ns/op"), target: atMost(10e6),
		baseline: mustRef("./quorum:BenchmarkVerifyCertificate10kNaive:ns/op")},
	{name: "Ingest, 10,000 signers (decode to tally, batched BLS)",
		measured: mustRef("./p2p:BenchmarkIngest:attestations/s"), target: atLeast(30000),
		baseline: mustRef("./p2p:BenchmarkIngestNaive:attestations/s"), benchtime: "3x"},
	{name: "Ingest, 10,000 signers, 1% bad signatures (from a forger's connection)",
		measured: mustRef("./p2p:BenchmarkIngest1PctBad:attestations/s"),
		target:   atLeastShareOf(0.5, "./p2p:BenchmarkIngest:attestations/s"),
		baseline: mustRef("./p2p:BenchmarkIngestNaive:attestations/s"), benchtime: "2x"},
	{name: "Ingest CPU time per attestation, 10,000 signers (two idle cores ingest 2e9 / this a second)",
		measured: mustRef("./p2p:BenchmarkIngest:cpu-ns/attestation"),
		baseline: mustRef("./p2p:BenchmarkIngestNaive:cpu-ns/attestation"), benchtime: "3x"},
	{name: "Ingest CPU time per attestation, 10,000 signers, 1% bad",
		measured: mustRef("./p2p:BenchmarkIngest1PctBad:cpu-ns/attestation"),
		baseline: mustRef("./p2p:BenchmarkIngestNaive:cpu-ns/attestation"), benchtime: "2x"},
	{name: "Forged flood, CPU per forged attestation (one peer's batch of 1,024)",
		measured: mustRef("./p2p:BenchmarkIngestForgedFlood:ns/message"), benchtime: "2x"},
	{name: "Forged flood of 2,000: forger's messages checked before it is cut off",
		measured: mustRef("./p2p:BenchmarkForgerCutOff:verified-before-cutoff"), benchtime: "1x"},
	{name: "Gossip propagation across 50 hosts on loopback, p50 (ms)",
		measured: mustRef("./p2p:BenchmarkGossipLatency50:p50-ms"),
		baseline: mustRef("./p2p:BenchmarkGossipLatency50LibraryDefaults:p50-ms"), benchtime: "3x"},
	{name: "Gossip propagation across 50 hosts on loopback, p99 (ms)",
		measured: mustRef("./p2p:BenchmarkGossipLatency50:p99-ms"), target: atMost(100),
		baseline: mustRef("./p2p:BenchmarkGossipLatency50LibraryDefaults:p99-ms"), benchtime: "3x"},
	{name: "Gossip mesh of 50 hosts formed, after the last host started (ms)",
		measured: mustRef("./p2p:BenchmarkGossipLatency50:mesh-formed-ms"),
		baseline: mustRef("./p2p:BenchmarkGossipLatency50LibraryDefaults:mesh-formed-ms"), benchtime: "3x"},
	// A proof's verify time is about three pairing checks (two blocks'
	// finality, one certificate) plus, at 10,000 validators, subtracting
	// the non-signers' keys: 50 ms leaves room for slow machines, and is
	// far below checking each signer's attestation (the baseline). Its
	// size is the identity table it carries (the genesis's, ~240 bytes a
	// validator) plus what the proof adds, paths, certificate, evidence,
	// which must stay within 64 KiB whatever the validator count.
	{name: "Proof verify, deployment, 100 validators",
		measured: mustRef("./proof:BenchmarkVerifyProof100:ns/op"), target: atMost(50e6),
		baseline: mustRef("./proof:BenchmarkVerifyProof100OneByOne:ns/op"), benchtime: "20x"},
	{name: "Proof size, deployment, 100 validators (bytes)",
		measured: mustRef("./proof:BenchmarkVerifyProof100:proof-bytes"),
		baseline: mustRef("./proof:BenchmarkVerifyProof100OneByOne:proof-bytes"), benchtime: "20x"},
	{name: "Proof verify, deployment, 10,000 validators",
		measured: mustRef("./proof:BenchmarkVerifyProof10k:ns/op"), target: atMost(50e6),
		baseline: mustRef("./proof:BenchmarkVerifyProof10kOneByOne:ns/op"), benchtime: "3x"},
	{name: "Proof size, deployment, 10,000 validators (bytes)",
		measured: mustRef("./proof:BenchmarkVerifyProof10k:proof-bytes"),
		baseline: mustRef("./proof:BenchmarkVerifyProof10kOneByOne:proof-bytes"), benchtime: "3x"},
	{name: "Proof size beyond the identity table, 10,000 validators (bytes)",
		measured: mustRef("./proof:BenchmarkVerifyProof10k:beyond-table-bytes"), target: atMost(64 << 10), benchtime: "3x"},
	{name: "Block propagation, devchain, 4 nodes, 50 ms views: sealed to applied on a follower, p50 (ms)",
		measured: mustRef("./chain/devchain:BenchmarkBlockPropagation:p50-ms"),
		baseline: mustRef("./chain/devchain:BenchmarkBlockPropagationSyncOnly:p50-ms"), benchtime: "1x"},
	{name: "Block propagation, devchain, 4 nodes, 50 ms views: sealed to applied on a follower, p99 (ms, target one view)",
		measured: mustRef("./chain/devchain:BenchmarkBlockPropagation:p99-ms"), target: atMost(50),
		baseline: mustRef("./chain/devchain:BenchmarkBlockPropagationSyncOnly:p99-ms"), benchtime: "1x"},
	{name: "Block propagation: share of followers' blocks that arrived by gossip (%)",
		measured: mustRef("./chain/devchain:BenchmarkBlockPropagation:by-gossip-%"), target: atLeast(90),
		baseline: mustRef("./chain/devchain:BenchmarkBlockPropagationSyncOnly:by-gossip-%"), benchtime: "1x"},
	{name: "Join a running devchain of 3,000 blocks: by state sync, against replay from genesis (ms to reach the head)",
		measured: mustRef("./chain/devchain:BenchmarkJoin:statesync-ms"),
		baseline: mustRef("./chain/devchain:BenchmarkJoin:replay-ms"), benchtime: "1x"},
	{name: "Store commit, empty blocks (synced, on disk)",
		measured: mustRef("./storage:BenchmarkCommitEmptyBlocks:blocks/s"),
		baseline: mustRef("./storage:BenchmarkCommitEmptyBlocksUnbatched:blocks/s"), benchtime: "500x"},
	{name: "Store commit, 10,000-signer certificate blocks (synced)",
		measured: mustRef("./storage:BenchmarkCommitCertificateBlocks:blocks/s"), benchtime: "200x"},
	{name: "Store open + recover, 1,000,000 blocks",
		measured: mustRef("./storage:BenchmarkOpenRecover1M:ns/op"), target: atMost(1e9),
		baseline: mustRef("./storage:BenchmarkRecoverByReplay1M:ns/op"), benchtime: "3x"},
	{name: "CometBFT blocks/s, 4 validators in process, quorumgate app vs kvstore",
		measured: mustRef("./chain/cometbft:BenchmarkBlocks:blocks/s"),
		target:   atLeastShareOf(0.8, "./chain/cometbft:BenchmarkBlocks:kvstore-blocks/s"),
		baseline: mustRef("./chain/cometbft:BenchmarkBlocks:kvstore-blocks/s"), benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (via gossip), p50",
		measured: mustRef("./chain/cometbft:BenchmarkReadinessToFinalized:p50-ms"), benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (via gossip), p99",
		measured: mustRef("./chain/cometbft:BenchmarkReadinessToFinalized:p99-ms"), benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (pools fed directly), p50",
		measured: mustRef("./chain/cometbft:BenchmarkReadinessToFinalizedNoGossip:p50-ms"), benchtime: "1x"},
	{name: "CometBFT readiness signed to finalized (pools fed directly), p99",
		measured: mustRef("./chain/cometbft:BenchmarkReadinessToFinalizedNoGossip:p99-ms"), benchtime: "1x"},
	{name: "Testnet of 30 devchain nodes (QUORUMGATE_BENCH_TESTNET_NODES), memory per node (PSS, MB)",
		measured: mustRef("./testnet:BenchmarkTestnetFootprint:pss-MB/node"), target: atMost(30),
		baseline: mustRef("./testnet:BenchmarkTestnetFootprintNaive:pss-MB/node"), benchtime: "1x"},
	{name: "Testnet of 30 devchain nodes, memory per node as VmRSS (MB, counts the shared executable)",
		measured: mustRef("./testnet:BenchmarkTestnetFootprint:rss-MB/node"), target: atMost(30),
		baseline: mustRef("./testnet:BenchmarkTestnetFootprintNaive:rss-MB/node"), benchtime: "1x"},
	{name: "Testnet of 30 devchain nodes, idle CPU of the whole testnet (cores)",
		measured: mustRef("./testnet:BenchmarkTestnetFootprint:idle-cores"), target: atMost(1),
		baseline: mustRef("./testnet:BenchmarkTestnetFootprintNaive:idle-cores"), benchtime: "1x"},
	{name: "Testnet of 30 devchain nodes, start-up until every node is synced (s)",
		measured: mustRef("./testnet:BenchmarkTestnetFootprint:startup-s"),
		baseline: mustRef("./testnet:BenchmarkTestnetFootprintNaive:startup-s"), benchtime: "1x"},
	{name: "Simulation, 1,000 runs × 1,000 nodes × 100 epochs, one mechanism",
		measured: mustRef("./sim:BenchmarkSimulation1000Runs:ns/op"), target: atMost(60e9),
		baseline: mustRef("./sim:BenchmarkSimulation1000RunsOneWorker:ns/op"), benchtime: "1x"},
	{name: "Simulation, 1,000 runs × 10,000 nodes × 100 epochs, one mechanism",
		measured: mustRef("./sim:BenchmarkSimulation10kNodes:ns/op"), target: atMost(120e9),
		baseline: mustRef("./sim:BenchmarkSimulation10kNodesPerViewBlocks:ns/op"), benchtime: "1x"},
	{name: "Simulation, one run of 1,000,000 validators × 100 epochs",
		measured: mustRef("./sim:BenchmarkSimulation1MValidators:ns/op"), target: atMost(30e9),
		baseline: mustRef("./sim:BenchmarkSimulation1MValidatorsPerViewBlocks:ns/op"), benchtime: "1x"},
}

func main() {
	opts := parseFlags()
	chosen := pick(figures, opts.only)
	res, ok := measureAll(chosen, opts.benchtime, runBenchmark, os.Stderr)
	if err := printTable(os.Stdout, rows(chosen, res)); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		ok = false
	}
	if !ok {
		os.Exit(1)
	}
}

type options struct {
	benchtime string
	only      string
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime for each benchmark")
	flag.StringVar(&o.only, "only", "", "run only figures whose name contains this")
	flag.Parse()
	return o
}

// pick returns the figures whose name contains only (all of them when only is
// empty).
func pick(all []figure, only string) []figure {
	var chosen []figure
	for _, f := range all {
		if only == "" || strings.Contains(f.name, only) {
			chosen = append(chosen, f)
		}
	}
	return chosen
}

// refs lists the numbers f needs, in the order they are measured: the figure,
// its target's reference, its baseline.
func (f figure) refs() []ref {
	l := []ref{f.measured}
	for _, r := range []ref{f.target.of, f.baseline} {
		if r.isSet() {
			l = append(l, r)
		}
	}
	return l
}

// results holds what one run measured: "pkg:Benchmark" -> metric -> value.
// A benchmark that failed to run is absent.
type results map[string]map[string]float64

func (res results) value(r ref) (float64, bool) {
	v, ok := res[r.benchmark()][r.metric]
	return v, ok
}

// runFunc runs one benchmark and returns the metrics it reported.
type runFunc func(pkg, bench, benchtime string) (map[string]float64, error)

// measureAll runs, once each, the benchmarks behind the chosen figures, in
// table order. A figure's benchmarks run with its benchtime, or the run's
// benchtime when it has none. A figure whose own number is missing does not
// run its target's or baseline's benchmarks. Failures, and metrics the table
// names that a benchmark did not report, are written to log; ok is false if
// there was any.
func measureAll(chosen []figure, benchtime string, run runFunc, log io.Writer) (res results, ok bool) {
	// wanted: "pkg:Benchmark" -> the metrics the chosen figures read from it.
	wanted := map[string][]string{}
	for _, f := range chosen {
		for _, r := range f.refs() {
			wanted[r.benchmark()] = append(wanted[r.benchmark()], r.metric)
		}
	}
	res, ok = results{}, true
	tried := map[string]bool{}
	for _, f := range chosen {
		bt := benchtime
		if f.benchtime != "" {
			bt = f.benchtime
		}
		fmt.Fprintf(log, "measuring: %s\n", f.name)
		for i, r := range f.refs() {
			key := r.benchmark()
			if !tried[key] {
				tried[key] = true
				metrics, err := run(r.pkg, r.bench, bt)
				if err == nil {
					res[key] = metrics
					err = hasMetrics(metrics, wanted[key])
				}
				if err != nil {
					fmt.Fprintf(log, "%s %s: %v\n", r.pkg, r.bench, err)
					ok = false
				}
			}
			if _, measured := res.value(r); !measured && i == 0 {
				break // without the figure itself, its references are not needed
			}
		}
	}
	return res, ok
}

func hasMetrics(metrics map[string]float64, want []string) error {
	for _, m := range want {
		if _, ok := metrics[m]; !ok {
			return fmt.Errorf("the benchmark reported no %q metric", m)
		}
	}
	return nil
}

// runBenchmark is the runFunc of a real run: go test -bench on one benchmark.
func runBenchmark(pkg, bench, benchtime string) (map[string]float64, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^"+bench+"$", "-benchtime", benchtime, "-count", "1", pkg)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, out.String())
	}
	return parseBenchOutput(out.String(), bench)
}

// row is one line of the table, every cell formatted.
type row struct {
	name, measured, target, verdict, baseline, speedup string
}

const header = "figure\tmeasured\ttarget\tverdict\tnaive baseline\tspeed-up"

// rows builds the table: one row per chosen figure that was measured. A
// target or baseline whose number is missing shows "-" (its failure was
// reported when it was measured).
func rows(chosen []figure, res results) []row {
	var out []row
	for _, f := range chosen {
		if r, ok := figureRow(f, res); ok {
			out = append(out, r)
		}
	}
	return out
}

// figureRow builds f's row; ok is false if f itself was not measured.
func figureRow(f figure, res results) (r row, ok bool) {
	v, ok := res.value(f.measured)
	if !ok {
		return row{}, false
	}
	metric := f.measured.metric
	r = row{name: f.name, measured: format(v, metric), target: "-", verdict: "-", baseline: "-", speedup: "-"}
	if bound, ok := f.target.resolve(res); ok {
		r.target = targetText(f.target, bound, metric, f.baseline)
		r.verdict = verdict(f.target.atLeast, v, bound)
	}
	if f.baseline.isSet() {
		if bv, ok := res.value(f.baseline); ok {
			r.baseline, r.speedup = baselineText(v, bv, f.measured, f.baseline)
		}
	}
	return r, true
}

// resolve returns the target's bound in this run; ok is false without a
// target, or when the number it is a share of was not measured.
func (t target) resolve(res results) (bound float64, ok bool) {
	switch {
	case !t.isSet():
		return 0, false
	case !t.of.isSet():
		return t.bound, true
	}
	v, ok := res.value(t.of)
	return t.share * v, ok
}

// targetText is the target cell for bound, in the figure's metric. A share
// of the figure's own baseline reads "≥ 80% of baseline (14 blocks/s)"; a
// share of any other number reads "≥ 1898 attestations/s (50% of
// BenchmarkIngest)".
func targetText(t target, bound float64, metric string, baseline ref) string {
	op := "≤ "
	if t.atLeast {
		op = "≥ "
	}
	switch {
	case !t.of.isSet():
		return op + format(bound, metric)
	case t.of == baseline:
		return fmt.Sprintf("%s%.0f%% of baseline (%s)", op, 100*t.share, format(bound, metric))
	}
	return fmt.Sprintf("%s%s (%.0f%% of %s)", op, format(bound, metric), 100*t.share, t.of.bench)
}

func verdict(atLeast bool, v, bound float64) string {
	if (atLeast && v >= bound) || (!atLeast && v <= bound) {
		return "meets"
	}
	return "MISSES"
}

// baselineText is the baseline and speed-up cells for figure v against
// baseline bv. For ns/op lower is better, so the speed-up is bv/v; for the
// other metrics with baselines (rates), it is v/bv. A baseline from another
// benchmark is named, and its speed-up is usually large (one decimal). A
// baseline that is another metric of the same benchmark (quorumgate against
// kvstore in one process) is a ratio near 1, shown with two decimals.
func baselineText(v, bv float64, measured, baseline ref) (base, speedup string) {
	base, speedup = format(bv, baseline.metric), "-"
	ratio := v / bv
	if lowerIsBetter(measured.metric) {
		ratio = bv / v
	}
	if baseline.benchmark() == measured.benchmark() {
		if bv > 0 {
			speedup = fmt.Sprintf("%.2fx", ratio)
		}
		return base, speedup
	}
	if bv <= 0 || v <= 0 {
		return "-", "-"
	}
	return base + " (" + baseline.bench + ")", fmt.Sprintf("%.1fx", ratio)
}

// lowerIsBetter reports whether a smaller number of metric is the better
// one: times per operation (ns/op, and CPU time per item, "cpu-ns/..."),
// latencies (metrics ending "-ms" or "-s"), and costs (memory per node,
// "-MB/node"; CPU, "-cores").
func lowerIsBetter(metric string) bool {
	if metric == "ns/op" || strings.HasPrefix(metric, "cpu-ns/") {
		return true
	}
	for _, suffix := range []string{"-ms", "-s", "-MB/node", "-cores"} {
		if strings.HasSuffix(metric, suffix) {
			return true
		}
	}
	return false
}

func printTable(out io.Writer, rows []row) error {
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.name, r.measured, r.target, r.verdict, r.baseline, r.speedup)
	}
	return w.Flush()
}

func format(v float64, metric string) string {
	switch {
	case strings.HasSuffix(metric, "-cores"): // a fraction of a core matters
		return fmt.Sprintf("%.2f %s", v, metric)
	case strings.HasSuffix(metric, "-MB/node"), strings.HasSuffix(metric, "-s"):
		return fmt.Sprintf("%.1f %s", v, metric)
	case metric != "ns/op":
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

// line is one result line of go test -bench: the name (with its -GOMAXPROCS
// suffix), the iteration count, then value-metric pairs.
var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseBenchOutput reads the metrics of benchmark bench from go test's
// output: the first result line with its name.
func parseBenchOutput(out, bench string) (map[string]float64, error) {
	for _, l := range strings.Split(out, "\n") {
		m := line.FindStringSubmatch(l)
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
		return metrics, nil
	}
	return nil, fmt.Errorf("no result in the output:\n%s", out)
}
