package sim

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyConfig: one-hour epochs of 100 views, and mechanisms to pick from.
const tinyConfig = `
seed = 3
runs = 1
horizon_epochs = 20
liveness_window_hours = 4

[chain]
epoch_views = 100
safety_views = 10
view_seconds = 36
attest_jitter_views = 0

[population]
nodes = 3
[[population.role]]
name = "v"
share = 1.0
[population.stake]
distribution = "uniform"
min = 1
max = 1

[behaviour.delay]
distribution = "lognormal"
median_hours = 1
sigma = 0

[behaviour.deadline]
hurry_share = 1
margin_hours = 0
hurry_window_hours = 0

[[mechanism]]
name = "gov"
kind = "governance"
delay_hours = 3

[[mechanism]]
name = "strict"
kind = "stake"
threshold = "2/3"
timeout_epochs = 20

[[mechanism]]
name = "at-least"
kind = "stake"
threshold = "2/3"
strict = false
timeout_epochs = 20

[[mechanism]]
name = "near"
kind = "stake"
threshold = "1/2"
delay_epochs = 1
timeout_epochs = 20

[[mechanism]]
name = "speedy"
kind = "stake"
threshold = "1/2"
min_activation_epoch = 7
timeout_epochs = 20

[[mechanism]]
name = "bip9"
kind = "stake"
threshold = "1/2"
signal_whole_period = true
timeout_epochs = 20
`

// handPopulation builds a population of nodes with stake 1 and the given
// natural delays (hours; +Inf never).
func handPopulation(t *testing.T, c *Config, delays ...float64) *Population {
	t.Helper()
	pop := &Population{}
	for i, d := range delays {
		pop.Nodes = append(pop.Nodes, Node{ID: string(rune('a' + i)), Role: "v", Stake: 1, NaturalDelay: d, Hurry: 1, Leave: never, Client: -1})
	}
	require.NoError(t, pop.buildTables(c.HorizonEpochs))
	return pop
}

func simOne(t *testing.T, c *Config, pop *Population, name string) Outcome {
	t.Helper()
	m := &c.Mechanisms[mechIndex(c, name)]
	o, err := c.simulate(0, pop, m, &runBuffers{})
	require.NoError(t, err)
	return o
}

func TestThresholdStrictness(t *testing.T) {
	c := mustConfig(t, tinyConfig)
	// Two of three equal stakes ready from the start: exactly 2/3.
	pop := handPopulation(t, c, 0, 0, math.Inf(1))
	assert.False(t, simOne(t, c, pop, "strict").Activated, "2/3 does not exceed 2/3")
	o := simOne(t, c, pop, "at-least")
	require.True(t, o.Activated, "2/3 reaches 2/3")
	assert.Equal(t, uint64(100), o.ActivationView, "lock-in in epoch 0 activates at epoch 1")
	assert.InDelta(t, 2.0/3, o.SignaledShareAtLockIn, 1e-9)
}

func TestDelayAndMinimumActivationEpoch(t *testing.T) {
	c := mustConfig(t, tinyConfig)
	pop := handPopulation(t, c, 0, 0, math.Inf(1))
	// Lock-in in epoch 0: NEAR-style activates two epochs later, at epoch 2.
	assert.Equal(t, uint64(200), simOne(t, c, pop, "near").ActivationView)
	// Speedy Trial: locked in at once, but not active before epoch 7.
	o := simOne(t, c, pop, "speedy")
	assert.Equal(t, uint64(700), o.ActivationView)
	assert.Less(t, o.LockInView, uint64(100))
}

func TestSignalWholePeriod(t *testing.T) {
	c := mustConfig(t, tinyConfig)
	// Two of three upgrade half an hour in: counted in epoch 0 normally, only
	// from epoch 1 when a period counts nodes upgraded at its start.
	pop := handPopulation(t, c, 0.5, 0.5, math.Inf(1))
	assert.Equal(t, uint64(100), simOne(t, c, pop, "near").ActivationView-100, "near: lock-in in epoch 0, active at 2")
	o := simOne(t, c, pop, "bip9")
	assert.Equal(t, uint64(200), o.ActivationView, "whole-period counting locks in a period later")
}

