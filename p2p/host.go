package p2p

// The host side of a Node: configuration, start and close, static peers
// and redialing, per-peer limits, and what the node says of its peers.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"golang.org/x/time/rate"

	"github.com/quorumgate/quorumgate/signal"
)

// MaxMessageSize bounds every gossip message: a block with a few
// certificates and governance items fits comfortably; anything larger is
// refused before it is read.
const MaxMessageSize = 1 << 20

// Config configures a Node.
type Config struct {
	ChainID string
	// Identity is the libp2p key (see LoadOrCreateIdentity).
	Identity crypto.PrivKey
	// ListenAddrs, e.g. /ip4/127.0.0.1/tcp/0.
	ListenAddrs []string
	// Peers are the static peers to connect to at start.
	Peers []peer.AddrInfo
	// View tells the pipeline the epoch, tables and signaling deployments.
	View ChainView
	// Handlers are what the chain engine does with the topics' messages;
	// an engine that starts on a running node sets them with Attach instead.
	Handlers Handlers
	// OnVerdict, if set, learns every attestation verdict (for metrics).
	OnVerdict func(v Verdict, reason string)
	// BatchWindow is how long the pipeline gathers attestations before one
	// batched check (default 5 ms); BatchSize flushes earlier (default 1024).
	BatchWindow time.Duration
	BatchSize   int
	// PeerRate limits messages per second accepted from one peer (default
	// 5,000, burst the same).
	PeerRate float64
	// SyncResponseLimit bounds a sync response, sent or received (default
	// MaxSyncResponse; tests lower it).
	SyncResponseLimit int
	// ScoreInspect, if set, receives peer scores every ScoreInterval.
	ScoreInspect  func(map[peer.ID]float64)
	ScoreInterval time.Duration
	// Gossip tunes the gossipsub mesh and heartbeat; fields left zero take
	// DefaultGossip's (see there).
	Gossip GossipConfig

	// ForkID, if set, gives this node's fork ID, exchanged with every peer
	// that connects; CheckFork judges a peer's (nil: any is fine), and
	// OnForkMismatch learns of a peer disconnected for another fork.
	ForkID         func() ForkID
	CheckFork      func(remote ForkID) error
	OnForkMismatch func(p peer.ID, local, remote ForkID, err error)

	// Unchecked makes the node publish its own messages on every topic
	// without validating them: only for tests that play an attacker
	// sending invalid messages to honest peers.
	Unchecked bool
}

// Handlers are a chain engine's part of the network: where verified
// readiness, blocks and governance go, how block and governance messages
// are judged, and what serves blocks to peers that catch up. Readiness is
// verified by the node itself, attached or not.
type Handlers struct {
	// OnAttestation receives every attestation that passed validation, once.
	OnAttestation func(signal.Attestation)
	// BlockValidator and GovernanceValidator judge the other topics'
	// payloads (nil: accept anything that is not empty).
	BlockValidator      func([]byte) error
	GovernanceValidator func([]byte) error
	// OnBlock and OnGovernance receive each valid block or governance
	// message from a peer once, after validation (never the node's own).
	OnBlock      func([]byte)
	OnGovernance func([]byte)
	// Sync, if set, serves blocks to peers that catch up.
	Sync BlockSource
	// Snapshots, if set, serves state snapshots to peers that join by
	// state sync.
	Snapshots SnapshotSource
}

// Node is a running network endpoint. Close it.
type Node struct {
	cfg    Config
	host   host.Host
	ps     *pubsub.PubSub
	topics map[string]*pubsub.Topic
	subs   []*pubsub.Subscription

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	requests chan verdictRequest
	ingestMu sync.Mutex
	ingest   *Ingest
	pool     map[key][][]byte // accepted attestations, for the sync protocol

	limitMu  sync.Mutex
	limiters map[peer.ID]*rate.Limiter
	verdicts map[peer.ID]*PeerVerdicts // under limitMu
	departed *rate.Limiter             // shared by peers gone before their messages were judged

	validations     atomic.Int64
	rejected        atomic.Int64
	payloadRejected atomic.Int64
	payloadIgnored  atomic.Int64
	poolDropped     atomic.Int64
	forkRejected    atomic.Int64

	scoreMu sync.Mutex
	scores  map[peer.ID]float64 // the last gossip scores, every ScoreInterval

	closeMu   sync.Mutex
	closing   bool   // set by Close: no goroutine may start after it
	poolBytes int    // bytes held by pool, under ingestMu
	prunedTo  uint64 // epoch pool and ingest were last pruned to, under ingestMu

	tracer *meshTracer

	handlers atomic.Pointer[Handlers] // the engine's (Config.Handlers, or Attach)
}

