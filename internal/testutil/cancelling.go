package testutil

import (
	"testing"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/signal"
)

// CancellingPair turns two genuine attestations into the rogue pair that
// only per-signature checks catch: their signatures become s_a+Δ and s_b−Δ,
// where Δ is the point of the signature delta (any valid signature). Each
// is then invalid on its own, and their plain sum is still the valid
// aggregate, so an aggregate check alone would accept them.
func CancellingPair(t testing.TB, a, b signal.Attestation, delta []byte) (signal.Attestation, signal.Attestation) {
	t.Helper()
	point := func(sig []byte) bls12381.G1Affine {
		var p bls12381.G1Affine
		_, err := p.SetBytes(sig)
		require.NoError(t, err)
		return p
	}
	pa, pb, d := point(a.Signature), point(b.Signature), point(delta)
	pa.Add(&pa, &d)
	pb.Sub(&pb, &d)
	sa, sb := pa.Bytes(), pb.Bytes()
	a.Signature, b.Signature = sa[:], sb[:]
	return a, b
}
