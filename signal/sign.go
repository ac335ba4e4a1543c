package signal

import (
	"fmt"

	"github.com/onflow/crypto"
	"github.com/onflow/crypto/hash"
)

// hashToCurveTag separates quorumgate's signatures from every other protocol's.
const hashToCurveTag = "QUORUMGATE-V01-CS01-with-"

// newHasher returns a fresh hasher; hashers keep state, so one per call keeps
// the package safe for concurrent use.
func newHasher() hash.Hasher { return crypto.NewExpandMsgXOFKMAC128(hashToCurveTag) }

// Sign signs msg.
func Sign(k PrivateKey, msg []byte) ([]byte, error) {
	sig, err := k.sk.Sign(msg, newHasher())
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// Verify checks sig on msg under pk.
func Verify(pk PublicKey, msg, sig []byte) error {
	if pk.pk == nil {
		return fmt.Errorf("%w: no key", ErrBadSignature)
	}
	if len(sig) != crypto.SignatureLenBLSBLS12381 {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadSignature, len(sig), crypto.SignatureLenBLSBLS12381)
	}
	ok, err := pk.pk.Verify(sig, msg, newHasher())
	if err != nil || !ok {
		return fmt.Errorf("%w: it does not verify", ErrBadSignature)
	}
	return nil
}

// VerifyAggregate checks an aggregate signature on msg against an
// aggregated key (see AggregateKeys, RemoveKeys).
func VerifyAggregate(aggKey PublicKey, msg, aggSig []byte) error { return Verify(aggKey, msg, aggSig) }

// AggregateSignatures adds signatures. Each must decode to a curve point; the
// sum is checked later against the matching keys.
func AggregateSignatures(sigs [][]byte) ([]byte, error) {
	if len(sigs) == 0 {
		return nil, fmt.Errorf("aggregate signatures: %w: none given", ErrBadSignature)
	}
	list := make([]crypto.Signature, len(sigs))
	for i, s := range sigs {
		if len(s) != crypto.SignatureLenBLSBLS12381 {
			return nil, fmt.Errorf("aggregate signatures: %w: signature %d has %d bytes", ErrBadSignature, i, len(s))
		}
		list[i] = s
	}
	agg, err := crypto.AggregateBLSSignatures(list)
	if err != nil {
		return nil, fmt.Errorf("aggregate signatures: %w: %v", ErrBadSignature, err)
	}
	return agg, nil
}

// AggregateKeys adds public keys (all with checked proofs of possession).
func AggregateKeys(pks []PublicKey) (PublicKey, error) {
	if len(pks) == 0 {
		return PublicKey{}, fmt.Errorf("aggregate keys: none given")
	}
	agg, err := crypto.AggregateBLSPublicKeys(unwrap(pks))
	if err != nil {
		return PublicKey{}, fmt.Errorf("aggregate keys: %w", err)
	}
	return wrapKey(agg), nil
}

// RemoveKeys subtracts keys from an aggregate: cheaper than re-adding the
// rest when most keys stay.
func RemoveKeys(agg PublicKey, remove []PublicKey) (PublicKey, error) {
	out, err := crypto.RemoveBLSPublicKeys(agg.pk, unwrap(remove))
	if err != nil {
		return PublicKey{}, fmt.Errorf("remove keys: %w", err)
	}
	return wrapKey(out), nil
}

func unwrap(pks []PublicKey) []crypto.PublicKey {
	out := make([]crypto.PublicKey, len(pks))
	for i, k := range pks {
		out[i] = k.pk
	}
	return out
}