// Start creates the host, joins the topics, connects to the static peers and
// starts the batcher. The node runs until Close (or ctx ends).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.ChainID == "" || cfg.View == nil || cfg.Identity == nil {
		return nil, errors.New("p2p: chain ID, view and identity are required")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Gossip.check(); err != nil {
		return nil, err
	}
	h, err := libp2p.New(
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.DisableRelay(),
	)
	if err != nil {
		return nil, fmt.Errorf("p2p: start host: %w", err)
	}
	nctx, cancel := context.WithCancel(ctx)
	n := &Node{cfg: cfg, host: h, ctx: nctx, cancel: cancel, topics: map[string]*pubsub.Topic{},
		requests: make(chan verdictRequest, cfg.BatchSize), pool: map[key][][]byte{}, limiters: map[peer.ID]*rate.Limiter{},
		verdicts: map[peer.ID]*PeerVerdicts{},
		tracer:   newMeshTracer()}
	n.handlers.Store(&cfg.Handlers)
	n.ingest = NewIngest(cfg.ChainID, cfg.View, n.accepted)
	if err := n.startPubsub(); err != nil {
		n.Close()
		return nil, err
	}
	n.wg.Add(1)
	go n.batcher()
	n.host.SetStreamHandler(syncProtocol(cfg.ChainID), n.serveSync)
	n.host.SetStreamHandler(pushProtocol(cfg.ChainID), n.servePush)
	n.watchConnections()
	if cfg.ForkID != nil {
		n.host.SetStreamHandler(forkIDProtocol(cfg.ChainID), n.serveForkID)
	}
	// Static peers may not be up yet (a testnet starts all nodes at once, a
	// peer may restart): try each now, then keep redialing the ones that are
	// not connected until Close.
	for _, p := range cfg.Peers {
		n.host.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.PermanentAddrTTL)
	}
	n.dialStatic()
	if len(cfg.Peers) > 0 {
		n.wg.Add(1)
		go n.redial()
	}
	return n, nil
}

// withDefaults fills in the tuning values left zero.
func (cfg Config) withDefaults() Config {
	if cfg.BatchWindow <= 0 {
		cfg.BatchWindow = 5 * time.Millisecond
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 1024
	}
	if cfg.PeerRate <= 0 {
		cfg.PeerRate = 5000
	}
	if cfg.ScoreInterval <= 0 {
		cfg.ScoreInterval = time.Second
	}
	if cfg.SyncResponseLimit <= 0 {
		cfg.SyncResponseLimit = MaxSyncResponse
	}
	cfg.Gossip = cfg.Gossip.withDefaults()
	return cfg
}

// watchConnections forgets a peer's state when it disconnects and, when
// fork IDs are on, asks each peer this node dials for its fork ID.
func (n *Node) watchConnections() {
	n.host.Network().Notify(&network.NotifyBundle{DisconnectedF: func(_ network.Network, c network.Conn) {
		n.forgetPeer(c.RemotePeer())
	}, ConnectedF: func(_ network.Network, c network.Conn) {
		if n.cfg.ForkID == nil || c.Stat().Direction != network.DirOutbound {
			return // the dialler asks; the other side answers in serveForkID
		}
		n.closeMu.Lock()
		defer n.closeMu.Unlock()
		if n.closing {
			return
		}
		n.wg.Add(1)
		go n.exchangeForkID(c.RemotePeer()) // owned by the node: bounded by forkIDTimeout and n.ctx
	}})
}

