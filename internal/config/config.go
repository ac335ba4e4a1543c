// Package config loads node-plugin's configuration: a TOML file in the node
// home, then QUORUMGATE_* environment variables, then command-line flags,
// each overriding the one before. Everything is parsed once, at start, into
// the types the node uses; an error names the key, the value, and what is
// allowed. Unknown keys are errors.
package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/spf13/pflag"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/engine"
	"github.com/quorumgate/quorumgate/node"
)

// Config is node-plugin's configuration, parsed: every value has the type
// the node uses, so nothing is parsed again after Load.
type Config struct {
	NodeID string
	Engine engine.Name
	// Genesis is the genesis file's path, resolved against the home.
	Genesis string
	Listen  []multiaddr.Multiaddr
	Peers   []peer.AddrInfo
	// GenesisDials bounds how many of the genesis nodes are dialled besides
	// Peers (0: every one).
	GenesisDials int
	Supported    node.Supported
	ViewInterval time.Duration
	Hook         []string
	HookTimeout  time.Duration
	API          struct {
		// Listen is host:port; Admin is a loopback host:port or unix:PATH.
		Listen, Admin string
	}
	Log struct {
		Format LogFormat
		Level  slog.Level
	}
	CometBFT CometBFT
	Devchain Devchain
}

// Devchain holds the settings of the devchain engine (ignored by cometbft).
type Devchain struct {
	// StateSync makes a follower with an empty store join from a peer's
	// snapshot rather than replay the chain from genesis.
	StateSync bool
}

// LogFormat is how the node writes its log.
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// CometBFT holds the settings of the cometbft engine (ignored by devchain),
// checked: its fields are those of cometbft.Settings, which it converts to.
type CometBFT struct {
	// P2PListen is CometBFT's own p2p address (consensus traffic), tcp://host:port.
	P2PListen string
	// PersistentPeers are other nodes' CometBFT addresses, NODEID@host:port.
	PersistentPeers []string
	// RPCListen serves CometBFT's RPC (empty: none).
	RPCListen string
	// StateSync and its trust settings: a node with an empty store joins
	// from a snapshot its light client verifies (cometbft.Settings).
	StateSync   bool
	RPCServers  []string
	TrustHeight int64
	TrustHash   string
	TrustPeriod time.Duration
	// SnapshotInterval (0: no snapshots) and SnapshotKeep: the snapshots
	// this node serves to nodes that join by state sync.
	SnapshotInterval uint64
	SnapshotKeep     int
}

// The defaults, one constant a setting: Defaults, the template init writes
// and the error messages' examples all use these. They work for a local
// testnet.
const (
	DefaultEngine            = engine.Default
	DefaultGenesis           = "genesis.json"
	DefaultListen            = "/ip4/127.0.0.1/tcp/0"
	DefaultViewInterval      = chain.DefaultViewInterval
	DefaultHookTimeout       = 10 * time.Minute
	DefaultAPIListen         = "127.0.0.1:0"
	DefaultAPIAdmin          = "127.0.0.1:0"
	DefaultLogFormat         = LogText
	DefaultLogLevel          = "info"
	DefaultCometBFTP2PListen = "tcp://127.0.0.1:26656"
	// DefaultCometBFTTrustPeriod is CometBFT's own default.
	DefaultCometBFTTrustPeriod      = 168 * time.Hour
	DefaultCometBFTSnapshotInterval = 1000
	DefaultCometBFTSnapshotKeep     = 2
)

