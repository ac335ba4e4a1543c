package sim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sweepConfig(t *testing.T, sweep string) *Config {
	t.Helper()
	return mustConfig(t, baseConfig+"\n"+sweep)
}

func TestGridSweepPoints(t *testing.T) {
	c := sweepConfig(t, `
[sweep]
method = "grid"
[[sweep.key]]
key = "mechanism[*].threshold"
values = ["2/3", "4/5", "9/10"]
[[sweep.key]]
key = "behaviour.offline_per_epoch"
min = 0
max = 0.1
steps = 2
`)
	pts := c.SweepPoints()
	require.Len(t, pts, 6)
	assert.Equal(t, []string{"2/3", "0"}, pts[0].Text)
	assert.Equal(t, []string{"2/3", "0.1"}, pts[1].Text, "the last key varies fastest")
	assert.InDelta(t, 0.9, pts[5].Values[0], 1e-12)
	pc, err := c.PointConfig(pts[5])
	require.NoError(t, err)
	assert.Equal(t, 0.1, pc.Behaviour.OfflinePerEpoch)
	// [*] sets the mechanisms that set a threshold, and leaves the others alone.
	assert.Equal(t, "9/10", pc.Mechanisms[mechIndex(pc, "stake")].Threshold)
	assert.Equal(t, "9/10", pc.Mechanisms[mechIndex(pc, "stake-4/5")].Threshold)
	assert.Equal(t, "", pc.Mechanisms[mechIndex(pc, "gov")].Threshold)
	assert.Nil(t, pc.Sweep)
}

func TestLatinHypercubeCoversEveryStratum(t *testing.T) {
	c := sweepConfig(t, `
[sweep]
method = "latin_hypercube"
points = 10
[[sweep.key]]
key = "behaviour.deadline.hurry_share"
min = 0
max = 1
[[sweep.key]]
key = "mechanism[stake-4/5].threshold"
min = 0.7
max = 0.9
`)
	pts := c.SweepPoints()
	require.Len(t, pts, 10)
	for k, span := range [][2]float64{{0, 1}, {0.7, 0.9}} {
		seen := make([]bool, 10)
		for _, p := range pts {
			bin := int((p.Values[k] - span[0]) / (span[1] - span[0]) * 10)
			require.False(t, seen[bin], "key %d: two points in stratum %d", k, bin)
			seen[bin] = true
		}
	}
	pc, err := c.PointConfig(pts[0])
	require.NoError(t, err)
	th := pc.Mechanisms[mechIndex(pc, "stake-4/5")].threshold
	assert.InDelta(t, pts[0].Values[1], float64(th.Num)/float64(th.Den), 1e-6, "a numeric threshold becomes a fraction")
	assert.Equal(t, pts, c.SweepPoints(), "the points follow from the seed")
}

func TestSweepConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, sweep, key string }{
		{"method", "[sweep]\nmethod = \"random\"\n[[sweep.key]]\nkey = \"horizon_epochs\"\nvalues = [1]", "sweep.method"},
		{"no keys", "[sweep]\nmethod = \"grid\"", "sweep.key"},
		{"lhs without points", "[sweep]\nmethod = \"latin_hypercube\"\n[[sweep.key]]\nkey = \"horizon_epochs\"\nmin = 1\nmax = 2", "sweep.points"},
		{"both", "[sweep]\nmethod = \"grid\"\n[[sweep.key]]\nkey = \"horizon_epochs\"\nvalues = [1]\nmin = 1\nmax = 2", "sweep.key[0]"},
		{"bad value", "[sweep]\nmethod = \"grid\"\n[[sweep.key]]\nkey = \"horizon_epochs\"\nvalues = [\"x\"]", "sweep.key[0].values[0]"},
		{"runs", "[sweep]\nmethod = \"grid\"\n[[sweep.key]]\nkey = \"runs\"\nvalues = [1, 2]", "sweep.key[0].key"},
		{"seed", "[sweep]\nmethod = \"grid\"\n[[sweep.key]]\nkey = \"seed\"\nvalues = [1, 2]", "sweep.key[0].key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(baseConfig+"\n"+tc.sweep), t.TempDir())
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "got %v", err)
			assert.Equal(t, tc.key, ce.Key)
		})
	}
	// A path that names nothing fails when the point is built, naming the key.
	c := sweepConfig(t, "[sweep]\nmethod = \"grid\"\n[[sweep.key]]\nkey = \"mechanism[nope].threshold\"\nvalues = [0.7]")
	_, err := c.PointConfig(c.SweepPoints()[0])
	var ce *ConfigError
	require.True(t, errors.As(err, &ce), "got %v", err)
	assert.Equal(t, "sweep.key[0].key", ce.Key)
	assert.Contains(t, err.Error(), `no mechanism named "nope"`)
	// A point that makes the config invalid says which point and which key.
	c = sweepConfig(t, "[sweep]\nmethod = \"grid\"\n[[sweep.key]]\nkey = \"behaviour.offline_per_epoch\"\nvalues = [0.1, 1.5]")
	_, err = c.PointConfig(c.SweepPoints()[1])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "behaviour.offline_per_epoch")
	assert.Contains(t, err.Error(), "point 1.5")
}

