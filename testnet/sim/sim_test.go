package sim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const baseConfig = `
seed = 11
runs = 40
horizon_epochs = 30

[chain]
epoch_views = 1000
safety_views = 50
view_seconds = 3.6   # 1 hour = 1000 views = 1 epoch

[population]
nodes = 120

[[population.role]]
name = "consensus"
share = 0.5

[[population.role]]
name = "execution"
share = 0.5
stake_scale = 3

[population.stake]
distribution = "pareto"
shape = 2.0
scale = 10

[behaviour]
offline_per_epoch = 0.05
signal_without_upgrade = 0.02
upgrade_without_signal = 0.03

[behaviour.delay]
distribution = "lognormal"
median_hours = 4
sigma = 0.8

[behaviour.deadline]
hurry_share = 0.7
margin_hours = 1
hurry_window_hours = 2

[[mechanism]]
name = "gov"
kind = "governance"
delay_hours = 6

[[mechanism]]
name = "stake"
kind = "stake"
threshold = "2/3"
timeout_epochs = 20
roles = ["consensus", "execution"]

[[mechanism]]
name = "stake-4/5"
kind = "stake"
threshold = "4/5"
timeout_epochs = 20

[[mechanism]]
name = "hybrid"
kind = "hybrid"
delay_hours = 5
threshold = "2/3"
timeout_epochs = 20
`

