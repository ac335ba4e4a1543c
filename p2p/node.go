package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
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

type verdictRequest struct {
	raw   []byte
	from  peer.ID
	reply chan Result
}

// Topic names, one set per chain.
func attestationTopic(chain string) string { return "/quorumgate/" + chain + "/attestations/1" }
func blockTopic(chain string) string       { return "/quorumgate/" + chain + "/blocks/1" }
func governanceTopic(chain string) string  { return "/quorumgate/" + chain + "/governance/1" }

// messageID is the hash of (domain, topic, payload): payloads carry their own
// signatures, so the same payload is the same message whoever relays it.
func messageID(m *pb.Message) string {
	h := sha256.New()
	h.Write([]byte("quorumgate/gossip-id/v1\x00"))
	h.Write([]byte(m.GetTopic()))
	h.Write([]byte{0})
	h.Write(m.GetData())
	return string(h.Sum(nil))
}

// Start creates the host, joins the topics, connects to the static peers and
// starts the batcher. The node runs until Close (or ctx ends).
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.ChainID == "" || cfg.View == nil || cfg.Identity == nil {
		return nil, errors.New("p2p: chain ID, view and identity are required")
	}
	cfg = cfg.withDefaults()
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
	return cfg
}

// accepted takes an attestation the ingest pipeline verified: it is pooled
// for catch-up (while the pool is within its bound) and handed on.
func (n *Node) accepted(a signal.Attestation) {
	k := key{a.Deployment, a.Epoch}
	raw := a.Encode()
	if n.poolBytes+len(raw) > MaxPoolBytes {
		n.poolDropped.Add(1) // still counted and forwarded; catch-up serves less
	} else {
		n.pool[k] = append(n.pool[k], raw)
		n.poolBytes += len(raw)
	}
	if h := n.handlers.Load(); h.OnAttestation != nil {
		h.OnAttestation(a)
	}
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

func (n *Node) startPubsub() error {
	ps, err := pubsub.NewGossipSub(n.ctx, n.host, n.pubsubOptions()...)
	if err != nil {
		return fmt.Errorf("p2p: gossipsub: %w", err)
	}
	n.ps = ps
	chain := n.cfg.ChainID
	topics := []struct {
		name     string
		validate pubsub.ValidatorEx
		deliver  func([]byte) // nil for attestations: the pipeline delivers them
	}{
		{attestationTopic(chain), n.validateAttestation, nil},
		{blockTopic(chain), n.validatePayload(func(h *Handlers) func([]byte) error { return h.BlockValidator }),
			func(raw []byte) { deliver(n.handlers.Load().OnBlock, raw) }},
		{governanceTopic(chain), n.validatePayload(func(h *Handlers) func([]byte) error { return h.GovernanceValidator }),
			func(raw []byte) { deliver(n.handlers.Load().OnGovernance, raw) }},
	}
	for _, tp := range topics {
		if err := ps.RegisterTopicValidator(tp.name, tp.validate, pubsub.WithValidatorTimeout(10*time.Second)); err != nil {
			return fmt.Errorf("p2p: topic %s: validator: %w", tp.name, err)
		}
		t, err := ps.Join(tp.name)
		if err != nil {
			return fmt.Errorf("p2p: topic %s: join: %w", tp.name, err)
		}
		sub, err := t.Subscribe()
		if err != nil {
			return fmt.Errorf("p2p: topic %s: subscribe: %w", tp.name, err)
		}
		n.topics[tp.name], n.subs = t, append(n.subs, sub)
		n.wg.Add(1)
		go n.drain(sub, tp.deliver)
	}
	return nil
}

// pubsubOptions configures gossipsub: no signatures or authors (messages
// carry their own), content-addressed message IDs, bounded messages, no
// peer exchange (static peers only), and peer scoring.
func (n *Node) pubsubOptions() []pubsub.Option {
	params, thresholds := scoreParams(n.cfg.ChainID)
	return []pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(MaxMessageSize),
		pubsub.WithPeerExchange(false),
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithRawTracer(n.tracer),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(func(m map[peer.ID]float64) {
			n.scoreMu.Lock()
			n.scores = m
			n.scoreMu.Unlock()
			if n.cfg.ScoreInspect != nil {
				n.cfg.ScoreInspect(m)
			}
		}), n.cfg.ScoreInterval),
	}
}

