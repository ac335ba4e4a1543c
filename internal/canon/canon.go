// Package canon holds the one canonical binary encoding quorumgate uses for
// everything that is signed, hashed or gossiped: deterministic CBOR (RFC 8949
// "core deterministic encoding").
//
// Why CBOR through fxamacker/cbor: it is a well-kept, fuzzed library with a
// built-in core-deterministic mode (sorted map keys, shortest integers, no
// indefinite lengths), strict decoding options (duplicate keys, unknown
// fields, trailing bytes) and struct tags, so the same Go value always yields
// the same bytes on every machine. Protocol Buffers do not promise a
// deterministic encoding; JSON has no canonical form for numbers.
//
// Decode is strict and canonical: it accepts only bytes that Encode would
// produce for the decoded value, so a message has exactly one encoding and
// hashes of encodings (message IDs, state IDs) cannot be malleated.
package canon

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encOpts := cbor.CoreDetEncOptions()
	encOpts.Time = cbor.TimeUnix
	if encMode, err = encOpts.EncMode(); err != nil {
		panic(fmt.Sprintf("canon: bad CBOR encoding options: %v", err))
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   16,
		MaxArrayElements:  1 << 20,
		MaxMapPairs:       1 << 16,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("canon: bad CBOR decoding options: %v", err))
	}
}

// ErrNotCanonical is returned by Decode for well-formed input that is not the
// canonical encoding of the value it decodes to.
var ErrNotCanonical = errors.New("not in canonical encoding")

// Encode returns the canonical encoding of v.
func Encode(v any) ([]byte, error) {
	return encMode.Marshal(v)
}

// MustEncode is Encode for values whose types are known to encode (the
// project's own fixed structs); it panics on a programming error.
func MustEncode(v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("canon: encode %T: %v", v, err))
	}
	return b
}

// Decode decodes data into v (a pointer), rejecting trailing bytes, unknown
// fields, duplicate map keys, indefinite lengths, tags and any encoding that is
// not canonical.
func Decode(data []byte, v any) error {
	rest, err := decMode.UnmarshalFirst(data, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d trailing bytes after the value", len(rest))
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return fmt.Errorf("re-encode: %w", err)
	}
	if !bytes.Equal(again, data) {
		return ErrNotCanonical
	}
	return nil
}

// Hash returns SHA-256 over a domain tag, a zero byte, and data. Every hash in
// quorumgate is domain-separated so that bytes hashed for one purpose can never
// be presented as another.
func Hash(domain string, data []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
