package config

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/engine"
	"github.com/quorumgate/quorumgate/node"
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
	assert.Equal(t, time.Second, c.ViewInterval, "file")
	assert.Equal(t, slog.LevelWarn, c.Log.Level, "file")
	assert.Equal(t, LogText, c.Log.Format, "the default")
	assert.True(t, strings.HasSuffix(src["node_id"], "config.toml"), "source %v", src)

	env := map[string]string{"QUORUMGATE_NODE_ID": "from-env", "QUORUMGATE_SUPPORTED": "protocol=1.0.0, protocol=2.0.0"}
	c, src, err = load(t, file, env)
	require.NoError(t, err, "env")
	assert.Equal(t, "from-env", c.NodeID, "env")
	assert.Equal(t, node.Supported{"protocol": {Exact: []string{"1.0.0", "2.0.0"}}}, c.Supported, "env")
	assert.Equal(t, "$QUORUMGATE_NODE_ID", src["node_id"], "env")

	c, src, err = load(t, file, env, "--node-id", "from-flag", "--log-level", "debug")
	require.NoError(t, err, "flags")
	assert.Equal(t, "from-flag", c.NodeID, "flags")
	assert.Equal(t, slog.LevelDebug, c.Log.Level, "flags")
	assert.Equal(t, "--node-id", src["node_id"], "flags")
	assert.Equal(t, time.Second, c.ViewInterval, "flags: the file's value stays")
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
		{"bad state sync", base + "[cometbft]\nstate_sync = \"maybe\"\n", nil, nil, "cometbft.state_sync"},
		{"state sync without rpc servers", base, nil, []string{"--cometbft-state-sync"}, "cometbft.rpc_servers"},
		{"state sync without a trust height", base + "[cometbft]\nstate_sync = true\nrpc_servers = [\"tcp://a:1\", \"tcp://b:1\"]\n", nil, nil, "cometbft.trust_height"},
		{"state sync without a trust hash", base + "[cometbft]\nstate_sync = true\ntrust_height = 5\nrpc_servers = [\"tcp://a:1\", \"tcp://b:1\"]\n", nil, nil, "cometbft.trust_hash"},
		{"bad rpc server", base, nil, []string{"--cometbft-rpc-servers", "a:1"}, "cometbft.rpc_servers"},
		{"bad trust hash", base, map[string]string{"QUORUMGATE_COMETBFT_TRUST_HASH": "abc"}, nil, "cometbft.trust_hash"},
		{"negative trust height", base + "[cometbft]\ntrust_height = -1\n", nil, nil, "cometbft.trust_height"},
		{"bad trust period", base + "[cometbft]\ntrust_period = \"0s\"\n", nil, nil, "cometbft.trust_period"},
		{"bad snapshot interval", base + "[cometbft]\nsnapshot_interval = -5\n", nil, nil, "cometbft.snapshot_interval"},
		{"zero snapshots kept", base, nil, []string{"--cometbft-snapshot-keep", "0"}, "cometbft.snapshot_keep"},
		{"bad devchain state sync", base, map[string]string{"QUORUMGATE_DEVCHAIN_STATE_SYNC": "yes please"}, nil, "devchain.state_sync"},
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

// The file init writes loads, and says every default: loading it gives
// what loading nothing but the node ID gives.
func TestFileIsValidAndSaysTheDefaults(t *testing.T) {
	c, _, err := load(t, File("n1", []string{"protocol=1.0.0"}), nil)
	require.NoError(t, err, "the init file does not load")
	assert.Equal(t, "n1", c.NodeID)
	assert.Equal(t, node.Supported{"protocol": {Exact: []string{"1.0.0"}}}, c.Supported)
	bare, _, err := load(t, "node_id = \"n1\"\n", nil)
	require.NoError(t, err)
	// What differs: the home (each load has its own), empty lists written
	// as [], and the supported versions init was given.
	assert.Equal(t, filepath.Base(bare.Genesis), filepath.Base(c.Genesis))
	assert.Empty(t, c.Hook)
	assert.Empty(t, c.CometBFT.PersistentPeers)
	assert.Empty(t, c.CometBFT.RPCServers)
	bare.Genesis, bare.Hook, bare.CometBFT.PersistentPeers, bare.Supported = c.Genesis, c.Hook, c.CometBFT.PersistentPeers, c.Supported
	bare.CometBFT.RPCServers = c.CometBFT.RPCServers
	assert.Equal(t, bare, c, "the file says other values than the defaults")
}

