package replay

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the project's own golden files (examples/scenarios/*.expected.jsonl)")

// replayLines runs a scenario file the way `node-plugin replay` does.
func replayLines(t *testing.T, path string, opts RunOptions) []byte {
	t.Helper()
	sc, err := Load(path)
	require.NoError(t, err, path)
	out, err := sc.Output(opts)
	require.NoError(t, err, path)
	return out
}

// sameJSONLines compares two JSON-lines documents value by value, line by line.
func sameJSONLines(t *testing.T, name string, got, want []byte) {
	t.Helper()
	parse := func(b []byte) []any {
		var out []any
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var v any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &v), "%s: bad JSON line %q", name, sc.Text())
			out = append(out, v)
		}
		require.NoError(t, sc.Err(), name)
		return out
	}
	// Compared as values, so key order and spacing do not matter; the diff
	// testify prints names the line that differs.
	require.Equal(t, parse(want), parse(got), "%s: the output lines differ from the golden file", name)
}

func TestDesignScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/design/*.json")
	require.NoError(t, err)
	require.Len(t, files, 3, "the 3 DESIGN.md scenarios in testdata/design")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".expected.jsonl")
			require.NoError(t, err)
			sameJSONLines(t, f, replayLines(t, f, RunOptions{}), want)
			sameJSONLines(t, f+" (every view)", replayLines(t, f, RunOptions{EveryView: true}), want)
		})
	}
}

func TestDesignCopiesAreCurrent(t *testing.T) {
	shared := filepath.Join("..", "..", "shared", "scenarios")
	entries, err := os.ReadDir(shared)
	if err != nil {
		t.Skipf("no %s beside the repository (%v): comparing the copies is not possible here", shared, err)
	}
	for _, e := range entries {
		a, err := os.ReadFile(filepath.Join(shared, e.Name()))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join("testdata", "design", e.Name()))
		if assert.NoError(t, err, "testdata/design/%s: copy it from %s", e.Name(), shared) {
			assert.True(t, bytes.Equal(a, b), "testdata/design/%s differs from %s: copy it again", e.Name(), shared)
		}
	}
}

func TestExampleScenarios(t *testing.T) {
	files, err := filepath.Glob("../examples/scenarios/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no example scenarios found")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			golden := strings.TrimSuffix(f, ".json") + ".expected.jsonl"
			got := replayLines(t, f, RunOptions{})
			if *rewrite {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./replay -rewrite to create it")
			sameJSONLines(t, f, got, want)
			sameJSONLines(t, f+" (every view)", replayLines(t, f, RunOptions{EveryView: true}), want)
		})
	}
}

const okChain = `"chain":{"id":"x","epoch_views":100,"safety_views":10},"until_view":50`

func TestBadInput(t *testing.T) {
	for _, tc := range []struct{ name, input, where, what string }{
		{"bad JSON", `{"chain": }`, "line 1, column 11", "bad JSON"},
		{"truncated", `{"chain":`, "", "ends before"},
		{"trailing", `{` + okChain + `} {}`, "line 1", "unexpected data"},
		{"not an object", `[]`, "", "expected an object"},
		{"unknown top field", `{` + okChain + `,"extra":1}`, "extra", "unknown field"},
		{"missing chain", `{"until_view":5}`, "", `missing required field "chain"`},
		{"missing until_view", `{"chain":{"id":"x","epoch_views":100,"safety_views":10}}`, "", `missing required field "until_view"`},
		{"wrong type", `{"chain":{"id":"x","epoch_views":"100","safety_views":10},"until_view":5}`, "chain.epoch_views", "expected a whole number"},
		{"negative", `{"chain":{"id":"x","epoch_views":100,"safety_views":-1},"until_view":5}`, "chain.safety_views", "whole number from 0"},
		{"fraction", `{"chain":{"id":"x","epoch_views":100,"safety_views":1.5},"until_view":5}`, "chain.safety_views", "whole number from 0"},
		{"epoch_views 0", `{"chain":{"id":"x","epoch_views":0,"safety_views":0},"until_view":5}`, "chain.epoch_views", "at least 1"},
		{"safety >= epoch", `{"chain":{"id":"x","epoch_views":10,"safety_views":10},"until_view":5}`, "chain.safety_views", "less than epoch_views"},
		{"empty chain id", `{"chain":{"id":"","epoch_views":10,"safety_views":1},"until_view":5}`, "chain.id", "must not be empty"},
		{"genesis not semver", `{` + okChain + `,"genesis":{"versions":{"protocol":"1.0"}}}`, "genesis.versions.protocol", "not a semantic version"},
		{"genesis unknown", `{` + okChain + `,"genesis":{"version":{}}}`, "genesis.version", "unknown field"},
		{"node twice", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":1},{"id":"a","role":"s","stake":1}]}]}`, "identities[0].nodes[1].id", "appears twice"},
		{"stake overflow", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":18446744073709551615},{"id":"b","role":"r","stake":1}]}]}`, "identities[0].nodes[1].stake", "exceeds 2^64-1"},
		{"stake too big", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":18446744073709551616}]}]}`, "identities[0].nodes[0].stake", "whole number from 0"},
		{"node missing role", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","stake":1}]}]}`, "identities[0].nodes[0]", `missing required field "role"`},
		{"tables out of order", `{` + okChain + `,"identities":[{"from_epoch":2,"nodes":[]},{"from_epoch":2,"nodes":[]}]}`, "identities[1].from_epoch", "greater than"},
		{"blocks out of order", `{` + okChain + `,"blocks":[{"view":5},{"view":5}]}`, "blocks[1].view", "strictly increasing"},
		{"block past until_view", `{` + okChain + `,"blocks":[{"view":51}]}`, "blocks[0].view", "after until_view"},
		{"block on missing view", `{` + okChain + `,"missing_views":[7],"blocks":[{"view":7}]}`, "blocks[0].view", "missing_views"},
		{"missing view past end", `{` + okChain + `,"missing_views":[70]}`, "missing_views[0]", "after until_view"},
		{"every view missing", `{"chain":{"id":"x","epoch_views":100,"safety_views":10},"until_view":1,"missing_views":[0,1]}`, "missing_views", "no block"},
		{"bad mode", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"1.0.0","mode":"vote","activation_view":9}]}]}`, "blocks[0].proposals[0].mode", `"stake" or "governance"`},
		{"bad threshold form", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"1.0.0","threshold":"0.66","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0].threshold", "num/den"},
		{"stake missing window", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"1.0.0","start_epoch":0}]}]}`, "blocks[0].proposals[0]", `"timeout_epoch"`},
		{"governance missing view", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"1.0.0","mode":"governance"}]}]}`, "blocks[0].proposals[0]", `"activation_view"`},
		{"governance with stake field", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"1.0.0","mode":"governance","activation_view":90,"threshold":"2/3"}]}]}`, "blocks[0].proposals[0].threshold", "only to stake-mode"},
		{"version not a string", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":2,"start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0].version", "expected a string"},
		{"attestation nodes not strings", `{` + okChain + `,"blocks":[{"view":1,"attestations":[{"deployment":"a","epoch":0,"nodes":[1]}]}]}`, "blocks[0].attestations[0].nodes[0]", "expected a string"},
		{"unknown block field", `{` + okChain + `,"blocks":[{"view":1,"cancel":["a"]}]}`, "blocks[0].cancel", "unknown field"},
		// docs/replay.md: keyed identity tables.
		{"key without pop", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":1,"staking_key":"ab","peer_id":"p"}]}]}`, "identities[0].nodes[0]", "has staking_key, peer_id but not pop"},
		{"key not hex", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":1,"staking_key":"xyz","pop":"ab","peer_id":"p"}]}]}`, "identities[0].nodes[0].staking_key", "non-empty hex"},
		{"empty pop", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":1,"staking_key":"ab","pop":"","peer_id":"p"}]}]}`, "identities[0].nodes[0].pop", "non-empty hex"},
		{"key that is no key", `{` + okChain + `,"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":1,"staking_key":"abcd","pop":"ab","peer_id":"p"}]}]}`, "identities[0]", "a"},
		// docs/replay.md: the verifying layer's rejections.
		{"rejection kind", `{` + okChain + `,"blocks":[{"view":1,"verifier_rejections":[{"kind":"vote","deployment":"a","reason":"bad signature"}]}]}`, "blocks[0].verifier_rejections[0].kind", `"certificate"`},
		{"rejection reason of Apply", `{` + okChain + `,"blocks":[{"view":1,"verifier_rejections":[{"kind":"attestation","deployment":"a","node":"n","reason":"duplicate"}]}]}`, "blocks[0].verifier_rejections[0].reason", "not a reason of the verifying layer"},
		{"rejection node of a cancel", `{` + okChain + `,"blocks":[{"view":1,"verifier_rejections":[{"kind":"cancel","deployment":"a","node":"n","reason":"bad signature"}]}]}`, "blocks[0].verifier_rejections[0].node", "only to attestations"},
		{"rejection without reason", `{` + okChain + `,"blocks":[{"view":1,"verifier_rejections":[{"kind":"cancel","deployment":"a"}]}]}`, "blocks[0].verifier_rejections[0]", `missing required field "reason"`},
		// docs/replay.md: parameters, declared at genesis (internal/paramfile).
		{"param type", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"int","value":"5","min_lead_views":1}}}}`, "genesis.params.timeout.type", `"int" is not a parameter type`},
		{"param min > max", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"uint","value":"5","min":9,"max":5,"min_lead_views":1}}}}`, "genesis.params.timeout.min", "min 9 is greater than max 5"},
		{"param value out of bounds", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"uint","value":"4","min":5,"min_lead_views":1}}}}`, "genesis.params.timeout.value", "out of its bounds [5, 18446744073709551615]"},
		{"param value not canonical", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"uint","value":"05","min_lead_views":1}}}}`, "genesis.params.timeout.value", `"05" is not a uint`},
		{"param value not a bool", `{` + okChain + `,"genesis":{"params":{"flag":{"type":"bool","value":"yes","min_lead_views":1}}}}`, "genesis.params.flag.value", `"yes" is not a bool`},
		{"param value too long", `{` + okChain + `,"genesis":{"params":{"motd":{"type":"string","value":"` + strings.Repeat("x", 1025) + `","min_lead_views":1}}}}`, "genesis.params.motd.value", "at most 1024 bytes"},
		{"param value a number", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"uint","value":5,"min_lead_views":1}}}}`, "genesis.params.timeout.value", "expected a string"},
		{"param min_lead_views 0", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"uint","value":"5","min_lead_views":0}}}}`, "genesis.params.timeout.min_lead_views", "at least 1"},
		{"param without min_lead_views", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"uint","value":"5"}}}}`, "genesis.params.timeout", `missing required field "min_lead_views"`},
		{"param min on a bool", `{` + okChain + `,"genesis":{"params":{"flag":{"type":"bool","value":"true","min":1,"min_lead_views":1}}}}`, "genesis.params.flag.min", "only to uint"},
		{"param min not whole", `{` + okChain + `,"genesis":{"params":{"timeout":{"type":"uint","value":"5","min":-1,"min_lead_views":1}}}}`, "genesis.params.timeout.min", "whole number from 0"},
		{"param bad name", `{` + okChain + `,"genesis":{"params":{"-x":{"type":"bool","value":"true","min_lead_views":1}}}}`, "genesis.params.-x", "the name must be"},
		{"param unknown member", `{` + okChain + `,"genesis":{"params":{"flag":{"type":"bool","value":"true","min_lead_views":1,"default":"x"}}}}`, "genesis.params.flag.default", "unknown field"},
		{"params not an object", `{` + okChain + `,"genesis":{"params":[]}}`, "genesis.params", "expected an object of parameter names"},
		{"params: first bad by name", `{` + okChain + `,"genesis":{"params":{"b":{"type":"bool","value":"no","min_lead_views":1},"a":{"type":"bool","value":"no","min_lead_views":1}}}}`, "genesis.params.a.value", "not a bool"},
		// A proposal changes a version or a parameter: one whole pair.
		{"version and param", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"1.0.0","param":"p","value":"1","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0]", "not both: this one has component, version, param, value"},
		{"component and value", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","value":"1","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0]", "not both: this one has component, value"},
		{"param without value", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","param":"p","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0]", `missing required field "value" (a parameter change)`},
		{"value without param", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","value":"1","mode":"governance","activation_view":40}]}]}`, "blocks[0].proposals[0]", `missing required field "param" (a parameter change)`},
		{"neither subject", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0]", `missing required field "component" (a version upgrade; a parameter change has "param" and "value")`},
		{"version without component", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","version":"1.0.0","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0]", `missing required field "component"`},
		{"component without version", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0]", `missing required field "version"`},
		{"empty component", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"","version":"1.0.0","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0].component", "must not be empty"},
		{"component with a newline", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c\n$(x)","version":"1.0.0","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0].component", `"c\n$(x)": a component name is 1 to 64`},
		{"component with a space", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"my c","version":"1.0.0","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0].component", "as a deployment name is"},
		{"empty param", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","param":"","value":"1","start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0].param", "must not be empty"},
		{"value not a string", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","param":"p","value":true,"start_epoch":0,"timeout_epoch":2}]}]}`, "blocks[0].proposals[0].value", "expected a string"},
		{"param change, governance missing view", `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","param":"p","value":"1","mode":"governance"}]}]}`, "blocks[0].proposals[0]", `"activation_view"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.input))
			var ie *InputError
			require.ErrorAs(t, err, &ie)
			if strings.HasPrefix(tc.where, "line") {
				assert.True(t, strings.HasPrefix(ie.Where, tc.where), "where = %q, want %q...", ie.Where, tc.where)
			} else {
				assert.Equal(t, tc.where, ie.Where, "%v", err)
			}
			assert.Contains(t, ie.What, tc.what)
		})
	}
}

// Protocol data inside blocks is not bad input.
func TestProtocolDataIsNotBadInput(t *testing.T) {
	in := `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"not-semver","threshold":"3/2","start_epoch":5,"timeout_epoch":1}]}]}`
	sc, err := Parse([]byte(in))
	require.NoError(t, err)
	var events []activation.Event
	_, err = sc.Run(RunOptions{}, func(e activation.Event) { events = append(events, e) })
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, activation.Rejection{View: 1, Kind: activation.KindProposal, Deployment: "a", Reason: activation.BadVersion}, events[0])
}

// paramScenario declares two parameters and proposes changes to them that
// Apply rejects, in rule-2 order, and accepts.
const paramScenario = `{"chain":{"id":"x","epoch_views":10,"safety_views":2},"until_view":30,
	  "genesis":{"params":{"timeout":{"type":"uint","value":"100","min":10,"max":1000,"min_lead_views":5},
	                       "flag":{"type":"bool","value":"false","min_lead_views":1}}},
	  "blocks":[{"view":1,"proposals":[
	    {"name":"u","param":"nope","value":"1","mode":"governance","activation_view":20},
	    {"name":"v","param":"timeout","value":"0100","mode":"governance","activation_view":20},
	    {"name":"w","param":"timeout","value":"5","mode":"governance","activation_view":20},
	    {"name":"x","param":"timeout","value":"100","mode":"governance","activation_view":20},
	    {"name":"y","param":"timeout","value":"200","mode":"governance","activation_view":6},
	    {"name":"z","param":"timeout","value":"200","mode":"governance","activation_view":7},
	    {"name":"z2","param":"timeout","value":"300","start_epoch":1,"timeout_epoch":2},
	    {"name":"f","param":"flag","value":"true","mode":"governance","activation_view":4}]}]}`

// A parameter change that names an undeclared key or a bad value is
// protocol data: Apply rejects it, in rule-2 order. The summary gains each
// declared key's history.
func TestParameterChangesAreProtocolData(t *testing.T) {
	sc, err := Parse([]byte(paramScenario))
	require.NoError(t, err)
	require.Len(t, sc.Params.Declared, 2)
	assert.Equal(t, "flag", sc.Params.Declared[0].Name, "declarations in name order")
	out, err := sc.Output(RunOptions{})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	rejected := func(name, reason string) string {
		return `{"type":"rejected","view":1,"kind":"proposal","deployment":"` + name + `","reason":"` + reason + `"}`
	}
	assert.Equal(t, []string{
		rejected("u", "unknown parameter"),
		rejected("v", "bad value"),
		rejected("w", "out of bounds"),
		rejected("x", "not an upgrade"),
		rejected("y", "activation too soon"), // 6 <= 1 + max(Δ 2, min_lead_views 5)
		`{"type":"transition","view":1,"height":1,"epoch":0,"deployment":"z","from":"NONE","to":"DEFINED"}`,
		`{"type":"transition","view":1,"height":1,"epoch":0,"deployment":"z","from":"DEFINED","to":"LOCKED_IN","activation_view":7}`,
		rejected("z2", "component busy"),
		`{"type":"transition","view":1,"height":1,"epoch":0,"deployment":"f","from":"NONE","to":"DEFINED"}`,
		`{"type":"transition","view":1,"height":1,"epoch":0,"deployment":"f","from":"DEFINED","to":"LOCKED_IN","activation_view":4}`,
		`{"type":"transition","view":4,"height":4,"epoch":0,"deployment":"f","from":"LOCKED_IN","to":"ACTIVE"}`,
		`{"type":"transition","view":7,"height":7,"epoch":0,"deployment":"z","from":"LOCKED_IN","to":"ACTIVE"}`,
		`{"type":"summary","view":30,"deployments":[{"name":"z","state":"ACTIVE","since_view":7,"activation_view":7},` +
			`{"name":"f","state":"ACTIVE","since_view":4,"activation_view":4}],"versions":{},` +
			`"params":{"flag":[{"value":"false","activation_view":0,"first_view":0},{"value":"true","activation_view":4,"first_view":4}],` +
			`"timeout":[{"value":"100","activation_view":0,"first_view":0},{"value":"200","activation_view":7,"first_view":7}]}}`,
	}, lines)
}

// The verifying layer's rejections come first in their block, as a node
// reports them, and change nothing; --state-ids adds one line before the
// summary, and without it the output is what it was.
func TestVerifierRejectionsAndTheStateLine(t *testing.T) {
	base := `{"chain":{"id":"x","epoch_views":10,"safety_views":1},"identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":1}]}],"until_view":12,"missing_views":[0],"blocks":[` +
		`{"view":3,"proposals":[{"name":"p","component":"c","version":"1.0.0","mode":"governance","activation_view":9}]%s}]}`
	plain, err := Parse([]byte(strings.Replace(base, "%s", "", 1)))
	require.NoError(t, err)
	withRej, err := Parse([]byte(strings.Replace(base, "%s", `,"verifier_rejections":[{"kind":"attestation","deployment":"p","node":"z","reason":"unknown signer"},{"kind":"certificate","deployment":"00ff","reason":"bad signature"}]`, 1)))
	require.NoError(t, err)
	out, err := plain.Output(RunOptions{})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 4, string(out))

	got, err := withRej.Output(RunOptions{StateID: true})
	require.NoError(t, err)
	gotLines := strings.Split(strings.TrimSpace(string(got)), "\n")
	require.Len(t, gotLines, 7, string(got))
	assert.Equal(t, `{"type":"rejected","view":3,"kind":"attestation","deployment":"p","node":"z","reason":"unknown signer"}`, gotLines[0])
	assert.Equal(t, `{"type":"rejected","view":3,"kind":"certificate","deployment":"00ff","reason":"bad signature"}`, gotLines[1])
	assert.Equal(t, lines[:3], gotLines[2:5], "then the block's own events, unchanged")
	res, err := plain.Run(RunOptions{}, func(activation.Event) {})
	require.NoError(t, err)
	id := res.Final.ID()
	assert.Equal(t, `{"type":"state","view":12,"height":11,"state_id":"`+hex.EncodeToString(id[:])+`"}`, gotLines[5])
	assert.Equal(t, lines[3], gotLines[6], "the same summary: the rejections changed nothing")
}

func TestQuietStretchesAreSkipped(t *testing.T) {
	in := `{"chain":{"id":"x","epoch_views":100,"safety_views":10},"until_view":1000000000000,
	  "blocks":[{"view":1,"proposals":[{"name":"g","component":"c","version":"1.0.0","mode":"governance","activation_view":500000000000}]}]}`
	sc, err := Parse([]byte(in))
	require.NoError(t, err)
	res, err := sc.Run(RunOptions{MaxBlocks: 10}, func(activation.Event) {})
	require.NoError(t, err)
	assert.LessOrEqual(t, res.Applied, 5, "the quiet stretches should have been skipped")
	d, ok := res.Final.Deployment("g")
	require.True(t, ok, "deployment g")
	assert.Equal(t, activation.Active, d.Status)
	assert.Equal(t, uint64(500000000000), d.Since)
	h, v, ok := res.Final.Head()
	require.True(t, ok)
	assert.Equal(t, uint64(1000000000000), h)
	assert.Equal(t, uint64(1000000000000), v)
}

func TestMaxBlocksStopsTheRun(t *testing.T) {
	// One view per epoch and a deployment STARTED until the end of time: a
	// block to apply at every view, so nothing can be skipped.
	in := `{"chain":{"id":"x","epoch_views":1,"safety_views":0},"until_view":1000000,
	  "identities":[{"from_epoch":0,"nodes":[{"id":"a","role":"r","stake":1}]}],
	  "blocks":[{"view":1,"proposals":[{"name":"p","component":"c","version":"1.0.0","start_epoch":0,"timeout_epoch":100000000}]}]}`
	sc, err := Parse([]byte(in))
	require.NoError(t, err)
	_, err = sc.Run(RunOptions{MaxBlocks: 50}, func(activation.Event) {})
	assert.ErrorIs(t, err, ErrMaxBlocks)
	assert.ErrorContains(t, err, "after 50 blocks")
}

// fuzzMaxBlocks bounds the blocks a fuzz input may apply. With coverage
// instrumentation a block costs microseconds, so a valid input that ran to
// 100,000 blocks took the better part of a second and the fuzzer managed a
// few inputs a second; a thousand blocks reach every rule (a design scenario
// needs a few dozen) and keep the target at thousands of inputs a second.
const fuzzMaxBlocks = 1000

// fuzzSeeds are the scenario files FuzzParse starts from (with the inputs in
// testdata/fuzz/FuzzParse, which the fuzzer adds itself).
func fuzzSeeds(tb testing.TB) [][]byte {
	files, err := filepath.Glob("testdata/design/*.json")
	require.NoError(tb, err)
	more, err := filepath.Glob("../examples/scenarios/*.json")
	require.NoError(tb, err)
	var seeds [][]byte
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		require.NoError(tb, err)
		seeds = append(seeds, b)
	}
	return append(seeds, []byte(`{`+okChain+`}`))
}

func FuzzParse(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkScenarioInput(t, data) })
}

// checkScenarioInput is FuzzParse's check of one input: a parse error is a
// clear InputError; a valid scenario runs (or stops at the bound), and a
// short one gives the same events and state view by view.
func checkScenarioInput(t testing.TB, data []byte) {
	sc, err := Parse(data)
	if err != nil {
		var ie *InputError
		require.ErrorAs(t, err, &ie, "every parse error is a clear InputError")
		require.NotEmpty(t, ie.What, "an InputError says what is wrong")
		return
	}
	var skipped []activation.Event
	res, err := sc.Run(RunOptions{MaxBlocks: fuzzMaxBlocks}, func(e activation.Event) { skipped = append(skipped, e) })
	if errors.Is(err, ErrMaxBlocks) {
		return
	}
	require.NoError(t, err, "a valid scenario failed to run")
	if sc.UntilView > fuzzMaxBlocks {
		return
	}
	var every []activation.Event
	full, err := sc.Run(RunOptions{EveryView: true}, func(e activation.Event) { every = append(every, e) })
	require.NoError(t, err)
	require.Equal(t, every, skipped, "skipping quiet blocks changed the events")
	require.Equal(t, full.Final.ID(), res.Final.ID(), "skipping quiet blocks changed the state")
}

// BenchmarkFuzzParseValidInput is the fuzz target's cost for one valid
// input: each design and example scenario, and the seed that keeps a block
// to apply at every view (the kind of input that made fuzzing crawl).
func BenchmarkFuzzParseValidInput(b *testing.B) {
	long, err := os.ReadFile("testdata/fuzz/FuzzParse/every-view-is-an-epoch")
	require.NoError(b, err)
	seed := strings.TrimSpace(strings.SplitN(string(long), "\n", 2)[1])
	unquoted, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(seed, "[]byte("), ")"))
	require.NoError(b, err)
	inputs := append(fuzzSeeds(b), []byte(unquoted))
	b.ResetTimer()
	for i := range b.N {
		checkScenarioInput(b, inputs[i%len(inputs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inputs/s")
}