func TestHurryOnLockIn(t *testing.T) {
	text := strings.Replace(tinyConfig, "hurry_window_hours = 0", "hurry_window_hours = 0\nhurry_on_lock_in = %s", 1)
	for _, on := range []bool{true, false} {
		c := mustConfig(t, strings.Replace(text, "%s", map[bool]string{true: "true", false: "false"}[on], 1))
		// Three ready at once, a fourth who would upgrade after 50 hours but hurries.
		pop := handPopulation(t, c, 0, 0, 0, 50)
		pop.Nodes[3].Hurry = 0
		o := simOne(t, c, pop, "speedy")
		require.True(t, o.Activated)
		if on {
			assert.Equal(t, 0.0, o.UnreadyShare, "the late operator hurries once lock-in fixes epoch 7")
		} else {
			assert.Equal(t, 0.25, o.UnreadyShare, "without hurry on lock-in the late operator halts")
		}
		// Governance: the deadline is known from the release either way.
		assert.Equal(t, 0.0, simOne(t, c, pop, "gov").UnreadyShare)
	}
}

func TestMissedBlocks(t *testing.T) {
	c := mustConfig(t, tinyConfig)
	// Governance at 3 h with one of three never upgrading: a third of the
	// leaders miss, and 2/3 up to date is not more than 2/3, so no finality
	// for the whole 4-hour window: every view is missed.
	pop := handPopulation(t, c, 0, 0, math.Inf(1))
	o := simOne(t, c, pop, "gov")
	assert.Equal(t, 1.0, o.MissedBlockRate)
	assert.InDelta(t, 4.0, o.NoFinalityHours, 1e-9)
	// Four nodes, one late by 2 hours after activation: 3/4 up, a quarter of
	// the views missed for 2 of the 4 window hours, then none.
	pop = handPopulation(t, c, 0, 0, 0, 5)
	o = simOne(t, c, pop, "gov")
	assert.InDelta(t, 0.25*2/4, o.MissedBlockRate, 1e-9)
	assert.Equal(t, 0.0, o.NoFinalityHours)
	// The profile: a quarter missed in the first half of the window, none after.
	require.Len(t, o.MissedProfile, profileBins)
	assert.InDelta(t, 0.25, o.MissedProfile[0], 1e-9)
	assert.InDelta(t, 0.25, o.MissedProfile[profileBins/2-1], 1e-9)
	assert.InDelta(t, 0.0, o.MissedProfile[profileBins/2+1], 1e-9)
	assert.InDelta(t, 0.0, o.MissedProfile[profileBins-1], 1e-9)
	// An outage of half the stake for an hour inside the window halts finality for that hour.
	pop.Nodes[3].NaturalDelay = 0
	pop.Nodes[0].OutFrom, pop.Nodes[0].OutTo = 400, 500
	pop.Nodes[1].OutFrom, pop.Nodes[1].OutTo = 400, 500
	o = simOne(t, c, pop, "gov")
	assert.InDelta(t, 1.0, o.NoFinalityHours, 1e-9)
	assert.InDelta(t, 0.25, o.MissedBlockRate, 1e-9)
}

// studyWith runs baseConfig with extra behaviour lines.
func studyWith(t *testing.T, extra string) *Study {
	t.Helper()
	text := strings.Replace(baseConfig, "[behaviour.delay]", extra+"\n[behaviour.delay]", 1)
	c := mustConfig(t, text)
	c.Runs = 30
	return runStudy(t, c, 0)
}

func TestCoalitions(t *testing.T) {
	// Withholding 40% of stake blocks every threshold above 3/5, whatever the others do.
	s := studyWith(t, "[[behaviour.coalition]]\nshare = 0.4\naction = \"withhold\"\n")
	for _, o := range s.Outcomes {
		if o.Mechanism == "stake" || o.Mechanism == "stake-4/5" || o.Mechanism == "hybrid" {
			assert.False(t, o.Activated, "run %d %s activated against a 40%% withholding coalition", o.Run, o.Mechanism)
		}
	}
	// Signaling without upgrading, 40% of stake held by the largest operators:
	// stake mechanisms activate with at least that much stake unable to follow.
	s = studyWith(t, "[[behaviour.coalition]]\nshare = 0.4\naction = \"signal_without_upgrade\"\ntarget = \"largest\"\n")
	activated := 0
	for _, o := range s.ByMechanism("stake-4/5") {
		if o.Activated {
			activated++
			assert.GreaterOrEqual(t, o.UnreadyShare, 0.4-1e-9)
			assert.Greater(t, o.NoFinalityHours, 0.0)
		}
	}
	assert.Positive(t, activated)
}

