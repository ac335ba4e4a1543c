package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// Config configures a running node.
type Config struct {
	// Home holds the store (Home/store), upgrade-info.json, params.json
	// and hook markers.
	Home    string
	Genesis *chain.Genesis
	// Engine builds the consensus engine (required): the composition root
	// picks devchain or CometBFT.
	Engine     NewEngine
	NodeID     string
	StakingKey signal.PrivateKey
	P2PKey     crypto.PrivKey
	// ListenAddrs default to /ip4/127.0.0.1/tcp/0.
	ListenAddrs []string
	Peers       []peer.AddrInfo
	// GenesisDials bounds how many of the genesis nodes the node dials
	// besides Peers (0: every one; see pickGenesisDials).
	GenesisDials int
	// Supported are the component versions this binary runs.
	Supported Supported
	// Hook runs once per activation, of a version or a parameter (see
	// Upgrader), off the run loop, killed with its process group after
	// HookTimeout (default 10 minutes).
	Hook        []string
	HookTimeout time.Duration
	// ViewInterval is the engine's block interval (and the ETA unit).
	ViewInterval time.Duration
	// WarnEvery repeats upgrade warnings (default 30 s).
	WarnEvery time.Duration
	Logger    *slog.Logger
	// FS, for tests, puts the store on another filesystem.
	FS vfs.FS
	// ResyncLostBlocks starts the node even if its store's write-ahead log
	// lost committed blocks (storage.ErrLostBlocks): from the head the store
	// recovered, re-fetching the rest from peers as the engine catches up.
	// Without it Start fails with the store's one-line account of the loss.
	ResyncLostBlocks bool
	// APIListen serves the read-only HTTP API (host:port or unix:PATH;
	// empty: none). AdminListen serves governance submission, on loopback or
	// a unix socket only, with the token in Home/admin.token.
	APIListen, AdminListen string
}

// Node is a running node: store, engine, network, and the runtime loop.
// It owns all of them; Close stops them, Wait reports why it stopped.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *storage.Store
	chain Engine
	net   *p2p.Node
	hooks *hookRunner

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}

	mu          sync.Mutex
	err         error
	attested    map[attestKey]bool
	published   map[attestKey]uint64 // view at which own readiness went out (republish.go)
	republished int
	received    map[chain.Via]uint64 // blocks applied in this run, by how they first arrived

	metrics *metrics
	events  *eventMetrics
	history *history
	subs    *submissions // submissions.go
	// paramsMu orders the writes of params.json (params.go).
	paramsMu sync.Mutex
}

type attestKey struct {
	d signal.DeploymentID
	e uint64
}

// Start opens the node's store, joins the network and follows the chain.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Genesis == nil || cfg.NodeID == "" || cfg.P2PKey == nil || cfg.Home == "" || cfg.Engine == nil {
		return nil, errors.New("node: genesis, node ID, libp2p key, home and engine are required")
	}
	cfg = cfg.withDefaults()
	g := cfg.Genesis
	store, err := storage.Open(filepath.Join(cfg.Home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(),
		Genesis: g.State(), FS: cfg.FS, Small: cfg.FS != nil, Logger: cfg.Logger.With("node", cfg.NodeID),
		AcceptLostBlocks: cfg.ResyncLostBlocks})
	if err != nil {
		return nil, fmt.Errorf("node: open the store: %w", err)
	}
	c, err := cfg.Engine(EngineEnv{Genesis: g, Store: store, Home: cfg.Home, NodeID: cfg.NodeID, StakingKey: cfg.StakingKey,
		P2PKey: cfg.P2PKey, ViewInterval: cfg.ViewInterval, Guard: Guard(cfg.Supported), Logger: cfg.Logger.With("node", cfg.NodeID)})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("node: build the chain engine: %w", err), store.Close())
	}
	nctx, cancel := context.WithCancel(ctx)
	n := &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.NodeID), store: store, chain: c, ctx: nctx, cancel: cancel,
		done: make(chan struct{}), attested: map[attestKey]bool{}, history: newHistory()}
	n.metrics = newMetrics(n)
	n.events = newEventMetrics(n.metrics.reg)
	n.hooks = n.newHooks()
	if n.subs, err = loadSubmissions(cfg.Home); err != nil {
		return nil, n.abandon("load pending submissions", err)
	}
	// The node software finds the parameters' values as of the head from
	// the start, not only after the next change.
	if err := n.writeParams(); err != nil {
		return nil, n.abandon("write the parameters' values", err)
	}
	self, err := peer.IDFromPrivateKey(cfg.P2PKey)
	if err != nil {
		return nil, n.abandon("peer ID of the libp2p key", err)
	}
	network, err := p2p.Start(nctx, n.p2pConfig(self))
	if err != nil {
		return nil, n.abandon("start the p2p network", err)
	}
	n.net = network
	if err := c.Start(n.net); err != nil {
		return nil, n.abandon("start the chain engine", err)
	}
	if err := n.startAPI(); err != nil {
		return nil, n.abandon("start the API", err)
	}
	n.wg.Add(2)
	go n.run()
	go func() { defer n.wg.Done(); n.hooks.run(n.ctx) }()
	return n, nil
}