// file is the configuration as written, in config.toml, the environment or
// flags: strings, parsed once by parse.
type file struct {
	NodeID       string   `toml:"node_id"`
	Engine       string   `toml:"engine"`
	Genesis      string   `toml:"genesis"`
	Listen       []string `toml:"listen"`
	Peers        []string `toml:"peers"`
	GenesisDials int      `toml:"genesis_dials"`
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
	CometBFT struct {
		P2PListen        string   `toml:"p2p_listen"`
		PersistentPeers  []string `toml:"persistent_peers"`
		RPCListen        string   `toml:"rpc_listen"`
		StateSync        scalar   `toml:"state_sync"`
		RPCServers       []string `toml:"rpc_servers"`
		TrustHeight      scalar   `toml:"trust_height"`
		TrustHash        string   `toml:"trust_hash"`
		TrustPeriod      string   `toml:"trust_period"`
		SnapshotInterval scalar   `toml:"snapshot_interval"`
		SnapshotKeep     scalar   `toml:"snapshot_keep"`
	} `toml:"cometbft"`
	Devchain struct {
		StateSync scalar `toml:"state_sync"`
	} `toml:"devchain"`
}

// scalar is a setting the file may write as a TOML boolean or integer
// (state_sync = true, snapshot_interval = 1000) or as a string, kept as the
// string the environment and flags give, and parsed once like them.
type scalar string

// UnmarshalTOML implements toml.Unmarshaler.
func (s *scalar) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*s = scalar(v)
	case bool:
		*s = scalar(strconv.FormatBool(v))
	case int64:
		*s = scalar(strconv.FormatInt(v, 10))
	default:
		return fmt.Errorf("%v is not a boolean, an integer or a string", v)
	}
	return nil
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

// defaults is the written form of the defaults.
func defaults() file {
	var c file
	c.Engine = string(DefaultEngine)
	c.Genesis = DefaultGenesis
	c.Listen = []string{DefaultListen}
	c.ViewInterval = formatDuration(DefaultViewInterval)
	c.HookTimeout = formatDuration(DefaultHookTimeout)
	c.API.Listen = DefaultAPIListen
	c.API.Admin = DefaultAPIAdmin
	c.Log.Format = string(DefaultLogFormat)
	c.Log.Level = DefaultLogLevel
	c.CometBFT.P2PListen = DefaultCometBFTP2PListen
	c.CometBFT.StateSync = "false"
	c.CometBFT.TrustHeight = "0"
	c.CometBFT.TrustPeriod = formatDuration(DefaultCometBFTTrustPeriod)
	c.CometBFT.SnapshotInterval = scalar(strconv.Itoa(DefaultCometBFTSnapshotInterval))
	c.CometBFT.SnapshotKeep = scalar(strconv.Itoa(DefaultCometBFTSnapshotKeep))
	c.Devchain.StateSync = "false"
	return c
}

// formatDuration writes d as a person would: 10m, not 10m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// key describes one setting in all three places it can come from.
type key struct {
	name string // TOML key, dotted
	env  string
	flag string
	list bool
	// boolean: the flag alone means true (--cometbft-state-sync).
	boolean bool
	num     bool // a whole number (getN)
	get     func(*file) *string
	getL    func(*file) *[]string
	getN    func(*file) *int
}

