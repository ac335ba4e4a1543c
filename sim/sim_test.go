package sim

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/quorum"
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
	require.NoError(t, err)
	return c
}

func runStudy(t testing.TB, c *Config, workers int) *Study {
	t.Helper()
	s, err := Run(context.Background(), c, Options{Workers: workers})
	require.NoError(t, err)
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
			require.Equal(t, c.hoursToViews(m.DelayHours), o.ActivationView, "run %d: governance activated off its view", o.Run)
		case "stake", "hybrid":
			th := float64(m.threshold.Num) / float64(m.threshold.Den)
			require.Greater(t, o.SignaledShareAtLockIn, th, "run %d %s: locked in with too little stake signaling (threshold %s)", o.Run, m.Name, m.Threshold)
			require.Zero(t, o.ActivationView%c.Chain.EpochViews, "run %d %s: stake activation off an epoch boundary: %d", o.Run, m.Name, o.ActivationView)
			if m.Kind == "hybrid" {
				require.GreaterOrEqual(t, o.ActivationView, c.hoursToViews(m.DelayHours), "run %d: hybrid activated before its earliest view", o.Run)
			}
		}
		require.True(t, o.UnreadyShare >= 0 && o.UnreadyShare <= 1 && o.MissedBlockRate >= 0 && o.MissedBlockRate <= 1,
			"run %d %s: unready share %.4f or missed-block rate %.4f out of range", o.Run, o.Mechanism, o.UnreadyShare, o.MissedBlockRate)
		// At activation the unready stake cannot produce blocks: the missed
		// rate in the window is at least what is still unready at its end,
		// and every view is missed while two thirds or less is up to date.
		if 3*(1-o.UnreadyShare) <= 2 {
			require.NotZero(t, o.NoFinalityHours, "run %d %s: %.4f of stake unready at activation but no hour without finality", o.Run, o.Mechanism, o.UnreadyShare)
		}
	}
	assert.Equal(t, c.Runs, activated["gov"], "governance activates in every run")
	for _, m := range []string{"stake", "stake-4/5", "hybrid"} {
		assert.NotZero(t, activated[m], "%s never activated: the sanity checks above checked nothing", m)
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
			require.True(t, o.Activated, "governance activates at its view: %+v", o)
			require.GreaterOrEqual(t, o.UnreadyShare, 0.999, "nobody upgraded: %+v", o)
			require.Equal(t, 1.0, o.MissedBlockRate, "nobody can produce a block: %+v", o)
			continue
		}
		require.False(t, o.Activated, "run %d %s activated with nobody upgraded", o.Run, o.Mechanism)
	}
}

func TestSignalingWithoutUpgradeCanFoolStakeMode(t *testing.T) {
	// Nodes that signal but never upgrade are what the measured metrics
	// must expose: activation happens, and they halt.
	text := strings.Replace(baseConfig, "signal_without_upgrade = 0.02", "signal_without_upgrade = 0.6", 1)
	text = strings.Replace(text, "upgrade_without_signal = 0.03", "upgrade_without_signal = 0", 1)
	s := runStudy(t, mustConfig(t, text), 0)
	assert.True(t, slices.ContainsFunc(s.ByMechanism("stake-4/5"), func(o Outcome) bool {
		return o.Activated && o.UnreadyShare > 1.0/3 && o.NoFinalityHours > 0
	}), "no run showed activation with a third of stake unready and lost liveness")
}

