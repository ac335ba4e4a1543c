package sim

import (
	"context"
	"testing"
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

func benchStudy(b *testing.B, workers int, mechanism string) {
	c := mustConfig(b, benchConfig)
	if mechanism == "governance" {
		c = mustConfig(b, benchConfig[:len(benchConfig)-len(`[[mechanism]]
name = "stake-19/20"
kind = "stake"
threshold = "19/20"
timeout_epochs = 100
`)]+`[[mechanism]]
name = "governance"
kind = "governance"
delay_hours = 336
`)
	}
	b.ResetTimer()
	for range b.N {
		s, err := Run(context.Background(), c, Options{Workers: workers})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Outcomes) != 1000 {
			b.Fatal(len(s.Outcomes))
		}
	}
}

// BenchmarkSimulation1000Runs: 1,000 runs × 1,000 nodes × 100 epochs of one
// stake mechanism on every core (target ≤ 60 s per mechanism on 2 cores).
func BenchmarkSimulation1000Runs(b *testing.B) { benchStudy(b, 0, "stake") }

// BenchmarkSimulation1000RunsOneWorker: the same study on one worker (baseline).
func BenchmarkSimulation1000RunsOneWorker(b *testing.B) { benchStudy(b, 1, "stake") }

// BenchmarkSimulation1000RunsGovernance: the governance mechanism, for comparison.
func BenchmarkSimulation1000RunsGovernance(b *testing.B) { benchStudy(b, 0, "governance") }
