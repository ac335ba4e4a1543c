package quorum

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

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
		if want := lhs.Cmp(rhs) > 0; th.Exceeds(ready, total) != want {
			t.Fatalf("%v.Exceeds(%d, %d) = %v, want %v", th, ready, total, !want, want)
		}
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]Threshold{"2/3": {2, 3}, "0/0": {0, 0}, "5/4": {5, 4}, "18446744073709551615/1": {math.MaxUint64, 1}} {
		got, err := ParseThreshold(in)
		if err != nil || got != want {
			t.Errorf("ParseThreshold(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "2", "2/", "/3", "2/3/4", "-1/3", "+1/3", " 1/3", "0.6/1", "a/b", "18446744073709551616/2"} {
		if _, err := ParseThreshold(in); !errors.Is(err, ErrThresholdSyntax) {
			t.Errorf("ParseThreshold(%q) accepted", in)
		}
	}
	if (Threshold{2, 3}).Valid() != true || (Threshold{3, 3}).Valid() || (Threshold{0, 3}).Valid() {
		t.Error("Valid")
	}
}

func TestBitmap(t *testing.T) {
	b := NewBitmap(10)
	if len(b) != 2 {
		t.Fatalf("len %d", len(b))
	}
	b.Set(0)
	b.Set(9)
	if !b.Has(0) || !b.Has(9) || b.Has(5) || b.Count() != 2 {
		t.Fatal("set/has/count")
	}
	if err := b.CheckSize(10); err != nil {
		t.Fatal(err)
	}
	if err := b.CheckSize(9); err == nil {
		t.Fatal("bit 9 set in a 9-entry bitmap accepted")
	}
	if err := b.CheckSize(17); err == nil {
		t.Fatal("wrong length accepted")
	}
}

func TestTableValidation(t *testing.T) {
	if _, err := NewTable([]Identity{{NodeID: "a", Role: "r", Stake: 1}, {NodeID: "a", Role: "r", Stake: 1}}); err == nil || !strings.Contains(err.Error(), `"a" appears twice`) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := NewTable([]Identity{{NodeID: "", Role: "r"}}); err == nil {
		t.Error("empty node ID accepted")
	}
	if _, err := NewTable([]Identity{{NodeID: "a", Role: "x", Stake: math.MaxUint64}, {NodeID: "b", Role: "y", Stake: 1}}); !errors.Is(err, ErrStakeOverflow) {
		t.Errorf("overflow across roles: %v", err)
	}
	tb, err := NewTable([]Identity{{NodeID: "z", Role: "x", Stake: math.MaxUint64 - 1}, {NodeID: "b", Role: "y", Stake: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if tb.TotalStake() != math.MaxUint64 || tb.RoleStake("x") != math.MaxUint64-1 || tb.RoleStake("none") != 0 {
		t.Error("totals")
	}
	if i, ok := tb.Lookup("b"); !ok || i != 0 || tb.At(1).NodeID != "z" {
		t.Error("entries must be sorted by node ID")
	}
	if strings.Join(tb.Roles(), ",") != "x,y" {
		t.Errorf("roles %v", tb.Roles())
	}
	k := keys(t)
	mixed := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[0].PoP}, {NodeID: "b", Role: "r", Stake: 1}}
	if _, err := NewTable(mixed); err == nil {
		t.Error("a table with keys for some nodes only accepted")
	}
	wrongPoP := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[1].PoP}}
	if _, err := NewTable(wrongPoP); !errors.Is(err, signal.ErrBadPossession) {
		t.Errorf("another key's proof of possession: %v", err)
	}
	noPoP := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey}}
	if _, err := NewTable(noPoP); err == nil {
		t.Error("missing proof of possession accepted")
	}
	// One staking key under two node IDs would count one signature twice.
	sameKey := []Identity{{NodeID: "a", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[0].PoP},
		{NodeID: "b", Role: "r", Stake: 1, StakingKey: k.entries[0].StakingKey, PoP: k.entries[0].PoP}}
	if _, err := NewTable(sameKey); err == nil || !strings.Contains(err.Error(), `already belongs to node "a"`) {
		t.Errorf("duplicate staking key: %v", err)
	}
}

