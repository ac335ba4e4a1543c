package quorum

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/signal"
)

func TestThresholdExceedsMatchesBigInt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	edge := []uint64{0, 1, 2, 3, math.MaxUint64, math.MaxUint64 - 1, math.MaxUint64 / 2, math.MaxUint64/3 + 1, 1 << 63}
	pick := func() uint64 {
		if rng.IntN(2) == 0 {
			return edge[rng.IntN(len(edge))]
		}
		return rng.Uint64() >> rng.IntN(64)
	}
	for range 200000 {
		th := Threshold{Num: pick(), Den: pick()}
		ready, total := pick(), pick()
		lhs := new(big.Int).Mul(new(big.Int).SetUint64(ready), new(big.Int).SetUint64(th.Den))
		rhs := new(big.Int).Mul(new(big.Int).SetUint64(th.Num), new(big.Int).SetUint64(total))
		// Not testify in this loop: 200,000 calls would cost more than the check.
		if want := lhs.Cmp(rhs) > 0; th.Exceeds(ready, total) != want {
			t.Fatalf("%v.Exceeds(%d, %d) = %v, want %v", th, ready, total, !want, want)
		}
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]Threshold{"2/3": {2, 3}, "0/0": {0, 0}, "5/4": {5, 4}, "18446744073709551615/1": {math.MaxUint64, 1}} {
		got, err := ParseThreshold(in)
		if assert.NoError(t, err, "ParseThreshold(%q)", in) {
			assert.Equal(t, want, got, "ParseThreshold(%q)", in)
		}
	}
	for _, in := range []string{"", "2", "2/", "/3", "2/3/4", "-1/3", "+1/3", " 1/3", "0.6/1", "a/b", "18446744073709551616/2"} {
		_, err := ParseThreshold(in)
		assert.ErrorIs(t, err, ErrThresholdSyntax, "ParseThreshold(%q)", in)
	}
	assert.True(t, Threshold{2, 3}.Valid(), "2/3")
	assert.False(t, Threshold{3, 3}.Valid(), "3/3")
	assert.False(t, Threshold{0, 3}.Valid(), "0/3")
}

func TestBitmap(t *testing.T) {
	b := NewBitmap(10)
	require.Len(t, b, 2, "bytes for 10 bits")
	b.Set(0)
	b.Set(9)
	assert.True(t, b.Has(0))
	assert.True(t, b.Has(9))
	assert.False(t, b.Has(5))
	assert.Equal(t, 2, b.Count())
	assert.NoError(t, b.CheckSize(10))
	assert.Error(t, b.CheckSize(9), "bit 9 set in a 9-entry bitmap")
	assert.Error(t, b.CheckSize(17), "a bitmap of the wrong length")
}

func TestTableValidation(t *testing.T) {
	_, err := NewTable([]Identity{{NodeID: "a", Role: "r", Stake: 1}, {NodeID: "a", Role: "r", Stake: 1}})
	assert.ErrorContains(t, err, `"a" appears twice`)
	_, err = NewTable([]Identity{{NodeID: "", Role: "r"}})
	assert.Error(t, err, "empty node ID")
	_, err = NewTable([]Identity{{NodeID: "a", Role: "x", Stake: math.MaxUint64}, {NodeID: "b", Role: "y", Stake: 1}})
	assert.ErrorIs(t, err, ErrStakeOverflow, "overflow across roles")
	tb, err := NewTable([]Identity{{NodeID: "z", Role: "x", Stake: math.MaxUint64 - 1}, {NodeID: "b", Role: "y", Stake: 1}})
	require.NoError(t, err)
	assert.Equal(t, uint64(math.MaxUint64), tb.TotalStake())
	assert.Equal(t, uint64(math.MaxUint64-1), tb.RoleStake("x"))
	assert.Zero(t, tb.RoleStake("none"))
	i, ok := tb.Lookup("b")
	require.True(t, ok)
	assert.Equal(t, 0, i, "entries are sorted by node ID")
	assert.Equal(t, "z", tb.At(1).NodeID, "entries are sorted by node ID")
	assert.Equal(t, []string{"x", "y"}, tb.Roles())
	k := keys(t)
	mixed := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[0].PoP}, {NodeID: "b", Role: "r", Stake: 1}}
	_, err = NewTable(mixed)
	assert.Error(t, err, "a table with keys for some nodes only")
	wrongPoP := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[1].PoP}}
	_, err = NewTable(wrongPoP)
	assert.ErrorIs(t, err, signal.ErrBadPossession, "another key's proof of possession")
	noPoP := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey}}
	_, err = NewTable(noPoP)
	assert.Error(t, err, "missing proof of possession")
	shared := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[0].PoP},
		{NodeID: "b", Role: "r", Stake: 1, StakingKey: k.entries[1].StakingKey, PoP: k.entries[1].PoP},
		{NodeID: "c", Role: "s", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[0].PoP}}
	_, err = NewTable(shared)
	assert.ErrorContains(t, err, `nodes "a" and "c" have the same staking key`, "one key for two nodes")
	_, err = NewTable(shared, TrustPossession())
	assert.ErrorContains(t, err, `nodes "a" and "c" have the same staking key`, "checked with trusted proofs too")
}