func mustConfig(t testing.TB, text string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(text), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func runStudy(t testing.TB, c *Config, workers int) *Study {
	t.Helper()
	s, err := Run(context.Background(), c, Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSameSeedSameBytes(t *testing.T) {
	// Every file a study writes, plots included, is the same bytes for the
	// same config and seed, whatever the number of workers.
	text := strings.Replace(baseConfig, "[behaviour.delay]", "churn_per_epoch = 0.02\n"+
		"[[behaviour.coalition]]\nshare = 0.1\naction = \"withhold\"\ntarget = \"random\"\n"+
		"[[behaviour.outage]]\nshare = 0.2\nstart_hours = 5\nhours = 2\nprobability = 0.5\n"+
		"[[behaviour.client]]\nname = \"a\"\nshare = 0.6\nslip_probability = 0.3\nslip_hours = 4\n"+
		"[[behaviour.client]]\nname = \"b\"\nshare = 0.4\n[behaviour.delay]", 1)
	prov := Provenance{CommandLine: []string{"node-plugin", "sim"}, ConfigPath: "base.toml", ConfigText: []byte(text)}
	dirs := []string{t.TempDir(), t.TempDir()}
	for i, workers := range []int{1, 4} {
		require.NoError(t, runStudy(t, mustConfig(t, text), workers).Write(dirs[i], prov))
	}
	entries, err := os.ReadDir(dirs[0])
	require.NoError(t, err)
	require.Greater(t, len(entries), 8)
	for _, e := range entries {
		a, err1 := os.ReadFile(filepath.Join(dirs[0], e.Name()))
		b, err2 := os.ReadFile(filepath.Join(dirs[1], e.Name()))
		require.NoError(t, err1)
		require.NoError(t, err2)
		assert.True(t, bytes.Equal(a, b), "%s differs between 1 and 4 workers", e.Name())
	}
	c := mustConfig(t, text)
	c.Seed++
	assert.NotEqual(t, string(runStudy(t, mustConfig(t, text), 2).RunsCSV()), string(runStudy(t, c, 2).RunsCSV()),
		"different seeds, same runs.csv")
}

func TestSanityProperties(t *testing.T) {
	c := mustConfig(t, baseConfig)
	c.Runs = 150
	s := runStudy(t, c, 0)
	activated := map[string]int{}
	for _, o := range s.Outcomes {
		if !o.Activated {
			continue
		}
		activated[o.Mechanism]++
		m := c.Mechanisms[mechIndex(c, o.Mechanism)]
		switch m.Kind {
		case "governance":
			if o.ActivationView != c.hoursToViews(m.DelayHours) {
				t.Fatalf("run %d: governance activated at view %d, not its view", o.Run, o.ActivationView)
			}
		case "stake", "hybrid":
			th := float64(m.threshold.Num) / float64(m.threshold.Den)
			if !(o.SignaledShareAtLockIn > th) {
				t.Fatalf("run %d %s: locked in with %.4f of stake signaling, threshold %s", o.Run, m.Name, o.SignaledShareAtLockIn, m.Threshold)
			}
			if o.ActivationView%c.Chain.EpochViews != 0 {
				t.Fatalf("run %d %s: stake activation off an epoch boundary: %d", o.Run, m.Name, o.ActivationView)
			}
			if m.Kind == "hybrid" && o.ActivationView < c.hoursToViews(m.DelayHours) {
				t.Fatalf("run %d: hybrid activated before its earliest view", o.Run)
			}
		}
		if o.UnreadyShare < 0 || o.UnreadyShare > 1 || o.MissedBlockRate < 0 || o.MissedBlockRate > 1 {
			t.Fatalf("run %d %s: unready share %.4f or missed-block rate %.4f out of range", o.Run, o.Mechanism, o.UnreadyShare, o.MissedBlockRate)
		}
		// At activation the unready stake cannot produce blocks: the missed
		// rate in the window is at least what is still unready at its end,
		// and every view is missed while two thirds or less is up to date.
		if 3*(1-o.UnreadyShare) <= 2 && o.NoFinalityHours == 0 {
			t.Fatalf("run %d %s: %.4f of stake unready at activation but no hour without finality", o.Run, o.Mechanism, o.UnreadyShare)
		}
	}
	if activated["gov"] != c.Runs {
		t.Fatalf("governance activated in %d of %d runs", activated["gov"], c.Runs)
	}
	for _, m := range []string{"stake", "stake-4/5", "hybrid"} {
		if activated[m] == 0 {
			t.Fatalf("%s never activated: the sanity checks above checked nothing", m)
		}
	}
}

func mechIndex(c *Config, name string) int {
	for i, m := range c.Mechanisms {
		if m.Name == name {
			return i
		}
	}
	return -1
}

func TestNeverUpgradingPopulationNeverActivatesByStake(t *testing.T) {
	text := strings.Replace(baseConfig, `distribution = "lognormal"
median_hours = 4
sigma = 0.8`, `distribution = "empirical"
points = [[0, 0], [10, 0]]`, 1)
	text = strings.Replace(text, "signal_without_upgrade = 0.02", "signal_without_upgrade = 0", 1)
	// Nobody hurries either: a deadline would otherwise move late operators.
	text = strings.Replace(text, "hurry_share = 0.7", "hurry_share = 0", 1)
	c := mustConfig(t, text)
	s := runStudy(t, c, 0)
	for _, o := range s.Outcomes {
		if o.Mechanism == "gov" {
			if !o.Activated || o.UnreadyShare < 0.999 || o.MissedBlockRate != 1 {
				t.Fatalf("governance with nobody upgraded: %+v", o)
			}
			continue
		}
		if o.Activated {
			t.Fatalf("run %d %s activated with nobody upgraded", o.Run, o.Mechanism)
		}
	}
}

func TestSignalingWithoutUpgradeCanFoolStakeMode(t *testing.T) {
	// Nodes that signal but never upgrade are what the measured metrics
	// must expose: activation happens, and they halt.
	text := strings.Replace(baseConfig, "signal_without_upgrade = 0.02", "signal_without_upgrade = 0.6", 1)
	text = strings.Replace(text, "upgrade_without_signal = 0.03", "upgrade_without_signal = 0", 1)
	s := runStudy(t, mustConfig(t, text), 0)
	for _, o := range s.ByMechanism("stake-4/5") {
		if o.Activated && o.UnreadyShare > 1.0/3 && o.NoFinalityHours > 0 {
			return
		}
	}
	t.Fatal("no run showed activation with a third of stake unready and lost liveness")
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, from, to, key string }{
		{"unknown key", "seed = 11", "seed = 11\nsede = 3", "sede"},
		{"bad kind", `kind = "stake"`, `kind = "vote"`, "mechanism[1].kind"},
		{"bad threshold", `threshold = "4/5"`, `threshold = "5/4"`, "mechanism[2].threshold"},
		{"shares", "share = 0.5\nstake_scale = 3", "share = 0.6\nstake_scale = 3", "population.role"},
		{"safety", "safety_views = 50", "safety_views = 1000", "chain.safety_views"},
		{"governance too soon", "delay_hours = 6", "delay_hours = 0.01", "mechanism[0].delay_hours"},
		{"timeout past horizon", "timeout_epochs = 20\nroles", "timeout_epochs = 31\nroles", "mechanism[1].timeout_epochs"},
		{"share out of range", "offline_per_epoch = 0.05", "offline_per_epoch = 1.5", "behaviour.offline_per_epoch"},
		{"bad distribution", `distribution = "pareto"`, `distribution = "zipf"`, "population.stake.distribution"},
		{"unknown role", `roles = ["consensus", "execution"]`, `roles = ["consensus", "gateway"]`, "mechanism[1].roles"},
		{"duplicate mechanism", `name = "stake-4/5"`, `name = "stake"`, "mechanism[2].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(baseConfig, tc.from, tc.to, 1)
			if text == baseConfig {
				t.Fatalf("test setup: %q not found", tc.from)
			}
			_, err := ParseConfig([]byte(text), t.TempDir())
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("got %v, want an error for key %s", err, tc.key)
			}
		})
	}
	if _, err := ParseConfig([]byte("seed = = 1"), t.TempDir()); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestCSVInputs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "stakes.csv"), []byte("node,role,stake\n# a comment\na,consensus,100\nb,consensus,50\nc,execution,300\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "delay.csv"), []byte("hours,share\n0,0\n2,0.5\n5,1\n"), 0o644)
	text := baseConfig
	text = strings.Replace(text, "nodes = 120\n", "", 1)
	text = strings.Replace(text, `distribution = "pareto"
shape = 2.0
scale = 10`, `distribution = "csv"
csv = "stakes.csv"`, 1)
	text = strings.Replace(text, `distribution = "lognormal"
median_hours = 4
sigma = 0.8`, `distribution = "empirical"
csv = "delay.csv"`, 1)
	c, err := ParseConfig([]byte(text), dir)
	if err != nil {
		t.Fatal(err)
	}
	s := runStudy(t, c, 0)
	for _, o := range s.ByMechanism("gov") {
		if !o.Activated {
			t.Fatal("governance did not activate")
		}
	}
	if c.Population.Nodes != 3 {
		t.Fatalf("nodes %d", c.Population.Nodes)
	}
	os.WriteFile(filepath.Join(dir, "stakes.csv"), []byte("node,role,stake\na,consensus,-1\n"), 0o644)
	if _, err := ParseConfig([]byte(text), dir); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad stake CSV: %v", err)
	}
}

