package cometbft

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtp2p "github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// Settings are the node's CometBFT settings (config.toml's [cometbft]).
type Settings struct {
	// P2PListen is CometBFT's p2p address, tcp://host:port.
	P2PListen string
	// PersistentPeers are NODEID@host:port of the other nodes.
	PersistentPeers []string
	// RPCListen serves CometBFT's RPC (empty: none). A node that joins by
	// state sync needs two nodes' RPC for its light client.
	RPCListen string
	// StateSync makes a node with an empty store join from a peer's
	// snapshot (CometBFT's state sync; see snapshot.go) instead of
	// replaying the chain from genesis. CometBFT's light client verifies
	// the snapshot's app hash from TrustHeight and TrustHash (a block hash
	// a running node reports, e.g. its RPC's /commit?height=TrustHeight),
	// against RPCServers (at least two, tcp://host:port or
	// http://host:port; may repeat one), trusting headers for TrustPeriod
	// (0: CometBFT's default, a week). A node with blocks starts as usual.
	StateSync   bool
	RPCServers  []string
	TrustHeight int64
	TrustHash   string
	TrustPeriod time.Duration
	// SnapshotInterval: a snapshot of the state every this many heights,
	// served to nodes that join by state sync (0: none); SnapshotKeep: how
	// many are kept (0: DefaultSnapshotKeep).
	SnapshotInterval uint64
	SnapshotKeep     int
}

// stateSyncDiscovery is how long a joining node gathers snapshot offers
// before it picks one: the least CometBFT takes.
const stateSyncDiscovery = 5 * time.Second

// Options configure an Engine.
type Options struct {
	Genesis *chain.Genesis
	// Store must have been opened with Genesis.State().
	Store  *storage.Store
	Home   string // CometBFT's files go to Home/cometbft
	NodeID string
	// Key is the node's libp2p key: CometBFT's node key and, for a
	// validator, its consensus key (see consensusKey).
	Key crypto.PrivKey
	// Interval is the pause after a block (CometBFT's timeout_commit); the
	// other timeouts follow from it.
	Interval time.Duration
	Guard    func(head *activation.State, view uint64) error
	Settings Settings
	Logger   *slog.Logger
}

// Engine is quorumgate on CometBFT, seen from one node; it implements
// chain.Chain and what node.Engine adds.
type Engine struct {
	opts    Options
	app     *App
	genesis *types.GenesisDoc
	cfg     *cmtcfg.Config
	net     *p2p.Node

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	proc *process
}