var keys = []key{
	{name: "node_id", env: "QUORUMGATE_NODE_ID", flag: "node-id", get: func(c *file) *string { return &c.NodeID }},
	{name: "engine", env: "QUORUMGATE_ENGINE", flag: "engine", get: func(c *file) *string { return &c.Engine }},
	{name: "genesis", env: "QUORUMGATE_GENESIS", flag: "genesis", get: func(c *file) *string { return &c.Genesis }},
	{name: "listen", env: "QUORUMGATE_LISTEN", flag: "listen", list: true, getL: func(c *file) *[]string { return &c.Listen }},
	{name: "peers", env: "QUORUMGATE_PEERS", flag: "bootstrap", list: true, getL: func(c *file) *[]string { return &c.Peers }},
	{name: "genesis_dials", env: "QUORUMGATE_GENESIS_DIALS", flag: "genesis-dials", num: true, getN: func(c *file) *int { return &c.GenesisDials }},
	{name: "supported", env: "QUORUMGATE_SUPPORTED", flag: "supported", list: true, getL: func(c *file) *[]string { return &c.Supported }},
	{name: "view_interval", env: "QUORUMGATE_VIEW_INTERVAL", flag: "view-interval", get: func(c *file) *string { return &c.ViewInterval }},
	{name: "hook_timeout", env: "QUORUMGATE_HOOK_TIMEOUT", flag: "hook-timeout", get: func(c *file) *string { return &c.HookTimeout }},
	{name: "api.listen", env: "QUORUMGATE_API_LISTEN", flag: "api-listen", get: func(c *file) *string { return &c.API.Listen }},
	{name: "api.admin", env: "QUORUMGATE_API_ADMIN", flag: "api-admin", get: func(c *file) *string { return &c.API.Admin }},
	{name: "log.format", env: "QUORUMGATE_LOG_FORMAT", flag: "log-format", get: func(c *file) *string { return &c.Log.Format }},
	{name: "log.level", env: "QUORUMGATE_LOG_LEVEL", flag: "log-level", get: func(c *file) *string { return &c.Log.Level }},
	{name: "cometbft.p2p_listen", env: "QUORUMGATE_COMETBFT_P2P_LISTEN", flag: "cometbft-p2p-listen", get: func(c *file) *string { return &c.CometBFT.P2PListen }},
	{name: "cometbft.persistent_peers", env: "QUORUMGATE_COMETBFT_PERSISTENT_PEERS", flag: "cometbft-persistent-peers", list: true,
		getL: func(c *file) *[]string { return &c.CometBFT.PersistentPeers }},
	{name: "cometbft.rpc_listen", env: "QUORUMGATE_COMETBFT_RPC_LISTEN", flag: "cometbft-rpc-listen", get: func(c *file) *string { return &c.CometBFT.RPCListen }},
	{name: "cometbft.state_sync", env: "QUORUMGATE_COMETBFT_STATE_SYNC", flag: "cometbft-state-sync", boolean: true,
		get: func(c *file) *string { return (*string)(&c.CometBFT.StateSync) }},
	{name: "cometbft.rpc_servers", env: "QUORUMGATE_COMETBFT_RPC_SERVERS", flag: "cometbft-rpc-servers", list: true,
		getL: func(c *file) *[]string { return &c.CometBFT.RPCServers }},
	{name: "cometbft.trust_height", env: "QUORUMGATE_COMETBFT_TRUST_HEIGHT", flag: "cometbft-trust-height",
		get: func(c *file) *string { return (*string)(&c.CometBFT.TrustHeight) }},
	{name: "cometbft.trust_hash", env: "QUORUMGATE_COMETBFT_TRUST_HASH", flag: "cometbft-trust-hash", get: func(c *file) *string { return &c.CometBFT.TrustHash }},
	{name: "cometbft.trust_period", env: "QUORUMGATE_COMETBFT_TRUST_PERIOD", flag: "cometbft-trust-period", get: func(c *file) *string { return &c.CometBFT.TrustPeriod }},
	{name: "cometbft.snapshot_interval", env: "QUORUMGATE_COMETBFT_SNAPSHOT_INTERVAL", flag: "cometbft-snapshot-interval",
		get: func(c *file) *string { return (*string)(&c.CometBFT.SnapshotInterval) }},
	{name: "cometbft.snapshot_keep", env: "QUORUMGATE_COMETBFT_SNAPSHOT_KEEP", flag: "cometbft-snapshot-keep",
		get: func(c *file) *string { return (*string)(&c.CometBFT.SnapshotKeep) }},
	{name: "devchain.state_sync", env: "QUORUMGATE_DEVCHAIN_STATE_SYNC", flag: "devchain-state-sync", boolean: true,
		get: func(c *file) *string { return (*string)(&c.Devchain.StateSync) }},
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
		switch {
		case k.list:
			fs.StringSlice(k.flag, nil, help+" (repeat or comma-separate)")
		case k.boolean:
			fs.String(k.flag, "", help+" (alone: true)")
			fs.Lookup(k.flag).NoOptDefVal = "true"
		case k.num:
			fs.Int(k.flag, 0, help)
		default:
			fs.String(k.flag, "", help)
		}
	}
}

