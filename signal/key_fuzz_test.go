package signal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDecodePrivateKey: staking.key is read from a file. A key decodes only
// from its one 32-byte encoding, and a key that decodes has a public key
// that others accept (never the identity, which a zero scalar would give).
func FuzzDecodePrivateKey(f *testing.F) {
	f.Add(mustKey(f, 1).Encode())
	f.Add(make([]byte, 32))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		sk, err := DecodePrivateKey(data)
		if err != nil {
			require.True(t, sk.IsZero())
			return
		}
		require.Equal(t, data, sk.Encode())
		_, err = DecodePublicKey(sk.PublicKey().Encode())
		require.NoError(t, err)
	})
}
