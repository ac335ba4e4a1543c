package chain

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/strictjson"
)

func testGenesis(t testing.TB) (*Genesis, *Keys, []byte) {
	t.Helper()
	g, keys, err := GenerateGenesis(GenerateOptions{
		ChainID: "dev-1", EpochViews: 100, SafetyViews: 10, Versions: map[string]string{"protocol": "1.0.0"},
		Nodes: []NodeSpec{{ID: "seq", Role: "consensus", Stake: 300}, {ID: "c2", Role: "consensus", Stake: 200},
			{ID: "e1", Role: "execution", Stake: 500, Address: "/ip4/127.0.0.1/tcp/7003"}},
		GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte("genesis-test"),
	})
	require.NoError(t, err)
	data, err := g.MarshalJSON()
	require.NoError(t, err)
	return g, keys, data
}

func TestGenerateAndReload(t *testing.T) {
	g, keys, data := testGenesis(t)
	path := filepath.Join(t.TempDir(), "genesis.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	back, err := LoadGenesis(path)
	require.NoError(t, err)
	assert.Equal(t, g.Hash(), back.Hash(), "the hash changed through the file")
	assert.Equal(t, uint64(1000), back.Params().Identities.TableAt(0).TotalStake())
	assert.Equal(t, 2, back.Committee().Threshold())
	assert.Equal(t, "seq", back.Sequencer)
	v, _ := back.State().ActiveVersion("protocol")
	assert.Equal(t, "1.0.0", v)
	assert.Len(t, keys.Staking, 3)
	assert.Len(t, keys.P2P, 3)
	assert.Len(t, keys.Governance, 3)
	// Deterministic from the seed.
	again, _, _ := testGenesis(t)
	assert.Equal(t, g.Hash(), again.Hash(), "same seed, different genesis")
}

func TestBadGenesis(t *testing.T) {
	_, _, data := testGenesis(t)
	good := string(data)
	other, _, err := GenerateGenesis(GenerateOptions{ChainID: "x", EpochViews: 10, SafetyViews: 1,
		Nodes: []NodeSpec{{ID: "n", Role: "r", Stake: 1}}, GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("other")})
	require.NoError(t, err)
	otherData, err := other.MarshalJSON()
	require.NoError(t, err)
	otherPoP := between(string(otherData), `"pop": "`, `"`)
	for _, tc := range []struct{ name, from, to, where string }{
		{"unknown field", `"sequencer": "seq"`, `"sequencer": "seq", "sequenser": 1`, "sequenser"},
		{"safety >= epoch", `"safety_views": 10`, `"safety_views": 100`, "safety_views"},
		{"bad version", `"protocol": "1.0.0"`, `"protocol": "v1"`, "versions"},
		{"bad component name", `"protocol": "1.0.0"`, `"proto col": "1.0.0"`, "versions"},
		{"component name with a newline", `"protocol": "1.0.0"`, `"protocol\n": "1.0.0"`, "versions"},
		{"unknown sequencer", `"sequencer": "seq"`, `"sequencer": "ghost"`, "sequencer"},
		{"threshold too high", `"threshold": 2`, `"threshold": 4`, "governance.threshold"},
		{"bad peer id", between(good, `"peer_id": "`, `"`), "not-a-peer", "identities[0].nodes[0].peer_id"},
		{"bad address", `"/ip4/127.0.0.1/tcp/7003"`, `"127.0.0.1:7003"`, "identities[0].nodes[2].address"},
		{"key not hex", between(good, `"staking_key": "`, `"`), "zz", "identities[0].nodes[0].staking_key"},
		{"another key's PoP", between(good, `"pop": "`, `"`), otherPoP, "identities[0]"},
		{"first table later", `"from_epoch": 0`, `"from_epoch": 2`, "identities[0].from_epoch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			require.NotEqual(t, good, bad, "test setup: %q not found", tc.from)
			_, err := ParseGenesis([]byte(bad))
			var ie *strictjson.InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.where, ie.Where, "%v", err)
		})
	}
}

func between(s, start, end string) string {
	i := strings.Index(s, start) + len(start)
	return s[i : i+strings.Index(s[i:], end)]
}

// With several bad versions, the error names the first component in order,
// every time (the versions object is a map: ranging over it was random).
func TestGenesisReportsTheFirstBadVersion(t *testing.T) {
	_, _, data := testGenesis(t)
	var file map[string]any
	require.NoError(t, json.Unmarshal(data, &file))
	file["versions"] = map[string]any{"zeta": 1, "alpha": 2, "mid": 3, "beta": 4}
	bad, err := json.Marshal(file)
	require.NoError(t, err)
	for range 20 {
		_, err := ParseGenesis(bad)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "versions.alpha")
	}
}

// Parameters declared at genesis: written and read back, in the hash and the
// state; a genesis without them keeps the form and hash it had; a bad
// declaration names its place.
func TestGenesisParams(t *testing.T) {
	plain, _, plainData := testGenesis(t)
	assert.NotContains(t, string(plainData), `"params"`, "a genesis without parameters is written as before")
	max := uint64(5000)
	g, _, err := GenerateGenesis(GenerateOptions{
		ChainID: "dev-1", EpochViews: 100, SafetyViews: 10, Versions: map[string]string{"protocol": "1.0.0"},
		ParamDecls: []activation.ParamDecl{
			{Name: "timeout", Type: activation.ParamUint, Max: &max, Value: "1000", MinLeadViews: 30},
			{Name: "fast", Type: activation.ParamBool, Value: "false", MinLeadViews: 1}},
		Nodes: []NodeSpec{{ID: "seq", Role: "consensus", Stake: 300}, {ID: "c2", Role: "consensus", Stake: 200},
			{ID: "e1", Role: "execution", Stake: 500, Address: "/ip4/127.0.0.1/tcp/7003"}},
		GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte("genesis-test"),
	})
	require.NoError(t, err)
	assert.NotEqual(t, plain.Hash(), g.Hash())
	assert.NotEqual(t, plain.State().ID(), g.State().ID())
	assert.Equal(t, []string{"fast", "timeout"}, g.State().ParamNames())
	v, _ := g.State().ParamValue("timeout")
	assert.Equal(t, "1000", v)
	data, err := g.MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"timeout": {`)
	back, err := ParseGenesis(data)
	require.NoError(t, err)
	assert.Equal(t, g.Hash(), back.Hash())

	good := string(data)
	for _, tc := range []struct{ name, from, to, where, what string }{
		{"unknown type", `"type": "uint"`, `"type": "int"`, "params.timeout.type", "not a parameter type"},
		{"value out of bounds", `"value": "1000"`, `"value": "6000"`, "params.timeout.value", "out of its bounds [0, 5000]"},
		{"value of another type", `"value": "false"`, `"value": "no"`, "params.fast.value", `"true" or "false"`},
		{"min over max", `"max": 5000`, `"max": 5000, "min": 6000`, "params.timeout.min", "greater than max"},
		{"lead 0", `"min_lead_views": 30`, `"min_lead_views": 0`, "params.timeout.min_lead_views", "at least 1"},
		{"bad name", `"fast": {`, `"-fast": {`, "params.-fast", "the name must be"},
		{"value not a string", `"value": "1000"`, `"value": 1000`, "params.timeout.value", "expected a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(good, tc.from, tc.to, 1)
			require.NotEqual(t, good, bad, "test setup: %q not found", tc.from)
			_, err := ParseGenesis([]byte(bad))
			var ie *strictjson.InputError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, tc.where, ie.Where, "%v", err)
			assert.Contains(t, ie.What, tc.what)
		})
	}
}
