package sim

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
)

var paramConfigErrorCases = []struct{ name, from, to, key, problem string }{
	{"type", `type = "uint"`, `type = "float"`, "param_change.type", `"float": allowed are uint, bool, string`},
	{"key", `key = "max_block_bytes"`, `key = "max block"`, "param_change.key",
		"parameter max block: the name must be 1 to 64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"},
	{"old", `old = "2097152"`, `old = "02097152"`, "param_change.old",
		`parameter max_block_bytes: value "02097152" is not a uint (a whole number from 0 to 18446744073709551615, in decimal without leading zeros)`},
	{"old out of bounds", `old = "2097152"`, `old = "1"`, "param_change.old", "parameter max_block_bytes: value 1 is out of its bounds [1048576, 16777216]"},
	{"new out of bounds", `new = "4194304"`, `new = "33554432"`, "param_change.new", "33554432 is out of the parameter's bounds (min, max)"},
	{"new not a uint", `new = "4194304"`, `new = "4 MiB"`, "param_change.new", `"4 MiB" is not a valid uint value`},
	{"no change", `new = "4194304"`, `new = "2097152"`, "param_change.new", `"2097152" is the value at genesis (old): not a change`},
	{"min_lead_views", "min_lead_views = 28800", "min_lead_views = 0", "param_change.min_lead_views",
		"parameter max_block_bytes: min_lead_views must be at least 1"},
	{"min above max", "min = 1048576", "min = 33554432", "param_change.min", "parameter max_block_bytes: min 33554432 is greater than max 16777216"},
	{"bounds on a bool", `type = "uint"`, `type = "bool"`, "param_change.min", "parameter max_block_bytes: min applies only to uint parameters, and this one is bool"},
	{"unknown key", "min_lead_views = 28800", "min_lead_views = 28800\nlead = 1", "param_change.lead", "unknown key"},
}

func TestParamChangeConfigErrors(t *testing.T) {
	example, err := os.ReadFile("../examples/sim/param-change.toml")
	require.NoError(t, err)
	for _, tc := range paramConfigErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(string(example), tc.from, tc.to, 1)
			require.NotEqual(t, string(example), text, "test setup: %q not found", tc.from)
			c, err := ParseConfig([]byte(text), t.TempDir())
			require.Nil(t, c)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key)
			assert.Equal(t, tc.problem, ce.Problem)
		})
	}
}

func TestParamChangeValidateLeavesTheConfigAlone(t *testing.T) {
	text, err := os.ReadFile("../examples/sim/param-change.toml")
	require.NoError(t, err)
	dir := t.TempDir()
	c, md, err := decodeConfig(text, dir)
	require.NoError(t, err)
	untouched, _, err := decodeConfig(text, dir)
	require.NoError(t, err)
	c.applyDefaults(md)
	untouched.applyDefaults(md)
	f, err := c.validate()
	require.NoError(t, err)
	assert.Equal(t, untouched, c, "validate changed the config")
	require.Len(t, f.paramDecls, 1)
	c.adopt(f)
	min, max := uint64(1048576), uint64(16777216)
	assert.Equal(t, []activation.ParamDecl{{Name: "max_block_bytes", Type: activation.ParamUint, Min: &min, Max: &max,
		Value: "2097152", MinLeadViews: 28800}}, c.paramDecls)
}

