package p2p

// The gossip side of a Node: its three topics, their validators (a node
// judges its own publications too), peer scoring, and publishing.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/signal"
)

// Topic names, one set per chain.
func attestationTopic(chain string) string { return "/quorumgate/" + chain + "/attestations/1" }

func blockTopic(chain string) string { return "/quorumgate/" + chain + "/blocks/1" }

func governanceTopic(chain string) string { return "/quorumgate/" + chain + "/governance/1" }

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
		pubsub.WithGossipSubParams(n.cfg.Gossip.pubsubParams()),
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

// MeshPeers returns how many peers this node exchanges attestations with
// in the gossip mesh (0 until the first heartbeats have grafted some).
func (n *Node) MeshPeers() int { return n.tracer.size(attestationTopic(n.cfg.ChainID)) }

// GossipConfig tunes gossipsub for the network's size. Zero fields take
// DefaultGossip's values.
type GossipConfig struct {
	// D is the mesh degree gossipsub aims for per topic: how many peers a
	// node forwards each message to at once. Below Dlo a heartbeat grafts
	// peers into the mesh, above Dhi it prunes back to D.
	D, Dlo, Dhi int
	// Dlazy is how many peers outside the mesh each heartbeat tells of the
	// recent messages (IHAVE), the path that repairs a missed delivery.
	Dlazy int
	// Heartbeat is how often gossipsub mends the mesh and sends IHAVE: the
	// time a message missed by the mesh waits, and how soon a new peer joins
	// the mesh.
	Heartbeat time.Duration
	// LibraryDefaults ignores the fields above and p2p's defaults and runs
	// go-libp2p-pubsub's own (D 6, Dlo 5, Dhi 12, Dlazy 6, heartbeat 1 s):
	// the baseline the latency benchmark compares with.
	LibraryDefaults bool
}

// DefaultGossip is p2p's gossipsub tuning, chosen for networks of 50 to 100
// nodes, where the library's defaults (made for thousands) leave the tail
// of propagation to the once-a-second heartbeat:
//
//   - D 8, Dlo 6, Dhi 12: with D 8 a message reaches 100 nodes in about
//     three hops, and a node keeps up to 12 of its static peers in the mesh
//     before pruning.
//   - Dlazy 8: IHAVE to as many peers as the mesh has, so a node the mesh
//     missed hears of the message at the next heartbeat.
//   - Heartbeat 1 s, the library's. A faster one (200 ms was tried) made no
//     difference to propagation in the 50-host benchmark on a quiet machine
//     (p99 53 ms either way: with every peer in the mesh, messages do not wait
//     for heartbeats), and cost idle CPU in every process: a 100-node devchain
//     testnet idled at 1.26 cores with it, 0.94 with 1 s. A deployment that
//     wants quicker mesh repair sets Heartbeat; the message cache and the
//     opportunistic grafts, counted in heartbeats, are then scaled to keep the
//     library's durations (see pubsubParams).
//
// A function, not a variable: no package can change another's defaults.
func DefaultGossip() GossipConfig {
	return GossipConfig{D: 8, Dlo: 6, Dhi: 12, Dlazy: 8, Heartbeat: pubsub.GossipSubHeartbeatInterval}
}

// withDefaults fills the zero fields from DefaultGossip.
func (g GossipConfig) withDefaults() GossipConfig {
	d := DefaultGossip()
	if g.D > 0 {
		d.D = g.D
	}
	if g.Dlo > 0 {
		d.Dlo = g.Dlo
	}
	if g.Dhi > 0 {
		d.Dhi = g.Dhi
	}
	if g.Dlazy > 0 {
		d.Dlazy = g.Dlazy
	}
	if g.Heartbeat > 0 {
		d.Heartbeat = g.Heartbeat
	}
	d.LibraryDefaults = g.LibraryDefaults
	return d
}

// check says what is wrong with a filled-in GossipConfig.
func (g GossipConfig) check() error {
	if g.LibraryDefaults {
		return nil
	}
	if !(g.Dlo <= g.D && g.D <= g.Dhi) || g.D < 2 {
		return fmt.Errorf("p2p: gossip mesh degrees: need 2 ≤ D and Dlo ≤ D ≤ Dhi, got Dlo %d, D %d, Dhi %d", g.Dlo, g.D, g.Dhi)
	}
	if g.Heartbeat < 10*time.Millisecond {
		return fmt.Errorf("p2p: gossip heartbeat %v is below 10ms", g.Heartbeat)
	}
	return nil
}

// pubsubParams turns the configuration into gossipsub's parameters.
func (g GossipConfig) pubsubParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	if g.LibraryDefaults {
		return p
	}
	p.D, p.Dlo, p.Dhi, p.Dlazy = g.D, g.Dlo, g.Dhi, g.Dlazy
	// The mesh keeps Dscore peers by score and Dout outbound peers; both
	// must fit the smaller degrees (Dout < Dlo, Dout < D/2).
	p.Dscore = min(p.Dscore, g.D)
	p.Dout = min(p.Dout, g.Dlo-1, (g.D-1)/2)
	// Counted in heartbeats: keep the library's durations (5 s of message
	// cache to answer IWANT from, an opportunistic graft each 60 s) at a
	// faster heartbeat.
	scale := func(beats int) int {
		return max(beats, int(time.Duration(beats)*pubsub.GossipSubHeartbeatInterval/g.Heartbeat))
	}
	p.HistoryLength = scale(pubsub.GossipSubHistoryLength)
	p.OpportunisticGraftTicks = uint64(scale(int(pubsub.GossipSubOpportunisticGraftTicks)))
	p.HeartbeatInterval = g.Heartbeat
	return p
}
