package sim

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// powConfig is a BIP9-like chain: 20 miners of equal hash power, 2016-block
// periods of 600 s blocks, everyone upgraded at the release, and the
// behaviour block replaced by the test's.
const powConfig = `
seed = 7
runs = 400
horizon_epochs = 10
liveness_window_hours = 336

[chain]
epoch_views = 2016
safety_views = 0
view_seconds = 600
attest_jitter_views = 0

[population]
nodes = 20
[[population.role]]
name = "miner"
share = 1.0
[population.stake]
distribution = "uniform"
min = 100
max = 100

[behaviour]
BEHAVIOUR

[behaviour.delay]
distribution = "lognormal"
median_hours = 0.001
sigma = 0

[[mechanism]]
name = "bip9"
kind = "stake"
threshold = "1916/2016"
strict = false
pow = true
delay_epochs = 1
timeout_epochs = 8
`

func powStudy(t *testing.T, behaviour string) (*Config, *Study) {
	t.Helper()
	c := mustConfig(t, strings.Replace(powConfig, "BEHAVIOUR", behaviour, 1))
	return c, runStudy(t, c, 0)
}

// At exactly 95% of hash power signalling (one miner of twenty withholds),
// a period reaches 1916 of 2016 blocks about half the time (binomial luck):
// the engine locks in at the end of the first period in roughly half the
// runs, and activates one period after the next boundary.
func TestPoWAtNinetyFivePercentLocksInAboutHalfTheFirstPeriods(t *testing.T) {
	c, s := powStudy(t, "[[behaviour.coalition]]\nshare = 0.05\naction = \"withhold\"")
	L := c.Chain.EpochViews
	first := 0
	activated := 0
	for _, o := range s.Outcomes {
		if !o.Activated {
			continue // about 0.51^8: eight unlucky periods in a row
		}
		activated++
		lockEpoch := o.LockInView / L
		assert.Equal(t, lockEpoch*L+L-1, o.LockInView, "lock-in at the period's last block")
		assert.Equal(t, (lockEpoch+2)*L, o.ActivationView, "LOCKED_IN for a period, then ACTIVE")
		assert.GreaterOrEqual(t, o.SignaledShareAtLockIn, 1916.0/2016, "the engine counted at least 1916 blocks")
		if lockEpoch == 0 {
			first++
		}
	}
	assert.Greater(t, activated, 390)
	share := float64(first) / float64(c.Runs)
	// P(Binomial(2016, 0.95) >= 1916) = 0.49; 400 runs put the share within ±0.07 nearly always.
	assert.InDelta(t, 0.49, share, 0.07, "share of runs locking in in the first period")
}

// After activation non-upgraded miners keep mining: with none left there is
// no split; with a fifth of hash power signalling without upgrading, short
// splits in most runs but rarely six blocks; with three fifths, long ones.
// Nobody halts and the halting model's metrics do not apply.
func TestPoWSplitsAfterActivation(t *testing.T) {
	_, s := powStudy(t, "")
	for _, o := range s.Outcomes {
		require.True(t, o.Activated)
		assert.Zero(t, o.SplitBlocks, "everyone upgraded: no split")
		assert.Zero(t, o.NodesHalted)
	}
	rate := func(s *Study, blocks int) float64 {
		k := 0
		for _, o := range s.Outcomes {
			if o.SplitBlocks >= blocks {
				k++
			}
		}
		return float64(k) / float64(len(s.Outcomes))
	}
	_, s = powStudy(t, "[[behaviour.coalition]]\nshare = 0.2\naction = \"signal_without_upgrade\"")
	t.Logf("a fifth not upgraded: split >= 1: %v, >= 6: %v, >= 20: %v", rate(s, 1), rate(s, 6), rate(s, 20))
	assert.Greater(t, rate(s, 1), 0.95, "a fifth of hash power mines invalid blocks within two weeks")
	assert.Less(t, rate(s, 20), 0.05, "the upgraded four fifths outgrow a split before it is long")
	_, s = powStudy(t, "[[behaviour.coalition]]\nshare = 0.6\naction = \"signal_without_upgrade\"")
	t.Logf("three fifths not upgraded: split >= 20: %v", rate(s, 20))
	assert.Greater(t, rate(s, 20), 0.95, "a non-upgraded majority keeps a chain of its own")

	md := s.SummaryMarkdown()
	assert.Contains(t, md, "### split_6_blocks")
	assert.NotContains(t, md, "### missed_block_rate", "no mechanism uses the halting model")
	rows := strings.Split(string(s.RunsCSV()), "\n")
	assert.True(t, strings.HasSuffix(rows[0], ",split_blocks"), rows[0])
	assert.Contains(t, rows[1], ",,,,", "missed blocks, no-finality hours and halted nodes are blank")
	assert.Contains(t, s.Report(Provenance{}, nil), "bip9: the proof-of-work model")
}

func TestPoWConfigErrors(t *testing.T) {
	for _, tc := range []struct{ from, to, key string }{
		{"kind = \"stake\"", "kind = \"hybrid\"\ndelay_hours = 100", "mechanism[0].pow"},
		{"pow = true", "pow = true\nsignal_whole_period = true", "mechanism[0].signal_whole_period"},
		{"pow = true", "pow = true\nroles = [\"miner\"]", "mechanism[0].roles"},
		{"epoch_views = 2016", "epoch_views = 200000", "mechanism[0].pow"},
	} {
		text := strings.Replace(strings.Replace(powConfig, "BEHAVIOUR", "", 1), tc.from, tc.to, 1)
		_, err := ParseConfig([]byte(text), t.TempDir())
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, tc.to)
		assert.Equal(t, tc.key, ce.Key, tc.to)
	}
}