func TestSweepRunsAndWrites(t *testing.T) {
	c := sweepConfig(t, `
[sweep]
method = "grid"
[[sweep.key]]
key = "mechanism[*].threshold"
values = ["3/5", "9/10"]
`)
	c.Runs = 25
	sw, err := RunSweep(context.Background(), c, Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, sw.Write(dir, Provenance{CommandLine: []string{"node-plugin", "sim"}, ConfigPath: "s.toml"}))
	data, err := os.ReadFile(filepath.Join(dir, "sweep.csv"))
	require.NoError(t, err)
	assert.Equal(t, 1+2*25*len(c.Mechanisms), strings.Count(string(data), "\n"), "one row per point × run × mechanism")
	for _, f := range []string{"sensitivity.csv", "sweep_summary.csv", "report.md", "tornado_hours_to_activation.png",
		"curve_mechanism_threshold_hours_to_activation.png", "curve_mechanism_threshold_activated.svg"} {
		_, err := os.Stat(filepath.Join(dir, f))
		assert.NoError(t, err, f)
	}
	// A higher threshold never makes stake activation faster, and the tornado
	// leaves governance out of a key it cannot feel.
	found := false
	for _, s := range sw.Sensitivities() {
		assert.NotEqual(t, "gov", s.Mechanism, "governance has no threshold")
		if s.Metric == "hours_to_activation" && s.Mechanism == "stake-4/5" {
			found = true
			assert.Greater(t, s.Effect(), 0.0)
			assert.Positive(t, s.Pairs, "a grid's ends are paired run by run")
			assert.LessOrEqual(t, s.EffectLow, s.Effect())
			assert.GreaterOrEqual(t, s.EffectHigh, s.Effect())
		}
	}
	assert.True(t, found)
}

func TestOneAtATimeSweep(t *testing.T) {
	c := sweepConfig(t, `
[sweep]
method = "one_at_a_time"
[[sweep.key]]
key = "behaviour.deadline.hurry_share"
values = [0.0, 0.35, 0.7, 1.0]
[[sweep.key]]
key = "mechanism[*].threshold"
values = ["2/3", "4/5", "9/10"]
`)
	pts := c.SweepPoints()
	// The baseline (0.7 and 2/3, from the config), then three other hurry
	// shares and two other thresholds.
	require.Len(t, pts, 6)
	assert.Equal(t, -1, pts[0].Varies)
	assert.Equal(t, []string{"0.7", "2/3"}, pts[0].Text)
	assert.Equal(t, []string{"0.7", "9/10"}, pts[5].Text)
	assert.Equal(t, 1, pts[5].Varies)
	c.Runs = 30
	sw, err := RunSweep(context.Background(), c, Options{})
	require.NoError(t, err)
	checked := 0
	for _, s := range sw.Sensitivities() {
		// Operators hurry only once an activation time is known: before a
		// stake lock-in nothing is, so the hurry share cannot move when a
		// stake mechanism activates. One at a time, its effect is exactly 0.
		if s.Key == "behaviour.deadline.hurry_share" && s.Metric == "hours_to_activation" && (s.Mechanism == "stake" || s.Mechanism == "stake-4/5") {
			assert.Equal(t, 0.0, s.Effect(), s.Mechanism)
			// Paired run by run, an effect of 0 in every run has no spread:
			// its interval is [0, 0], not the two ends' widths added.
			assert.Equal(t, []float64{0, 0}, []float64{s.EffectLow, s.EffectHigh}, s.Mechanism)
			assert.Equal(t, 30, s.Pairs)
			checked++
		}
		if s.Key == "behaviour.deadline.hurry_share" && s.Metric == "unready_stake_at_activation" && s.Mechanism == "gov" {
			assert.Less(t, s.Effect(), 0.0, "more hurry, less stake left behind")
			assert.Less(t, s.EffectHigh, 0.0, "paired, the runs resolve it")
			checked++
		}
	}
	assert.Equal(t, 3, checked)
	// A key the config does not set needs its baseline.
	_, err = ParseConfig([]byte(baseConfig+"\n[sweep]\nmethod = \"one_at_a_time\"\n[[sweep.key]]\nkey = \"behaviour.churn_per_epoch\"\nvalues = [0.0, 0.01]"), t.TempDir())
	var ce *ConfigError
	require.True(t, errors.As(err, &ce), "got %v", err)
	assert.Equal(t, "sweep.key[0].base", ce.Key)
}
