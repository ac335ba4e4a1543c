package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRef(t *testing.T) {
	r, err := parseRef("./p2p:BenchmarkIngest:attestations/s")
	require.NoError(t, err)
	assert.Equal(t, ref{pkg: "./p2p", bench: "BenchmarkIngest", metric: "attestations/s"}, r)
	assert.Equal(t, "./p2p:BenchmarkIngest", r.benchmark())

	for _, bad := range []string{
		"",
		"./p2p:BenchmarkIngest",              // no metric
		"./p2p:BenchmarkIngest:",             // empty metric
		":BenchmarkIngest:ns/op",             // no package
		"./p2p:Ingest:ns/op",                 // not a benchmark
		"./p2p:BenchmarkIngest:ns/op:extra",  // one part too many
		"./p2p BenchmarkIngest ns/op",        // wrong separator
		"./chain:cometbft:BenchmarkBlocks:x", // a colon in the package
	} {
		_, err := parseRef(bad)
		assert.Error(t, err, "%q", bad)
	}
	assert.Panics(t, func() { mustRef("./p2p:BenchmarkIngest") })
}

// The table names each figure once, and a target that is a share of another
// number refers to one the same run measures anyway: the figure's own
// baseline, or another figure of the table.
func TestFigureTableIsWellFormed(t *testing.T) {
	names := map[string]bool{}
	measured := map[ref]bool{}
	for _, f := range figures {
		measured[f.measured] = true
	}
	for _, f := range figures {
		assert.NotEmpty(t, f.name)
		assert.False(t, names[f.name], "figure %q twice", f.name)
		names[f.name] = true
		assert.True(t, f.measured.isSet(), f.name)
		if !f.target.of.isSet() {
			assert.Zero(t, f.target.share, "%s: a share of nothing", f.name)
			continue
		}
		assert.Zero(t, f.target.bound, "%s: both a bound and a share", f.name)
		assert.Greater(t, f.target.share, 0.0, f.name)
		assert.LessOrEqual(t, f.target.share, 1.0, f.name)
		assert.True(t, f.target.of == f.baseline || measured[f.target.of],
			"%s: its target refers to %v, which is neither its baseline nor a figure", f.name, f.target.of)
		assert.NotEqual(t, f.measured, f.target.of, "%s: a share of itself", f.name)
	}
}

func TestPick(t *testing.T) {
	assert.Len(t, pick(figures, ""), len(figures))
	ingest := pick(figures, "Ingest")
	require.NotEmpty(t, ingest)
	for _, f := range ingest {
		assert.Contains(t, f.name, "Ingest")
	}
	assert.Empty(t, pick(figures, "no such figure"))
}

var (
	ingest     = mustRef("./p2p:BenchmarkIngest:attestations/s")
	ingestBad  = mustRef("./p2p:BenchmarkIngest1PctBad:attestations/s")
	naive      = mustRef("./p2p:BenchmarkIngestNaive:attestations/s")
	blocks     = mustRef("./chain/cometbft:BenchmarkBlocks:blocks/s")
	kvBlocks   = mustRef("./chain/cometbft:BenchmarkBlocks:kvstore-blocks/s")
	apply      = mustRef("./activation:BenchmarkApplyEmptyBlock:ns/op")
	applyNaive = mustRef("./replay:BenchmarkReferenceApplyEmptyBlock:ns/op")
)

func TestTargetResolve(t *testing.T) {
	res := results{
		ingest.benchmark(): {"attestations/s": 3796},
		blocks.benchmark(): {"blocks/s": 13, "kvstore-blocks/s": 17.5},
	}
	for _, c := range []struct {
		name   string
		target target
		bound  float64
		ok     bool
	}{
		{"no target", target{}, 0, false},
		{"at most", atMost(20e3), 20e3, true},
		{"at least", atLeast(30000), 30000, true},
		{"share of another benchmark", atLeastShareOf(0.5, "./p2p:BenchmarkIngest:attestations/s"), 1898, true},
		{"share of another metric", atLeastShareOf(0.8, "./chain/cometbft:BenchmarkBlocks:kvstore-blocks/s"), 14, true},
		{"share of a benchmark not measured", atLeastShareOf(0.5, "./p2p:BenchmarkIngestNaive:attestations/s"), 0, false},
		{"share of a metric not reported", atLeastShareOf(0.5, "./p2p:BenchmarkIngest:ns/op"), 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bound, ok := c.target.resolve(res)
			assert.Equal(t, c.ok, ok)
			assert.InDelta(t, c.bound, bound, 1e-9)
		})
	}
}