// configErrorCases are configs with one problem each: baseConfig with from
// replaced by to, and the error that names it.
var configErrorCases = []struct{ name, from, to, key, problem string }{
	{"unknown key", "seed = 11", "seed = 11\nsede = 3", "sede", "unknown key"},
	{"bad kind", `kind = "stake"`, `kind = "vote"`, "mechanism[1].kind", `"vote": allowed are governance, stake, hybrid`},
	{"bad threshold", `threshold = "4/5"`, `threshold = "5/4"`, "mechanism[2].threshold", `"5/4": a fraction num/den with 0 < num < den is needed`},
	{"shares", "share = 0.5\nstake_scale = 3", "share = 0.6\nstake_scale = 3", "population.role", "the shares add up to 1.1, not 1"},
	{"safety", "safety_views = 50", "safety_views = 1000", "chain.safety_views", "1000 must be less than chain.epoch_views (1000)"},
	{"governance too soon", "delay_hours = 6", "delay_hours = 0.01", "mechanism[0].delay_hours",
		"0.01 must be positive and more than chain.safety_views (50 views = 0.05 hours)"},
	{"timeout past horizon", "timeout_epochs = 20\nroles", "timeout_epochs = 31\nroles", "mechanism[1].timeout_epochs",
		"31 must be between 1 and horizon_epochs (30)"},
	{"share out of range", "offline_per_epoch = 0.05", "offline_per_epoch = 1.5", "behaviour.offline_per_epoch", "1.5 is not a share between 0 and 1"},
	{"bad distribution", `distribution = "pareto"`, `distribution = "zipf"`, "population.stake.distribution", `"zipf": allowed are uniform, pareto, csv`},
	{"unknown role", `roles = ["consensus", "execution"]`, `roles = ["consensus", "gateway"]`, "mechanism[1].roles", `role "gateway" is not in population.role`},
	{"duplicate mechanism", `name = "stake-4/5"`, `name = "stake"`, "mechanism[2].name", `"stake" is used twice`},
	{"governance takes no delay_epochs", "delay_hours = 6\n", "delay_hours = 6\ndelay_epochs = 1\n", "mechanism[0]",
		"threshold, timeout_epochs, roles, start_epoch, delay_epochs, min_activation_epoch, strict and signal_whole_period apply only to stake and hybrid mechanisms"},
	{"start after timeout", `threshold = "4/5"`, "threshold = \"4/5\"\nstart_epoch = 20", "mechanism[2].start_epoch", "20 must be before timeout_epochs (20)"},
	{"coalition action", "[behaviour.delay]", "[[behaviour.coalition]]\nshare = 0.1\naction = \"bribe\"\n[behaviour.delay]", "behaviour.coalition[0].action",
		`"bribe": allowed are signal_without_upgrade, withhold`},
	{"coalition target", "[behaviour.delay]", "[[behaviour.coalition]]\nshare = 0.1\naction = \"withhold\"\ntarget = \"smallest\"\n[behaviour.delay]", "behaviour.coalition[0].target",
		`"smallest": allowed are largest, random`},
	{"coalitions over all stake", "[behaviour.delay]", "[[behaviour.coalition]]\nshare = 0.6\naction = \"withhold\"\n[[behaviour.coalition]]\nshare = 0.6\naction = \"withhold\"\n[behaviour.delay]", "behaviour.coalition",
		"the shares add up to 1.2, more than all stake"},
	{"client shares", "[behaviour.delay]", "[[behaviour.client]]\nname = \"a\"\nshare = 0.5\n[behaviour.delay]", "behaviour.client", "the shares add up to 0.5, not 1"},
	{"client slip probability", "[behaviour.delay]", "[[behaviour.client]]\nname = \"a\"\nshare = 1\nslip_probability = 2\n[behaviour.delay]", "behaviour.client[0].slip_probability",
		"2 is not a share between 0 and 1"},
	{"outage share", "[behaviour.delay]", "[[behaviour.outage]]\nshare = 1.2\nhours = 1\n[behaviour.delay]", "behaviour.outage[0].share", "1.2 is not a share between 0 and 1"},
	{"outage hours", "[behaviour.delay]", "[[behaviour.outage]]\nshare = 0.2\nhours = -1\n[behaviour.delay]", "behaviour.outage[0]", "start_hours and hours must not be negative"},
	{"churn", "offline_per_epoch = 0.05", "offline_per_epoch = 0.05\nchurn_per_epoch = 1.5", "behaviour.churn_per_epoch", "1.5 is not a share between 0 and 1"},
	{"governance view past the horizon", "delay_hours = 6", "delay_hours = 48", "mechanism[0].delay_hours",
		"48 (activation view 48000) is at or past the horizon, horizon_epochs 30 × chain.epoch_views 1000 = view 30000 (30.00 hours): it could never activate"},
	{"hybrid boundary past the horizon", "delay_hours = 5", "delay_hours = 29.5", "mechanism[3].delay_hours",
		"29.5 (earliest activation at the epoch boundary, view 30000) is at or past the horizon, horizon_epochs 30 × chain.epoch_views 1000 = view 30000 (30.00 hours): it could never activate"},
	{"delay_epochs past the horizon", `threshold = "4/5"`, "threshold = \"4/5\"\ndelay_epochs = 29", "mechanism[2].delay_epochs",
		"29 puts the earliest activation (lock-in in epoch start_epoch 0, activation delay_epochs 29 after the next boundary) at or past the horizon, " +
			"horizon_epochs 30 × chain.epoch_views 1000 = view 30000 (30.00 hours): it could never activate"},
	{"min_activation_epoch past the horizon", `threshold = "4/5"`, "threshold = \"4/5\"\nmin_activation_epoch = 30", "mechanism[2].min_activation_epoch",
		"30 is at or past the horizon, horizon_epochs 30 × chain.epoch_views 1000 = view 30000 (30.00 hours): it could never activate"},
	{"liveness window", "horizon_epochs = 30", "horizon_epochs = 30\nliveness_window_hours = -1", "liveness_window_hours", "-1 must not be negative"},
}

