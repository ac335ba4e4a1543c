package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/engine"
)

// FuzzLoad: config.toml is written by hand. Whatever it holds, Load returns
// a parsed config or an *Error naming the key (or line) and the file, and
// never panics. The environment and flags are empty, so every
// problem comes from the file.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(File("n1", []string{"protocol=1.0.0"})))
	f.Add([]byte(File("n1", []string{"protocol=1.0.0", "protocol=2.0"})))
	f.Add([]byte("node_id = \"n\"\nview_interval = \"1s\"\nsupported = [\"protocol=1.0.0\"]\n[log]\nlevel = \"warn\"\n"))
	f.Add([]byte("node_id = \"n\"\nlisten = [\"127.0.0.1:7000\"]\n"))
	home := f.TempDir()
	path := filepath.Join(home, "config.toml")
	noEnv := func(string) string { return "" }
	f.Fuzz(func(t *testing.T, file []byte) {
		require.NoError(t, os.WriteFile(path, file, 0o600))
		c, source, err := Load(home, noEnv, nil)
		if err != nil {
			var ce *Error
			require.True(t, errors.As(err, &ce), "not a config error: %v", err)
			require.NotEmpty(t, ce.Key)
			require.NotEmpty(t, ce.Problem)
			return
		}
		require.NotEmpty(t, c.NodeID)
		require.Positive(t, c.ViewInterval)
		require.Positive(t, c.HookTimeout)
		require.Contains(t, engine.Names, c.Engine)
		for key, from := range source {
			require.Equal(t, path, from, "key %s", key)
		}
	})
}
