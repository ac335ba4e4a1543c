package testnet

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// What a testnet of many nodes costs, measured the same way by the scale
// test (scale_test.go, build tag scale) and by BenchmarkTestnetFootprint
// (make bench): start it, let it idle, read /proc over a window.

// footprint is one testnet's measured cost.
type footprint struct {
	nodes   int
	engine  string
	startup time.Duration // up, until every node is synced
	// Per node, in MB: PSS (what the node takes from the machine), VmRSS
	// (with the shared executable), RssAnon (its own).
	pss, rss, anon float64
	fdsMax         int
	idleCores      float64 // the whole testnet's CPU, idle
}

func (f footprint) String() string {
	return strings.Join([]string{
		f.engine, strconv.Itoa(f.nodes) + " nodes",
		"startup " + f.startup.Round(100*time.Millisecond).String(),
		"PSS " + strconv.FormatFloat(f.pss, 'f', 1, 64) + " MB/node",
		"VmRSS " + strconv.FormatFloat(f.rss, 'f', 1, 64) + " MB/node",
		"own " + strconv.FormatFloat(f.anon, 'f', 1, 64) + " MB/node",
		"fds max " + strconv.Itoa(f.fdsMax),
		"idle CPU " + strconv.FormatFloat(f.idleCores, 'f', 2, 64) + " cores",
	}, ", ")
}

// buildNodePlugin builds node-plugin for tests and benchmarks alike.
func buildNodePlugin(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "node-plugin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/quorumgate/quorumgate/cmd/node-plugin").CombinedOutput()
	require.NoError(tb, err, "build node-plugin:\n%s", out)
	return bin
}

// upTestnet creates and starts a testnet of n nodes in dir; naive gives it
// the settings testnets had before issue 23 (every node dials every other,
// 100 ms views, the Go runtime's own GOMAXPROCS), the baseline. It returns
// the testnet and how long until every node was synced.
func upTestnet(tb testing.TB, bin, dir string, n int, engine string, epochViews uint64, naive bool) (*Testnet, time.Duration) {
	tb.Helper()
	o := UpOptions{Dir: dir, Nodes: n, Engine: engine, Binary: bin, EpochViews: epochViews, Out: io.Discard,
		SyncTimeout: time.Duration(n) * 3 * time.Second}
	ctx := context.Background()
	if naive {
		tb.Setenv("GOMAXPROCS", strconv.Itoa(runtime.NumCPU())) // nodeEnv keeps a GOMAXPROCS it finds
		o.ViewInterval = 100 * time.Millisecond
		t, err := create(dir, o)
		require.NoError(tb, err)
		for i := range t.M.Nodes {
			path := filepath.Join(t.Home(&t.M.Nodes[i]), "config.toml")
			cfg, err := os.ReadFile(path)
			require.NoError(tb, err)
			require.NoError(tb, os.WriteFile(path, []byte(strings.Replace(string(cfg), "genesis_dials = 8", "genesis_dials = 0", 1)), 0o600))
		}
		o = UpOptions{Dir: dir, Binary: bin, Out: io.Discard, SyncTimeout: o.SyncTimeout}
	}
	start := time.Now()
	t, err := Up(ctx, o)
	if err != nil {
		if tn, oerr := Open(dir); oerr == nil {
			tn.Down()
		}
		require.NoError(tb, err, "up %d nodes on %s", n, engine)
	}
	return t, time.Since(start)
}

// measureIdle lets the testnet settle, then measures it over window.
func measureIdle(tb testing.TB, t *Testnet, settle, window time.Duration) footprint {
	tb.Helper()
	time.Sleep(settle)
	r, err := t.Resources(context.Background(), window)
	require.NoError(tb, err)
	require.Zero(tb, r.Stopped, "every node runs while measured")
	k := float64(len(r.Nodes))
	tot := r.Total()
	f := footprint{nodes: len(r.Nodes), engine: t.M.Engine, idleCores: tot.Cores,
		pss: float64(tot.PSS) / k / (1 << 20), rss: float64(tot.RSS) / k / (1 << 20), anon: float64(tot.Anon) / k / (1 << 20)}
	if f.engine == "" {
		f.engine = engineDevchain
	}
	for _, n := range r.Nodes {
		f.fdsMax = max(f.fdsMax, n.FDs)
	}
	return f
}

// benchNodes is the testnet size of BenchmarkTestnetFootprint: 30 unless
// QUORUMGATE_BENCH_TESTNET_NODES says otherwise (100 takes a few minutes
// more, and the naive baseline does not sync at 100 on two cores).
func benchNodes(b *testing.B) int {
	n := 30
	if v := os.Getenv("QUORUMGATE_BENCH_TESTNET_NODES"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "QUORUMGATE_BENCH_TESTNET_NODES")
	}
	return n
}

// BenchmarkTestnetFootprint reports what a devchain testnet's node costs
// with the settings testnets use (issue 23): PSS and VmRSS per node, the
// whole testnet's idle CPU, start-up time. make bench compares it with
// BenchmarkTestnetFootprintNaive.
func BenchmarkTestnetFootprint(b *testing.B) { benchFootprint(b, false) }

// BenchmarkTestnetFootprintNaive is the baseline: the same testnet with
// the settings of before (every node dials every other, 100 ms views).
func BenchmarkTestnetFootprintNaive(b *testing.B) { benchFootprint(b, true) }

func benchFootprint(b *testing.B, naive bool) {
	bin := buildNodePlugin(b)
	n := benchNodes(b)
	var f footprint
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(b.TempDir(), "tn"+strconv.Itoa(i))
		t, startup := upTestnet(b, bin, dir, n, engineDevchain, 100, naive)
		f = measureIdle(b, t, 5*time.Second, 15*time.Second)
		f.startup = startup
		require.NoError(b, t.Down())
	}
	b.Logf("%s", f)
	b.ReportMetric(f.pss, "pss-MB/node")
	b.ReportMetric(f.rss, "rss-MB/node")
	b.ReportMetric(f.idleCores, "idle-cores")
	b.ReportMetric(f.startup.Seconds(), "startup-s")
	b.ReportMetric(float64(f.fdsMax), "fds-max")
	b.ReportMetric(float64(n), "nodes")
	b.ReportMetric(0, "ns/op")
}