func TestScheduleTableAt(t *testing.T) {
	a, _ := NewTable([]Identity{{NodeID: "a", Role: "r", Stake: 1}})
	b, _ := NewTable([]Identity{{NodeID: "b", Role: "r", Stake: 1}})
	s, err := NewSchedule([]ScheduleEntry{{FromEpoch: 2, Table: a}, {FromEpoch: 5, Table: b}})
	if err != nil {
		t.Fatal(err)
	}
	for e, want := range map[uint64]int{0: 0, 1: 0, 2: 1, 4: 1, 5: 1, 1000: 1} {
		if got := s.TableAt(e).Len(); got != want {
			t.Errorf("epoch %d: table of %d", e, got)
		}
	}
	if s.TableAt(4) != a || s.TableAt(5) != b {
		t.Error("wrong table")
	}
	if _, err := NewSchedule([]ScheduleEntry{{FromEpoch: 2, Table: a}, {FromEpoch: 2, Table: b}}); err == nil {
		t.Error("out of order schedule accepted")
	}
}

func TestTally(t *testing.T) {
	tb, _ := NewTable([]Identity{{NodeID: "a", Role: "x", Stake: 10}, {NodeID: "b", Role: "x", Stake: 20}, {NodeID: "c", Role: "y", Stake: 30}})
	tl := NewTally(tb)
	if !tl.Add(0) || tl.Add(0) || !tl.Add(2) {
		t.Fatal("add")
	}
	c := tl.Clone()
	c.Add(1)
	if tl.Ready("x") != 10 || c.Ready("x") != 30 || tl.ReadyTotal() != 40 || tl.Count() != 2 {
		t.Fatal("clone must be independent")
	}
	if !tl.Meets(Threshold{1, 2}, []string{"y"}) || tl.Meets(Threshold{1, 2}, []string{"x", "y"}) || !c.Meets(TwoThirds, []string{"x", "y"}) {
		t.Fatal("meets by role")
	}
	if tl.Meets(Threshold{1, 2}, []string{"absent"}) {
		t.Fatal("a role with no stake must never be satisfied")
	}
	back, err := TallyFromBitmap(tb, c.Signers())
	if err != nil || back.ReadyTotal() != 60 {
		t.Fatal("from bitmap")
	}
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
		if err != nil {
			t.Fatal(err)
		}
		pop, err := signal.ProvePossession(sk)
		if err != nil {
			t.Fatal(err)
		}
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
		if err != nil {
			t.Fatal(err)
		}
		atts = append(atts, a)
	}
	c, err := BuildCertificate(table, atts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertificate(t *testing.T) {
	k := keys(t)
	table, err := NewTable(k.entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, signers := range [][]int{{0}, {1, 2, 3}, {0, 1, 2, 3, 4, 5, 6}, {0, 1, 2, 3, 4, 5, 6, 7}} {
		c := certFor(t, k, table, signers)
		got, err := c.Verify(table)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(signers) {
			t.Fatalf("signers %v: verified %v, %v", signers, got, err)
		}
		if got, err := c.VerifyNaive(table); err != nil || fmt.Sprint(got) != fmt.Sprint(signers) {
			t.Fatalf("naive: %v %v", got, err)
		}
		back, err := DecodeCertificate(c.Encode())
		if err != nil || !bytes.Equal(back.Encode(), c.Encode()) {
			t.Fatalf("round trip: %v", err)
		}
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
		if _, err := bad.Verify(table); !errors.Is(err, ErrBadCertificate) {
			t.Errorf("%s: verified (%v)", name, err)
		}
	}
	keyless, _ := NewTable([]Identity{{NodeID: "a", Role: "r", Stake: 1}})
	if _, err := c.Verify(keyless); err == nil {
		t.Error("verified against a keyless table")
	}
	if _, err := BuildCertificate(table, nil); err == nil {
		t.Error("empty certificate built")
	}
}

func FuzzDecodeCertificate(f *testing.F) {
	k := keys(f)
	table, _ := NewTable(k.entries)
	f.Add(certFor(f, k, table, []int{0, 2, 5}).Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCertificate(data)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Encode(), data) {
			t.Fatal("decoded certificate does not re-encode to its input")
		}
		_, _ = c.Verify(table) // must not panic
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