func TestLookupHint(t *testing.T) {
	tb := mustTable(t, Identity{NodeID: "c", Role: "y", Stake: 3}, Identity{NodeID: "a", Role: "x", Stake: 1},
		Identity{NodeID: "b", Role: "x", Stake: 2})
	assert.Equal(t, "y", tb.Role(2), "entry 2 is c")
	for _, node := range []string{"a", "b", "c", "d", ""} {
		want, wantOK := tb.Lookup(node)
		for hint := -2; hint <= 4; hint++ {
			got, ok := tb.LookupHint(node, hint)
			assert.Equal(t, wantOK, ok, "node %q, hint %d", node, hint)
			assert.Equal(t, want, got, "node %q, hint %d: the hint must not change the answer", node, hint)
		}
	}
}

// mustTable builds a table the test needs.
func mustTable(t testing.TB, ids ...Identity) *Table {
	t.Helper()
	tb, err := NewTable(ids)
	require.NoError(t, err)
	return tb
}

func TestScheduleTableAt(t *testing.T) {
	a := mustTable(t, Identity{NodeID: "a", Role: "r", Stake: 1})
	b := mustTable(t, Identity{NodeID: "b", Role: "r", Stake: 1})
	s, err := NewSchedule([]ScheduleEntry{{FromEpoch: 2, Table: a}, {FromEpoch: 5, Table: b}})
	require.NoError(t, err)
	for e, want := range map[uint64]int{0: 0, 1: 0, 2: 1, 4: 1, 5: 1, 1000: 1} {
		assert.Equal(t, want, s.TableAt(e).Len(), "entries of epoch %d's table", e)
	}
	assert.Same(t, a, s.TableAt(4))
	assert.Same(t, b, s.TableAt(5))
	_, err = NewSchedule([]ScheduleEntry{{FromEpoch: 2, Table: a}, {FromEpoch: 2, Table: b}})
	assert.Error(t, err, "an out of order schedule")

	entries := s.Entries()
	assert.Equal(t, []ScheduleEntry{{FromEpoch: 2, Table: a}, {FromEpoch: 5, Table: b}}, entries)
	entries[0].FromEpoch = 9
	assert.Equal(t, uint64(2), s.Entries()[0].FromEpoch, "Entries returns a copy")
}

func TestTally(t *testing.T) {
	tb := mustTable(t, Identity{NodeID: "a", Role: "x", Stake: 10}, Identity{NodeID: "b", Role: "x", Stake: 20}, Identity{NodeID: "c", Role: "y", Stake: 30})
	tl := NewTally(tb)
	require.True(t, tl.Add(0), "first add")
	require.False(t, tl.Add(0), "the same signer again")
	require.True(t, tl.Add(2))
	c := tl.Clone()
	c.Add(1)
	// The clone is independent.
	assert.Equal(t, uint64(10), tl.Ready("x"))
	assert.Equal(t, uint64(30), c.Ready("x"))
	assert.Equal(t, uint64(40), tl.ReadyTotal())
	assert.Equal(t, 2, tl.Count())
	assert.True(t, tl.Meets(Threshold{1, 2}, []string{"y"}))
	assert.False(t, tl.Meets(Threshold{1, 2}, []string{"x", "y"}))
	assert.True(t, c.Meets(TwoThirds, []string{"x", "y"}))
	assert.False(t, tl.Meets(Threshold{1, 2}, []string{"absent"}), "a role with no stake is never satisfied")
	back, err := TallyFromBitmap(tb, c.Signers())
	require.NoError(t, err)
	assert.Equal(t, uint64(60), back.ReadyTotal())
}

// fixture: n keyed identities (PoPs real), built once.
type keyed struct {
	sks     []signal.PrivateKey
	entries []Identity
}

var (
	keyCache   = map[int]*keyed{}
	keyCacheMu sync.Mutex
)

func keysN(t testing.TB, n int) *keyed {
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	if k := keyCache[n]; k != nil {
		return k
	}
	k := &keyed{}
	for i := range n {
		sk, err := signal.GenerateKey(bytes.Repeat([]byte(fmt.Sprintf("k%06d|", i)), 5))
		require.NoError(t, err)
		pop, err := signal.ProvePossession(sk)
		require.NoError(t, err)
		k.sks = append(k.sks, sk)
		k.entries = append(k.entries, Identity{NodeID: fmt.Sprintf("node-%06d", i), Role: "consensus", Stake: 10,
			StakingKey: sk.PublicKey().Encode(), PoP: pop})
	}
	keyCache[n] = k
	return k
}

