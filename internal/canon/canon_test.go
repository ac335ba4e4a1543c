package canon

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sample struct {
	A uint64 `cbor:"1,keyasint"`
	B string `cbor:"2,keyasint"`
}

func TestDecodeIsStrictAndCanonical(t *testing.T) {
	enc := MustEncode(sample{A: 7, B: "x"})
	var s sample
	require.NoError(t, Decode(enc, &s), "round trip")
	require.Equal(t, sample{7, "x"}, s, "round trip")
	// {1: 7 as a two-byte integer, 2: "x"}: well-formed, not canonical.
	long := []byte{0xa2, 0x01, 0x19, 0x00, 0x07, 0x02, 0x61, 'x'}
	assert.ErrorIs(t, Decode(long, &s), ErrNotCanonical, "non-canonical integer")
	// Keys out of order: {2: "x", 1: 7}.
	swapped := []byte{0xa2, 0x02, 0x61, 'x', 0x01, 0x07}
	assert.ErrorIs(t, Decode(swapped, &s), ErrNotCanonical, "unsorted keys")
	for name, b := range map[string][]byte{
		"trailing bytes": append(bytes.Clone(enc), 0x00),
		"unknown field":  {0xa3, 0x01, 0x07, 0x02, 0x61, 'x', 0x03, 0x00},
		"duplicate key":  {0xa2, 0x01, 0x07, 0x01, 0x07},
		"indefinite map": {0xbf, 0x01, 0x07, 0xff},
		"empty":          nil,
	} {
		assert.Error(t, Decode(b, &s), "%s: accepted", name)
	}
}

func TestHashIsDomainSeparated(t *testing.T) {
	assert.NotEqual(t, Hash("a", []byte("bc")), Hash("ab", []byte("c")), "domain and data run together")
	assert.Equal(t, Hash("a", []byte("x")), Hash("a", []byte("x")), "not deterministic")
}
