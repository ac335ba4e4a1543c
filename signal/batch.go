package signal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/consensys/gnark-crypto/ecc"
	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fr"
	"github.com/onflow/crypto"
)

// BatchVerify checks sigs[i] against pks[i], all on the same msg, and returns
// the sorted indexes of the bad ones (nil when all are good).
//
// It is sound against signatures crafted to cancel out: the plain aggregate
// accepts two invalid signatures (σ₁+Δ, σ₂−Δ) together, because only their
// sum is checked. Instead each signature and its key are weighted by a 64-bit
// coefficient rᵢ and one pairing checks e(Σrᵢσᵢ, g₂) = e(H(m), Σrᵢpkᵢ). The
// coefficients come from a hash of the whole batch (message, every key, every
// signature), so they stay deterministic (the package has no randomness) yet
// cannot be known before the batch is fixed: to make bad signatures pass, a
// forger must hit a 2⁻⁶⁴ chance per batch it tries.
//
// It is optimistic: one check for the whole batch; only when that fails does
// it search, so k bad signatures among n cost about k·(log2(n)+16) checks
// instead of n, and a batch of only bad ones about 1.1 checks each. Malformed signatures (wrong length, the identity, not a point of the
// signature group) are set aside first without a pairing.
//
// err is only for misuse: mismatched lengths.
func BatchVerify(msg []byte, pks []PublicKey, sigs [][]byte) (bad []int, err error) {
	if len(pks) != len(sigs) {
		return nil, fmt.Errorf("batch verify: %d keys but %d signatures", len(pks), len(sigs))
	}
	if len(sigs) == 1 {
		// One signature (gossip's usual batch when readiness trickles in):
		// Verify decodes it and checks its subgroup itself, so decoding it
		// here as well would only double that work.
		if Verify(pks[0], msg, sigs[0]) != nil || IsIdentitySignature(sigs[0]) {
			return []int{0}, nil
		}
		return nil, nil
	}
	b := batch{msg: msg, pks: pks, sigs: sigs, pts: make([]bls12381.G1Affine, len(sigs))}
	var candidates []int
	for i, s := range sigs {
		if pks[i].pk == nil || len(s) != crypto.SignatureLenBLSBLS12381 || IsIdentitySignature(s) {
			bad = append(bad, i)
			continue
		}
		// Decompressing puts the point on the curve; whether it is in the
		// subgroup (without which a small-order component could cancel in
		// the sum) is checked below for the whole batch at once.
		if err := bls12381.NewDecoder(bytes.NewReader(s), bls12381.NoSubgroupChecks()).Decode(&b.pts[i]); err != nil {
			bad = append(bad, i)
			continue
		}
		candidates = append(candidates, i)
	}
	candidates, outside := b.inSubgroup(candidates)
	bad = append(bad, outside...)
	if len(candidates) > 1 {
		b.coefficients(candidates)
	}
	bad = append(bad, b.search(candidates)...)
	slices.Sort(bad)
	return bad, nil
}

// identitySignature is the compressed point at infinity of the signature
// group: it verifies under no key, and adds nothing to an aggregate.
var identitySignature = append([]byte{0xc0}, make([]byte, crypto.SignatureLenBLSBLS12381-1)...)

// IsIdentitySignature reports whether sig is the encoding of the identity.
func IsIdentitySignature(sig []byte) bool { return bytes.Equal(sig, identitySignature) }

// batchDomain separates the coefficients' hash from every other hash.
const batchDomain = "quorumgate/batch-verify/v1\x00"

type batch struct {
	msg   []byte
	pks   []PublicKey
	sigs  [][]byte
	pts   []bls12381.G1Affine // decoded signatures
	coeff []uint64            // rᵢ, set for candidates
}

// coefficients derives rᵢ for the candidates from a hash of the message and
// of every candidate's key and signature, in order.
func (b *batch) coefficients(idx []int) {
	h := sha256.New()
	h.Write([]byte(batchDomain))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b.msg))))
	h.Write(b.msg)
	for _, i := range idx {
		h.Write(b.pks[i].prepared().enc)
		h.Write(b.sigs[i])
	}
	seed := h.Sum(nil)
	b.coeff = make([]uint64, len(b.sigs))
	var block [sha256.Size]byte
	for n, i := range idx {
		if n%4 == 0 {
			block = sha256.Sum256(binary.BigEndian.AppendUint64(slices.Clone(seed), uint64(n/4)))
		}
		r := binary.BigEndian.Uint64(block[8*(n%4):])
		if r == 0 {
			r = 1 // a zero coefficient would drop its signature from the check
		}
		b.coeff[i] = r
	}
}