func keys(t testing.TB) *keyed { return keysN(t, 8) }

func certFor(t testing.TB, k *keyed, table *Table, signers []int) Certificate {
	t.Helper()
	var atts []signal.Attestation
	var dep signal.DeploymentID
	dep[3] = 7
	for _, i := range signers {
		a, err := signal.SignReadiness(k.sks[i], "chain", dep, 4, k.entries[i].NodeID)
		require.NoError(t, err)
		atts = append(atts, a)
	}
	c, err := BuildCertificate(table, atts)
	require.NoError(t, err)
	return c
}

func TestCertificate(t *testing.T) {
	k := keys(t)
	table, err := NewTable(k.entries)
	require.NoError(t, err)
	for _, signers := range [][]int{{0}, {1, 2, 3}, {0, 1, 2, 3, 4, 5, 6}, {0, 1, 2, 3, 4, 5, 6, 7}} {
		c := certFor(t, k, table, signers)
		got, err := c.Verify(table)
		require.NoError(t, err, "signers %v", signers)
		assert.Equal(t, signers, got, "verified signers")
		got, err = c.VerifyNaive(table)
		require.NoError(t, err, "signers %v, naive", signers)
		assert.Equal(t, signers, got, "verified signers, naive")
		back, err := DecodeCertificate(c.Encode())
		require.NoError(t, err, "signers %v: decode", signers)
		assert.Equal(t, c.Encode(), back.Encode(), "signers %v: round trip", signers)
	}
	c := certFor(t, k, table, []int{0, 1, 2, 3, 4})
	claimsMore := c
	claimsMore.Signers = c.Signers.Clone()
	claimsMore.Signers.Set(6)
	claimsFewer := certFor(t, k, table, []int{0, 1, 2, 3})
	claimsFewer.Signature = c.Signature
	otherEpoch := c
	otherEpoch.Epoch++
	otherChain := c
	otherChain.ChainID = "chain2"
	short := c
	short.Signers = c.Signers[:0]
	empty := c
	empty.Signers = NewBitmap(table.Len())
	for name, bad := range map[string]Certificate{"claims a signer who did not sign": claimsMore,
		"omits a signer": claimsFewer, "other epoch": otherEpoch, "other chain": otherChain,
		"bitmap of the wrong size": short, "no signers": empty} {
		_, err := bad.Verify(table)
		assert.ErrorIs(t, err, ErrBadCertificate, name)
	}
	keyless := mustTable(t, Identity{NodeID: "a", Role: "r", Stake: 1})
	_, err = c.Verify(keyless)
	assert.Error(t, err, "verified against a keyless table")
	_, err = BuildCertificate(table, nil)
	assert.Error(t, err, "an empty certificate")
}

func FuzzDecodeCertificate(f *testing.F) {
	k := keys(f)
	table := mustTable(f, k.entries...)
	f.Add(certFor(f, k, table, []int{0, 2, 5}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCertificate(data)
		if err != nil {
			return
		}
		require.True(t, bytes.Equal(c.Encode(), data), "decoded certificate does not re-encode to its input")
		// Whatever decodes verifies without panicking; a failure is ErrBadCertificate.
		if _, err := c.Verify(table); err != nil {
			require.ErrorIs(t, err, ErrBadCertificate)
		}
	})
}

// 10,000 signers, a third missing: the cached aggregate key minus the
// non-signers (target ≤ 10 ms), beside summing the signers' keys each time.
var bench10k struct {
	once  sync.Once
	table *Table
	cert  Certificate
}

func setup10k(b *testing.B) {
	bench10k.once.Do(func() {
		k := keysN(b, 10000)
		// Proofs were made here; checking 10,000 of them is the table's
		// one-time cost per epoch, measured elsewhere.
		table, err := NewTable(k.entries, TrustPossession())
		if err != nil {
			b.Fatal(err)
		}
		var signers []int
		for i := range 10000 {
			if i%3 != 0 {
				signers = append(signers, i)
			}
		}
		bench10k.table, bench10k.cert = table, certFor(b, k, table, signers)
	})
}

func BenchmarkVerifyCertificate10k(b *testing.B) {
	setup10k(b)
	b.ResetTimer()
	for range b.N {
		if _, err := bench10k.cert.Verify(bench10k.table); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCertificate10kNaive(b *testing.B) {
	setup10k(b)
	b.ResetTimer()
	for range b.N {
		if _, err := bench10k.cert.VerifyNaive(bench10k.table); err != nil {
			b.Fatal(err)
		}
	}
}
