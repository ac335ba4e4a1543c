package signal

import (
	"fmt"
	"slices"

	"github.com/onflow/crypto"
)

// BatchVerify checks sigs[i] against pks[i], all on the same msg, and returns
// the sorted indexes of the bad ones (nil when all are good).
//
// It is optimistic: it aggregates everything and verifies once (one pairing
// check plus cheap additions); only when that fails does it bisect, so k bad
// signatures among n cost about 2k·log2(n) checks instead of n. Malformed
// signatures (wrong length, not a curve point) are set aside first without a
// pairing. The search is deterministic (no random coefficients), keeping the
// package free of randomness.
//
// Known limitation of plain aggregation: two invalid signatures crafted to
// cancel out (σ₁+Δ, σ₂−Δ) pass together. That is acceptable here because
// their sum is still a valid multi-signature of both signers on the message:
// both did sign it, which is all readiness needs, and what goes on chain is
// the aggregate.
//
// err is only for misuse: mismatched lengths.
func BatchVerify(msg []byte, pks []PublicKey, sigs [][]byte) (bad []int, err error) {
	if len(pks) != len(sigs) {
		return nil, fmt.Errorf("batch verify: %d keys but %d signatures", len(pks), len(sigs))
	}
	var candidates []int
	for i, s := range sigs {
		if pks[i].pk == nil || len(s) != crypto.SignatureLenBLSBLS12381 {
			bad = append(bad, i)
			continue
		}
		candidates = append(candidates, i)
	}
	b := batch{msg: msg, pks: pks, sigs: sigs}
	bad = append(bad, b.search(candidates)...)
	slices.Sort(bad)
	return bad, nil
}

type batch struct {
	msg  []byte
	pks  []PublicKey
	sigs [][]byte
}

// chunk is the group size a large failing batch is cut into: with bad
// signatures spread through a batch (say 1%), bisecting halves re-checks
// large groups that almost all fail; chunks of 64 localize them at once, at
// the price of a few more checks when only one signature is bad.
const chunk = 64

// search returns the bad indexes among idx: verify the aggregate; if it
// fails, cut a large group into chunks, a small one in halves.
func (b batch) search(idx []int) []int {
	if len(idx) == 0 || b.valid(idx) {
		return nil
	}
	if len(idx) == 1 {
		return idx
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

func (b batch) valid(idx []int) bool {
	keys := make([]PublicKey, len(idx))
	sigs := make([][]byte, len(idx))
	for i, j := range idx {
		keys[i], sigs[i] = b.pks[j], b.sigs[j]
	}
	aggSig, err := AggregateSignatures(sigs)
	if err != nil {
		return false
	}
	aggKey, err := AggregateKeys(keys)
	if err != nil {
		return false
	}
	return VerifyAggregate(aggKey, b.msg, aggSig) == nil
}