// The target texts are the ones the report printed before a relative target
// became one concept; the numbers are from a real run.
func TestTargetText(t *testing.T) {
	assert.Equal(t, "≤ 20.0 µs", targetText(atMost(20e3), 20e3, "ns/op", applyNaive))
	assert.Equal(t, "≤ 100 p99-ms", targetText(atMost(100), 100, "p99-ms", ref{}))
	assert.Equal(t, "≥ 30000 attestations/s", targetText(atLeast(30000), 30000, "attestations/s", naive))
	share := atLeastShareOf(0.5, "./p2p:BenchmarkIngest:attestations/s")
	assert.Equal(t, "≥ 1898 attestations/s (50% of BenchmarkIngest)",
		targetText(share, 1898, "attestations/s", naive))
	ofBaseline := atLeastShareOf(0.8, "./chain/cometbft:BenchmarkBlocks:kvstore-blocks/s")
	assert.Equal(t, "≥ 80% of baseline (14 blocks/s)", targetText(ofBaseline, 14, "blocks/s", kvBlocks))
	// The same share, when the number is not the figure's baseline, names it.
	assert.Equal(t, "≥ 14 blocks/s (80% of BenchmarkBlocks)", targetText(ofBaseline, 14, "blocks/s", ref{}))
}

func TestVerdict(t *testing.T) {
	assert.Equal(t, "meets", verdict(true, 30000, 30000), "at least: equal meets")
	assert.Equal(t, "meets", verdict(true, 30001, 30000))
	assert.Equal(t, "MISSES", verdict(true, 29999.9, 30000))
	assert.Equal(t, "meets", verdict(false, 20e3, 20e3), "at most: equal meets")
	assert.Equal(t, "meets", verdict(false, 4.2e3, 20e3))
	assert.Equal(t, "MISSES", verdict(false, 20e3+0.1, 20e3))
}

func TestBaselineText(t *testing.T) {
	for _, c := range []struct {
		name             string
		v, bv            float64
		measured, of     ref
		base, speedupOut string
	}{
		{"time: the baseline's time over the figure's", 4.2e3, 1.217e6, apply, applyNaive,
			"1.22 ms (BenchmarkReferenceApplyEmptyBlock)", "289.8x"},
		{"rate: the figure's rate over the baseline's", 3796, 575, ingest, naive,
			"575 attestations/s (BenchmarkIngestNaive)", "6.6x"},
		{"slower than the baseline", 14419, 28838, ingestBad, naive,
			"28838 attestations/s (BenchmarkIngestNaive)", "0.5x"},
		{"another metric of the same benchmark: a ratio, two decimals, no name", 13, 17, blocks, kvBlocks,
			"17 kvstore-blocks/s", "0.76x"},
		{"latency: the baseline's over the figure's", 4, 106, mustRef("./chain/devchain:BenchmarkBlockPropagation:p50-ms"),
			mustRef("./chain/devchain:BenchmarkBlockPropagationSyncOnly:p50-ms"), "106 p50-ms (BenchmarkBlockPropagationSyncOnly)", "26.5x"},
		{"CPU time per item: the baseline's over the figure's", 25e3, 1.6e6, mustRef("./p2p:BenchmarkIngest:cpu-ns/attestation"),
			mustRef("./p2p:BenchmarkIngestNaive:cpu-ns/attestation"), "1600000 cpu-ns/attestation (BenchmarkIngestNaive)", "64.0x"},
		{"a cost: the baseline's over the figure's", 15.2, 40.1, mustRef("./testnet:BenchmarkTestnetFootprint:pss-MB/node"),
			mustRef("./testnet:BenchmarkTestnetFootprintNaive:pss-MB/node"), "40.1 pss-MB/node (BenchmarkTestnetFootprintNaive)", "2.6x"},
		{"CPU: the baseline's over the figure's", 0.4, 1.2, mustRef("./testnet:BenchmarkTestnetFootprint:idle-cores"),
			mustRef("./testnet:BenchmarkTestnetFootprintNaive:idle-cores"), "1.20 idle-cores (BenchmarkTestnetFootprintNaive)", "3.0x"},
		{"same benchmark, baseline zero", 13, 0, blocks, kvBlocks, "0 kvstore-blocks/s", "-"},
		{"another benchmark, baseline zero", 3796, 0, ingest, naive, "-", "-"},
		{"another benchmark, figure zero", 0, 575, ingest, naive, "-", "-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			base, speedup := baselineText(c.v, c.bv, c.measured, c.of)
			assert.Equal(t, c.base, base)
			assert.Equal(t, c.speedupOut, speedup)
		})
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v      float64
		metric string
		want   string
	}{
		{999, "ns/op", "999 ns"},
		{1000, "ns/op", "1.0 µs"},
		{4249.7, "ns/op", "4.2 µs"},
		{999_949, "ns/op", "999.9 µs"},
		{1e6, "ns/op", "1.00 ms"},
		{16.4e6, "ns/op", "16.40 ms"},
		{1e9, "ns/op", "1.00 s"},
		{61.26e9, "ns/op", "61.26 s"},
		{3796.4, "attestations/s", "3796 attestations/s"},
		{0, "verified-before-cutoff", "0 verified-before-cutoff"},
		{12.5, "p99-ms", "12 p99-ms"}, // %.0f rounds half to even
		{0.456, "idle-cores", "0.46 idle-cores"},
		{14.84, "pss-MB/node", "14.8 pss-MB/node"},
		{34.65, "startup-s", "34.6 startup-s"},
	} {
		assert.Equal(t, c.want, format(c.v, c.metric), "%v %s", c.v, c.metric)
	}
}