// TestParamChangeExample runs examples/sim/param-change.toml (a few runs)
// and holds it to what it shows: governance activates at exactly its view
// when accepted and is rejected when inside min_lead_views; a stake lock-in
// never activates less than min_lead_views after it, at the mechanism's
// boundary when that is far enough and at the first one that is otherwise.
func TestParamChangeExample(t *testing.T) {
	c, err := LoadConfig("../examples/sim/param-change.toml")
	require.NoError(t, err)
	c.Runs = 40
	s := runStudy(t, c, 0)
	L, lead := c.Chain.EpochViews, c.paramDecls[0].Lead(c.Chain.SafetyViews)
	require.Equal(t, c.ParamChange.MinLeadViews, lead, "min_lead_views exceeds Δ + 1 in the example")
	deferred, notDeferred := map[string]int{}, map[string]int{}
	for _, o := range s.Outcomes {
		m := c.Mechanisms[mechIndex(c, o.Mechanism)]
		switch {
		case m.Name == "governance-6h":
			require.Equal(t, "activation too soon", o.Rejected, "run %d", o.Run)
			require.False(t, o.Activated)
		case m.Kind == "governance":
			require.True(t, o.Activated, "run %d %s", o.Run, m.Name)
			require.Empty(t, o.Rejected)
			require.Equal(t, c.hoursToViews(m.DelayHours), o.ActivationView, "run %d %s: off its view", o.Run, m.Name)
			require.Equal(t, o.ActivationView, o.LeadViews)
		default:
			require.Empty(t, o.Rejected)
			if !o.Activated {
				continue
			}
			require.Positive(t, o.LockInView)
			require.Zero(t, o.ActivationView%L, "run %d %s: off a boundary", o.Run, m.Name)
			require.GreaterOrEqual(t, o.ActivationView-o.LockInView, lead, "run %d %s: activated inside min_lead_views", o.Run, m.Name)
			rules := (o.LockInView/L + 1) * L
			if o.DeferredByMinLead {
				deferred[m.Name]++
				require.Less(t, rules-o.LockInView, lead, "run %d %s: deferred though the rules' boundary was far enough", o.Run, m.Name)
				require.Less(t, o.ActivationView-L-o.LockInView, lead, "run %d %s: not the first boundary far enough", o.Run, m.Name)
			} else {
				notDeferred[m.Name]++
				require.Equal(t, rules, o.ActivationView, "run %d %s", o.Run, m.Name)
			}
		}
	}
	for _, name := range []string{"stake-2/3", "stake-4/5"} {
		assert.Positive(t, deferred[name], "%s: min_lead_views never moved an activation", name)
		assert.Positive(t, notDeferred[name], "%s: every activation moved: the other case went untested", name)
	}
	md := s.SummaryMarkdown()
	assert.Contains(t, md, "### Parameter change: max_block_bytes from 2097152 to 4194304, min_lead_views 28800 (8.00 h)")
	assert.Contains(t, md, "| governance-6h | governance | 40/40 (activation too soon) | 0/40 | – | – | – |")
	assert.Contains(t, md, "| governance-2d | governance | 0/40 | 40/40 | 172800 | 48.00 | – |")
	assert.Contains(t, md, fmt.Sprintf("| stake-2/3 | stake | 0/40 | 40/40 | %d |", leastLead(s, "stake-2/3")))
	assert.Contains(t, s.Report(Provenance{}, nil), "max(min_lead_views, Δ+1) = 28800 views (8.00 h)")
	header := strings.SplitN(string(s.RunsCSV()), "\n", 2)[0]
	assert.True(t, strings.HasSuffix(header, ",upgraded_share_validator,rejected,lead_views,deferred_by_min_lead"), header)
}

func leastLead(s *Study, mech string) uint64 {
	least := uint64(math.MaxUint64)
	for _, o := range s.ByMechanism(mech) {
		if o.Activated {
			least = min(least, o.LeadViews)
		}
	}
	return least
}

func TestParamChangeSweepOverMinLeadViews(t *testing.T) {
	// A researcher's first question: how does min_lead_views move things?
	// Below 6 hours governance-6h is accepted; above it, rejected.
	text, err := os.ReadFile("../examples/sim/param-change.toml")
	require.NoError(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "sweep.toml")
	require.NoError(t, os.WriteFile(path, append(text, []byte("\n[sweep]\nmethod = \"grid\"\n[[sweep.key]]\nkey = \"param_change.min_lead_views\"\nvalues = [600, 28800]\n")...), 0o644))
	c, err := LoadConfig(path)
	require.NoError(t, err)
	c.Runs = 5
	sw, err := RunSweep(context.Background(), c, Options{})
	require.NoError(t, err)
	require.Len(t, sw.Studies, 2)
	for i, want := range []string{"", "activation too soon"} {
		for _, o := range sw.Studies[i].ByMechanism("governance-6h") {
			assert.Equal(t, want, o.Rejected, "point %d", i)
		}
	}
	assert.Contains(t, strings.SplitN(string(sw.CSV()), "\n", 2)[0], ",rejected,lead_views,deferred_by_min_lead")
}
