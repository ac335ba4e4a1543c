package p2p

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/canon"
)

// FuzzDecodeForkID: a fork ID from a peer decodes only from its one
// canonical encoding, so two nodes never disagree on what a peer sent.
func FuzzDecodeForkID(f *testing.F) {
	f.Add(canon.MustEncode(ForkID{}))
	f.Add(canon.MustEncode(ForkID{Hash: [32]byte{1, 2, 3}, Next: 900}))
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, err := DecodeForkID(raw)
		if err != nil {
			require.Equal(t, ForkID{}, id)
			return
		}
		require.Equal(t, raw, canon.MustEncode(id))
	})
}