// Load reads home/config.toml (if present), then the environment, then the
// flags that were set, and parses the result; it also returns where each
// key was set. Relative paths are resolved against home.
func Load(home string, env func(string) string, flags *pflag.FlagSet) (Config, map[string]string, error) {
	w := defaults()
	source := map[string]string{}
	path := filepath.Join(home, "config.toml")
	if data, err := os.ReadFile(path); err == nil {
		md, err := toml.Decode(string(data), &w)
		if err != nil {
			var pe toml.ParseError
			if errors.As(err, &pe) {
				return Config{}, nil, &Error{Key: fmt.Sprintf("line %d", pe.Position.Line), Source: path, Problem: pe.Message}
			}
			return Config{}, nil, &Error{Key: "file", Source: path, Problem: err.Error()}
		}
		if und := md.Undecoded(); len(und) > 0 {
			names := make([]string, len(und))
			for i, u := range und {
				names[i] = u.String()
			}
			sort.Strings(names)
			return Config{}, nil, &Error{Key: names[0], Source: path, Problem: "unknown key"}
		}
		for _, k := range md.Keys() {
			source[k.String()] = path
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return Config{}, nil, &Error{Key: "file", Source: path, Problem: err.Error()}
	}
	for _, k := range keys {
		if v := env(k.env); v != "" {
			if k.list {
				*k.getL(&w) = splitList(v)
			} else if k.num {
				n, err := strconv.Atoi(v)
				if err != nil {
					return Config{}, nil, &Error{Key: k.name, Source: "$" + k.env, Problem: fmt.Sprintf("%q is not a whole number", v)}
				}
				*k.getN(&w) = n
			} else {
				*k.get(&w) = v
			}
			source[k.name] = "$" + k.env
		}
		if flags == nil || !flags.Changed(k.flag) {
			continue
		}
		// AddFlags declared a string slice for a list, an int for a number,
		// a string otherwise.
		if v := flags.Lookup(k.flag).Value; k.list {
			*k.getL(&w) = v.(pflag.SliceValue).GetSlice()
		} else if k.num {
			n, err := strconv.Atoi(v.String())
			if err != nil { // pflag parsed it already
				return Config{}, nil, &Error{Key: k.name, Source: "--" + k.flag, Problem: err.Error()}
			}
			*k.getN(&w) = n
		} else {
			*k.get(&w) = v.String()
		}
		source[k.name] = "--" + k.flag
	}
	if w.Genesis != "" && !filepath.IsAbs(w.Genesis) {
		w.Genesis = filepath.Join(home, w.Genesis)
	}
	c, err := w.parse(source)
	return c, source, err
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

// logLevels are the log.level values.
var logLevels = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}

// parse turns the written configuration into Config; an error names the
// first bad key and where it was set.
func (w *file) parse(source map[string]string) (Config, error) {
	bad := func(name, format string, args ...any) error {
		return &Error{Key: name, Source: source[name], Problem: fmt.Sprintf(format, args...)}
	}
	var c Config
	var err error
	if c.NodeID = w.NodeID; c.NodeID == "" {
		return Config{}, bad("node_id", "is empty: set the node's ID from the genesis file (node-plugin init writes it)")
	}
	if c.Engine, err = engine.Parse(w.Engine); err != nil {
		return Config{}, bad("engine", "%v", err)
	}
	c.Genesis = w.Genesis
	if err := checkTCPAddr(w.CometBFT.P2PListen); err != nil {
		return Config{}, bad("cometbft.p2p_listen", "%q: %v", w.CometBFT.P2PListen, err)
	}
	for _, p := range w.CometBFT.PersistentPeers {
		if err := checkCometPeer(p); err != nil {
			return Config{}, bad("cometbft.persistent_peers", "%q: %v", p, err)
		}
	}
	if w.CometBFT.RPCListen != "" {
		if err := checkTCPAddr(w.CometBFT.RPCListen); err != nil {
			return Config{}, bad("cometbft.rpc_listen", "%q: %v", w.CometBFT.RPCListen, err)
		}
	}
	if c.CometBFT, err = w.parseCometBFT(bad); err != nil {
		return Config{}, err
	}
	if c.Devchain.StateSync, err = strconv.ParseBool(string(w.Devchain.StateSync)); err != nil {
		return Config{}, bad("devchain.state_sync", "%q is not true or false", w.Devchain.StateSync)
	}
	for _, a := range w.Listen {
		ma, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			return Config{}, bad("listen", "%q is not a multiaddr such as /ip4/127.0.0.1/tcp/7001", a)
		}
		c.Listen = append(c.Listen, ma)
	}
	for _, p := range w.Peers {
		ai, err := peer.AddrInfoFromString(p)
		if err != nil {
			return Config{}, bad("peers", "%q is not a peer address such as /ip4/127.0.0.1/tcp/7001/p2p/12D3KooW…", p)
		}
		c.Peers = append(c.Peers, *ai)
	}
	if w.GenesisDials < 0 {
		return Config{}, bad("genesis_dials", "%d: 0 dials every genesis node, a positive number that many of them", w.GenesisDials)
	}
	c.GenesisDials = w.GenesisDials
	if c.Supported, err = node.ParseSupported(w.Supported); err != nil {
		return Config{}, bad("supported", "%v", err)
	}
	if c.ViewInterval, err = time.ParseDuration(w.ViewInterval); err != nil || c.ViewInterval <= 0 {
		return Config{}, bad("view_interval", "%q is not a positive duration such as %s", w.ViewInterval, formatDuration(DefaultViewInterval))
	}
	c.Hook = w.Hook
	if c.HookTimeout, err = time.ParseDuration(w.HookTimeout); err != nil || c.HookTimeout <= 0 {
		return Config{}, bad("hook_timeout", "%q is not a positive duration such as %s", w.HookTimeout, formatDuration(DefaultHookTimeout))
	}
	if _, _, err := net.SplitHostPort(w.API.Listen); err != nil {
		return Config{}, bad("api.listen", "%q is not host:port", w.API.Listen)
	}
	c.API.Listen = w.API.Listen
	if err := checkAdmin(w.API.Admin); err != nil {
		return Config{}, bad("api.admin", "%q: %v", w.API.Admin, err)
	}
	c.API.Admin = w.API.Admin
	switch c.Log.Format = LogFormat(w.Log.Format); c.Log.Format {
	case LogText, LogJSON:
	default:
		return Config{}, bad("log.format", "%q: allowed are %s, %s", w.Log.Format, LogText, LogJSON)
	}
	level, ok := logLevels[w.Log.Level]
	if !ok {
		return Config{}, bad("log.level", "%q: allowed are debug, info, warn, error", w.Log.Level)
	}
	c.Log.Level = level
	return c, nil
}