// configErrorText is baseConfig changed as a configErrorCases case says.
func configErrorText(t *testing.T, from, to string) string {
	t.Helper()
	text := strings.Replace(baseConfig, from, to, 1)
	require.NotEqual(t, baseConfig, text, "test setup: %q not found", from)
	return text
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range configErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(configErrorText(t, tc.from, tc.to)), t.TempDir())
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key)
			assert.Equal(t, tc.problem, ce.Problem)
		})
	}
	_, err := ParseConfig([]byte("seed = = 1"), t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 1", "a syntax error names its line")
}

// TestValidateLeavesTheConfigAlone: validate only checks. It reports the
// same error ParseConfig does and changes nothing in the config, valid or
// not; what it reads and fits on the way comes back for adopt to store.
func TestValidateLeavesTheConfigAlone(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stakes.csv"), []byte("node,role,stake\na,consensus,100\nb,execution,300\n"), 0o644))
	withCSV := strings.Replace(strings.Replace(baseConfig, "nodes = 120\n", "", 1),
		"distribution = \"pareto\"\nshape = 2.0\nscale = 10", "distribution = \"csv\"\ncsv = \"stakes.csv\"", 1)
	fitted := strings.Replace(baseConfig, "median_hours = 4\nsigma = 0.8", "fit = [[4, 0.5], [9, 0.8]]", 1)
	oat := baseConfig + "\n[sweep]\nmethod = \"one_at_a_time\"\n[[sweep.key]]\nkey = \"behaviour.churn_per_epoch\"\nvalues = [0.0, 0.01]\nbase = 0.0\n"
	check := func(t *testing.T, text string) error {
		// Two configs decoded from the same text are equal until one changes.
		c, md, err := decodeConfig([]byte(text), dir)
		require.NoError(t, err)
		untouched, _, err := decodeConfig([]byte(text), dir)
		require.NoError(t, err)
		c.applyDefaults(md)
		untouched.applyDefaults(md)
		_, verr := c.validate()
		assert.Equal(t, untouched, c, "validate changed the config")
		_, perr := ParseConfig([]byte(text), dir)
		assert.Equal(t, perr, verr, "validate and ParseConfig disagree")
		return verr
	}
	for name, text := range map[string]string{"base": baseConfig, "stake csv": withCSV, "fitted delay": fitted, "one_at_a_time": oat} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, check(t, text))
			// What validate found is in the parsed config.
			c, err := ParseConfig([]byte(text), dir)
			require.NoError(t, err)
			switch name {
			case "stake csv":
				assert.Equal(t, 2, c.Population.Nodes)
				assert.Len(t, c.stakeTable, 2)
			case "fitted delay":
				assert.InDelta(t, 4, c.Behaviour.Delay.MedianHours, 1e-9)
				assert.True(t, c.calib.fittedSigma)
			case "one_at_a_time":
				assert.Equal(t, []any{0.0}, c.oatBases)
			}
			assert.Equal(t, quorum.Threshold{Num: 4, Den: 5}, c.Mechanisms[2].threshold)
		})
	}
	for _, tc := range configErrorCases[1:] { // the unknown key fails in decoding
		t.Run(tc.name, func(t *testing.T) {
			var ce *ConfigError
			require.ErrorAs(t, check(t, configErrorText(t, tc.from, tc.to)), &ce)
			assert.Equal(t, tc.key, ce.Key)
		})
	}
}

