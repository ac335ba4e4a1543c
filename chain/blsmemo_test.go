package chain

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
)

// maxMemo bounds each memo of memoizeBLSChecks: when one is full it starts
// again, so a long fuzz run's memory stays bounded.
const maxMemo = 1 << 12

// memo remembers a deterministic function's results by the bytes of its input.
type memo[V any] map[string]V

func (m memo[V]) get(key []byte, compute func() V) V {
	if v, ok := m[string(key)]; ok {
		return v
	}
	if len(m) >= maxMemo {
		clear(m)
	}
	v := compute()
	m[string(key)] = v
	return v
}

type result[V any] struct {
	v   V
	err error
}

// possessionPair is a staking key and its proof of possession, as bytes.
type possessionPair struct{ key, pop string }

// memoizeBLSChecks makes ParseGenesis pay for each key once in this process,
// until the test ends: a key's decoding is remembered by its bytes, an
// identity table by its entries, a committee by its members and threshold.
// What is remembered is what the real check returned for the same bytes,
// error included, so ParseGenesis's result is unchanged
// (TestMemoizedBLSChecksChangeNothing). A table not seen before whose every
// (key, proof) pair was verified in an earlier table is built with
// quorum.TrustPossession, whose contract that is: NewTable still decodes the
// keys and runs every other check.
// It returns how many tables were built trusting known proofs.
func memoizeBLSChecks(t testing.TB) (trusted *int) {
	saved := blsChecks
	t.Cleanup(func() { blsChecks = saved })
	keys := memo[error]{}
	tables := memo[result[*quorum.Table]]{}
	committees := memo[result[*activation.Committee]]{}
	verified := map[possessionPair]bool{}
	trusted = new(int)
	blsChecks.decodeKey = func(key []byte) error {
		return keys.get(key, func() error { return saved.decodeKey(key) })
	}
	blsChecks.newTable = func(ids []quorum.Identity) (*quorum.Table, error) {
		r := tables.get(canon.MustEncode(ids), func() result[*quorum.Table] {
			known := len(ids) > 0
			for _, id := range ids {
				known = known && verified[possessionPair{string(id.StakingKey), string(id.PoP)}]
			}
			if known {
				*trusted++
				tb, err := quorum.NewTable(ids, quorum.TrustPossession())
				return result[*quorum.Table]{tb, err}
			}
			tb, err := saved.newTable(ids)
			if err == nil && tb.Keyed() {
				if len(verified) >= maxMemo {
					clear(verified)
				}
				for _, id := range ids {
					verified[possessionPair{string(id.StakingKey), string(id.PoP)}] = true
				}
			}
			return result[*quorum.Table]{tb, err}
		})
		return r.v, r.err
	}
	blsChecks.newCommittee = func(members []activation.CommitteeMember, threshold int) (*activation.Committee, error) {
		key := canon.MustEncode(struct {
			Members   []activation.CommitteeMember
			Threshold int
		}{members, threshold})
		r := committees.get(key, func() result[*activation.Committee] {
			c, err := saved.newCommittee(members, threshold)
			return result[*activation.Committee]{c, err}
		})
		return r.v, r.err
	}
	return trusted
}

// The memoized checks give ParseGenesis the same result as the real ones,
// for good files and for files that fail in each BLS check, whether the
// memo has seen the bytes, has seen only the (key, proof) pairs, or neither.
func TestMemoizedBLSChecksChangeNothing(t *testing.T) {
	_, _, data := testGenesis(t)
	variant := func(change func(f map[string]any, nodes []any, members []any)) []byte {
		var f map[string]any
		require.NoError(t, json.Unmarshal(data, &f))
		table := f["identities"].([]any)[0].(map[string]any)
		change(f, table["nodes"].([]any), f["governance"].(map[string]any)["members"].([]any))
		out, err := json.Marshal(f)
		require.NoError(t, err)
		return out
	}
	node := func(nodes []any, i int) map[string]any { return nodes[i].(map[string]any) }
	inputs := map[string][]byte{
		"as generated":  data,
		"another stake": variant(func(_ map[string]any, nodes, _ []any) { node(nodes, 1)["stake"] = 7 }),
		"two nodes swap keys and proofs": variant(func(_ map[string]any, nodes, _ []any) {
			a, b := node(nodes, 0), node(nodes, 1)
			a["staking_key"], b["staking_key"], a["pop"], b["pop"] = b["staking_key"], a["staking_key"], b["pop"], a["pop"]
		}),
		"a key with another's proof": variant(func(_ map[string]any, nodes, _ []any) { node(nodes, 1)["pop"] = node(nodes, 2)["pop"] }),
		"a key and proof twice": variant(func(_ map[string]any, nodes, _ []any) {
			node(nodes, 1)["staking_key"], node(nodes, 1)["pop"] = node(nodes, 0)["staking_key"], node(nodes, 0)["pop"]
		}),
		"a key that does not decode": variant(func(_ map[string]any, nodes, _ []any) { node(nodes, 2)["staking_key"] = "00ff" }),
		"a later table of known pairs": variant(func(f map[string]any, nodes, _ []any) {
			f["identities"] = append(f["identities"].([]any), map[string]any{"from_epoch": 5, "nodes": nodes[:2]})
		}),
		"a later table with a bad proof": variant(func(f map[string]any, nodes, _ []any) {
			later := map[string]any{}
			maps.Copy(later, node(nodes, 0))
			later["pop"] = node(nodes, 1)["pop"]
			f["identities"] = append(f["identities"].([]any), map[string]any{"from_epoch": 5, "nodes": []any{later}})
		}),
		"a member with another's proof": variant(func(_ map[string]any, _, members []any) {
			members[1].(map[string]any)["pop"] = members[0].(map[string]any)["pop"]
		}),
		"another threshold": variant(func(f map[string]any, _, _ []any) { f["governance"].(map[string]any)["threshold"] = 3 }),
	}
	names := slices.Sorted(maps.Keys(inputs))
	outcome := func(data []byte) string {
		g, err := ParseGenesis(data)
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("hash %x", g.Hash())
	}
	want := map[string]string{}
	for _, name := range names {
		want[name] = outcome(inputs[name])
	}
	assert.Contains(t, want["a key with another's proof"], "bad proof of possession", "the variants reach the checks")
	assert.Contains(t, want["a later table with a bad proof"], "bad proof of possession")
	assert.Contains(t, want["a member with another's proof"], "governance member 1")

	trusted := memoizeBLSChecks(t)
	for _, round := range []string{"first seen", "seen before"} {
		// The generated file first, so that later tables meet pairs it verified.
		for _, name := range append([]string{"as generated"}, names...) {
			assert.Equal(t, want[name], outcome(inputs[name]), "%s, %s", name, round)
		}
	}
	assert.Positive(t, *trusted, "no table was built on proofs verified before")
}
