package canon

import (
	"bytes"
	"errors"
	"testing"
)

type sample struct {
	A uint64 `cbor:"1,keyasint"`
	B string `cbor:"2,keyasint"`
}

func TestDecodeIsStrictAndCanonical(t *testing.T) {
	enc := MustEncode(sample{A: 7, B: "x"})
	var s sample
	if err := Decode(enc, &s); err != nil || s != (sample{7, "x"}) {
		t.Fatalf("round trip: %v %+v", err, s)
	}
	// {1: 7 as a two-byte integer, 2: "x"}: well-formed, not canonical.
	long := []byte{0xa2, 0x01, 0x19, 0x00, 0x07, 0x02, 0x61, 'x'}
	if err := Decode(long, &s); !errors.Is(err, ErrNotCanonical) {
		t.Errorf("non-canonical integer: %v", err)
	}
	// Keys out of order: {2: "x", 1: 7}.
	swapped := []byte{0xa2, 0x02, 0x61, 'x', 0x01, 0x07}
	if err := Decode(swapped, &s); !errors.Is(err, ErrNotCanonical) {
		t.Errorf("unsorted keys: %v", err)
	}
	for name, b := range map[string][]byte{
		"trailing bytes": append(bytes.Clone(enc), 0x00),
		"unknown field":  {0xa3, 0x01, 0x07, 0x02, 0x61, 'x', 0x03, 0x00},
		"duplicate key":  {0xa2, 0x01, 0x07, 0x01, 0x07},
		"indefinite map": {0xbf, 0x01, 0x07, 0xff},
		"empty":          nil,
	} {
		if err := Decode(b, &s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestHashIsDomainSeparated(t *testing.T) {
	if Hash("a", []byte("bc")) == Hash("ab", []byte("c")) {
		t.Fatal("domain and data run together")
	}
	if Hash("a", []byte("x")) != Hash("a", []byte("x")) {
		t.Fatal("not deterministic")
	}
}