// scoreParams are the peer-scoring rules. Every topic penalises invalid
// messages the same way: one Reject (a bad signature, a block not from the
// sequencer, garbage) takes the sender below the graylist threshold, so its
// further RPCs are dropped unread. Ignore (duplicate, stale, out of window)
// costs nothing.
func scoreParams(chain string) (*pubsub.PeerScoreParams, *pubsub.PeerScoreThresholds) {
	topicScore := func() *pubsub.TopicScoreParams {
		return &pubsub.TopicScoreParams{
			TopicWeight:                    1,
			TimeInMeshQuantum:              time.Second,
			FirstMessageDeliveriesDecay:    0.5,
			InvalidMessageDeliveriesWeight: -1000, // one invalid message graylists a peer
			InvalidMessageDeliveriesDecay:  0.9,
		}
	}
	params := &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{attestationTopic(chain): topicScore(), blockTopic(chain): topicScore(),
			governanceTopic(chain): topicScore()},
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 time.Minute,
		IPColocationFactorThreshold: 1000, // tests run every peer on 127.0.0.1
		IPColocationFactorWeight:    0,
		BehaviourPenaltyDecay:       0.9,
	}
	thresholds := &pubsub.PeerScoreThresholds{GossipThreshold: -10, PublishThreshold: -50, GraylistThreshold: -80,
		AcceptPXThreshold: 10, OpportunisticGraftThreshold: 2}
	return params, thresholds
}

// drain consumes a subscription and hands peers' messages to deliver
// (attestations are delivered by the pipeline, so deliver is nil there).
func (n *Node) drain(sub *pubsub.Subscription, deliver func([]byte)) {
	defer n.wg.Done()
	for {
		m, err := sub.Next(n.ctx)
		if err != nil {
			return
		}
		if deliver != nil && m.ReceivedFrom != n.host.ID() {
			deliver(m.GetData())
		}
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

func toValidation(v Verdict) pubsub.ValidationResult {
	switch v {
	case Accept:
		return pubsub.ValidationAccept
	case Reject:
		return pubsub.ValidationReject
	}
	return pubsub.ValidationIgnore
}

func (n *Node) validateAttestation(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	v := n.ownPublication(from, n.judgeAttestation(ctx, from, m))
	n.countVerdict(from, v)
	return v
}

// ownPublication turns Ignore into Accept for a message this node publishes
// itself. gossipsub runs a topic's validator on the node's own publications
// too, and every validator ignores what this node already holds: the block
// the sequencer has just sealed and stored ("applied already"), a
// governance item it has just pooled, readiness it re-publishes ("duplicate").
// Ignored, the message would never leave the node. A node publishes only
// what it decided others should have, so "useless to me" is no reason to
// withhold it; an invalid one (Reject) still fails the publication. A
// replay of the same bytes by another peer is judged as before: from is
// that peer, not this node.
func (n *Node) ownPublication(from peer.ID, v pubsub.ValidationResult) pubsub.ValidationResult {
	if from == n.host.ID() && v == pubsub.ValidationIgnore {
		return pubsub.ValidationAccept
	}
	return v
}

func (n *Node) judgeAttestation(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	n.validations.Add(1)
	if n.cfg.Unchecked && from == n.host.ID() {
		return pubsub.ValidationAccept
	}
	if !n.allow(from) {
		return pubsub.ValidationIgnore
	}
	req := verdictRequest{raw: m.GetData(), from: from, reply: make(chan Result, 1)}
	select {
	case n.requests <- req:
	case <-ctx.Done():
		return pubsub.ValidationIgnore
	case <-n.ctx.Done():
		return pubsub.ValidationIgnore
	}
	select {
	case r := <-req.reply:
		if r.Verdict == Reject {
			n.rejected.Add(1)
		}
		if n.cfg.OnVerdict != nil {
			n.cfg.OnVerdict(r.Verdict, r.Reason)
		}
		return toValidation(r.Verdict)
	case <-ctx.Done():
		return pubsub.ValidationIgnore
	case <-n.ctx.Done():
		return pubsub.ValidationIgnore
	}
}

// PeerVerdicts counts what this node's validators said of one peer's
// messages, on every topic (kept while the peer is connected).
type PeerVerdicts struct {
	Rejected, Ignored int64
}

// countVerdict adds a verdict to a peer's counters (-1: a refused push).
func (n *Node) countVerdict(p peer.ID, v pubsub.ValidationResult) {
	if p == n.host.ID() || v == pubsub.ValidationAccept {
		return
	}
	n.limitMu.Lock()
	defer n.limitMu.Unlock()
	pv := n.verdicts[p]
	if pv == nil {
		if n.host.Network().Connectedness(p) != network.Connected || len(n.verdicts) >= maxLimiters {
			return
		}
		pv = &PeerVerdicts{}
		n.verdicts[p] = pv
	}
	if v == pubsub.ValidationReject || v == -1 {
		pv.Rejected++
	} else {
		pv.Ignored++
	}
}

// Verdicts returns what this node's validators said of a peer's messages.
func (n *Node) Verdicts(p peer.ID) PeerVerdicts {
	n.limitMu.Lock()
	defer n.limitMu.Unlock()
	if pv := n.verdicts[p]; pv != nil {
		return *pv
	}
	return PeerVerdicts{}
}

// ErrIgnore marks a block or governance message as harmless but useless
// (a duplicate, stale, too far ahead): a validator returning an error that
// wraps it gets the message ignored, at no cost to its sender. Any other
// error rejects it and penalises the sender.
var ErrIgnore = errors.New("ignored")

// Attach sets the chain engine's handlers on a running node (once, when the
// engine starts on it); they replace Config.Handlers.
func (n *Node) Attach(h Handlers) { n.handlers.Store(&h) }

func deliver(f func([]byte), raw []byte) {
	if f != nil {
		f(raw)
	}
}

// validatePayload judges a block or governance message with the check the
// engine's handlers name (which picks it); before an engine attached, a
// topic with no check ignores everything.
func (n *Node) validatePayload(check func(*Handlers) func([]byte) error) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		v := n.ownPublication(from, n.judgePayload(check(n.handlers.Load()), from, m))
		n.countVerdict(from, v)
		return v
	}
}