func TestWriteOutputs(t *testing.T) {
	c := mustConfig(t, baseConfig)
	c.Runs = 10
	s := runStudy(t, c, 0)
	dir := t.TempDir()
	prov := BuildProvenance()
	prov.CommandLine, prov.ConfigPath, prov.ConfigText = []string{"node-plugin", "sim", "--runs", "10"}, "base.toml", []byte(baseConfig)
	if err := s.Write(dir, prov); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"runs.csv", "summary.csv", "summary.md", "paired.csv", "report.md",
		"time_to_activation_km.png", "time_to_activation_km.svg", "unready_stake_at_activation.png",
		"unready_stake_at_activation.svg", "paired_hours_to_activation.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Size() < 100 {
			t.Errorf("%s: %v", f, err)
		}
	}
	png, _ := os.ReadFile(filepath.Join(dir, "time_to_activation_km.png"))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Error("not a PNG")
	}
	report, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, want := range []string{"seed 11", "time_to_activation_km.png", "| gov |", "[[mechanism]]",
		"command: `node-plugin sim --runs 10`", "runs = 10", prov.GoVersion, "commit "} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	rows := strings.Count(string(s.RunsCSV()), "\n")
	if rows != 1+c.Runs*len(c.Mechanisms) {
		t.Errorf("runs.csv has %d lines", rows)
	}
}

func TestSummaryStatistics(t *testing.T) {
	s := summarize("m", "x", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if s.Median != 5.5 || math.Abs(s.P90-9.1) > 1e-9 || s.Estimate != 5.5 || s.N != 10 {
		t.Fatalf("%+v", s)
	}
	// The bootstrap interval of the mean of 1..10 is close to the normal one
	// (half-width 1.96·sd/√10 = 1.88, a little narrower since it divides by n).
	if s.CILow < 3.5 || s.CILow > 4.1 || s.CIHigh < 6.9 || s.CIHigh > 7.5 {
		t.Fatalf("CI %v %v", s.CILow, s.CIHigh)
	}
	// A share that is mostly zero keeps a lower bound of at least zero.
	z := summarize("m", "x", append(make([]float64, 97), 0.01, 0.02, 0.05))
	if z.CILow < 0 || z.CIHigh > 0.05 {
		t.Fatalf("bounded CI %v %v", z.CILow, z.CIHigh)
	}
	if e := summarize("m", "x", nil); !math.IsNaN(e.Median) || e.N != 0 {
		t.Fatalf("empty: %+v", e)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	c := mustConfig(t, baseConfig)
	c.Runs = 100000
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, c, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestEffectiveConfigReproducesTheStudy(t *testing.T) {
	// The effective config in report.md is a config: run as one, it gives the
	// same results, for a plain study and for one with a fitted delay.
	fitted := strings.Replace(baseConfig, "median_hours = 4\nsigma = 0.8", "sigma = 0.8\nfit = [[4, 0.5], [9, 0.8]]", 1)
	for _, text := range []string{baseConfig, fitted} {
		c := mustConfig(t, text)
		c.Runs, c.Seed = 15, 99 // as --runs and --seed would
		eff := c.EffectiveTOML()
		again, err := ParseConfig([]byte(eff), t.TempDir())
		require.NoError(t, err, eff)
		assert.Equal(t, string(runStudy(t, c, 0).RunsCSV()), string(runStudy(t, again, 0).RunsCSV()))
		assert.Contains(t, eff, "hurry_on_lock_in = true")
	}
}