// parseCometBFT parses the [cometbft] settings beyond the addresses
// (checked before), state sync's trust settings in full when it is on.
func (w *file) parseCometBFT(bad func(name, format string, args ...any) error) (CometBFT, error) {
	cw := w.CometBFT
	c := CometBFT{P2PListen: cw.P2PListen, PersistentPeers: cw.PersistentPeers, RPCListen: cw.RPCListen,
		RPCServers: cw.RPCServers, TrustHash: cw.TrustHash}
	var err error
	if c.StateSync, err = strconv.ParseBool(string(cw.StateSync)); err != nil {
		return c, bad("cometbft.state_sync", "%q is not true or false", cw.StateSync)
	}
	if c.TrustHeight, err = strconv.ParseInt(string(cw.TrustHeight), 10, 64); err != nil || c.TrustHeight < 0 {
		return c, bad("cometbft.trust_height", "%q is not a height (a whole number, 0 or more)", cw.TrustHeight)
	}
	if c.TrustPeriod, err = time.ParseDuration(cw.TrustPeriod); err != nil || c.TrustPeriod <= 0 {
		return c, bad("cometbft.trust_period", "%q is not a positive duration such as %s", cw.TrustPeriod, formatDuration(DefaultCometBFTTrustPeriod))
	}
	if c.SnapshotInterval, err = strconv.ParseUint(string(cw.SnapshotInterval), 10, 64); err != nil {
		return c, bad("cometbft.snapshot_interval", "%q is not a whole number of heights (0: no snapshots)", cw.SnapshotInterval)
	}
	if c.SnapshotKeep, err = strconv.Atoi(string(cw.SnapshotKeep)); err != nil || c.SnapshotKeep < 1 {
		return c, bad("cometbft.snapshot_keep", "%q is not a number of snapshots, 1 or more", cw.SnapshotKeep)
	}
	for _, s := range cw.RPCServers {
		if err := checkRPCServer(s); err != nil {
			return c, bad("cometbft.rpc_servers", "%q: %v", s, err)
		}
	}
	if cw.TrustHash != "" {
		if b, err := hex.DecodeString(cw.TrustHash); err != nil || len(b) != 32 {
			return c, bad("cometbft.trust_hash", "%q is not a block hash (64 hex digits)", cw.TrustHash)
		}
	}
	if !c.StateSync {
		return c, nil
	}
	switch {
	case len(cw.RPCServers) < 2:
		return c, bad("cometbft.rpc_servers", "state sync needs at least two CometBFT RPC servers of running nodes for its light client (one may be listed twice)")
	case c.TrustHeight == 0:
		return c, bad("cometbft.trust_height", "state sync needs the height of a block it trusts (e.g. a recent one from a running node's RPC: /commit)")
	case cw.TrustHash == "":
		return c, bad("cometbft.trust_hash", "state sync needs the hash of the block at trust_height (a running node's RPC: /commit?height=H, signed_header.commit.block_id.hash)")
	}
	return c, nil
}

