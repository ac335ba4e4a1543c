package devchain

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/signal"
)

// A signed block arrives from gossip and from sync. Whatever decodes is
// canonical (it re-encodes to its input) and CheckBlock judges it without
// panicking; what it passes is exactly a block the sequencer signed (every
// byte is covered by the signature, so no mutation of one passes). Work per
// input is one CBOR decode and, for what decodes, one signature check.
func FuzzDecodeSignedBlock(f *testing.F) {
	g, keys := devGenesis(f)
	signed := map[string]bool{}
	sign := func(sb SignedBlock) []byte {
		var err error
		sb.Signature, err = signal.Sign(keys.Staking["seq"], sb.signingBytes())
		require.NoError(f, err)
		raw := canon.MustEncode(sb)
		require.NoError(f, CheckBlock(g, raw))
		signed[string(raw)] = true
		return raw
	}
	f.Add(sign(SignedBlock{Height: 0, View: 1, StateID: g.State().ID(), Block: activation.WireBlock{ChainID: g.ChainID, View: 1}.Encode()}))
	f.Add(sign(SignedBlock{Height: 7, View: 40}))
	f.Add(canon.MustEncode(SignedBlock{Height: 1, View: 2, Signature: make([]byte, 96)}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		sb, err := DecodeSignedBlock(raw)
		if err != nil {
			require.ErrorContains(t, err, "devchain block: ")
			return
		}
		require.True(t, bytes.Equal(canon.MustEncode(sb), raw), "a decoded block does not re-encode to its input")
		if err := CheckBlock(g, raw); err == nil {
			require.True(t, signed[string(raw)], "CheckBlock passed a block the sequencer did not sign: %+v", sb)
		}
	})
}