const sampleOutput = `goos: linux
goarch: amd64
pkg: github.com/example/quorumgate/p2p
cpu: AMD EPYC
BenchmarkIngest1PctBad-2   	       2	 693541520 ns/op	     14419 attestations/s	 1234 B/op	      56 allocs/op
BenchmarkIngest-2          	       3	 2634161306 ns/op	      3796 attestations/s
BenchmarkIngest-2          	       3	 1 ns/op	      1 attestations/s
PASS
ok  	github.com/example/quorumgate/p2p	20.1s
`

func TestParseBenchOutput(t *testing.T) {
	m, err := parseBenchOutput(sampleOutput, "BenchmarkIngest")
	require.NoError(t, err)
	// Its own line, not the one of a benchmark whose name starts the same,
	// and the first of its lines.
	assert.Equal(t, map[string]float64{"ns/op": 2634161306, "attestations/s": 3796}, m)

	m, err = parseBenchOutput(sampleOutput, "BenchmarkIngest1PctBad")
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"ns/op": 693541520, "attestations/s": 14419, "B/op": 1234, "allocs/op": 56}, m)

	// Without the -GOMAXPROCS suffix (GOMAXPROCS=1).
	m, err = parseBenchOutput("BenchmarkBlocks \t 1\t 12.5 blocks/s\t 17.25 kvstore-blocks/s\n", "BenchmarkBlocks")
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"blocks/s": 12.5, "kvstore-blocks/s": 17.25}, m)

	_, err = parseBenchOutput(sampleOutput, "BenchmarkIngestNaive")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no result in the output")
	assert.Contains(t, err.Error(), "BenchmarkIngest-2", "the error shows the output")
}

// fakeRuns is a runFunc that records its calls and answers from a table.
type fakeRuns struct {
	calls   []string
	metrics map[string]map[string]float64 // "pkg:Benchmark" -> metrics
	fail    map[string]bool
}

func (f *fakeRuns) run(pkg, bench, benchtime string) (map[string]float64, error) {
	key := pkg + ":" + bench
	f.calls = append(f.calls, key+" "+benchtime)
	if f.fail[key] {
		return nil, errors.New("exit status 1")
	}
	return f.metrics[key], nil
}