func TestCSVInputs(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stakes.csv"), []byte("node,role,stake\n# a comment\na,consensus,100\nb,consensus,50\nc,execution,300\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "delay.csv"), []byte("hours,share\n0,0\n2,0.5\n5,1\n"), 0o644))
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
	require.NoError(t, err)
	s := runStudy(t, c, 0)
	for _, o := range s.ByMechanism("gov") {
		assert.True(t, o.Activated, "governance did not activate in run %d", o.Run)
	}
	assert.Equal(t, 3, c.Population.Nodes, "the nodes are the stake table's")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stakes.csv"), []byte("node,role,stake\na,consensus,-1\n"), 0o644))
	_, err = ParseConfig([]byte(text), dir)
	require.Error(t, err, "a negative stake in the CSV")
	assert.Contains(t, err.Error(), "line 2")
}

func TestWriteOutputs(t *testing.T) {
	c := mustConfig(t, baseConfig)
	c.Runs = 10
	s := runStudy(t, c, 0)
	dir := t.TempDir()
	prov := BuildProvenance()
	prov.CommandLine, prov.ConfigPath, prov.ConfigText = []string{"node-plugin", "sim", "--runs", "10"}, "base.toml", []byte(baseConfig)
	require.NoError(t, s.Write(dir, prov))
	for _, f := range []string{"runs.csv", "summary.csv", "summary.md", "paired.csv", "report.md",
		"time_to_activation_km.png", "time_to_activation_km.svg", "unready_stake_at_activation.png",
		"unready_stake_at_activation.svg", "paired_hours_to_activation.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if assert.NoError(t, err) {
			assert.GreaterOrEqual(t, st.Size(), int64(100), f)
		}
	}
	png, err := os.ReadFile(filepath.Join(dir, "time_to_activation_km.png"))
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "not a PNG")
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	for _, want := range []string{"seed 11", "time_to_activation_km.png", "| gov |", "[[mechanism]]",
		"command: `node-plugin sim --runs 10`", "runs = 10", prov.GoVersion, "commit "} {
		assert.Contains(t, string(report), want)
	}
	assert.Equal(t, 1+c.Runs*len(c.Mechanisms), strings.Count(string(s.RunsCSV()), "\n"), "runs.csv: a header and a line per run and mechanism")
}