// The defaults, as README ("Running a node") says them.
func TestDefaults(t *testing.T) {
	c, _, err := load(t, "node_id = \"n1\"\n", nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"engine", c.Engine, engine.Devchain},
		{"genesis", filepath.Base(c.Genesis), "genesis.json"},
		{"listen", c.ListenAddrs(), []string{"/ip4/127.0.0.1/tcp/0"}},
		{"peers", c.Peers, []peer.AddrInfo(nil)},
		{"genesis_dials", c.GenesisDials, 0},
		{"supported", c.Supported, node.Supported{}},
		{"view_interval", c.ViewInterval, 500 * time.Millisecond},
		{"hook_timeout", c.HookTimeout, 10 * time.Minute},
		{"api.listen", c.API.Listen, "127.0.0.1:0"},
		{"api.admin", c.API.Admin, "127.0.0.1:0"},
		{"log.format", c.Log.Format, LogText},
		{"log.level", c.Log.Level, slog.LevelInfo},
		{"cometbft.p2p_listen", c.CometBFT.P2PListen, "tcp://127.0.0.1:26656"},
		{"cometbft.persistent_peers", c.CometBFT.PersistentPeers, []string(nil)},
		{"cometbft.rpc_listen", c.CometBFT.RPCListen, ""},
		{"cometbft.state_sync", c.CometBFT.StateSync, false},
		{"cometbft.rpc_servers", c.CometBFT.RPCServers, []string(nil)},
		{"cometbft.trust_height", c.CometBFT.TrustHeight, int64(0)},
		{"cometbft.trust_hash", c.CometBFT.TrustHash, ""},
		{"cometbft.trust_period", c.CometBFT.TrustPeriod, 168 * time.Hour},
		{"cometbft.snapshot_interval", c.CometBFT.SnapshotInterval, uint64(1000)},
		{"cometbft.snapshot_keep", c.CometBFT.SnapshotKeep, 2},
		{"devchain.state_sync", c.Devchain.StateSync, false},
	} {
		assert.Equal(t, tc.want, tc.got, tc.key)
	}
	assert.Len(t, keys, 24, "a new key wants a row here (and hook, which has no default)")
}

// genesis_dials arrives from each source as a number; a negative or
// non-numeric one is refused, naming the key and where it was set.
func TestGenesisDials(t *testing.T) {
	c, _, err := load(t, "node_id = \"n1\"\ngenesis_dials = 8\n", nil)
	require.NoError(t, err)
	assert.Equal(t, 8, c.GenesisDials)
	c, src, err := load(t, "node_id = \"n1\"\ngenesis_dials = 8\n", map[string]string{"QUORUMGATE_GENESIS_DIALS": "12"})
	require.NoError(t, err)
	assert.Equal(t, 12, c.GenesisDials)
	assert.Equal(t, "$QUORUMGATE_GENESIS_DIALS", src["genesis_dials"])
	c, _, err = load(t, "node_id = \"n1\"\n", nil, "--genesis-dials", "5")
	require.NoError(t, err)
	assert.Equal(t, 5, c.GenesisDials)
	_, _, err = load(t, "node_id = \"n1\"\n", map[string]string{"QUORUMGATE_GENESIS_DIALS": "eight"})
	require.ErrorContains(t, err, `configuration genesis_dials (from $QUORUMGATE_GENESIS_DIALS): "eight" is not a whole number`)
	_, _, err = load(t, "node_id = \"n1\"\ngenesis_dials = -1\n", nil)
	require.ErrorContains(t, err, "configuration genesis_dials")
	require.ErrorContains(t, err, "-1: 0 dials every genesis node")
}

// Each setting arrives parsed, from each source.
func TestTypedValues(t *testing.T) {
	const id = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	env := map[string]string{"QUORUMGATE_PEERS": "/ip4/10.0.0.1/tcp/7001/p2p/" + id, "QUORUMGATE_ENGINE": "cometbft"}
	c, _, err := load(t, "node_id = \"n\"\nlisten = [\"/ip4/0.0.0.0/tcp/7001\"]\n", env,
		"--hook-timeout", "90s", "--log-format", "json", "--cometbft-persistent-peers", strings.Repeat("ab", 20)+"@10.0.0.2:26656")
	require.NoError(t, err)
	assert.Equal(t, engine.CometBFT, c.Engine)
	require.Len(t, c.Listen, 1)
	assert.Equal(t, "/ip4/0.0.0.0/tcp/7001", c.Listen[0].String())
	require.Len(t, c.Peers, 1)
	assert.Equal(t, id, c.Peers[0].ID.String())
	assert.Equal(t, "/ip4/10.0.0.1/tcp/7001", c.Peers[0].Addrs[0].String())
	assert.Equal(t, 90*time.Second, c.HookTimeout)
	assert.Equal(t, LogJSON, c.Log.Format)
	assert.Equal(t, []string{strings.Repeat("ab", 20) + "@10.0.0.2:26656"}, c.CometBFT.PersistentPeers)
}