func TestMeasureAllRunsEachBenchmarkOnce(t *testing.T) {
	chosen := pick(figures, "Ingest, 10,000 signers")
	require.Len(t, chosen, 2)
	runs := &fakeRuns{metrics: map[string]map[string]float64{
		ingest.benchmark():    {"attestations/s": 3796},
		ingestBad.benchmark(): {"attestations/s": 14419},
		naive.benchmark():     {"attestations/s": 575},
	}}
	var log strings.Builder
	res, ok := measureAll(chosen, "1s", runs.run, &log)
	require.True(t, ok, log.String())
	// In table order, each once, with the benchtime of the first figure that
	// needs it.
	assert.Equal(t, []string{
		"./p2p:BenchmarkIngest 3x",
		"./p2p:BenchmarkIngestNaive 3x",
		"./p2p:BenchmarkIngest1PctBad 2x",
	}, runs.calls)
	assert.Equal(t, "measuring: "+chosen[0].name+"\nmeasuring: "+chosen[1].name+"\n", log.String())

	var out strings.Builder
	require.NoError(t, printTable(&out, rows(chosen, res)))
	assert.Equal(t, strings.Join([]string{
		"figure                                                                  measured              target                                          verdict  naive baseline                             speed-up",
		"Ingest, 10,000 signers (decode to tally, batched BLS)                   3796 attestations/s   ≥ 30000 attestations/s                          MISSES   575 attestations/s (BenchmarkIngestNaive)  6.6x",
		"Ingest, 10,000 signers, 1% bad signatures (from a forger's connection)  14419 attestations/s  ≥ 1898 attestations/s (50% of BenchmarkIngest)  meets    575 attestations/s (BenchmarkIngestNaive)  25.1x",
		"",
	}, "\n"), out.String())
}

func TestMeasureAllUsesTheRunsBenchtime(t *testing.T) {
	runs := &fakeRuns{metrics: map[string]map[string]float64{
		apply.benchmark():      {"ns/op": 4200},
		applyNaive.benchmark(): {"ns/op": 1.2e6},
	}}
	var log strings.Builder
	_, ok := measureAll(pick(figures, "Apply, empty block"), "5x", runs.run, &log)
	require.True(t, ok, log.String())
	assert.Equal(t, []string{
		"./activation:BenchmarkApplyEmptyBlock 5x",
		"./replay:BenchmarkReferenceApplyEmptyBlock 5x",
	}, runs.calls)
}

func TestMeasureAllReportsFailures(t *testing.T) {
	chosen := pick(figures, "Ingest, 10,000 signers")
	require.Len(t, chosen, 2)

	t.Run("the figure's own benchmark fails", func(t *testing.T) {
		runs := &fakeRuns{
			metrics: map[string]map[string]float64{
				ingestBad.benchmark(): {"attestations/s": 14419},
				naive.benchmark():     {"attestations/s": 575},
			},
			fail: map[string]bool{ingest.benchmark(): true},
		}
		var log strings.Builder
		res, ok := measureAll(chosen, "1s", runs.run, &log)
		assert.False(t, ok)
		assert.Contains(t, log.String(), "./p2p BenchmarkIngest: exit status 1")
		// The first figure's baseline waits for a figure that needs it; the
		// second figure's target is not retried.
		assert.Equal(t, []string{
			"./p2p:BenchmarkIngest 3x",
			"./p2p:BenchmarkIngest1PctBad 2x",
			"./p2p:BenchmarkIngestNaive 2x",
		}, runs.calls)
		got := rows(chosen, res)
		require.Len(t, got, 1, "no row for a figure that was not measured")
		assert.Equal(t, chosen[1].name, got[0].name)
		assert.Equal(t, "-", got[0].target, "a share of a number not measured")
		assert.Equal(t, "-", got[0].verdict)
		assert.Equal(t, "575 attestations/s (BenchmarkIngestNaive)", got[0].baseline)
	})

	t.Run("the baseline's benchmark lacks the metric the table names", func(t *testing.T) {
		runs := &fakeRuns{metrics: map[string]map[string]float64{
			ingest.benchmark():    {"attestations/s": 3796},
			ingestBad.benchmark(): {"attestations/s": 14419},
			naive.benchmark():     {"ns/op": 1e9},
		}}
		var log strings.Builder
		res, ok := measureAll(chosen, "1s", runs.run, &log)
		assert.False(t, ok)
		assert.Contains(t, log.String(), `./p2p BenchmarkIngestNaive: the benchmark reported no "attestations/s" metric`)
		got := rows(chosen, res)
		require.Len(t, got, 2)
		for _, r := range got {
			assert.Equal(t, "-", r.baseline, r.name)
			assert.Equal(t, "-", r.speedup, r.name)
			assert.NotEqual(t, "-", r.verdict, r.name)
		}
	})

	t.Run("one of two metrics of a benchmark is missing", func(t *testing.T) {
		chosen := pick(figures, "CometBFT readiness signed to finalized (via gossip)")
		require.Len(t, chosen, 2)
		runs := &fakeRuns{metrics: map[string]map[string]float64{
			"./chain/cometbft:BenchmarkReadinessToFinalized": {"p50-ms": 800},
		}}
		var log strings.Builder
		res, ok := measureAll(chosen, "1s", runs.run, &log)
		assert.False(t, ok)
		assert.Contains(t, log.String(), `./chain/cometbft BenchmarkReadinessToFinalized: the benchmark reported no "p99-ms" metric`)
		assert.Len(t, runs.calls, 1)
		got := rows(chosen, res)
		require.Len(t, got, 1, "the p50 row stays, the p99 row goes")
		assert.Equal(t, "800 p50-ms", got[0].measured)
	})
}

