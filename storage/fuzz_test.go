package storage

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// decoderStore is a Store with no database: enough to decode records
// against the test chain's parameters.
func decoderStore(c *testChain) *Store { return &Store{dir: "fuzz", opts: c.options(nil)} }

// A block record read back from disk (a corrupt disk, or a store someone
// edited) decodes into a block that applies, or fails as ErrCorrupt; it
// never panics.
func FuzzDecodeBlockRecord(f *testing.F) {
	c := makeChain(f, 60, 3)
	s := decoderStore(c)
	for _, b := range c.blocks[40:] {
		f.Add(canon.MustEncode(blockRecord{View: b.View, Wire: b.Wire, Proposals: b.Verified.Proposals,
			Cancels: b.Verified.Cancels, Readiness: s.packReadiness(b.Verified.Readiness), StateID: b.StateID}))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := s.decodeBlock(7, data)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.Equal(t, uint64(7), b.Verified.Height)
		_, _, err = activation.Apply(c.genesis, b.Verified)
		require.NoError(t, err, "a decoded block applies to a state without a head")
	})
}

// A head record decodes into a state that hashes to the stored ID and sits
// at the stored height, or fails as ErrCorrupt.
func FuzzDecodeHead(f *testing.F) {
	c := makeChain(f, 60, 4)
	s := decoderStore(c)
	for _, h := range []int{0, 30, 59} {
		enc, id := c.states[h].EncodeWithID()
		f.Add(append(append(binary.BigEndian.AppendUint64(nil, uint64(h)), id[:]...), enc...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		height, id, state, err := s.decodeHead(data)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.Equal(t, id, state.ID())
		h, _, ok := state.Head()
		require.True(t, ok)
		require.Equal(t, height, h)
	})
}
