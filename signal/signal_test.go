package signal

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fr"
	"github.com/onflow/crypto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/canon"
)

func seed(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("seed-%04d|", i)), 4) }

func mustKey(t testing.TB, i int) PrivateKey {
	t.Helper()
	k, err := GenerateKey(seed(i))
	require.NoError(t, err)
	return k
}

var dep = DeploymentID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

func TestKeys(t *testing.T) {
	a, b := mustKey(t, 1), mustKey(t, 1)
	assert.True(t, a.PublicKey().Equal(b.PublicKey()), "same seed, different keys")
	assert.False(t, mustKey(t, 2).PublicKey().Equal(a.PublicKey()), "different seeds, same key")
	_, err := GenerateKey(make([]byte, 31))
	assert.Error(t, err, "short seed accepted")

	back, err := DecodePrivateKey(a.Encode())
	if assert.NoError(t, err, "private key round trip") {
		assert.True(t, back.PublicKey().Equal(a.PublicKey()), "private key round trip")
	}
	pk, err := DecodePublicKey(a.PublicKey().Encode())
	if assert.NoError(t, err, "public key round trip") {
		assert.True(t, pk.Equal(a.PublicKey()), "public key round trip")
	}
	_, err = DecodePublicKey(crypto.IdentityBLSPublicKey().Encode())
	assert.ErrorIs(t, err, ErrIdentityKey, "identity key")
	_, err = DecodePublicKey([]byte("short"))
	assert.Error(t, err, "garbage key accepted")

	text, err := a.PublicKey().MarshalText()
	require.NoError(t, err)
	var fromText PublicKey
	if assert.NoError(t, fromText.UnmarshalText(text), "text round trip") {
		assert.True(t, fromText.Equal(a.PublicKey()), "text round trip")
	}
	err = fromText.UnmarshalText([]byte(hex.EncodeToString(crypto.IdentityBLSPublicKey().Encode())))
	assert.ErrorIs(t, err, ErrIdentityKey, "identity key from text")
}

func TestProofOfPossession(t *testing.T) {
	a, b := mustKey(t, 1), mustKey(t, 2)
	popA, err := ProvePossession(a)
	require.NoError(t, err)
	require.NoError(t, VerifyPossession(a.PublicKey(), popA), "own proof")
	popB, err := ProvePossession(b)
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		pk  PublicKey
		pop []byte
	}{
		"another key's proof": {a.PublicKey(), popB},
		"missing proof":       {a.PublicKey(), nil},
		"garbage proof":       {a.PublicKey(), bytes.Repeat([]byte{7}, 48)},
		"no key":              {PublicKey{}, popA},
		"identity key":        {wrapKey(crypto.IdentityBLSPublicKey()), popA},
	} {
		assert.ErrorIs(t, VerifyPossession(tc.pk, tc.pop), ErrBadPossession, name)
	}
	// A proof of possession is not a readiness signature, nor the reverse.
	assert.Error(t, Verify(a.PublicKey(), a.PublicKey().Encode(), popA),
		"a proof of possession verified as an ordinary signature")
}

func TestReadinessMessageBytes(t *testing.T) {
	got := ReadinessMessage("flow-1", dep, 0x0102030405060708)
	want := hex.EncodeToString([]byte("quorumgate/readiness/v1")) + hex.EncodeToString([]byte("flow-1")) +
		"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20" + "0102030405060708"
	assert.Equal(t, want, hex.EncodeToString(got))
}