// New prepares the engine: it derives the CometBFT genesis and checks the
// settings. Start runs CometBFT.
func New(o Options) (*Engine, error) {
	if o.Genesis == nil || o.Store == nil || o.NodeID == "" || o.Home == "" {
		return nil, errors.New("cometbft: genesis, store, node ID and home are required")
	}
	if o.Interval <= 0 {
		o.Interval = chain.DefaultViewInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	doc, err := GenesisDoc(o.Genesis)
	if err != nil {
		return nil, err
	}
	cfg, err := Config(filepath.Join(o.Home, "cometbft"), o.Interval, o.Settings)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{opts: o, app: NewApp(o.Genesis, o.Store, o.Guard, o.Logger), genesis: doc, cfg: cfg, ctx: ctx, cancel: cancel}
	e.app.via = e.via
	keep := o.Settings.SnapshotKeep
	if keep <= 0 {
		keep = DefaultSnapshotKeep
	}
	if err := e.app.ServeSnapshots(o.Settings.SnapshotInterval, keep); err != nil {
		cancel()
		e.app.Close()
		return nil, err
	}
	return e, nil
}

// Config is the CometBFT configuration of a node: the settings, timeouts
// that follow from the block interval, and what quorumgate needs (no
// mempool, no tx index, no PEX: peers are the persistent peers). A bad
// setting is an error naming the key.
func Config(root string, interval time.Duration, s Settings) (*cmtcfg.Config, error) {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(root)
	cfg.P2P.ListenAddress = s.P2PListen
	cfg.P2P.PersistentPeers = strings.Join(s.PersistentPeers, ",")
	cfg.P2P.PexReactor = false
	cfg.P2P.AddrBookStrict = false
	cfg.P2P.AllowDuplicateIP = true
	cfg.P2P.FlushThrottleTimeout = min(100*time.Millisecond, max(interval/4, 10*time.Millisecond))
	cfg.P2P.DialTimeout = time.Second
	cfg.P2P.PersistentPeersMaxDialPeriod = 2 * time.Second
	cfg.RPC.ListenAddress = s.RPCListen
	cfg.Mempool.Type = cmtcfg.MempoolTypeNop
	cfg.TxIndex.Indexer = "null"
	cfg.Consensus.TimeoutCommit = interval
	cfg.Consensus.TimeoutPropose = max(6*interval, 300*time.Millisecond)
	cfg.Consensus.TimeoutProposeDelta = cfg.Consensus.TimeoutPropose / 6
	cfg.Consensus.TimeoutPrevote = max(2*interval, 100*time.Millisecond)
	cfg.Consensus.TimeoutPrevoteDelta = cfg.Consensus.TimeoutPrevote / 2
	cfg.Consensus.TimeoutPrecommit = cfg.Consensus.TimeoutPrevote
	cfg.Consensus.TimeoutPrecommitDelta = cfg.Consensus.TimeoutPrevoteDelta
	cfg.Consensus.PeerGossipSleepDuration = min(100*time.Millisecond, max(interval/4, 5*time.Millisecond))
	cfg.Consensus.PeerQueryMaj23SleepDuration = min(2*time.Second, max(5*interval, 100*time.Millisecond))
	if s.StateSync {
		cfg.StateSync.Enable = true
		cfg.StateSync.RPCServers = s.RPCServers
		cfg.StateSync.TrustHeight = s.TrustHeight
		cfg.StateSync.TrustHash = s.TrustHash
		if s.TrustPeriod > 0 {
			cfg.StateSync.TrustPeriod = s.TrustPeriod
		}
		cfg.StateSync.DiscoveryTime = stateSyncDiscovery
	}
	if s.P2PListen == "" {
		return nil, errors.New("configuration cometbft.p2p_listen: is empty")
	}
	if err := cfg.ValidateBasic(); err != nil {
		key := "cometbft"
		switch {
		case strings.Contains(err.Error(), "[p2p]"):
			key = "cometbft.p2p_listen or cometbft.persistent_peers"
		case strings.Contains(err.Error(), "[rpc]"):
			key = "cometbft.rpc_listen"
		case strings.Contains(err.Error(), "[statesync]"):
			key = "cometbft.state_sync (rpc_servers, trust_height, trust_hash, trust_period)"
		}
		return nil, fmt.Errorf("configuration %s: %w", key, err)
	}
	return cfg, nil
}

// ensureDirs makes CometBFT's config and data folders.
func ensureDirs(cfg *cmtcfg.Config) error {
	for _, dir := range []string{filepath.Dir(cfg.GenesisFile()), filepath.Dir(cfg.PrivValidatorStateFile())} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// IsValidator reports whether this node votes in the head's epoch (a
// consensus-role node of its identity table, with stake); others run
// CometBFT as full nodes.
func (e *Engine) IsValidator() bool {
	_, v, _ := e.app.consensusHead().Head()
	return IsValidatorAt(e.opts.Genesis, e.opts.NodeID, e.opts.Genesis.Params().Epoch(v+1))
}

// handlers pool the readiness and governance that libp2p gossip delivers.
// Blocks travel on CometBFT's p2p: the block topic takes nothing.
func (e *Engine) handlers() p2p.Handlers {
	return p2p.Handlers{OnAttestation: e.app.AddAttestation, OnGovernance: e.app.AddGovernance,
		// Governance is verified in full (the committee's approval) before it
		// is pooled or forwarded: junk costs its sender, never the proposer.
		GovernanceValidator: func(raw []byte) error {
			_, err := chain.VerifyGovernance(e.opts.Genesis, raw)
			return err
		},
		BlockValidator: func([]byte) error {
			return errors.New("the cometbft engine carries blocks on CometBFT's p2p, not on gossip")
		}}
}

// Start writes CometBFT's files (derived genesis, node key, validator key
// and its last-sign state, which guards against double signing across
// restarts) and starts CometBFT in process. The handshake brings the
// application up to CometBFT's block store first.
func (e *Engine) Start(net *p2p.Node) error {
	e.net = net
	if net != nil {
		net.Attach(e.handlers())
	}
	key, err := consensusKey(e.opts.Key)
	if err != nil {
		return err
	}
	if err := ensureDirs(e.cfg); err != nil {
		return err
	}
	if err := e.genesis.SaveAs(e.cfg.GenesisFile()); err != nil {
		return err
	}
	nodeKey := &cmtp2p.NodeKey{PrivKey: key}
	if err := nodeKey.SaveAs(e.cfg.NodeKeyFile()); err != nil {
		return err
	}
	var pv *privval.FilePV
	if _, err := os.Stat(e.cfg.PrivValidatorStateFile()); err == nil {
		pv = privval.LoadFilePV(e.cfg.PrivValidatorKeyFile(), e.cfg.PrivValidatorStateFile())
		if !bytes.Equal(pv.Key.PrivKey.Bytes(), key.Bytes()) {
			return fmt.Errorf("cometbft: %s holds another key than the node's p2p.key", e.cfg.PrivValidatorKeyFile())
		}
	} else {
		pv = privval.NewFilePV(key, e.cfg.PrivValidatorKeyFile(), e.cfg.PrivValidatorStateFile())
		pv.Save()
	}
	p, err := startProcess(e.ctx, e.cfg, pv, nodeKey, e.app, e.genesis, newLogger(e.opts.Logger))
	if err != nil {
		if aerr := e.app.Err(); aerr != nil {
			return aerr // a halt found while replaying blocks
		}
		return fmt.Errorf("cometbft: %w", err)
	}
	e.mu.Lock()
	e.proc = p
	e.mu.Unlock()
	if _, ok := e.opts.Store.Head(); e.opts.Settings.StateSync && !ok {
		e.wg.Add(1)
		go e.watchStateSync()
	}
	return nil
}

// stateSyncPatience is how long a node joining by state sync waits before
// it warns that no snapshot was restored, and then between warnings.
const stateSyncPatience = 30 * time.Second

// watchStateSync warns while a node joining by state sync has restored no
// snapshot: CometBFT keeps looking in silence (its log is at debug level
// here) when no peer serves one or the light client cannot verify it. It
// belongs to the engine and stops at Close or once the store holds a state.
func (e *Engine) watchStateSync() {
	defer e.wg.Done()
	t := time.NewTicker(stateSyncPatience)
	defer t.Stop()
	start := time.Now()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		if _, ok := e.opts.Store.Head(); ok {
			return
		}
		e.opts.Logger.Warn("state sync: no snapshot restored yet: check that the peers serve snapshots (their cometbft.snapshot_interval), "+
			"that cometbft.rpc_servers answer, and that trust_height and trust_hash name a block of this chain",
			"waited", time.Since(start).Round(time.Second))
	}
}

// Close stops CometBFT and the engine's goroutines.
func (e *Engine) Close() {
	e.cancel()
	e.mu.Lock()
	p := e.proc
	e.proc = nil
	e.mu.Unlock()
	if p != nil {
		p.stop()
	}
	e.app.Close()
	e.wg.Wait()
}

// Err implements chain.Chain.
func (e *Engine) Err() error { return e.app.Err() }

// Head implements chain.Chain.
func (e *Engine) Head() *activation.State { return e.app.Head() }

// CurrentView implements chain.Chain: the head's view.
func (e *Engine) CurrentView() uint64 {
	_, v, _ := e.app.Head().Head()
	return v
}

// Synced implements chain.Chain: CometBFT runs consensus (it is not block
// syncing) and a block was committed within ten block intervals (two
// seconds at least).
func (e *Engine) Synced() bool {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p == nil || p.node.ConsensusReactor().WaitSync() {
		return false
	}
	return e.app.sinceCommit() < max(10*e.cfg.Consensus.TimeoutCommit+e.cfg.Consensus.TimeoutPropose, 2*time.Second)
}

// BuildsBlocks implements chain.Chain: a validator proposes in its turn,
// from its own pool.
func (e *Engine) BuildsBlocks() bool { return e.IsValidator() }

// SubmitAttestation implements chain.Chain: pooled here if this node
// validates (it proposes from its pool), and gossiped on libp2p for the
// other validators.
func (e *Engine) SubmitAttestation(ctx context.Context, a signal.Attestation) error {
	if e.net == nil {
		return errors.New("cometbft: not started on a network")
	}
	if e.IsValidator() {
		e.app.AddAttestation(a)
	}
	return e.net.PublishAttestation(ctx, a)
}

// SubmitGovernance implements chain.Chain: pooled here and gossiped.
func (e *Engine) SubmitGovernance(ctx context.Context, m chain.GovernanceMessage) error {
	if e.net == nil {
		return errors.New("cometbft: not started on a network")
	}
	raw := canon.MustEncode(m)
	e.app.AddGovernance(raw)
	if err := e.net.PublishGovernance(ctx, raw); err != nil && !e.IsValidator() {
		return err
	}
	return nil
}

// Finalized implements chain.Chain: each committed block with the events
// Apply produced for it.
func (e *Engine) Finalized(ctx context.Context, from uint64) (<-chan chain.FinalizedBlock, error) {
	out := make(chan chain.FinalizedBlock, 16)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.app.pipe.Deliver(ctx, e.ctx.Done(), from, out, func(err error) { e.app.fail(err) })
	}()
	return out, nil
}