// abandon undoes a Start that failed at step: it stops and closes what
// Start has built (the network once it runs, the engine, the store) and
// returns the step's error, with any error closing them joined to it.
func (n *Node) abandon(step string, err error) error {
	err = fmt.Errorf("node: %s: %w", step, err)
	if n.net != nil {
		return errors.Join(err, n.Close())
	}
	n.cancel()
	n.chain.Close()
	return errors.Join(err, n.store.Close())
}

// withDefaults fills in what a Config may leave out.
func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WarnEvery <= 0 {
		cfg.WarnEvery = 30 * time.Second
	}
	if cfg.ViewInterval <= 0 {
		cfg.ViewInterval = chain.DefaultViewInterval
	}
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	return cfg
}

// p2pConfig is the node's network: its genesis peers besides the
// configured ones, the chain's head for judging gossip, and the metrics and
// fork checks it reports to. The engine adds its own parts (Engine.Network).
func (n *Node) p2pConfig(self peer.ID) p2p.Config {
	g := n.cfg.Genesis
	return p2p.Config{ChainID: g.ChainID, Identity: n.cfg.P2PKey, ListenAddrs: n.cfg.ListenAddrs,
		Peers: withGenesisPeers(n.cfg.Peers, g, self, n.cfg.GenesisDials), View: chainView{n}, OnVerdict: n.metrics.verdict,
		ForkID: n.forkIDNow, CheckFork: func(r p2p.ForkID) error { return CheckFork(n.chain.Head(), g.Hash(), n.chain.Synced(), r) },
		OnForkMismatch: n.forkMismatch,
		// Until the engine attaches its own (in its Start), blocks and
		// governance are ignored, at no cost to their senders.
		Handlers: p2p.Handlers{BlockValidator: notAttached, GovernanceValidator: notAttached}}
}

func notAttached([]byte) error {
	return fmt.Errorf("%w: the chain engine has not started yet", p2p.ErrIgnore)
}

// chainView tells the p2p pipeline about the chain's head.
type chainView struct{ n *Node }

func (v chainView) CurrentEpoch() uint64 {
	h := v.n.chain.Head()
	_, view, _ := h.Head()
	return h.Params().Epoch(view)
}

func (v chainView) Table(e uint64) *quorum.Table {
	return v.n.cfg.Genesis.Params().Identities.TableAt(e)
}

func (v chainView) Signaling(d signal.DeploymentID) bool {
	dep, ok := v.n.chain.Head().DeploymentByID(d)
	return ok && (dep.Status == activation.Started || dep.Status == activation.LockedIn)
}

// run is the runtime loop: it reacts to each finalized block's events
// (activations go to the upgrader, lock-ins of versions this binary cannot
// run are warned about, rejections are counted), and after every block and
// on a timer it attests and repeats warnings.
func (n *Node) run() {
	defer n.wg.Done()
	defer close(n.done)
	fresh := n.nextHeight() // blocks from here on are new to this run
	next := n.replayFrom(fresh)
	blocks, err := n.chain.Finalized(n.ctx, next)
	if err != nil {
		n.stopped(err)
		return
	}
	tick := time.NewTicker(max(n.cfg.ViewInterval, 20*time.Millisecond))
	defer tick.Stop()
	var lastWarn time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case fb, ok := <-blocks:
			if !ok {
				n.stopped(n.chain.Err())
				return
			}
			if fb.Height > next {
				// The engine joined by state sync: the head jumped to the
				// snapshot's state, parameters included.
				n.log.Info("joined the chain by state sync", "height", fb.Height-1)
				if err := n.writeParams(); err != nil {
					n.log.Error("write the parameters' values after state sync", "err", err)
				}
			}
			next = fb.Height + 1
			// Blocks below fresh are replayed after a restart for their
			// activations only: they were counted the first time.
			if fb.Height >= fresh {
				n.metrics.blocks.Inc()
				n.countReceived(fb.Via)
			}
			if err := n.subs.finalized(fb); err != nil {
				n.log.Error("record included submissions", "height", fb.Height, "err", err)
			}
			if n.onBlock(fb, fb.Height >= fresh) {
				lastWarn = time.Time{} // a new lock-in is warned about at once
			}
		case <-tick.C:
			if err := n.chain.Err(); err != nil {
				n.stopped(err)
				return
			}
		}
		head := n.chain.Head()
		n.signal(head)
		if _, view, ok := head.Head(); ok {
			n.resubmit(view)
		}
		// Warnings speak of the chain's head: a node catching up does not
		// know it yet, and would warn about deployments since cancelled or
		// give an ETA for a view long past.
		if time.Since(lastWarn) >= n.cfg.WarnEvery && n.chain.Synced() {
			_, view, _ := head.Head()
			for _, w := range Warnings(head, n.cfg.Supported, view, n.cfg.ViewInterval) {
				n.log.Warn("UPGRADE NEEDED: " + w.String())
				lastWarn = time.Now()
			}
		}
	}
}