func TestAttestation(t *testing.T) {
	k := mustKey(t, 1)
	a, err := SignReadiness(k, "chain-a", dep, 7, "node-1")
	require.NoError(t, err)
	require.NoError(t, a.Verify(k.PublicKey()))
	mutate := func(f func(*Attestation)) Attestation {
		c := a
		c.Signature = slices.Clone(a.Signature)
		f(&c)
		return c
	}
	wrongDomain := mustSign(t, k, append([]byte("quorumgate/readiness/v2"), a.Message()[len(ReadinessDomain):]...))
	for name, bad := range map[string]Attestation{
		"tampered signature": mutate(func(c *Attestation) { c.Signature[5] ^= 0x10 }),
		"wrong epoch":        mutate(func(c *Attestation) { c.Epoch++ }),
		"wrong chain":        mutate(func(c *Attestation) { c.ChainID = "chain-b" }),
		"wrong deployment":   mutate(func(c *Attestation) { c.Deployment[0] ^= 1 }),
		"wrong domain":       mutate(func(c *Attestation) { c.Signature = wrongDomain }),
		"truncated":          mutate(func(c *Attestation) { c.Signature = c.Signature[:40] }),
	} {
		assert.ErrorIs(t, bad.Verify(k.PublicKey()), ErrBadSignature, name)
	}
	assert.ErrorIs(t, a.Verify(mustKey(t, 2).PublicKey()), ErrBadSignature, "wrong key")
	// Signers of one (chain, deployment, epoch) sign the same bytes: they aggregate.
	b, err := SignReadiness(mustKey(t, 2), "chain-a", dep, 7, "node-2")
	require.NoError(t, err)
	agg, err := AggregateSignatures([][]byte{a.Signature, b.Signature})
	require.NoError(t, err)
	aggKey, err := AggregateKeys([]PublicKey{k.PublicKey(), mustKey(t, 2).PublicKey()})
	require.NoError(t, err)
	assert.NoError(t, VerifyAggregate(aggKey, a.Message(), agg), "aggregate")
	assert.Error(t, VerifyAggregate(k.PublicKey(), a.Message(), agg), "aggregate verified against one key")
	_, err = SignReadiness(k, "", dep, 1, "x")
	assert.Error(t, err, "empty chain ID accepted")
}

func TestAttestationEncoding(t *testing.T) {
	a, err := SignReadiness(mustKey(t, 1), "chain-a", dep, 7, "node-1")
	require.NoError(t, err)
	enc := a.Encode()
	back, err := DecodeAttestation(enc)
	require.NoError(t, err, "round trip")
	assert.Equal(t, enc, back.Encode(), "round trip")
	assert.Equal(t, "node-1", back.Signer)
	type extra struct {
		Attestation
		X int `cbor:"9,keyasint"`
	}
	unknown, err := canon.Encode(struct {
		ChainID    string       `cbor:"1,keyasint"`
		Deployment DeploymentID `cbor:"2,keyasint"`
		Epoch      uint64       `cbor:"3,keyasint"`
		Signer     string       `cbor:"4,keyasint"`
		Signature  []byte       `cbor:"5,keyasint"`
		X          int          `cbor:"9,keyasint"`
	}{a.ChainID, a.Deployment, a.Epoch, a.Signer, a.Signature, 1})
	require.NoError(t, err)
	short := a
	short.Signature = a.Signature[:47]
	noSigner := a
	noSigner.Signer = ""
	// Non-canonical: the epoch 7 as a two-byte integer (0x19 0x0007) instead of one byte.
	nonCanon := bytes.Replace(enc, []byte{0x03, 0x07}, []byte{0x03, 0x19, 0x00, 0x07}, 1)
	for name, b := range map[string][]byte{
		"trailing bytes": append(slices.Clone(enc), 0),
		"unknown field":  unknown,
		"non-canonical":  nonCanon,
		"short sig":      short.Encode(),
		"empty signer":   noSigner.Encode(),
		"empty":          nil,
	} {
		_, err := DecodeAttestation(b)
		assert.Error(t, err, "%s: accepted", name)
	}
}

// batchFixture: 1,000 keys and their signatures on one message, made once.
var batchFixture struct {
	once sync.Once
	msg  []byte
	pks  []PublicKey
	sigs [][]byte
}

func fixture(t testing.TB) ([]byte, []PublicKey, [][]byte) {
	batchFixture.once.Do(func() {
		batchFixture.msg = ReadinessMessage("bench", dep, 3)
		for i := range 1000 {
			k := mustKey(t, i)
			s := mustSign(t, k, batchFixture.msg)
			batchFixture.pks = append(batchFixture.pks, k.PublicKey())
			batchFixture.sigs = append(batchFixture.sigs, s)
		}
	})
	sigs := make([][]byte, len(batchFixture.sigs))
	for i, s := range batchFixture.sigs {
		sigs[i] = slices.Clone(s)
	}
	return batchFixture.msg, batchFixture.pks, sigs
}