// State sync's settings, from the file (TOML booleans and integers) and
// from flags (a boolean flag alone means true).
func TestStateSyncSettings(t *testing.T) {
	hash := strings.Repeat("0a", 32)
	file := "node_id = \"n\"\n[cometbft]\nstate_sync = true\nrpc_servers = [\"tcp://10.0.0.1:26657\", \"http://10.0.0.2:26657\"]\n" +
		"trust_height = 1200\ntrust_hash = \"" + hash + "\"\ntrust_period = \"24h\"\nsnapshot_interval = 0\nsnapshot_keep = 5\n" +
		"[devchain]\nstate_sync = true\n"
	c, _, err := load(t, file, nil)
	require.NoError(t, err)
	assert.Equal(t, CometBFT{P2PListen: DefaultCometBFTP2PListen, StateSync: true, RPCServers: []string{"tcp://10.0.0.1:26657", "http://10.0.0.2:26657"},
		TrustHeight: 1200, TrustHash: hash, TrustPeriod: 24 * time.Hour, SnapshotInterval: 0, SnapshotKeep: 5}, c.CometBFT)
	assert.True(t, c.Devchain.StateSync)

	c, src, err := load(t, "node_id = \"n\"\n", nil, "--devchain-state-sync", "--cometbft-snapshot-interval", "50")
	require.NoError(t, err)
	assert.True(t, c.Devchain.StateSync, "the flag alone")
	assert.Equal(t, "--devchain-state-sync", src["devchain.state_sync"])
	assert.Equal(t, uint64(50), c.CometBFT.SnapshotInterval)
	c, _, err = load(t, "node_id = \"n\"\n[devchain]\nstate_sync = true\n", nil, "--devchain-state-sync=false")
	require.NoError(t, err)
	assert.False(t, c.Devchain.StateSync, "the flag overrides the file")
}

// supported takes component versions (protocol=2.0) beside exact ones,
// from every source, and a bad entry is named with both forms shown.
func TestSupportedForms(t *testing.T) {
	c, _, err := load(t, "node_id = \"n\"\nsupported = [\"protocol=1.0.0\", \"protocol=2.0\"]\n", nil)
	require.NoError(t, err, "file")
	assert.Equal(t, node.Supported{"protocol": {Exact: []string{"1.0.0"}, Series: []node.Series{{Major: 2}}}}, c.Supported, "file")
	assert.True(t, c.Supported.Has("protocol", "2.0.7"), "file")
	c, _, err = load(t, "node_id = \"n\"\n", map[string]string{"QUORUMGATE_SUPPORTED": "protocol=2.0, cadence=1.1.2"})
	require.NoError(t, err, "env")
	assert.Equal(t, []string{"cadence=1.1.2", "protocol=2.0"}, c.Supported.Entries(), "env")
	c, _, err = load(t, "node_id = \"n\"\n", nil, "--supported", "protocol=2.1,protocol=2.0.1")
	require.NoError(t, err, "flag")
	assert.Equal(t, []string{"protocol=2.0.1", "protocol=2.1"}, c.Supported.Entries(), "flag")
	c, _, err = load(t, File("n1", []string{"protocol=1.0.0", "protocol=2.0"}), nil)
	require.NoError(t, err, "the init file with a component version does not load")
	assert.Equal(t, []string{"protocol=1.0.0", "protocol=2.0"}, c.Supported.Entries(), "init file")

	for _, bad := range []string{"protocol=2", "protocol=2.x", "protocol=v2.0", "protocol=2.0.0.0", "protocol"} {
		_, _, err := load(t, "node_id = \"n\"\nsupported = [\"protocol=1.0.0\", \""+bad+"\"]\n", nil)
		var ce *Error
		require.ErrorAs(t, err, &ce, bad)
		assert.Equal(t, "supported", ce.Key, bad)
		assert.Contains(t, ce.Problem, `supported entry "`+bad+`"`, bad)
		assert.Contains(t, ce.Problem, "component=MAJOR.MINOR (", bad)
		assert.Contains(t, ce.Problem, "component=MAJOR.MINOR.PATCH (", bad)
		assert.Contains(t, err.Error(), "supported", bad)
	}
}

func TestBadEngineNamesTheChoices(t *testing.T) {
	_, _, err := load(t, "node_id = \"n\"\nengine = \"raft\"\n", nil)
	var ce *Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "engine", ce.Key)
	assert.Contains(t, ce.Source, "config.toml")
	assert.Equal(t, `"raft" is not an engine: allowed are devchain, cometbft`, ce.Problem)
}