// subgroupDomain separates the subgroup tests' hash from every other hash.
const subgroupDomain = "quorumgate/batch-subgroup/v1\x00"

// subgroupTests is how many random subset sums inSubgroup checks: each
// misses a point outside the subgroup with probability at most 1/2.
const subgroupTests = 64

// subgroupBatchMin is the batch size from which the subset sums cost less
// than checking every point: the 64 sums cost 64 subgroup checks plus about
// 20 additions a point, one check costs about 63·2 doublings.
const subgroupBatchMin = 128

// inSubgroup splits the decoded signatures of idx into those in the
// signature group and those outside it (a small-order component).
//
// A point's own check costs two 64-bit scalar multiplications, most of a
// batch's verification. Instead 64 subsets of the batch, drawn from a hash
// of every signature (fixed before the subsets are known, like the
// coefficients), are summed and each sum checked: if some point has a
// component T ≠ 0 outside the subgroup, including it or not changes the
// subset's outside component, so each sum is in the subgroup with
// probability at most 1/2 and all 64 with at most 2⁻⁶⁴. Only when a sum
// fails, or for a small batch, is every point checked on its own.
func (b *batch) inSubgroup(idx []int) (in, out []int) {
	if len(idx) >= subgroupBatchMin && b.subsetsInSubgroup(idx) {
		return idx, nil
	}
	in = idx[:0:0]
	for _, i := range idx {
		if b.pts[i].IsInSubGroup() {
			in = append(in, i)
		} else {
			out = append(out, i)
		}
	}
	return in, out
}

// subsetGroup is how many points share a table of their subset sums in
// subsetsInSubgroup: 11 additions and a conversion for 4 points save each
// of the 64 sums 3 of its 4 additions.
const subsetGroup = 4

// subsetsInSubgroup reports whether the 64 random subset sums of idx's
// points are all in the subgroup.
//
// Point n is in subset k when bit k of its mask is set. The points are taken
// 4 at a time: the 15 sums of a group's non-empty subsets are computed once
// (and made affine together, one inversion for the batch), and each subset
// sum adds the one its 4 bits select.
func (b *batch) subsetsInSubgroup(idx []int) bool {
	h := sha256.New()
	h.Write([]byte(subgroupDomain))
	for _, i := range idx {
		h.Write(b.sigs[i])
	}
	seed := h.Sum(nil)
	masks := make([]uint64, len(idx))
	var block [sha256.Size]byte
	for n := range idx {
		if n%4 == 0 {
			block = sha256.Sum256(binary.BigEndian.AppendUint64(slices.Clone(seed), uint64(n/4)))
		}
		masks[n] = binary.BigEndian.Uint64(block[8*(n%4):])
	}
	const width = 1 << subsetGroup
	groups := (len(idx) + subsetGroup - 1) / subsetGroup
	table := make([]bls12381.G1Jac, groups*width) // zero values: the point at infinity
	for g := range groups {
		t := table[g*width : (g+1)*width]
		for j := 0; j < subsetGroup && g*subsetGroup+j < len(idx); j++ {
			p := &b.pts[idx[g*subsetGroup+j]]
			for m := 1 << j; m < 2<<j; m++ {
				t[m] = t[m-1<<j]
				t[m].AddMixed(p)
			}
		}
	}
	affine := bls12381.BatchJacobianToAffineG1(table)
	var sums [subgroupTests]bls12381.G1Jac // zero values: the point at infinity
	for g := range groups {
		var gm [subsetGroup]uint64
		copy(gm[:], masks[g*subsetGroup:])
		for k := range sums {
			sel := 0
			for j := range gm {
				sel |= int(gm[j]>>k&1) << j
			}
			if sel != 0 {
				sums[k].AddMixed(&affine[g*width+sel])
			}
		}
	}
	for k := range sums {
		if !sums[k].IsInSubGroup() {
			return false
		}
	}
	return true
}