func TestBatchVerify(t *testing.T) {
	msg, pks, sigs := fixture(t)
	bad, err := BatchVerify(msg, pks, sigs)
	require.NoError(t, err, "all good")
	assert.Nil(t, bad, "all good")
	// One bad signature in 1,000: a valid signature of another message.
	sigs[417] = mustSign(t, mustKey(t, 417), []byte("something else"))
	bad, err = BatchVerify(msg, pks, sigs)
	require.NoError(t, err)
	assert.Equal(t, []int{417}, bad, "one bad")
	// At the edges, and malformed ones.
	_, _, sigs = fixture(t)
	sigs[0] = mustSign(t, mustKey(t, 0), []byte("not the message"))
	sigs[999] = mustSign(t, mustKey(t, 5), msg) // valid, but for another signer's key
	sigs[500] = sigs[500][:10]
	sigs[501] = bytes.Repeat([]byte{0xff}, 48)
	bad, err = BatchVerify(msg, pks, sigs)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 500, 501, 999}, bad, "edges")
	// Two signatures swapped between their signers sum to the same valid
	// multi-signature; the weighted check finds both.
	_, _, sigs = fixture(t)
	sigs[0], sigs[999] = sigs[999], sigs[0]
	bad, err = BatchVerify(msg, pks, sigs)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 999}, bad, "swapped pair")
	_, err = BatchVerify(msg, pks[:2], sigs[:3])
	assert.Error(t, err, "length mismatch accepted")
	bad, err = BatchVerify(msg, nil, nil)
	assert.NoError(t, err, "empty batch")
	assert.Nil(t, bad, "empty batch")
}

// g1 decodes a signature into a curve point, for crafting sums in tests.
func g1(t testing.TB, sig []byte) bls12381.G1Affine {
	t.Helper()
	var p bls12381.G1Affine
	_, err := p.SetBytes(sig)
	require.NoError(t, err)
	return p
}

// The regression the issue confirmed against plain aggregation: keys k1, k2
// with signatures (s1+s2, identity) sum to s1+s2, a valid multi-signature,
// so no bad index was found and honest relays forwarded both.
func TestBatchVerifyCancellingPair(t *testing.T) {
	msg := ReadinessMessage("cancel", dep, 1)
	k1, k2, k3 := mustKey(t, 1), mustKey(t, 2), mustKey(t, 3)
	s1, err := Sign(k1, msg)
	require.NoError(t, err)
	s2, err := Sign(k2, msg)
	require.NoError(t, err)
	p1, p2 := g1(t, s1), g1(t, s2)
	var sum bls12381.G1Affine
	sum.Add(&p1, &p2)
	sumBytes := sum.Bytes()
	pks := []PublicKey{k1.PublicKey(), k2.PublicKey()}

	bad, err := BatchVerify(msg, pks, [][]byte{sumBytes[:], identitySignature})
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1}, bad, "(s1+s2, identity)")

	// The same without the identity: (s1+Δ, s2−Δ) for Δ a valid point of the
	// group (here k3's signature), neither signature is the identity, and
	// the plain aggregate of the two is still s1+s2.
	delta := g1(t, mustSign(t, k3, msg))
	var a, b bls12381.G1Affine
	a.Add(&p1, &delta)
	b.Sub(&p2, &delta)
	aBytes, bBytes := a.Bytes(), b.Bytes()
	agg, err := AggregateSignatures([][]byte{aBytes[:], bBytes[:]})
	require.NoError(t, err)
	aggKey, err := AggregateKeys(pks)
	require.NoError(t, err)
	require.NoError(t, VerifyAggregate(aggKey, msg, agg), "precondition: the pair cancels in a plain aggregate")
	bad, err = BatchVerify(msg, pks, [][]byte{aBytes[:], bBytes[:]})
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1}, bad, "(s1+Δ, s2−Δ)")

	// Hidden among 1,000 good ones, at both ends.
	msg2, pks2, sigs := fixture(t)
	r0 := g1(t, sigs[0])
	r9 := g1(t, sigs[999])
	a.Add(&r0, &delta)
	b.Sub(&r9, &delta)
	aBytes, bBytes = a.Bytes(), b.Bytes()
	sigs[0], sigs[999] = aBytes[:], bBytes[:]
	bad, err = BatchVerify(msg2, pks2, sigs)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 999}, bad, "cancelling pair among 1,000")
}

func mustSign(t testing.TB, k PrivateKey, msg []byte) []byte {
	t.Helper()
	s, err := Sign(k, msg)
	require.NoError(t, err)
	return s
}

