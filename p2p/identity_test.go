package p2p

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIdentityPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p2p.key")
	a, err := LoadOrCreateIdentity(path)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err, "key file")
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "key file mode")
	b, err := LoadOrCreateIdentity(path)
	require.NoError(t, err)
	ida, err := peer.IDFromPrivateKey(a)
	require.NoError(t, err)
	idb, err := peer.IDFromPrivateKey(b)
	require.NoError(t, err)
	assert.Equal(t, ida, idb, "the peer ID changed across loads")
	require.NoError(t, os.WriteFile(path, []byte("not a key"), 0o600))
	_, err = LoadOrCreateIdentity(path)
	assert.Error(t, err, "a corrupt key file was accepted")
}