// chunk is the group size a large failing batch is cut into: with bad
// signatures spread through a batch (say 1%), bisecting halves re-checks
// large groups that almost all fail; chunks of 64 localize them at once, at
// the price of a few more checks when only one signature is bad.
const chunk = 64

// single is the failing group size below which each signature is checked
// on its own: a group that small and failing is likely a forger's, dense
// with bad signatures, where bisecting costs up to twice as many checks.
const single = 16

// search returns the bad indexes among idx: verify the weighted sum; if it
// fails, cut a large group into chunks, a middling one in halves, and check
// a small one signature by signature.
func (b *batch) search(idx []int) []int {
	if len(idx) == 0 || b.valid(idx) {
		return nil
	}
	if len(idx) == 1 {
		return idx
	}
	if len(idx) <= single {
		var bad []int
		for _, i := range idx {
			if !b.valid([]int{i}) {
				bad = append(bad, i)
			}
		}
		return bad
	}
	var bad []int
	if len(idx) > 4*chunk {
		for lo := 0; lo < len(idx); lo += chunk {
			bad = append(bad, b.search(idx[lo:min(lo+chunk, len(idx))])...)
		}
		return bad
	}
	mid := len(idx) / 2
	return append(b.search(idx[:mid]), b.search(idx[mid:])...)
}

// valid checks the signatures of idx with one pairing: a single one as it
// is, several as their weighted sum against the same weighted sum of keys.
// The sums are gnark-crypto's multi-scalar multiplications (Pippenger with
// signed digits and batched affine additions), on the calling goroutine:
// callers run batches side by side already.
func (b *batch) valid(idx []int) bool {
	if len(idx) == 1 {
		return Verify(b.pks[idx[0]], b.msg, b.sigs[idx[0]]) == nil
	}
	sigPts := make([]bls12381.G1Affine, len(idx))
	keyPts := make([]bls12381.G2Affine, len(idx))
	scalars := make([]fr.Element, len(idx))
	for n, i := range idx {
		m := b.pks[i].prepared()
		if m.err != nil {
			return false
		}
		sigPts[n], keyPts[n] = b.pts[i], m.pt
		scalars[n].SetUint64(b.coeff[i])
	}
	one := ecc.MultiExpConfig{NbTasks: 1}
	var sig bls12381.G1Affine
	var key bls12381.G2Affine
	if _, err := sig.MultiExp(sigPts, scalars, one); err != nil {
		return false
	}
	if _, err := key.MultiExp(keyPts, scalars, one); err != nil {
		return false
	}
	sigBytes, keyBytes := sig.Bytes(), key.Bytes()
	pk, err := DecodePublicKey(swapG2Halves(keyBytes))
	if err != nil {
		return false
	}
	return Verify(pk, b.msg, sigBytes[:]) == nil
}

// keyMemo holds what batch verification needs of a key, computed once for
// all copies of it: the compressed encoding (hashed into the coefficients)
// and the point in gnark-crypto's form (weighted and summed).
type keyMemo struct {
	once sync.Once
	enc  []byte
	pt   bls12381.G2Affine
	err  error
}

// prepared returns the key's memo, filled in.
func (k PublicKey) prepared() *keyMemo {
	if k.memo == nil {
		return (&keyMemo{}).get(k.pk)
	}
	return k.memo.get(k.pk)
}

func (m *keyMemo) get(pk crypto.PublicKey) *keyMemo {
	m.once.Do(func() {
		m.enc = pk.Encode()
		// The key came from onflow/crypto, which checked it is in the
		// subgroup; decoding it again only needs the point.
		dec := bls12381.NewDecoder(bytes.NewReader(swapG2Halves([96]byte(m.enc))), bls12381.NoSubgroupChecks())
		if err := dec.Decode(&m.pt); err != nil {
			m.err = fmt.Errorf("public key as a curve point: %w", err)
		}
	})
	return m
}

// swapG2Halves converts a compressed G2 point between gnark-crypto's byte
// order (x.c1 ‖ x.c0) and onflow/crypto's (x.c0 ‖ x.c1); both keep the three
// flag bits (compressed, infinity, sign) at the top of the first byte. It is
// its own inverse.
func swapG2Halves(in [96]byte) []byte {
	out := make([]byte, 96)
	copy(out, in[48:])
	copy(out[48:], in[:48])
	const flags = 0xe0
	out[0] = out[0]&^flags | in[0]&flags
	out[48] &^= flags
	return out
}