func TestIdentitySignatureRejectedAtDecode(t *testing.T) {
	a, err := SignReadiness(mustKey(t, 1), "chain-a", dep, 7, "node-1")
	require.NoError(t, err)
	a.Signature = identitySignature
	_, err = DecodeAttestation(a.Encode())
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrBadSignature)
	assert.Contains(t, err.Error(), "identity")
}

// The weighted sum agrees with onflow/crypto's encoding: a key decoded into
// gnark-crypto's form and encoded again is the same bytes.
func TestKeyMemoRoundTrip(t *testing.T) {
	_, _, _, g2 := bls12381.Generators()
	for i := range 32 {
		sk := mustKey(t, i)
		k := sk.PublicKey()
		m := k.prepared()
		require.NoError(t, m.err)
		enc := m.pt.Bytes()
		assert.Equal(t, k.Crypto().Encode(), swapG2Halves(enc), "key %d", i)
		// And the point is the key: sk·g2 computed by gnark-crypto.
		var want bls12381.G2Affine
		want.ScalarMultiplication(&g2, new(big.Int).SetBytes(sk.Encode()))
		assert.True(t, want.Equal(&m.pt), "key %d", i)
	}
}

func FuzzDecodeAttestation(f *testing.F) {
	a, err := SignReadiness(mustKey(f, 1), "chain-a", dep, 7, "node-1")
	require.NoError(f, err)
	f.Add(a.Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeAttestation(data)
		if err != nil {
			return
		}
		require.Equal(t, data, a.Encode(), "decoded attestation does not re-encode to its input")
	})
}

func FuzzDecodePublicKey(f *testing.F) {
	f.Add(mustKey(f, 1).PublicKey().Encode())
	f.Add(crypto.IdentityBLSPublicKey().Encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		pk, err := DecodePublicKey(data)
		if err != nil {
			return
		}
		require.Equal(t, data, pk.Encode(), "decoded key does not re-encode to its input")
	})
}

// g1Cofactor is the curve's order over the signature group's:
// 3·11²·10177²·859267²·52437899².
var g1Cofactor, _ = new(big.Int).SetString("396c8c005555e1568c00aaab0000aaab", 16)

// smallOrder returns a point of order 3 of the curve, outside the
// signature group: [q·h/3]P for a point P of the curve, q the group's order
// and h the cofactor. The pairing cannot see it, and a weighted sum drops
// it whenever the weight is a multiple of 3.
func smallOrder(t testing.TB) bls12381.G1Affine {
	t.Helper()
	for x := byte(1); x != 0; x++ {
		enc := make([]byte, 48)
		enc[0], enc[47] = 0x80, x // compressed, x = x
		var p bls12381.G1Affine
		if bls12381.NewDecoder(bytes.NewReader(enc), bls12381.NoSubgroupChecks()).Decode(&p) != nil {
			continue
		}
		var tor bls12381.G1Affine
		k := new(big.Int).Div(g1Cofactor, big.NewInt(3))
		tor = mulPlain(p, k.Mul(k, fr.Modulus()))
		if !tor.IsInfinity() {
			require.False(t, tor.IsInSubGroup())
			three := mulPlain(tor, big.NewInt(3))
			require.True(t, three.IsInfinity(), "order 3")
			return tor
		}
	}
	t.Fatal("no point found")
	return bls12381.G1Affine{}
}

// A genuine signature plus a small-order component, and a pair whose
// small-order components cancel in a plain sum, hidden among 1,000 (where
// the subgroup is checked by random subset sums) and in a small batch
// (checked point by point): the pairing cannot see them, the subgroup
// check must.
func TestBatchVerifySmallOrderComponents(t *testing.T) {
	tor := smallOrder(t)
	shift := func(sig []byte, sub bool) []byte {
		p := g1(t, sig)
		if sub {
			p.Sub(&p, &tor)
		} else {
			p.Add(&p, &tor)
		}
		require.False(t, p.IsInSubGroup())
		b := p.Bytes()
		return b[:]
	}
	msg, pks, sigs := fixture(t)
	sigs[417] = shift(sigs[417], false)
	bad, err := BatchVerify(msg, pks, sigs)
	require.NoError(t, err)
	assert.Equal(t, []int{417}, bad, "one among 1,000")

	_, _, sigs = fixture(t)
	sigs[0], sigs[999] = shift(sigs[0], false), shift(sigs[999], true)
	bad, err = BatchVerify(msg, pks, sigs)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 999}, bad, "cancelling pair among 1,000")

	_, _, sigs = fixture(t)
	small := [][]byte{shift(sigs[0], false), sigs[1], shift(sigs[2], true)}
	bad, err = BatchVerify(msg, pks[:3], small)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 2}, bad, "small batch")

	// A batch of one takes the single-signature path: the same verdict.
	bad, err = BatchVerify(msg, pks[:1], [][]byte{shift(sigs[0], false)})
	require.NoError(t, err)
	assert.Equal(t, []int{0}, bad, "alone")
}