func TestFigureRowAgainstAnotherMetricOfItsBenchmark(t *testing.T) {
	chosen := pick(figures, "CometBFT blocks/s")
	require.Len(t, chosen, 1)
	for _, c := range []struct {
		quorumgate, kvstore float64
		target, verdict     string
		baseline            string
	}{
		{13.4, 17.6, "≥ 80% of baseline (14 blocks/s)", "MISSES", "18 kvstore-blocks/s"},
		{14.1, 17.6, "≥ 80% of baseline (14 blocks/s)", "meets", "18 kvstore-blocks/s"},
		{16, 20, "≥ 80% of baseline (16 blocks/s)", "meets", "20 kvstore-blocks/s"}, // exactly 80%
		{15.9, 20, "≥ 80% of baseline (16 blocks/s)", "MISSES", "20 kvstore-blocks/s"},
	} {
		t.Run(fmt.Sprint(c.quorumgate), func(t *testing.T) {
			res := results{blocks.benchmark(): {"blocks/s": c.quorumgate, "kvstore-blocks/s": c.kvstore}}
			r, ok := figureRow(chosen[0], res)
			require.True(t, ok)
			assert.Equal(t, c.target, r.target)
			assert.Equal(t, c.verdict, r.verdict)
			assert.Equal(t, c.baseline, r.baseline)
			assert.Equal(t, fmt.Sprintf("%.2fx", c.quorumgate/c.kvstore), r.speedup)
		})
	}
}

func TestFigureRowWithoutTargetOrBaseline(t *testing.T) {
	chosen := pick(figures, "Forged flood of 2,000")
	require.Len(t, chosen, 1)
	r, ok := figureRow(chosen[0], results{"./p2p:BenchmarkForgerCutOff": {"verified-before-cutoff": 37}})
	require.True(t, ok)
	assert.Equal(t, row{name: chosen[0].name, measured: "37 verified-before-cutoff",
		target: "-", verdict: "-", baseline: "-", speedup: "-"}, r)
}

// Every number the table names comes from a benchmark that lives in the
// repository: a func of that name in a _test.go file of the package.
func TestEveryBenchmarkLivesInTheRepository(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	found := map[string]bool{} // "pkg:Benchmark"
	for _, f := range figures {
		for _, r := range f.refs() {
			if found[r.benchmark()] {
				continue
			}
			files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(r.pkg), "*_test.go"))
			require.NoError(t, err)
			require.NotEmpty(t, files, "%s: no test files in %s", f.name, r.pkg)
			for _, file := range files {
				src, err := os.ReadFile(file)
				require.NoError(t, err)
				if strings.Contains(string(src), "\nfunc "+r.bench+"(b *testing.B)") {
					found[r.benchmark()] = true
					break
				}
			}
			assert.True(t, found[r.benchmark()], "%s: no func %s(b *testing.B) in %s", f.name, r.bench, r.pkg)
		}
	}
}