func TestSummaryStatistics(t *testing.T) {
	s := summarize("m", "x", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	assert.Equal(t, 5.5, s.Median)
	assert.InDelta(t, 9.1, s.P90, 1e-9)
	assert.Equal(t, 5.5, s.Estimate)
	assert.Equal(t, 10, s.N)
	// The bootstrap interval of the mean of 1..10 is close to the normal one
	// (half-width 1.96·sd/√10 = 1.88, a little narrower since it divides by n).
	assert.InDelta(t, 3.8, s.CILow, 0.3)
	assert.InDelta(t, 7.2, s.CIHigh, 0.3)
	// A share that is mostly zero keeps a lower bound of at least zero.
	z := summarize("m", "x", append(make([]float64, 97), 0.01, 0.02, 0.05))
	assert.GreaterOrEqual(t, z.CILow, 0.0)
	assert.LessOrEqual(t, z.CIHigh, 0.05)
	e := summarize("m", "x", nil)
	assert.True(t, math.IsNaN(e.Median), "empty: %+v", e)
	assert.Zero(t, e.N)
}

func TestRunStopsOnCancel(t *testing.T) {
	c := mustConfig(t, baseConfig)
	c.Runs = 100000
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, c, Options{})
	assert.ErrorIs(t, err, context.Canceled)
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

func TestReportSaysWhenAHybridIsGovernanceByConstruction(t *testing.T) {
	// The hybrid's earliest view, 5.5 h, rounds up to the 6 h epoch boundary:
	// governance's view.
	text := strings.Replace(baseConfig, "delay_hours = 5\n", "delay_hours = 5.5\n", 1)
	require.NotEqual(t, baseConfig, text)
	s := runStudy(t, mustConfig(t, text), 0)
	report := s.Report(Provenance{}, nil)
	assert.Contains(t, report, "by construction")
	assert.Contains(t, report, "**hybrid**")
	assert.Contains(t, report, "epoch boundary at 6.0 h")
	// Without the coincidence, nothing is said.
	assert.NotContains(t, runStudy(t, mustConfig(t, baseConfig), 0).Report(Provenance{}, nil), "by construction")
}

// A value that does not apply is blank in runs.csv, not 0: governance never
// locks in, so its lock-in view and signalled share are empty; a stake
// mechanism that locked in has both.
func TestRunsCSVLeavesValuesThatDoNotApplyBlank(t *testing.T) {
	s := runStudy(t, mustConfig(t, baseConfig), 0)
	rows, err := csv.NewReader(bytes.NewReader(s.RunsCSV())).ReadAll()
	require.NoError(t, err)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	seen := map[string]bool{}
	for _, r := range rows[1:] {
		switch r[col["mechanism"]] {
		case "gov":
			assert.Empty(t, r[col["signaled_share_at_lock_in"]], "governance row %v", r)
			assert.Empty(t, r[col["lock_in_view"]], "governance row %v", r)
			seen["gov"] = true
		case "stake-4/5":
			if r[col["lock_in_view"]] != "" {
				assert.NotEmpty(t, r[col["signaled_share_at_lock_in"]], "stake row %v", r)
				seen["stake"] = true
			}
		}
	}
	assert.True(t, seen["gov"] && seen["stake"], "the check saw both kinds: %v", seen)
}

// The unsafe-activation rate is a per-run yes/no, activated with more than
// unsafe_unready of stake unready, over all runs, with a Wilson interval:
// in summary.csv and in report.md's table. The bound is configurable.
func TestUnsafeActivationRate(t *testing.T) {
	// Many operators signal without upgrading: stake mechanisms activate
	// with much of the stake unready in some runs.
	text := strings.Replace(baseConfig, "signal_without_upgrade = 0.02", "signal_without_upgrade = 0.3", 1)
	c := mustConfig(t, text)
	require.InDelta(t, 1.0/3, c.UnsafeUnready, 1e-15, "default bound")
	s := runStudy(t, c, 0)
	unsafe := map[string]int{}
	for _, o := range s.Outcomes {
		require.Equal(t, o.Activated && o.UnreadyShare > 1.0/3, o.Unsafe, "run %d %s", o.Run, o.Mechanism)
		if o.Unsafe {
			unsafe[o.Mechanism]++
		}
	}
	require.Positive(t, unsafe["stake"], "the setup makes some stake activations unsafe")
	rows, err := csv.NewReader(bytes.NewReader(s.SummaryCSV())).ReadAll()
	require.NoError(t, err)
	found := 0
	for _, r := range rows {
		if r[1] != "unsafe_activation_rate" {
			continue
		}
		found++
		k := unsafe[r[0]]
		lo, hi := wilson(k, c.Runs)
		assert.Equal(t, []string{strconv.Itoa(c.Runs), ff(float64(k) / float64(c.Runs)), ff(lo), ff(hi), "wilson"}, r[2:7], "%s", r[0])
	}
	assert.Equal(t, len(c.Mechanisms), found, "one row per mechanism")
	assert.Contains(t, s.SummaryMarkdown(), "### unsafe_activation_rate (share of runs that activated with more than unsafe_unready of stake unready)")
	assert.Contains(t, s.Report(Provenance{}, nil), "more than\n1/3 of the stake")

	// A looser bound can only make fewer runs unsafe.
	loose := mustConfig(t, "unsafe_unready = 0.9\n"+text)
	for _, o := range runStudy(t, loose, 0).Outcomes {
		assert.Equal(t, o.Activated && o.UnreadyShare > 0.9, o.Unsafe)
	}
	_, err = ParseConfig([]byte("unsafe_unready = 1.5\n"+text), t.TempDir())
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "unsafe_unready", ce.Key)
}
