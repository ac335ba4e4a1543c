// Package config loads node-plugin's configuration: a TOML file in the node
// home, then QUORUMGATE_* environment variables, then command-line flags,
// each overriding the one before. Everything is validated at start; an error
// names the key, the value, and what is allowed. Unknown keys are errors.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/spf13/pflag"

	"github.com/quorumgate/quorumgate/node"
)

// Config is node-plugin's configuration.
type Config struct {
	NodeID       string   `toml:"node_id"`
	Engine       string   `toml:"engine"`
	Genesis      string   `toml:"genesis"`
	Listen       []string `toml:"listen"`
	Peers        []string `toml:"peers"`
	Supported    []string `toml:"supported"`
	ViewInterval string   `toml:"view_interval"`
	Hook         []string `toml:"hook"`
	HookTimeout  string   `toml:"hook_timeout"`
	API          struct {
		Listen string `toml:"listen"`
		Admin  string `toml:"admin"`
	} `toml:"api"`
	Log struct {
		Format string `toml:"format"`
		Level  string `toml:"level"`
	} `toml:"log"`
	CometBFT CometBFT `toml:"cometbft"`
}

// CometBFT holds the settings of the cometbft engine (ignored by devchain).
type CometBFT struct {
	// P2PListen is CometBFT's own p2p address (consensus traffic).
	P2PListen string `toml:"p2p_listen"`
	// PersistentPeers are other nodes' CometBFT addresses, NODEID@host:port.
	PersistentPeers []string `toml:"persistent_peers"`
	// RPCListen serves CometBFT's RPC (empty: none).
	RPCListen string `toml:"rpc_listen"`
}

// Error is a configuration error: the key, where it was set, and what is wrong.
type Error struct {
	Key, Source, Problem string
}

func (e *Error) Error() string {
	if e.Source == "" {
		return fmt.Sprintf("configuration %s: %s", e.Key, e.Problem)
	}
	return fmt.Sprintf("configuration %s (from %s): %s", e.Key, e.Source, e.Problem)
}

// Defaults work for a local testnet.
func Defaults() Config {
	var c Config
	c.Engine = "devchain"
	c.Genesis = "genesis.json"
	c.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	c.ViewInterval = "500ms"
	c.HookTimeout = "10m"
	c.API.Listen = "127.0.0.1:0"
	c.API.Admin = "127.0.0.1:0"
	c.Log.Format = "text"
	c.Log.Level = "info"
	c.CometBFT.P2PListen = "tcp://127.0.0.1:26656"
	return c
}

// key describes one setting in all three places it can come from.
type key struct {
	name string // TOML key, dotted
	env  string
	flag string
	list bool
	get  func(*Config) *string
	getL func(*Config) *[]string
}

var keys = []key{
	{name: "node_id", env: "QUORUMGATE_NODE_ID", flag: "node-id", get: func(c *Config) *string { return &c.NodeID }},
	{name: "engine", env: "QUORUMGATE_ENGINE", flag: "engine", get: func(c *Config) *string { return &c.Engine }},
	{name: "genesis", env: "QUORUMGATE_GENESIS", flag: "genesis", get: func(c *Config) *string { return &c.Genesis }},
	{name: "listen", env: "QUORUMGATE_LISTEN", flag: "listen", list: true, getL: func(c *Config) *[]string { return &c.Listen }},
	{name: "peers", env: "QUORUMGATE_PEERS", flag: "bootstrap", list: true, getL: func(c *Config) *[]string { return &c.Peers }},
	{name: "supported", env: "QUORUMGATE_SUPPORTED", flag: "supported", list: true, getL: func(c *Config) *[]string { return &c.Supported }},
	{name: "view_interval", env: "QUORUMGATE_VIEW_INTERVAL", flag: "view-interval", get: func(c *Config) *string { return &c.ViewInterval }},
	{name: "hook_timeout", env: "QUORUMGATE_HOOK_TIMEOUT", flag: "hook-timeout", get: func(c *Config) *string { return &c.HookTimeout }},
	{name: "api.listen", env: "QUORUMGATE_API_LISTEN", flag: "api-listen", get: func(c *Config) *string { return &c.API.Listen }},
	{name: "api.admin", env: "QUORUMGATE_API_ADMIN", flag: "api-admin", get: func(c *Config) *string { return &c.API.Admin }},
	{name: "log.format", env: "QUORUMGATE_LOG_FORMAT", flag: "log-format", get: func(c *Config) *string { return &c.Log.Format }},
	{name: "log.level", env: "QUORUMGATE_LOG_LEVEL", flag: "log-level", get: func(c *Config) *string { return &c.Log.Level }},
	{name: "cometbft.p2p_listen", env: "QUORUMGATE_COMETBFT_P2P_LISTEN", flag: "cometbft-p2p-listen", get: func(c *Config) *string { return &c.CometBFT.P2PListen }},
	{name: "cometbft.persistent_peers", env: "QUORUMGATE_COMETBFT_PERSISTENT_PEERS", flag: "cometbft-persistent-peers", list: true,
		getL: func(c *Config) *[]string { return &c.CometBFT.PersistentPeers }},
	{name: "cometbft.rpc_listen", env: "QUORUMGATE_COMETBFT_RPC_LISTEN", flag: "cometbft-rpc-listen", get: func(c *Config) *string { return &c.CometBFT.RPCListen }},
}