func TestClientSlipDelaysEveryoneOnIt(t *testing.T) {
	s := studyWith(t, "[[behaviour.client]]\nname = \"a\"\nshare = 0.5\nslip_probability = 1\nslip_hours = 1000\n"+
		"[[behaviour.client]]\nname = \"b\"\nshare = 0.5\n")
	// Half the nodes slip past the horizon: governance at 6 h leaves about
	// half the stake (plus the usual late operators) behind.
	for _, o := range s.ByMechanism("gov") {
		assert.Greater(t, o.UnreadyShare, 0.3)
	}
	c := s.Config
	rng := newRunRNG(c, 0)
	pop, err := c.drawPopulation(rng)
	require.NoError(t, err)
	for _, nd := range pop.Nodes {
		if nd.Client == 0 {
			assert.GreaterOrEqual(t, nd.NaturalDelay, 1000.0)
		}
	}
}

func TestChurnChangesTheIdentityTables(t *testing.T) {
	s := studyWith(t, "churn_per_epoch = 0.05\n")
	c := s.Config
	pop, err := c.drawPopulation(newRunRNG(c, 0))
	require.NoError(t, err)
	assert.Len(t, pop.Tables, int(c.HorizonEpochs), "a new table at every epoch")
	assert.Equal(t, c.Population.Nodes, pop.Tables[5].Table.Len(), "as many join as leave")
	assert.NotEqual(t, pop.Tables[0].Table.ID(), pop.Tables[5].Table.ID())
	for _, o := range s.ByMechanism("gov") {
		assert.True(t, o.Activated)
	}
}

func TestPackedBlocksMatchPerView(t *testing.T) {
	// Packing a epoch's attestations into two blocks must change nothing the
	// engine decides: every outcome, lock-in view included, is the same as
	// with one block per view.
	for _, extra := range []string{"", "churn_per_epoch = 0.03\n", "[[behaviour.coalition]]\nshare = 0.1\naction = \"withhold\"\n"} {
		text := strings.Replace(baseConfig, "[behaviour.delay]", extra+"\n[behaviour.delay]", 1)
		packed := mustConfig(t, text)
		perView := mustConfig(t, text)
		perView.perViewBlocks = true
		a, b := runStudy(t, packed, 0), runStudy(t, perView, 0)
		require.Equal(t, string(b.RunsCSV()), string(a.RunsCSV()), "with %q", extra)
		locked := 0
		for _, o := range a.Outcomes {
			if o.LockInView > 0 {
				locked++
			}
		}
		require.Positive(t, locked, "no run locked in: the comparison compared nothing")
	}
}

func TestSortKeys(t *testing.T) {
	// The counting sort and the comparison sort agree, over both paths.
	var buf runBuffers
	for _, maxOff := range []uint64{10, 5000, 1 << 30} {
		var keys []uint64
		for i := range 3000 {
			keys = append(keys, splitmix(uint64(i))%(maxOff+1)<<32|uint64(i))
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		got := sortKeys(slices.Clone(keys), maxOff, &buf)
		require.Equal(t, want, got, "max offset %d", maxOff)
		got = sortKeys(slices.Clone(keys), maxOff, &buf) // reusing the buffers
		require.Equal(t, want, got, "max offset %d, second time", maxOff)
	}
}

func TestAtLeastThresholdThatCannotBeMappedIsAnError(t *testing.T) {
	text := strings.Replace(tinyConfig, `threshold = "2/3"
strict = false`, `threshold = "1/9223372036854775807"
strict = false`, 1)
	require.NotEqual(t, tinyConfig, text)
	c := mustConfig(t, text)
	pop := handPopulation(t, c, 0, 0, 0)
	_, err := c.simulate(0, pop, &c.Mechanisms[mechIndex(c, "at-least")], &runBuffers{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "strict = false needs threshold denominator × total stake below 2^64")
}