// checkRPCServer accepts a CometBFT RPC address: tcp://, http:// or
// https://host:port.
func checkRPCServer(a string) error {
	for _, scheme := range []string{"tcp://", "http://", "https://"} {
		if hp, ok := strings.CutPrefix(a, scheme); ok {
			if _, port, err := net.SplitHostPort(hp); err == nil && port != "" {
				return nil
			}
		}
	}
	return errors.New("not of the form tcp://host:port or http://host:port")
}

// ListenAddrs are the listen addresses as the node takes them.
func (c Config) ListenAddrs() []string {
	out := make([]string, len(c.Listen))
	for i, a := range c.Listen {
		out[i] = a.String()
	}
	return out
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

// File is the commented config.toml that init writes for a node: its ID,
// the versions it supports, and every other setting at its default.
func File(nodeID string, supported []string) string {
	w := defaults()
	w.NodeID, w.Supported = nodeID, supported
	var b strings.Builder
	if err := fileTemplate.Execute(&b, w); err != nil {
		panic(err) // the template and its data are fixed: a test covers them
	}
	return b.String()
}

var fileTemplate = template.Must(template.New("config.toml").Funcs(template.FuncMap{
	"q": strconv.Quote,
	"list": func(l []string) string {
		q := make([]string, len(l))
		for i, s := range l {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	},
}).Parse(fileText))

const fileText = `# node-plugin configuration. Precedence: flags > environment (QUORUMGATE_*) > this file.
# Unknown keys are errors.

# This node's ID in the genesis identity tables.
node_id = {{q .NodeID}}

# The consensus engine: "devchain" (one sequencer; quickest for a laptop) or
# "cometbft" (BFT consensus with CometBFT in process; see [cometbft]).
engine = {{q .Engine}}

# The genesis file, relative to the node home.
genesis = {{q .Genesis}}

# libp2p listen addresses, and the peers to bootstrap from (multiaddr with
# /p2p/ID; --bootstrap on the command line). They are dialled at start and
# redialled while unreachable, like every node the genesis lists at its address.
listen = {{list .Listen}}
peers = []
# How many of the genesis nodes to dial: 0 dials every one (right for a few
# dozen nodes); N dials N of them, a choice fixed by the peer IDs that
# includes the node's successor in the ring of peer IDs, so that the nodes'
# choices together connect them all. Gossip reaches the rest.
genesis_dials = {{.GenesisDials}}

# Component versions this binary can run: the node signals readiness only for
# these, and halts (exit 3) rather than run anything else. An entry is either
# component=MAJOR.MINOR, a component version, which covers every release of it
# ("protocol=2.0" runs 2.0.0, 2.0.1, …, not 2.1.0 or a pre-release such as
# 2.0.1-rc.1), or component=MAJOR.MINOR.PATCH, exactly that version
# ("protocol=2.0.1"); they may mix, e.g. ["protocol=1.0.0", "protocol=2.0"].
supported = {{list .Supported}}

# The block interval: the devchain's view interval, CometBFT's timeout_commit
# (also used for upgrade ETAs).
view_interval = {{q .ViewInterval}}

# Command run once when a deployment activates. A version upgrade sets
# QUORUMGATE_DEPLOYMENT, _COMPONENT, _VERSION, _ACTIVATION_VIEW, _HEIGHT and
# _UPGRADE_INFO; a parameter change sets QUORUMGATE_DEPLOYMENT, _PARAM, _VALUE,
# _ACTIVATION_VIEW, _HEIGHT and _PARAMS_FILE (HOME/params.json, which holds the
# new value by then). It runs beside the node (signaling, warnings and shutdown never wait for it); a
# failed run is retried with backoff, QUORUMGATE_HOOK_RETRY=1 set.
hook = []
# After this long the hook is killed, with every process it started.
hook_timeout = {{q .HookTimeout}}

[api]
# Read-only HTTP API (/status, /metrics, /livez, /readyz).
listen = {{q .API.Listen}}
# State-changing endpoints: localhost or unix:PATH only; they require the
# token in admin.token in the node home.
admin = {{q .API.Admin}}

[log]
format = {{q .Log.Format}}   # text or json
level = {{q .Log.Level}}    # debug, info, warn, error

[cometbft]
# CometBFT's own p2p address: consensus traffic (readiness gossip stays on libp2p).
p2p_listen = {{q .CometBFT.P2PListen}}
# The other nodes' CometBFT addresses, NODEID@host:port (init prints this
# node's cometbft_node_id; node-plugin keys show --home DIR prints it again).
persistent_peers = []
# CometBFT's RPC, e.g. "tcp://127.0.0.1:26657" (empty: none). Nodes that
# join by state sync need two running nodes' RPC.
rpc_listen = ""
# Snapshots served to nodes that join by state sync: one every this many
# heights (0: none), the last snapshot_keep of them.
snapshot_interval = {{.CometBFT.SnapshotInterval}}
snapshot_keep = {{.CometBFT.SnapshotKeep}}
# Join a running network from a snapshot instead of replaying it from genesis
# (only on an empty store; README: "Joining a running network by state sync").
# CometBFT's light client verifies the snapshot from a block you trust
# (trust_height and its trust_hash, e.g. from a running node's RPC
# /commit?height=H) against two or more rpc_servers.
state_sync = {{.CometBFT.StateSync}}
rpc_servers = []
trust_height = {{.CometBFT.TrustHeight}}
trust_hash = ""
trust_period = {{q .CometBFT.TrustPeriod}}

[devchain]
# Join a running devchain from a peer's snapshot (a follower with an empty
# store only; the sequencer makes the chain).
state_sync = {{.Devchain.StateSync}}
`
