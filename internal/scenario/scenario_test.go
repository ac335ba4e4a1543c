package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/quorumgate/quorumgate/activation"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the project's own golden files (examples/scenarios/*.expected.jsonl)")

// replayLines runs a scenario file the way `node-plugin replay` does.
func replayLines(t *testing.T, path string, opts RunOptions) []byte {
	t.Helper()
	sc, err := Load(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out bytes.Buffer
	res, err := sc.Run(opts, func(e activation.Event) { out.Write(EventLine(e)); out.WriteByte('\n') })
	if err != nil {
		t.Fatal(err)
	}
	out.Write(SummaryLine(res.Final))
	out.WriteByte('\n')
	return out.Bytes()
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
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("%s: bad JSON line %q: %v", name, sc.Text(), err)
			}
			out = append(out, v)
		}
		return out
	}
	g, w := parse(got), parse(want)
	for i := range max(len(g), len(w)) {
		if i >= len(g) || i >= len(w) || !reflect.DeepEqual(g[i], w[i]) {
			t.Fatalf("%s: line %d differs\n got:  %v\n want: %v", name, i+1, at(g, i), at(w, i))
		}
	}
}

func at(list []any, i int) any {
	if i < len(list) {
		return list[i]
	}
	return "(no line)"
}

func TestDesignScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/design/*.json")
	if len(files) != 3 {
		t.Fatalf("expected the 3 DESIGN.md scenarios in testdata/design, found %d", len(files))
	}
	for _, f := range files {
		want, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".expected.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []RunOptions{{}, {EveryView: true}} {
			sameJSONLines(t, f, replayLines(t, f, opts), want)
		}
	}
}

func TestDesignCopiesAreCurrent(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "shared", "scenarios")
	entries, err := os.ReadDir(shared)
	if err != nil {
		t.Skipf("no %s beside the repository (%v): comparing the copies is not possible here", shared, err)
	}
	for _, e := range entries {
		a, _ := os.ReadFile(filepath.Join(shared, e.Name()))
		b, err := os.ReadFile(filepath.Join("testdata", "design", e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("testdata/design/%s differs from %s: copy it again", e.Name(), shared)
		}
	}
}

func TestExampleScenarios(t *testing.T) {
	files, _ := filepath.Glob("../../examples/scenarios/*.json")
	if len(files) == 0 {
		t.Fatal("no example scenarios found")
	}
	for _, f := range files {
		golden := strings.TrimSuffix(f, ".json") + ".expected.jsonl"
		got := replayLines(t, f, RunOptions{})
		if *rewrite {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/scenario -rewrite to create it)", err)
		}
		sameJSONLines(t, f, got, want)
		sameJSONLines(t, f+" (every view)", replayLines(t, f, RunOptions{EveryView: true}), want)
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.input))
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *InputError", err)
			}
			if ie.Where != tc.where && !(strings.HasPrefix(tc.where, "line") && strings.HasPrefix(ie.Where, tc.where)) {
				t.Errorf("where = %q, want %q (%v)", ie.Where, tc.where, err)
			}
			if !strings.Contains(ie.What, tc.what) {
				t.Errorf("what = %q, want it to mention %q", ie.What, tc.what)
			}
		})
	}
}

// Protocol data inside blocks is not bad input.
func TestProtocolDataIsNotBadInput(t *testing.T) {
	in := `{` + okChain + `,"blocks":[{"view":1,"proposals":[{"name":"a","component":"c","version":"not-semver","threshold":"3/2","start_epoch":5,"timeout_epoch":1}]}]}`
	sc, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var events []activation.Event
	if _, err := sc.Run(RunOptions{}, func(e activation.Event) { events = append(events, e) }); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].(activation.Rejection).Reason != activation.BadVersion {
		t.Fatalf("events %+v", events)
	}
}

func TestQuietStretchesAreSkipped(t *testing.T) {
	in := `{"chain":{"id":"x","epoch_views":100,"safety_views":10},"until_view":1000000000000,
	  "blocks":[{"view":1,"proposals":[{"name":"g","component":"c","version":"1.0.0","mode":"governance","activation_view":500000000000}]}]}`
	sc, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	res, err := sc.Run(RunOptions{MaxBlocks: 10}, func(activation.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied > 5 {
		t.Fatalf("applied %d blocks; the quiet stretches should have been skipped", res.Applied)
	}
	if d, _ := res.Final.Deployment("g"); d.Status != activation.Active || d.Since != 500000000000 {
		t.Fatalf("deployment %+v", d)
	}
	if h, v, _ := res.Final.Head(); h != 1000000000000 || v != 1000000000000 {
		t.Fatalf("head %d/%d", h, v)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/design/*.json")
	more, _ := filepath.Glob("../../examples/scenarios/*.json")
	for _, p := range append(files, more...) {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{` + okChain + `}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse(data)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || ie.What == "" {
				t.Fatalf("error is not a clear InputError: %v", err)
			}
			return
		}
		// A valid scenario always runs (bounded, so that huge views stay quick).
		_, err = sc.Run(RunOptions{MaxBlocks: 100000}, func(activation.Event) {})
		if err != nil && !strings.Contains(err.Error(), "MaxBlocks") {
			t.Fatalf("valid scenario failed to run: %v", err)
		}
	})
}
