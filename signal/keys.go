package signal

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/onflow/crypto"
)

// Sentinel errors; every failure wraps one of them (errors.Is).
var (
	ErrBadSignature  = errors.New("bad signature")
	ErrBadPossession = errors.New("bad proof of possession")
	ErrIdentityKey   = errors.New("identity public key")
)

// PrivateKey is a BLS12-381 staking key. Whoever holds it can sign readiness
// for its node: keep it in the node home with 0600 permissions.
type PrivateKey struct{ sk crypto.PrivateKey }

// PublicKey is a BLS12-381 public key. The zero value is invalid (IsZero).
// Copies share a memo of the key's encoding and curve point, which batch
// verification needs for every key of every batch.
type PublicKey struct {
	pk   crypto.PublicKey
	memo *keyMemo
}

func wrapKey(pk crypto.PublicKey) PublicKey { return PublicKey{pk: pk, memo: &keyMemo{}} }

// GenerateKey derives a key deterministically from seed, which must hold at
// least 32 bytes of entropy.
func GenerateKey(seed []byte) (PrivateKey, error) {
	if len(seed) < crypto.KeyGenSeedMinLen {
		return PrivateKey{}, fmt.Errorf("key seed has %d bytes, at least %d are needed", len(seed), crypto.KeyGenSeedMinLen)
	}
	sk, err := crypto.GeneratePrivateKey(crypto.BLSBLS12381, seed)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("generate key: %w", err)
	}
	return PrivateKey{sk}, nil
}

// DecodePrivateKey decodes Encode's output.
func DecodePrivateKey(b []byte) (PrivateKey, error) {
	// onflow/crypto indexes the input before it checks the length, so an
	// empty key (an empty staking.key) would panic there.
	if len(b) != crypto.PrKeyLenBLSBLS12381 {
		return PrivateKey{}, fmt.Errorf("decode private key: %d bytes, not %d", len(b), crypto.PrKeyLenBLSBLS12381)
	}
	sk, err := crypto.DecodePrivateKey(crypto.BLSBLS12381, b)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("decode private key: %w", err)
	}
	return PrivateKey{sk}, nil
}

// Encode returns the 32-byte scalar.
func (k PrivateKey) Encode() []byte { return k.sk.Encode() }

// IsZero reports whether k is the zero value.
func (k PrivateKey) IsZero() bool { return k.sk == nil }

// PublicKey returns the key's public half.
func (k PrivateKey) PublicKey() PublicKey { return wrapKey(k.sk.PublicKey()) }

// DecodePublicKey decodes a compressed public key (96 bytes). It rejects the
// identity key: it verifies nothing, and aggregates to no change.
func DecodePublicKey(b []byte) (PublicKey, error) {
	pk, err := crypto.DecodePublicKey(crypto.BLSBLS12381, b)
	if err != nil {
		return PublicKey{}, fmt.Errorf("decode public key: %w", err)
	}
	if pk.Equals(crypto.IdentityBLSPublicKey()) {
		return PublicKey{}, fmt.Errorf("decode public key: %w", ErrIdentityKey)
	}
	return wrapKey(pk), nil
}

// Encode returns the compressed encoding.
func (k PublicKey) Encode() []byte {
	if k.pk == nil {
		return nil
	}
	return append([]byte(nil), k.prepared().enc...)
}

// IsZero reports whether k is the zero value.
func (k PublicKey) IsZero() bool { return k.pk == nil }

// Equal reports whether two keys are the same point.
func (k PublicKey) Equal(o PublicKey) bool {
	if k.pk == nil || o.pk == nil {
		return k.pk == nil && o.pk == nil
	}
	return k.pk.Equals(o.pk)
}

// Crypto returns the underlying onflow/crypto key.
func (k PublicKey) Crypto() crypto.PublicKey { return k.pk }

// String returns the key in hex.
func (k PublicKey) String() string { return hex.EncodeToString(k.Encode()) }

// MarshalText encodes the key in hex, for JSON and TOML files.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a hex key, rejecting the identity key.
func (k *PublicKey) UnmarshalText(text []byte) error {
	b, err := hex.DecodeString(string(text))
	if err != nil {
		return fmt.Errorf("public key is not hex: %w", err)
	}
	pk, err := DecodePublicKey(b)
	if err != nil {
		return err
	}
	*k = pk
	return nil
}

// ProvePossession returns the key's proof of possession: a signature of the
// public key under a domain reserved for that purpose.
func ProvePossession(k PrivateKey) ([]byte, error) {
	pop, err := crypto.BLSGeneratePOP(k.sk)
	if err != nil {
		return nil, fmt.Errorf("prove possession: %w", err)
	}
	return pop, nil
}

// VerifyPossession checks a proof of possession for pk.
func VerifyPossession(pk PublicKey, pop []byte) error {
	if pk.pk == nil {
		return fmt.Errorf("%w: no key", ErrBadPossession)
	}
	if len(pop) != crypto.SignatureLenBLSBLS12381 {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadPossession, len(pop), crypto.SignatureLenBLSBLS12381)
	}
	ok, err := crypto.BLSVerifyPOP(pk.pk, pop)
	if err != nil || !ok {
		return fmt.Errorf("%w: it does not verify for key %s", ErrBadPossession, pk.String()[:16]+"…")
	}
	return nil
}
