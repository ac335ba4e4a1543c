package sim

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchConfig is the workload for one stake mechanism, at its worst:
// 1,000 runs × 1,000 nodes, and a 19/20 threshold the population never
// reaches (about 60% ever upgrade), so every run signals for all 100 epochs.
const benchConfig = `
seed = 1
runs = 1000
horizon_epochs = 100

[chain]
epoch_views = 7200
safety_views = 64
view_seconds = 12
attest_jitter_views = 300

[population]
nodes = 1000

[[population.role]]
name = "validator"
share = 1.0

[population.stake]
distribution = "uniform"
min = 32
max = 2048

[behaviour]
offline_per_epoch = 0.02

[behaviour.delay]
distribution = "empirical"
points = [[0, 0], [240, 0.3], [2400, 0.6]]

[[mechanism]]
name = "stake-19/20"
kind = "stake"
threshold = "19/20"
timeout_epochs = 100
`

const governanceMechanism = `[[mechanism]]
name = "governance"
kind = "governance"
delay_hours = 336
`

// benchStudy runs benchConfig with nodes and runs set, on workers, packing
// blocks or not.
func benchStudy(b *testing.B, nodes, runs, workers int, mechanism string, perView bool) {
	text := benchConfig
	if mechanism == "governance" {
		text = text[:strings.Index(text, "[[mechanism]]")] + governanceMechanism
	}
	c := mustConfig(b, text)
	c.Population.Nodes, c.Runs, c.perViewBlocks = nodes, runs, perView
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() {
		// CPU seconds (user + system) per op: on a shared machine the wall
		// clock measures the neighbours too; this measures the work.
		b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	}()
	for range b.N {
		s, err := Run(context.Background(), c, Options{Workers: workers})
		require.NoError(b, err)
		require.Len(b, s.Outcomes, runs)
	}
}

// BenchmarkSimulation1000Runs: 1,000 runs × 1,000 nodes × 100 epochs of one
// stake mechanism on every core (target ≤ 60 s per mechanism on 2 cores).
func BenchmarkSimulation1000Runs(b *testing.B) { benchStudy(b, 1000, 1000, 0, "stake", false) }

// BenchmarkSimulation1000RunsOneWorker: the same study on one worker (baseline).
func BenchmarkSimulation1000RunsOneWorker(b *testing.B) { benchStudy(b, 1000, 1000, 1, "stake", false) }

// BenchmarkSimulation1000RunsGovernance: the governance mechanism, for comparison.
func BenchmarkSimulation1000RunsGovernance(b *testing.B) {
	benchStudy(b, 1000, 1000, 0, "governance", false)
}

// BenchmarkSimulation10kNodes: 1,000 runs × 10,000 nodes × 100 epochs, one
// stake mechanism never reaching its threshold, on every core (target ≤ 120 s
// on 2 cores).
func BenchmarkSimulation10kNodes(b *testing.B) { benchStudy(b, 10_000, 1000, 0, "stake", false) }

// BenchmarkSimulation10kNodesPerViewBlocks: the same with one block per view
// at which attestations arrive (the naive packing; same outcomes).
func BenchmarkSimulation10kNodesPerViewBlocks(b *testing.B) {
	benchStudy(b, 10_000, 1000, 0, "stake", true)
}

// BenchmarkSimulation1MValidators: one run of 1,000,000 validators × 100
// epochs (target ≤ 30 s).
func BenchmarkSimulation1MValidators(b *testing.B) { benchStudy(b, 1_000_000, 1, 0, "stake", false) }

// BenchmarkSimulation1MValidatorsPerViewBlocks: the same with one block per view.
func BenchmarkSimulation1MValidatorsPerViewBlocks(b *testing.B) {
	benchStudy(b, 1_000_000, 1, 0, "stake", true)
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
