package testnet

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadProc reads this test process from /proc: some memory, of which
// PSS is no more than VmRSS, CPU spent, files and threads open.
func TestReadProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Fatalf("this test reads /proc, which the node processes' stats need (Linux): %v", err)
	}
	// Spend a little CPU so that there is some to see.
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
	}
	p, err := ReadProc(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, p.RSS, uint64(1<<20))
	assert.Greater(t, p.Anon, uint64(0))
	assert.LessOrEqual(t, p.Anon, p.RSS)
	assert.Greater(t, p.PSS, uint64(0))
	assert.LessOrEqual(t, p.PSS, p.RSS)
	assert.GreaterOrEqual(t, p.CPU, 10*time.Millisecond)
	assert.Greater(t, p.FDs, 2)
	assert.Greater(t, p.Threads, 0)

	_, err = ReadProc(1 << 30) // beyond pid_max
	assert.Error(t, err)
}

// TestWriteResources prints a small testnet's footprint row by row, and a
// large one's by role only, each with the totals beside the targets.
func TestWriteResources(t *testing.T) {
	node := func(id, role string, pss, rss uint64, cores float64) NodeResources {
		return NodeResources{ID: id, Role: role, PID: 100, Cores: cores,
			ProcStats: ProcStats{RSS: rss << 20, Anon: (pss - 1) << 20, PSS: pss << 20, FDs: 40, Threads: 9}}
	}
	small := Resources{Window: 10 * time.Second, Nodes: []NodeResources{
		node("seq", "consensus", 14, 72, 0.02), node("e1", "execution", 16, 74, 0.01)}, Stopped: 1}
	var b bytes.Buffer
	require.NoError(t, WriteResources(&b, small, false))
	out := b.String()
	for _, want := range []string{
		"seq  consensus  100    72.0    13.0    14.0    2.0   40        9",
		"all      2         73.0",
		"2 nodes measured over 10s (1 not running): memory 30.0 MB in all (PSS; VmRSS adds up to 146.0 MB",
		"CPU 0.03 cores",
		"target: memory <= 30.0 MB a node: PSS 15.0 MB (meets it), VmRSS 73.0 MB (MISSES it",
		"target: CPU <= 1 core for the whole testnet when idle: 0.03 (meets it)",
	} {
		assert.Contains(t, out, want)
	}

	var large Resources
	for i, spec := range nodesOf(engineDevchain, 40) {
		large.Nodes = append(large.Nodes, node(spec.id, spec.role, 40, 100, 0.03+float64(i%2)*0.001))
	}
	b.Reset()
	require.NoError(t, WriteResources(&b, large, false))
	out = b.String()
	assert.NotContains(t, out, "\n  seq ", "no row per node past SummarizeAbove")
	assert.Contains(t, out, "PSS 40.0 MB (MISSES it)")
	assert.Contains(t, out, "CPU <= 1 core for the whole testnet when idle: 1.22 (MISSES it)")
	assert.Less(t, strings.Count(out, "\n"), 12)
	b.Reset()
	require.NoError(t, WriteResources(&b, large, true))
	assert.Greater(t, strings.Count(b.String(), "\n"), 40, "--all: a row per node")
}
