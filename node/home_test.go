package node

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInitHomeWritesPrivateKeys(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n1")
	_, err := InitHome(home, func(path string) error { return WriteFileAtomic(path, []byte("node_id = \"n1\"\n"), 0o644) })
	require.NoError(t, err)
	for _, f := range []string{StakingKeyFile, P2PKeyFile, AdminTokenFile} {
		st, err := os.Stat(filepath.Join(home, f))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	for _, e := range entries {
		assert.NotRegexp(t, `^\.`, e.Name(), "a temporary file was left behind")
	}
}

// A staking key that group or others can read is refused on load, with the
// command that fixes it (as ssh refuses such a private key).
func TestLoadKeysRefusesAnOpenStakingKey(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n1")
	_, err := InitHome(home, func(path string) error { return WriteFileAtomic(path, nil, 0o644) })
	require.NoError(t, err)
	key := filepath.Join(home, StakingKeyFile)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
		require.NoError(t, os.Chmod(key, mode))
		_, _, _, err := LoadKeys(home, "n1")
		require.Error(t, err, "mode %04o", mode)
		assert.Contains(t, err.Error(), "too open", "mode %04o", mode)
		assert.Contains(t, err.Error(), "chmod 600 "+key, "mode %04o", mode)
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		require.NoError(t, os.Chmod(key, mode))
		_, _, id, err := LoadKeys(home, "n1")
		require.NoError(t, err, "mode %04o", mode)
		assert.NotEmpty(t, id.StakingKey)
	}
}

// A staking key file that is empty or cut short (a disk filled up while it
// was copied) is an error naming the file; an empty one used to panic inside
// onflow/crypto (FuzzDecodePrivateKey found it).
func TestLoadKeysRefusesAShortStakingKey(t *testing.T) {
	home := filepath.Join(t.TempDir(), "n1")
	_, err := InitHome(home, func(path string) error { return WriteFileAtomic(path, nil, 0o644) })
	require.NoError(t, err)
	key := filepath.Join(home, StakingKeyFile)
	for _, content := range []string{"", "\n", "abcd\n"} {
		require.NoError(t, os.WriteFile(key, []byte(content), 0o600))
		_, _, _, err := LoadKeys(home, "n1")
		require.Error(t, err, "content %q", content)
		assert.Contains(t, err.Error(), StakingKeyFile+": decode private key:", "content %q", content)
	}
}

func TestReadAdminToken(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, AdminTokenFile)
	require.NoError(t, os.WriteFile(path, []byte(" 0123456789abcdef\n"), 0o600))
	token, err := ReadAdminToken(home)
	require.NoError(t, err, "16 bytes, white space around them")
	assert.Equal(t, "0123456789abcdef", token)
	require.NoError(t, os.WriteFile(path, []byte("0123456789abcde\n"), 0o600))
	_, err = ReadAdminToken(home)
	require.Error(t, err, "15 bytes")
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "15 bytes")
}