func (n *Node) judgePayload(check func([]byte) error, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
	if n.cfg.Unchecked && from == n.host.ID() {
		return pubsub.ValidationAccept
	}
	if !n.allow(from) {
		return pubsub.ValidationIgnore
	}
	if len(m.GetData()) == 0 {
		n.payloadRejected.Add(1)
		return pubsub.ValidationReject
	}
	if check != nil {
		if err := check(m.GetData()); errors.Is(err, ErrIgnore) {
			n.payloadIgnored.Add(1)
			return pubsub.ValidationIgnore
		} else if err != nil {
			n.payloadRejected.Add(1)
			return pubsub.ValidationReject
		}
	}
	return pubsub.ValidationAccept
}

// batcher owns the ingest pipeline: it gathers validation requests for a
// short window (or up to a batch size) and judges them together.
func (n *Node) batcher() {
	defer n.wg.Done()
	var pending []verdictRequest
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() {
		n.ingestMu.Lock()
		n.pruneLocked()
		for _, req := range pending {
			if r := n.ingest.AddFrom(req.raw, string(req.from), req.reply); r.Verdict != 0 {
				req.reply <- r
			}
		}
		for _, r := range n.ingest.Flush() {
			r.Tag.(chan Result) <- r
		}
		// A message validated after its sender left re-created the
		// sender's counters: drop them again.
		for _, req := range pending {
			if req.from != n.host.ID() && n.host.Network().Connectedness(req.from) != network.Connected {
				n.ingest.Forget(string(req.from))
			}
		}
		n.ingestMu.Unlock()
		pending = pending[:0]
	}
	for {
		select {
		case req := <-n.requests:
			if len(pending) == 0 {
				timer.Reset(n.cfg.BatchWindow)
			}
			pending = append(pending, req)
			if len(pending) >= n.cfg.BatchSize {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		case <-n.ctx.Done():
			for _, req := range pending {
				req.reply <- Result{Verdict: Ignore, Reason: "shutting down"}
			}
			return
		}
	}
}

// MaxPoolBytes bounds the attestations a node keeps to serve catch-up: one
// per signer per (deployment, epoch) for the current and next epoch, pruned
// as epochs pass; 32 MiB holds about 150,000 of them.
const MaxPoolBytes = 32 << 20

// pruneLocked forgets, once per epoch, the pool, tallies and duplicates of
// epochs before the current one. Called with ingestMu held.
func (n *Node) pruneLocked() {
	cur := n.cfg.View.CurrentEpoch()
	if cur <= n.prunedTo {
		return
	}
	n.prunedTo = cur
	n.ingest.Prune(cur)
	for k, list := range n.pool {
		if k.e < cur {
			for _, raw := range list {
				n.poolBytes -= len(raw)
			}
			delete(n.pool, k)
		}
	}
}

// MemoryStats tells how much per-epoch and per-peer state the node holds,
// for checks that it stays bounded.
type MemoryStats struct {
	PoolEntries, PoolBytes, Seen, Tallies, Sources, Limiters int
}

// Memory returns the node's MemoryStats.
func (n *Node) Memory() MemoryStats {
	n.ingestMu.Lock()
	seen, tallies, sources := n.ingest.Size()
	st := MemoryStats{PoolEntries: len(n.pool), PoolBytes: n.poolBytes, Seen: seen, Tallies: tallies, Sources: sources}
	n.ingestMu.Unlock()
	n.limitMu.Lock()
	st.Limiters = len(n.limiters)
	n.limitMu.Unlock()
	return st
}

// PeerStats returns how many of a peer's attestations had their signatures
// checked, and how many of those failed.
func (n *Node) PeerStats(p peer.ID) SourceStats {
	n.ingestMu.Lock()
	defer n.ingestMu.Unlock()
	return n.ingest.Source(string(p))
}

// Score returns a peer's last gossip score (below -80: graylisted).
func (n *Node) Score(p peer.ID) (float64, bool) {
	n.scoreMu.Lock()
	defer n.scoreMu.Unlock()
	s, ok := n.scores[p]
	return s, ok
}

// PayloadRejected returns how many block and governance messages were rejected.
func (n *Node) PayloadRejected() int64 { return n.payloadRejected.Load() }

// PayloadIgnored returns how many block and governance messages were
// ignored (duplicate, stale, too far ahead) at no cost to their sender.
func (n *Node) PayloadIgnored() int64 { return n.payloadIgnored.Load() }

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

// PublishAttestation gossips an attestation (it is validated locally first,
// like any other).
func (n *Node) PublishAttestation(ctx context.Context, a signal.Attestation) error {
	return n.topics[attestationTopic(n.cfg.ChainID)].Publish(ctx, a.Encode())
}

// publishRawAttestation gossips raw bytes on the attestation topic (tests
// use it to send garbage).
func (n *Node) publishRawAttestation(ctx context.Context, data []byte) error {
	return n.topics[attestationTopic(n.cfg.ChainID)].Publish(ctx, data)
}

// PublishAttestationBytes gossips raw bytes on the attestation topic: only
// for tests that play an attacker (see Config.Unchecked).
func (n *Node) PublishAttestationBytes(ctx context.Context, data []byte) error {
	return n.publishRawAttestation(ctx, data)
}

// PublishBlock and PublishGovernance gossip payloads on their topics.
func (n *Node) PublishBlock(ctx context.Context, b []byte) error {
	return n.topics[blockTopic(n.cfg.ChainID)].Publish(ctx, b)
}

// PublishGovernance gossips a signed governance message.
func (n *Node) PublishGovernance(ctx context.Context, b []byte) error {
	return n.topics[governanceTopic(n.cfg.ChainID)].Publish(ctx, b)
}

// LiveTally returns how many signers and how much stake were seen ready for
// (d, epoch) by gossip (verified, not finalized).
func (n *Node) LiveTally(d signal.DeploymentID, epoch uint64) (signers int, stake uint64) {
	n.ingestMu.Lock()
	defer n.ingestMu.Unlock()
	if tl := n.ingest.Tally(d, epoch); tl != nil {
		return tl.Count(), tl.ReadyTotal()
	}
	return 0, 0
}

// ConnectedPeers returns the peers the host is connected to.
func (n *Node) ConnectedPeers() []peer.ID { return n.host.Network().Peers() }

// Peers returns how many peers the host is connected to.
func (n *Node) Peers() int { return len(n.host.Network().Peers()) }

// MeshPeers returns how many peers this node exchanges attestations with
// in the gossip mesh (0 until the first heartbeats have grafted some).
func (n *Node) MeshPeers() int { return n.tracer.size(attestationTopic(n.cfg.ChainID)) }

// LiveReady returns the ready stake per role that gossip has verified for
// (d, epoch), a copy; nil when nothing was seen.
func (n *Node) LiveReady(d signal.DeploymentID, epoch uint64) map[string]uint64 {
	n.ingestMu.Lock()
	defer n.ingestMu.Unlock()
	tl := n.ingest.Tally(d, epoch)
	if tl == nil {
		return nil
	}
	out := map[string]uint64{"": tl.ReadyTotal()}
	for _, r := range tl.Table().Roles() {
		out[r] = tl.Ready(r)
	}
	return out
}

// Stats returns how many attestation messages were validated and rejected.
func (n *Node) Stats() (validated, rejected int64) { return n.validations.Load(), n.rejected.Load() }

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