// via says how the block being committed reached this node: by block sync
// while CometBFT catches up, otherwise by its consensus reactor's gossip of
// block parts.
func (e *Engine) via() chain.Via {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p == nil || p.node.ConsensusReactor().WaitSync() {
		return chain.ViaSync
	}
	return chain.ViaGossip
}

// EquivocationCount implements chain.Chain: the validators' double signs
// CometBFT's evidence module proved and committed in blocks this node
// finalized (FinalizeBlock's misbehavior list).
func (e *Engine) EquivocationCount() int { return e.app.misbehavior() }

// BlockStoreRange returns the lowest and highest height CometBFT's block
// store holds (0, 0 before it started or with none): a node that joined by
// state sync holds none below its snapshot.
func (e *Engine) BlockStoreRange() (base, height int64) {
	e.mu.Lock()
	p := e.proc
	e.mu.Unlock()
	if p == nil {
		return 0, 0
	}
	bs := p.node.BlockStore()
	return bs.Base(), bs.Height()
}

// App returns the ABCI application (benchmarks and tests).
func (e *Engine) App() *App { return e.app }

var _ chain.Chain = (*Engine)(nil)

// logger hands CometBFT's log to slog: its errors at info level (a peer gone,
// a timeout are routine in a BFT network), the rest at debug level.
//
// With keeps its pairs and adds them to the records that are logged: slog's
// own With formats them at once, and CometBFT calls With far more often than
// anything is logged at the levels a node runs at (2% of a 100-node
// testnet's CPU went there).
type logger struct {
	l  *slog.Logger
	kv []any
}

func newLogger(l *slog.Logger) cmtlog.Logger { return logger{l: l.With("engine", "cometbft")} }

func (l logger) Debug(msg string, kv ...any) { l.log(slog.LevelDebug, msg, kv) }
func (l logger) Info(msg string, kv ...any)  { l.log(slog.LevelDebug, msg, kv) }
func (l logger) Error(msg string, kv ...any) { l.log(slog.LevelInfo, msg, kv) }
func (l logger) With(kv ...any) cmtlog.Logger {
	return logger{l: l.l, kv: append(slices.Clip(l.kv), kv...)}
}

func (l logger) log(level slog.Level, msg string, kv []any) {
	ctx := context.Background()
	if !l.l.Enabled(ctx, level) {
		return
	}
	l.l.Log(ctx, level, msg, append(slices.Clip(l.kv), kv...)...)
}