// AddFlags declares the flags that override the file and the environment.
func AddFlags(fs *pflag.FlagSet) {
	// --peer is the older spelling of --bootstrap.
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "peer" {
			name = "bootstrap"
		}
		return pflag.NormalizedName(name)
	})
	for _, k := range keys {
		help := fmt.Sprintf("overrides %s in config.toml and $%s", k.name, k.env)
		if k.list {
			fs.StringSlice(k.flag, nil, help+" (repeat or comma-separate)")
		} else {
			fs.String(k.flag, "", help)
		}
	}
}

// Load reads home/config.toml (if present), then the environment, then the
// flags that were set, and validates the result. Relative paths are resolved
// against home.
func Load(home string, env func(string) string, flags *pflag.FlagSet) (Config, map[string]string, error) {
	c := Defaults()
	source := map[string]string{}
	path := filepath.Join(home, "config.toml")
	if data, err := os.ReadFile(path); err == nil {
		md, err := toml.Decode(string(data), &c)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return c, nil, &Error{Key: fmt.Sprintf("line %d", pe.Position.Line), Source: path, Problem: pe.Message}
			}
			return c, nil, &Error{Key: "file", Source: path, Problem: err.Error()}
		}
		if und := md.Undecoded(); len(und) > 0 {
			names := make([]string, len(und))
			for i, u := range und {
				names[i] = u.String()
			}
			sort.Strings(names)
			return c, nil, &Error{Key: names[0], Source: path, Problem: "unknown key"}
		}
		for _, k := range md.Keys() {
			source[k.String()] = path
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, nil, &Error{Key: "file", Source: path, Problem: err.Error()}
	}
	for _, k := range keys {
		if v := env(k.env); v != "" {
			if k.list {
				*k.getL(&c) = splitList(v)
			} else {
				*k.get(&c) = v
			}
			source[k.name] = "$" + k.env
		}
		if flags != nil && flags.Changed(k.flag) {
			if k.list {
				v, _ := flags.GetStringSlice(k.flag)
				*k.getL(&c) = v
			} else {
				v, _ := flags.GetString(k.flag)
				*k.get(&c) = v
			}
			source[k.name] = "--" + k.flag
		}
	}
	if c.Genesis != "" && !filepath.IsAbs(c.Genesis) {
		c.Genesis = filepath.Join(home, c.Genesis)
	}
	return c, source, c.validate(source)
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) validate(source map[string]string) error {
	bad := func(name, format string, args ...any) error {
		return &Error{Key: name, Source: source[name], Problem: fmt.Sprintf(format, args...)}
	}
	if c.NodeID == "" {
		return bad("node_id", "is empty: set the node's ID from the genesis file (node-plugin init writes it)")
	}
	switch c.Engine {
	case "devchain", "cometbft":
	default:
		return bad("engine", "%q: allowed are devchain, cometbft", c.Engine)
	}
	if err := checkTCPAddr(c.CometBFT.P2PListen); err != nil {
		return bad("cometbft.p2p_listen", "%q: %v", c.CometBFT.P2PListen, err)
	}
	for _, p := range c.CometBFT.PersistentPeers {
		if err := checkCometPeer(p); err != nil {
			return bad("cometbft.persistent_peers", "%q: %v", p, err)
		}
	}
	if c.CometBFT.RPCListen != "" {
		if err := checkTCPAddr(c.CometBFT.RPCListen); err != nil {
			return bad("cometbft.rpc_listen", "%q: %v", c.CometBFT.RPCListen, err)
		}
	}
	for _, a := range c.Listen {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return bad("listen", "%q is not a multiaddr such as /ip4/127.0.0.1/tcp/7001", a)
		}
	}
	for _, p := range c.Peers {
		if _, err := peer.AddrInfoFromString(p); err != nil {
			return bad("peers", "%q is not a peer address such as /ip4/127.0.0.1/tcp/7001/p2p/12D3KooW…", p)
		}
	}
	if _, err := node.ParseSupported(c.Supported); err != nil {
		return bad("supported", "%v", err)
	}
	if d, err := time.ParseDuration(c.ViewInterval); err != nil || d <= 0 {
		return bad("view_interval", "%q is not a positive duration such as 500ms", c.ViewInterval)
	}
	if d, err := time.ParseDuration(c.HookTimeout); err != nil || d <= 0 {
		return bad("hook_timeout", "%q is not a positive duration such as 10m", c.HookTimeout)
	}
	if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
		return bad("api.listen", "%q is not host:port", c.API.Listen)
	}
	if err := checkAdmin(c.API.Admin); err != nil {
		return bad("api.admin", "%q: %v", c.API.Admin, err)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("log.format", "%q: allowed are text, json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q: allowed are debug, info, warn, error", c.Log.Level)
	}
	return nil
}