// dialStatic dials every static peer that is not connected, all at once,
// and returns when each has connected or failed: one unreachable peer (a
// machine that is off drops the packets, and a dial waits out its timeout)
// does not hold up the others.
func (n *Node) dialStatic() {
	var wg sync.WaitGroup
	for _, p := range n.cfg.Peers {
		if n.host.Network().Connectedness(p.ID) == network.Connected {
			continue
		}
		wg.Add(1)
		go func() { // owned by dialStatic, which waits for it; Connect is bounded by its timeout and n.ctx
			defer wg.Done()
			_ = n.Connect(n.ctx, p) // a peer that fails is dialled again next round
		}()
	}
	wg.Wait()
}

// redial reconnects static peers that are not connected, once a second.
func (n *Node) redial() {
	defer n.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.dialStatic()
	}
}

// forgetPeer drops the per-peer state of a peer that disconnected (its rate
// limiter and pipeline counters), so churning identities cannot grow it. A
// peer with another connection still open keeps it.
func (n *Node) forgetPeer(p peer.ID) {
	if n.host.Network().Connectedness(p) == network.Connected {
		return
	}
	n.limitMu.Lock()
	delete(n.limiters, p)
	delete(n.verdicts, p)
	n.limitMu.Unlock()
	n.ingestMu.Lock()
	n.ingest.Forget(string(p))
	n.ingestMu.Unlock()
	// The peerstore keeps a departed peer's key, protocols and metadata for
	// good: a peer churning identities would grow it without bound. Static
	// peers keep their entry (their addresses are redialled).
	for _, s := range n.cfg.Peers {
		if s.ID == p {
			return
		}
	}
	n.host.Peerstore().RemovePeer(p)
	n.host.Peerstore().ClearAddrs(p) // RemovePeer leaves addresses to their TTL (minutes)
}

// maxLimiters bounds the limiter map even between disconnects: past it the
// idle limiters (full buckets: peers quiet for a second) are dropped.
const maxLimiters = 1024

// allow applies the per-peer rate limit.
func (n *Node) allow(p peer.ID) bool {
	if p == n.host.ID() {
		return true
	}
	n.limitMu.Lock()
	defer n.limitMu.Unlock()
	l := n.limiters[p]
	if l == nil {
		if n.host.Network().Connectedness(p) != network.Connected {
			// Queued before it left: no state is kept for a gone peer (its
			// entry would never be removed); gone peers share one limiter.
			if n.departed == nil {
				n.departed = rate.NewLimiter(rate.Limit(n.cfg.PeerRate), int(n.cfg.PeerRate))
			}
			return n.departed.Allow()
		}
		if len(n.limiters) >= maxLimiters {
			for id, old := range n.limiters {
				if old.Tokens() >= float64(old.Burst()) {
					delete(n.limiters, id)
				}
			}
		}
		l = rate.NewLimiter(rate.Limit(n.cfg.PeerRate), int(n.cfg.PeerRate))
		n.limiters[p] = l
	}
	return l.Allow()
}

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// AddrInfo returns how peers reach this node.
func (n *Node) AddrInfo() peer.AddrInfo { return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()} }

// Connect dials a peer now (bounded by 10 s).
func (n *Node) Connect(ctx context.Context, p peer.AddrInfo) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.host.Connect(cctx, p); err != nil {
		return fmt.Errorf("p2p: connect to %s: %w", p.ID, err)
	}
	return nil
}

// ConnectedPeers returns the peers the host is connected to.
func (n *Node) ConnectedPeers() []peer.ID { return n.host.Network().Peers() }

// Peers returns how many peers the host is connected to.
func (n *Node) Peers() int { return len(n.host.Network().Peers()) }

// Close stops the node and waits for its goroutines.
func (n *Node) Close() error {
	n.closeMu.Lock()
	n.closing = true
	n.closeMu.Unlock()
	n.cancel()
	for _, s := range n.subs {
		s.Cancel()
	}
	for _, t := range n.topics {
		t.Close()
	}
	err := n.host.Close()
	n.wg.Wait()
	return err
}
