package sim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExampleConfigs loads every example and preset and runs a few runs of
// each, so an example that no longer parses or runs fails here.
func TestExampleConfigs(t *testing.T) {
	files, err := filepath.Glob("../examples/sim/*.toml")
	require.NoError(t, err)
	presets, err := filepath.Glob("../examples/sim/presets/*.toml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(presets), 6)
	for _, f := range append(files, presets...) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := LoadConfig(f)
			require.NoError(t, err)
			c.Runs = 3
			if c.Sweep != nil {
				c.Sweep = nil // the points are checked by the sweep tests; one study is enough here
			}
			s, err := Run(context.Background(), c, Options{})
			require.NoError(t, err)
			assert.Len(t, s.Outcomes, 3*len(c.Mechanisms))
		})
	}
}

// TestPresetRules checks that presets behave as their sources say.
func TestPresetRules(t *testing.T) {
	run := func(name string) (*Config, *Study) {
		c, err := LoadConfig("../examples/sim/presets/" + name)
		require.NoError(t, err)
		c.Runs = 40
		s, err := Run(context.Background(), c, Options{})
		require.NoError(t, err)
		return c, s
	}
	c, s := run("bitcoin-speedy-trial.toml")
	for _, o := range s.Outcomes {
		if o.Activated {
			assert.Equal(t, 14*c.Chain.EpochViews, o.ActivationView, "Speedy Trial activates at the minimum activation height")
			assert.Less(t, o.LockInView, 8*c.Chain.EpochViews)
		}
	}
	c, s = run("near.toml")
	require.True(t, *c.Mechanisms[0].Strict, "nearcore: the new version wins only if stake > threshold")
	for _, o := range s.Outcomes {
		if o.Activated {
			lockEpoch := o.LockInView / c.Chain.EpochViews
			assert.Equal(t, (lockEpoch+2)*c.Chain.EpochViews, o.ActivationView, "NEAR: voted in epoch X, active at X+2")
			assert.GreaterOrEqual(t, lockEpoch, uint64(14), "voting opens a week after the release")
			assert.Greater(t, o.SignaledShareAtLockIn, 0.8, "NEAR: more than 80% of stake")
		}
	}
	c, s = run("celestia-signal.toml")
	for _, o := range s.Outcomes {
		if o.Activated {
			lockEpoch := o.LockInView / c.Chain.EpochViews
			assert.Equal(t, (lockEpoch+168)*c.Chain.EpochViews, o.ActivationView, "Celestia: seven days of one-hour epochs after lock-in")
			assert.GreaterOrEqual(t, o.SignaledShareAtLockIn, 5.0/6)
		}
	}
}

// TestExamplesMarkUnsourcedAssumptions: every example that sets one of the
// behavioural assumptions without a dated source says so on its line.
func TestExamplesMarkUnsourcedAssumptions(t *testing.T) {
	files, err := filepath.Glob("../examples/sim/*.toml")
	require.NoError(t, err)
	presets, err := filepath.Glob("../examples/sim/presets/*.toml")
	require.NoError(t, err)
	marked := 0
	for _, f := range append(files, presets...) {
		text, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, line := range strings.Split(string(text), "\n") {
			for _, key := range []string{"hurry_share", "hurry_on_lock_in", "sigma"} {
				if strings.HasPrefix(line, key+" ") || strings.HasPrefix(line, key+"=") {
					assert.Contains(t, line, "# unsourced", "%s line %d", f, i+1)
					marked++
				}
			}
		}
	}
	assert.Greater(t, marked, 20)
}
