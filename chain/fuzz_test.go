package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/signal"
)

// maxFuzzGenesis bounds a genesis fuzz input: every node and committee
// member in a valid one costs a key decode and a proof-of-possession check
// (about 1 ms together) the first time the fuzz process meets its bytes
// (memoizeBLSChecks), so a bound on the bytes bounds the work per input.
// The one-node seed is about 1 KiB.
const maxFuzzGenesis = 4 << 10

// The genesis file comes from the operator's disk. Whatever parses writes
// back (MarshalJSON) to a file that parses to the same genesis hash; what
// does not parse says why.
func FuzzParseGenesis(f *testing.F) {
	// The seed without indentation (954 bytes, not 1,185): the fuzzer
	// minimizes each new interesting input with a pass quadratic in its
	// length, and counts none of those runs in its execs/s until the pass
	// ends.
	var seed bytes.Buffer
	require.NoError(f, json.Compact(&seed, fuzzGenesisSeed(f)))
	f.Logf("seed: %d bytes", seed.Len())
	require.LessOrEqual(f, seed.Len(), maxFuzzGenesis)
	f.Add(seed.Bytes())
	f.Add([]byte(`{"chain_id":"x","epoch_views":10,"safety_views":1,"identities":[],"governance":{},"sequencer":"a"}`))
	f.Add([]byte(`{"versions":{"a":1,"b":2}}`))
	memoizeBLSChecks(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzGenesis {
			return
		}
		checkGenesisInput(t, data)
	})
}

// fuzzGenesisSeed is the smallest valid genesis (one node, one member), so
// that the fuzzer's mutations of it stay cheap.
func fuzzGenesisSeed(t testing.TB) []byte {
	g, _, err := GenerateGenesis(GenerateOptions{ChainID: "fuzz-1", EpochViews: 100, SafetyViews: 10,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: []NodeSpec{{ID: "seq", Role: "consensus", Stake: 300}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("fuzz")})
	require.NoError(t, err)
	data, err := g.MarshalJSON()
	require.NoError(t, err)
	return data
}

// checkGenesisInput is FuzzParseGenesis's check of one input.
func checkGenesisInput(t testing.TB, data []byte) {
	g, err := ParseGenesis(data)
	if err != nil {
		require.NotEmpty(t, err.Error())
		return
	}
	again, err := g.MarshalJSON()
	require.NoError(t, err)
	g2, err := ParseGenesis(again)
	require.NoError(t, err, "a parsed genesis written back does not parse")
	require.Equal(t, g.Hash(), g2.Hash(), "a parsed genesis written back is another genesis")
}

// BenchmarkFuzzParseGenesisValidInput is what FuzzParseGenesis pays for a
// valid input, without the fuzzer's coverage instrumentation. The inputs are
// the kind the fuzzer makes of its seed: another stake each time (a new
// identity table of known keys) or another epoch length (the same table).
// "real-checks" runs the BLS checks every time, as every valid input did
// before the memo; "memoized" runs them as the fuzz target now does.
func BenchmarkFuzzParseGenesisValidInput(b *testing.B) {
	seed := string(fuzzGenesisSeed(b))
	variant := func(from, format string) func(i int) []byte {
		require.Contains(b, seed, from)
		return func(i int) []byte { return []byte(strings.Replace(seed, from, fmt.Sprintf(format, 100+i%100000), 1)) }
	}
	anotherStake := variant(`"stake": 300`, `"stake": %d`)
	anotherEpochLength := variant(`"epoch_views": 100`, `"epoch_views": %d`)
	run := func(input func(int) []byte) func(*testing.B) {
		return func(b *testing.B) {
			i := 0
			for b.Loop() {
				checkGenesisInput(b, input(i))
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inputs/s")
		}
	}
	b.Run("real-checks", run(anotherStake))
	memoized := func(input func(int) []byte) func(*testing.B) {
		return func(b *testing.B) {
			memoizeBLSChecks(b)
			checkGenesisInput(b, []byte(seed)) // the fuzzer runs its seed first
			run(input)(b)
		}
	}
	b.Run("memoized/another-stake", memoized(anotherStake))
	b.Run("memoized/another-epoch-length", memoized(anotherEpochLength))
}

// A governance message arrives from gossip. Whatever decodes holds exactly
// one item and is canonical; VerifyGovernance judges it without panicking,
// and passes only what the committee approved. Work per input is one CBOR
// decode and, for what decodes, one aggregate signature check.
func FuzzDecodeGovernance(f *testing.F) {
	g, keys, _ := testGenesis(f)
	approve := func(msg []byte) activation.Approval {
		a, err := g.Committee().Approve(msg, []int{0, 1}, []signal.PrivateKey{keys.Governance[0], keys.Governance[1]})
		require.NoError(f, err)
		return a
	}
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: 500}
	approved := map[string]bool{}
	for _, m := range []GovernanceMessage{
		{Proposal: &activation.SignedProposal{Proposal: p, Approval: approve(activation.ProposalMessage(g.ChainID, p))}},
		{Cancel: &activation.SignedCancel{Deployment: "p2", Approval: approve(activation.CancelMessage(g.ChainID, "p2"))}},
	} {
		raw := canon.MustEncode(m)
		_, err := VerifyGovernance(g, raw)
		require.NoError(f, err)
		approved[string(raw)] = true
		f.Add(raw)
	}
	f.Add(canon.MustEncode(GovernanceMessage{}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := DecodeGovernance(raw)
		if err != nil {
			return
		}
		require.True(t, (m.Proposal == nil) != (m.Cancel == nil), "a decoded message holds exactly one item")
		require.True(t, bytes.Equal(canon.MustEncode(m), raw), "a decoded message does not re-encode to its input")
		if _, err := VerifyGovernance(g, raw); err == nil {
			require.True(t, approved[string(raw)], "a message the committee did not approve verifies: %+v", m)
		}
	})
}