// A batch of one signature is checked by Verify alone; every kind of bad
// signature is still found.
func TestBatchVerifyOne(t *testing.T) {
	msg, pks, sigs := fixture(t)
	for name, tc := range map[string]struct {
		pk   PublicKey
		sig  []byte
		want []int
	}{
		"good":             {pks[3], sigs[3], nil},
		"another signer's": {pks[3], sigs[4], []int{0}},
		"another message":  {pks[3], mustSign(t, mustKey(t, 3), []byte("else")), []int{0}},
		"truncated":        {pks[3], sigs[3][:47], []int{0}},
		"not a point":      {pks[3], bytes.Repeat([]byte{0xff}, 48), []int{0}},
		"the identity":     {pks[3], identitySignature, []int{0}},
		"no key":           {PublicKey{}, sigs[3], []int{0}},
	} {
		bad, err := BatchVerify(msg, []PublicKey{tc.pk}, [][]byte{tc.sig})
		require.NoError(t, err, name)
		assert.Equal(t, tc.want, bad, name)
	}
}

// mulPlain is [k]p by double-and-add: gnark-crypto's scalar multiplication
// assumes a point of the group (it reduces k by the group's order).
func mulPlain(p bls12381.G1Affine, k *big.Int) bls12381.G1Affine {
	var acc bls12381.G1Jac
	for i := k.BitLen() - 1; i >= 0; i-- {
		acc.DoubleAssign()
		if k.Bit(i) == 1 {
			acc.AddMixed(&p)
		}
	}
	var out bls12381.G1Affine
	out.FromJacobian(&acc)
	return out
}

// The subset sums find a point with a small-order component among many,
// alone or as a pair whose components cancel in a plain sum, whatever
// their place (the weights of the pairing check would miss them a third
// of the time).
func TestInSubgroupBySubsets(t *testing.T) {
	tor := smallOrder(t)
	_, _, sigs := fixture(t)
	pts := make([]bls12381.G1Affine, len(sigs))
	idx := make([]int, len(sigs))
	for i, s := range sigs {
		pts[i], idx[i] = g1(t, s), i
	}
	b := batch{sigs: sigs, pts: pts}
	in, out := b.inSubgroup(slices.Clone(idx))
	assert.Len(t, in, len(sigs), "all in")
	assert.Nil(t, out, "all in")
	for _, bad := range [][]int{{0}, {999}, {3, 700}, {1, 2, 3}} {
		b := batch{sigs: slices.Clone(sigs), pts: slices.Clone(pts)}
		for n, i := range bad {
			if n%2 == 0 {
				b.pts[i].Add(&b.pts[i], &tor)
			} else {
				b.pts[i].Sub(&b.pts[i], &tor)
			}
			enc := b.pts[i].Bytes()
			b.sigs[i] = enc[:]
		}
		in, out := b.inSubgroup(slices.Clone(idx))
		assert.Equal(t, bad, out, "bad %v", bad)
		assert.Len(t, in, len(sigs)-len(bad), "bad %v", bad)
		// The first 130: the last group of the sums' tables is short.
		if bad[len(bad)-1] < 130 {
			in, out = b.inSubgroup(slices.Clone(idx[:130]))
			assert.Equal(t, bad, out, "bad %v of 130", bad)
			assert.Len(t, in, 130-len(bad), "bad %v of 130", bad)
		}
	}
	for _, n := range []int{129, 130, 131} {
		in, out := b.inSubgroup(slices.Clone(idx[:n]))
		assert.Len(t, in, n, "all in, %d", n)
		assert.Nil(t, out, "all in, %d", n)
	}
}
