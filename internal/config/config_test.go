package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, file string, env map[string]string, args ...string) (Config, map[string]string, error) {
	t.Helper()
	home := t.TempDir()
	if file != "" {
		if err := os.WriteFile(filepath.Join(home, "config.toml"), []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(home, func(k string) string { return env[k] }, fs)
}

func TestPrecedence(t *testing.T) {
	file := "node_id = \"from-file\"\nview_interval = \"1s\"\nsupported = [\"protocol=1.0.0\"]\n[log]\nlevel = \"warn\"\n"
	c, src, err := load(t, file, nil)
	if err != nil || c.NodeID != "from-file" || c.ViewInterval != "1s" || c.Log.Level != "warn" || c.Log.Format != "text" {
		t.Fatalf("file: %+v %v", c, err)
	}
	if !strings.HasSuffix(src["node_id"], "config.toml") {
		t.Fatalf("source %v", src)
	}
	env := map[string]string{"QUORUMGATE_NODE_ID": "from-env", "QUORUMGATE_SUPPORTED": "protocol=1.0.0, protocol=2.0.0"}
	c, src, err = load(t, file, env)
	if err != nil || c.NodeID != "from-env" || len(c.Supported) != 2 || src["node_id"] != "$QUORUMGATE_NODE_ID" {
		t.Fatalf("env: %+v %v", c, err)
	}
	c, src, err = load(t, file, env, "--node-id", "from-flag", "--log-level", "debug")
	if err != nil || c.NodeID != "from-flag" || c.Log.Level != "debug" || src["node_id"] != "--node-id" || c.ViewInterval != "1s" {
		t.Fatalf("flags: %+v %v", c, err)
	}
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
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("got %v, want an error for %s", err, tc.key)
			}
		})
	}
	// The admin API may listen on loopback or a unix socket.
	for _, ok := range []string{"127.0.0.1:9000", "localhost:9000", "[::1]:9000", "unix:/tmp/admin.sock"} {
		if _, _, err := load(t, base+"[api]\nadmin = \""+ok+"\"\n", nil); err != nil {
			t.Errorf("%s rejected: %v", ok, err)
		}
	}
}

func TestTemplateIsValid(t *testing.T) {
	file := strings.Replace(Template, "%q", `"n1"`, 1)
	file = strings.Replace(file, "%s", `"protocol=1.0.0"`, 1)
	c, _, err := load(t, file, nil)
	if err != nil || c.NodeID != "n1" {
		t.Fatalf("the init template does not load: %v", err)
	}
	if c.HookTimeoutDuration() != 10*time.Minute {
		t.Fatalf("the template's hook timeout: %s", c.HookTimeoutDuration())
	}
}