// checkTCPAddr accepts CometBFT's listen form, tcp://host:port.
func checkTCPAddr(a string) error {
	hp, ok := strings.CutPrefix(a, "tcp://")
	if !ok {
		return errors.New("not of the form tcp://host:port")
	}
	if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
		return errors.New("not of the form tcp://host:port")
	}
	return nil
}

// checkCometPeer accepts a CometBFT peer address, NODEID@host:port, where
// NODEID is 40 hex digits (node-plugin init prints it).
func checkCometPeer(p string) error {
	id, hp, ok := strings.Cut(p, "@")
	if !ok || len(id) != 40 || strings.Trim(strings.ToLower(id), "0123456789abcdef") != "" {
		return errors.New("not of the form NODEID@host:port with a 40-hex-digit CometBFT node ID")
	}
	if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
		return errors.New("not of the form NODEID@host:port")
	}
	return nil
}

// checkAdmin allows only loopback addresses or a unix socket for the
// endpoints that change state.
func checkAdmin(a string) error {
	if path, ok := strings.CutPrefix(a, "unix:"); ok {
		if path == "" {
			return errors.New("a unix socket needs a path, as unix:/path/admin.sock")
		}
		return nil
	}
	host, _, err := net.SplitHostPort(a)
	if err != nil {
		return errors.New("not host:port or unix:PATH")
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("the admin endpoints listen on localhost or a unix socket only")
	}
	return nil
}

// ViewIntervalDuration returns the parsed view interval (validated).
func (c Config) ViewIntervalDuration() time.Duration {
	d, _ := time.ParseDuration(c.ViewInterval)
	return d
}

// HookTimeoutDuration returns the parsed hook timeout (validated).
func (c Config) HookTimeoutDuration() time.Duration {
	d, _ := time.ParseDuration(c.HookTimeout)
	return d
}

// ParsedPeers returns the peers as address infos (validated).
func (c Config) ParsedPeers() []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, p := range c.Peers {
		ai, _ := peer.AddrInfoFromString(p)
		out = append(out, *ai)
	}
	return out
}

// Template is the commented config.toml that init writes.
const Template = `# node-plugin configuration. Precedence: flags > environment (QUORUMGATE_*) > this file.
# Unknown keys are errors.

# This node's ID in the genesis identity tables.
node_id = %q

# The consensus engine: "devchain" (one sequencer; quickest for a laptop) or
# "cometbft" (BFT consensus with CometBFT in process; see [cometbft]).
engine = "devchain"

# The genesis file, relative to the node home.
genesis = "genesis.json"

# libp2p listen addresses, and the peers to bootstrap from (multiaddr with
# /p2p/ID; --bootstrap on the command line). They are dialled at start and
# redialled while unreachable, like every node the genesis lists at its address.
listen = ["/ip4/127.0.0.1/tcp/0"]
peers = []

# Component versions this binary can run: the node signals readiness only for
# these, and halts (exit 3) rather than run anything else.
supported = [%s]

# The block interval: the devchain's view interval, CometBFT's timeout_commit
# (also used for upgrade ETAs).
view_interval = "500ms"

# Command run once when a deployment activates, with QUORUMGATE_DEPLOYMENT,
# _COMPONENT, _VERSION, _ACTIVATION_VIEW, _HEIGHT and _UPGRADE_INFO set. It
# runs beside the node (signaling, warnings and shutdown never wait for it); a
# failed run is retried with backoff, QUORUMGATE_HOOK_RETRY=1 set.
hook = []
# After this long the hook is killed, with every process it started.
hook_timeout = "10m"

[api]
# Read-only HTTP API (/status, /metrics, /livez, /readyz).
listen = "127.0.0.1:0"
# State-changing endpoints: localhost or unix:PATH only; they require the
# token in admin.token in the node home.
admin = "127.0.0.1:0"

[log]
format = "text"   # text or json
level = "info"    # debug, info, warn, error

[cometbft]
# CometBFT's own p2p address: consensus traffic (readiness gossip stays on libp2p).
p2p_listen = "tcp://127.0.0.1:26656"
# The other nodes' CometBFT addresses, NODEID@host:port (init prints this
# node's cometbft_node_id; node-plugin keys show --home DIR prints it again).
persistent_peers = []
# CometBFT's RPC, e.g. "tcp://127.0.0.1:26657" (empty: none).
rpc_listen = ""
`