func (n *Node) nextHeight() uint64 {
	head := n.chain.Head()
	if h, _, ok := head.Head(); ok {
		return h + 1
	}
	return 0
}

func (n *Node) stopped(err error) {
	n.mu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.mu.Unlock()
	var he *HaltError
	if errors.As(err, &he) {
		n.log.Error(err.Error())
		n.handOverToCosmovisor(he) // cosmovisor.go
	}
	n.cancel()
}

// signal attests once per epoch for each STARTED deployment this node
// supports. A publish before the node has gossip peers would be lost (and a
// repeat of the same bytes is a duplicate to gossip), so it waits for them.
func (n *Node) signal(head *activation.State) {
	_, view, ok := head.Head()
	if !ok || (n.net.MeshPeers() == 0 && !n.chain.BuildsBlocks()) {
		return
	}
	n.republishDue(head)
	epoch := head.Params().Epoch(view)
	for _, d := range ToAttest(head, n.cfg.Supported) {
		k := attestKey{d.ID, epoch}
		n.mu.Lock()
		done := n.attested[k]
		n.mu.Unlock()
		if done {
			continue
		}
		a, err := signal.SignReadiness(n.cfg.StakingKey, n.cfg.Genesis.ChainID, d.ID, epoch, n.cfg.NodeID)
		if err != nil {
			n.log.Error("sign readiness", "err", err)
			continue
		}
		if err := n.chain.SubmitAttestation(n.ctx, a); err != nil {
			n.log.Warn("publish readiness", "deployment", d.Name, "err", err)
			continue
		}
		n.mu.Lock()
		n.attested[k] = true
		n.mu.Unlock()
		n.notePublished(k, view)
		n.log.Info("signaled readiness", "deployment", d.Name, "epoch", epoch)
	}
}

// SubmitGovernance records a signed proposal or cancellation in the node
// home (submissions.go), then hands it to the chain; it is sent again until
// a finalized block carries it. It returns the submission's ID.
func (n *Node) SubmitGovernance(kind chain.ItemKind, payload []byte) (string, error) {
	_, view, _ := n.chain.Head().Head()
	it, err := n.subs.add(kind, payload, view)
	if err != nil {
		return "", err
	}
	if it.Included {
		return it.ID, nil
	}
	return it.ID, n.submitGovernance(kind, payload)
}

// submitGovernance hands recorded governance bytes to the chain as the
// message they are (subs.add checked that they decode).
func (n *Node) submitGovernance(kind chain.ItemKind, payload []byte) error {
	m, err := chain.GovernanceItem(kind, payload)
	if err != nil {
		return err
	}
	return n.chain.SubmitGovernance(n.ctx, m)
}

// Status is what the node shows an operator (GET /status, node-plugin status).
func (n *Node) Status() Status {
	st := BuildStatus(n.cfg.NodeID, n.chain.Head(), n.cfg.Supported, n.cfg.ViewInterval, n.net.Peers(), n.chain.Synced(),
		func(d signal.DeploymentID, e uint64) int { c, _ := n.net.LiveTally(d, e); return c })
	if base, ok := n.store.Base(); ok {
		st.Head.Base = &base
	}
	return st
}

// Head returns the protocol state after the last applied block.
func (n *Node) Head() *activation.State { return n.chain.Head() }

// Store returns the node's store.
func (n *Node) Store() *storage.Store { return n.store }

// AddrInfo returns how peers reach this node.
func (n *Node) AddrInfo() peer.AddrInfo { return n.net.AddrInfo() }

// LiveTally is what gossip says is coming: verified readiness for (d,
// epoch) not yet finalized. The finalized tally is in Head()'s deployments.
func (n *Node) LiveTally(d signal.DeploymentID, epoch uint64) (signers int, stake uint64) {
	return n.net.LiveTally(d, epoch)
}

// MeshPeers returns the node's gossip mesh size.
func (n *Node) MeshPeers() int { return n.net.MeshPeers() }

// Done is closed when the node stops (Close, a halt, or a failure).
func (n *Node) Done() <-chan struct{} { return n.done }

// Err returns why the node stopped on its own (a *HaltError for a halt).
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.err
}

// Close stops everything the node owns and waits for it.
func (n *Node) Close() error {
	n.cancel()
	n.wg.Wait()
	n.chain.Close()
	err := n.net.Close()
	if cerr := n.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// countReceived counts a block applied in this run by how it first arrived
// (nothing for a block this node produced).
func (n *Node) countReceived(via chain.Via) {
	if via == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.received == nil {
		n.received = map[chain.Via]uint64{}
	}
	n.received[via]++
}

// Received returns how many blocks this node applied in this run, by how
// each first arrived (quorumgate_blocks_received_total).
func (n *Node) Received(via chain.Via) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.received[via]
}
