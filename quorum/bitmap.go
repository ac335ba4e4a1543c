package quorum

import "fmt"

// Bitmap is a set of table indexes, bit i at byte i/8, bit i%8 (least
// significant first). Its canonical length is ceil(n/8) for a table of n
// entries, with unused high bits zero.
type Bitmap []byte

// NewBitmap returns an empty bitmap for a table of n entries.
func NewBitmap(n int) Bitmap { return make(Bitmap, (n+7)/8) }

// Has reports whether index i is set.
func (b Bitmap) Has(i int) bool { return b[i>>3]&(1<<(i&7)) != 0 }

// Set sets index i.
func (b Bitmap) Set(i int) { b[i>>3] |= 1 << (i & 7) }

// Clear unsets index i.
func (b Bitmap) Clear(i int) { b[i>>3] &^= 1 << (i & 7) }

// Count returns the number of set bits.
func (b Bitmap) Count() int {
	n := 0
	for _, x := range b {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// Clone returns an independent copy.
func (b Bitmap) Clone() Bitmap { return append(Bitmap(nil), b...) }

// CheckSize verifies that b is the canonical bitmap for a table of n entries.
func (b Bitmap) CheckSize(n int) error {
	if len(b) != (n+7)/8 {
		return fmt.Errorf("signer bitmap has %d bytes, the table of %d entries needs %d", len(b), n, (n+7)/8)
	}
	if n%8 != 0 && len(b) > 0 && b[len(b)-1]>>(n%8) != 0 {
		return fmt.Errorf("signer bitmap sets bits beyond the table's %d entries", n)
	}
	return nil
}
