package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func load(t *testing.T, file string, env map[string]string, args ...string) (Config, map[string]string, error) {
	t.Helper()
	home := t.TempDir()
	if file != "" {
		require.NoError(t, os.WriteFile(filepath.Join(home, "config.toml"), []byte(file), 0o644))
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	require.NoError(t, fs.Parse(args))
	return Load(home, func(k string) string { return env[k] }, fs)
}

func TestPrecedence(t *testing.T) {
	file := "node_id = \"from-file\"\nview_interval = \"1s\"\nsupported = [\"protocol=1.0.0\"]\n[log]\nlevel = \"warn\"\n"
	c, src, err := load(t, file, nil)
	require.NoError(t, err, "file")
	assert.Equal(t, "from-file", c.NodeID, "file")
	assert.Equal(t, "1s", c.ViewInterval, "file")
	assert.Equal(t, "warn", c.Log.Level, "file")
	assert.Equal(t, "text", c.Log.Format, "the default")
	assert.True(t, strings.HasSuffix(src["node_id"], "config.toml"), "source %v", src)

	env := map[string]string{"QUORUMGATE_NODE_ID": "from-env", "QUORUMGATE_SUPPORTED": "protocol=1.0.0, protocol=2.0.0"}
	c, src, err = load(t, file, env)
	require.NoError(t, err, "env")
	assert.Equal(t, "from-env", c.NodeID, "env")
	assert.Len(t, c.Supported, 2, "env")
	assert.Equal(t, "$QUORUMGATE_NODE_ID", src["node_id"], "env")

	c, src, err = load(t, file, env, "--node-id", "from-flag", "--log-level", "debug")
	require.NoError(t, err, "flags")
	assert.Equal(t, "from-flag", c.NodeID, "flags")
	assert.Equal(t, "debug", c.Log.Level, "flags")
	assert.Equal(t, "--node-id", src["node_id"], "flags")
	assert.Equal(t, "1s", c.ViewInterval, "flags: the file's value stays")
}

func TestBadValuesNameTheKey(t *testing.T) {
	base := "node_id = \"n\"\n"
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		args       []string
		key        string
	}{
		{"unknown key", base + "colour = \"red\"\n", nil, nil, "colour"},
		{"no node id", "", nil, nil, "node_id"},
		{"bad listen", base + "listen = [\"127.0.0.1:7000\"]\n", nil, nil, "listen"},
		{"bad peer", base + "peers = [\"/ip4/127.0.0.1/tcp/7000\"]\n", nil, nil, "peers"},
		{"bad supported", base, map[string]string{"QUORUMGATE_SUPPORTED": "protocol"}, nil, "supported"},
		{"bad interval", base, nil, []string{"--view-interval", "fast"}, "view_interval"},
		{"bad hook timeout", base + "hook_timeout = \"forever\"\n", nil, nil, "hook_timeout"},
		{"zero hook timeout", base, map[string]string{"QUORUMGATE_HOOK_TIMEOUT": "0s"}, nil, "hook_timeout"},
		{"admin on a public address", base + "[api]\nadmin = \"0.0.0.0:9000\"\n", nil, nil, "api.admin"},
		{"bad api listen", base + "[api]\nlisten = \"nowhere\"\n", nil, nil, "api.listen"},
		{"bad log format", base, nil, []string{"--log-format", "xml"}, "log.format"},
		{"bad log level", base + "[log]\nlevel = \"loud\"\n", nil, nil, "log.level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := load(t, tc.file, tc.env, tc.args...)
			var ce *Error
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.key, ce.Key, "%v", err)
		})
	}
	// The admin API may listen on loopback or a unix socket.
	for _, ok := range []string{"127.0.0.1:9000", "localhost:9000", "[::1]:9000", "unix:/tmp/admin.sock"} {
		_, _, err := load(t, base+"[api]\nadmin = \""+ok+"\"\n", nil)
		assert.NoError(t, err, "%s rejected", ok)
	}
}

func TestTemplateIsValid(t *testing.T) {
	file := strings.Replace(Template, "%q", `"n1"`, 1)
	file = strings.Replace(file, "%s", `"protocol=1.0.0"`, 1)
	c, _, err := load(t, file, nil)
	require.NoError(t, err, "the init template does not load")
	assert.Equal(t, "n1", c.NodeID)
	assert.Equal(t, 10*time.Minute, c.HookTimeoutDuration(), "the template's hook timeout")
}
