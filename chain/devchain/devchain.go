package devchain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/internal/commit"
	"github.com/quorumgate/quorumgate/chain/internal/pool"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// blockDomain prefixes the bytes the sequencer signs.
const blockDomain = "quorumgate/devchain-block/v1"

// SignedBlock is a devchain block: the wire block, the protocol state ID
// after it, and the sequencer's signature over both.
type SignedBlock struct {
	Height    uint64   `cbor:"1,keyasint"`
	View      uint64   `cbor:"2,keyasint"`
	StateID   [32]byte `cbor:"3,keyasint"`
	Block     []byte   `cbor:"4,keyasint"` // canonical activation.WireBlock
	Signature []byte   `cbor:"5,keyasint"`
}

func (b SignedBlock) signingBytes() []byte {
	type header struct {
		Height    uint64   `cbor:"1,keyasint"`
		View      uint64   `cbor:"2,keyasint"`
		StateID   [32]byte `cbor:"3,keyasint"`
		BlockHash [32]byte `cbor:"4,keyasint"`
	}
	return append([]byte(blockDomain), canon.MustEncode(header{b.Height, b.View, b.StateID, sha256.Sum256(b.Block)})...)
}

// DecodeSignedBlock decodes a canonical signed block.
func DecodeSignedBlock(raw []byte) (SignedBlock, error) {
	var b SignedBlock
	if err := canon.Decode(raw, &b); err != nil {
		return b, fmt.Errorf("devchain block: %w", err)
	}
	return b, nil
}

// GovernanceMessage is what travels on the governance topic (package chain's,
// shared by the engines).
type GovernanceMessage = chain.GovernanceMessage

func sequencerKey(g *Genesis) signal.PublicKey {
	t := g.Params().Identities.TableAt(0)
	i, _ := t.Lookup(g.Sequencer) // the genesis checked it is there
	return t.Key(i)
}

// CheckBlock checks that a block decodes and carries the sequencer's
// signature, for a genesis, without a chain. Its content is judged when it
// is applied; Chain.CheckBlock is the block topic's validator.
func CheckBlock(g *Genesis, raw []byte) error {
	b, err := DecodeSignedBlock(raw)
	if err != nil {
		return err
	}
	if err := signal.Verify(sequencerKey(g), b.signingBytes(), b.Signature); err != nil {
		return fmt.Errorf("devchain block %d: not signed by the sequencer: %w", b.Height, err)
	}
	return nil
}

// CheckGovernance is the governance topic's validator (chain.CheckGovernance).
func CheckGovernance(raw []byte) error { return chain.CheckGovernance(raw) }

// blockLimits bound what the sequencer puts in one block (the pool has its
// own bounds, pool.DefaultBounds): the byte bound leaves room, under gossip's
// message limit, for the signed block around the WireBlock.
var blockLimits = pool.Limits{Proposals: 16, Cancels: 16, Certificates: 64, Bytes: p2p.MaxMessageSize - 4<<10}

// CheckGovernance is the governance topic's validator: a message that does
// not decode to exactly one item, or whose committee approval does not
// verify, is rejected (its sender penalised); one already pooled is ignored.
func (c *Chain) CheckGovernance(raw []byte) error {
	if _, err := chain.VerifyGovernance(c.opts.Genesis, raw); err != nil {
		return err
	}
	if c.pool.HasGovernance(raw) {
		return fmt.Errorf("%w: already pooled", p2p.ErrIgnore)
	}
	return nil
}

// Options configure a Chain.
type Options struct {
	Genesis *Genesis
	// Store holds the chain; it must have been opened with Genesis.State().
	Store  *storage.Store
	NodeID string
	// StakingKey signs blocks when this node is the sequencer.
	StakingKey signal.PrivateKey
	// Interval between the sequencer's blocks (tests use milliseconds).
	Interval time.Duration
	// SkipView, if set, makes the sequencer leave views out.
	SkipView func(view uint64) bool
	// Guard, if set, is asked before any block is applied (produced or
	// followed), with the head state and the block's view. An error stops the
	// chain before the block: nothing of it is stored. The node uses it to
	// halt rather than run a protocol version it does not support.
	Guard func(head *activation.State, view uint64) error
	// Logger, if set, gets what the chain handles without stopping (a
	// pooled attestation group that would not aggregate).
	Logger *slog.Logger
}

// ErrStateMismatch stops a follower whose own state disagrees with the sequencer's.
var ErrStateMismatch = errors.New("protocol state differs from the sequencer's")

// Chain is the devchain seen from one node: the sequencer produces blocks,
// a follower verifies and applies them. It implements chain.Chain.
type Chain struct {
	opts    Options
	pipe    *commit.Pipeline
	net     *p2p.Node
	seqPeer peer.ID

	// pool holds what the sequencer puts in its blocks (empty on a follower).
	pool *pool.Pool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu          sync.Mutex
	view        uint64
	pending     map[uint64]pendingBlock
	received    map[chain.Via]uint64 // blocks applied, by how they first arrived
	err         error
	lastBlock   time.Time // when the last block was applied
	known       uint64    // one past the highest height this node knows exists
	evidence    []Equivocation
	syncCount   uint64 // blocks asked per sync request; halved when a response is too large
	caughtUp    caughtUpCounter
	pushRefused caughtUpCounter // pushes the sequencer refused
}

// ErrEquivocation stops a follower that saw two different blocks signed by
// the sequencer at one height.
var ErrEquivocation = errors.New("the sequencer signed two different blocks at one height")

// Equivocation is the evidence: two sequencer-signed blocks at one height.
type Equivocation struct {
	Height uint64
	First  []byte // encoded SignedBlock
	Second []byte
}

// Evidence returns the equivocations this node has seen.
func (c *Chain) Evidence() []Equivocation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Equivocation(nil), c.evidence...)
}

// Received returns how many blocks this node applied, by how each first
// arrived (gossip or sync); the sequencer's own blocks are not counted.
func (c *Chain) Received() map[chain.Via]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.received)
}

// EquivocationCount implements chain.Chain: two sequencer-signed blocks at
// one height (the node stops following at the first).
func (c *Chain) EquivocationCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evidence)
}

// equivocated records evidence and stops the chain with an error naming it.
func (c *Chain) equivocated(height uint64, first, second []byte) {
	c.mu.Lock()
	c.evidence = append(c.evidence, Equivocation{Height: height, First: first, Second: second})
	c.mu.Unlock()
	a, b := sha256.Sum256(first), sha256.Sum256(second)
	c.fail(fmt.Errorf("%w: height %d, blocks %x… and %x…; this node stops following: "+
		"the sequencer's key signed a fork (compromised, or run twice); investigate before restarting",
		ErrEquivocation, height, a[:6], b[:6]))
}

// New prepares a chain; Start it with the node's network.
func New(o Options) (*Chain, error) {
	if o.Genesis == nil || o.Store == nil || o.NodeID == "" {
		return nil, errors.New("devchain: genesis, store and node ID are required")
	}
	if o.Interval <= 0 {
		o.Interval = chain.DefaultViewInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := o.Genesis
	seq, err := peer.Decode(g.Identities[0].Nodes[indexOf(g, g.Sequencer)].PeerID)
	if err != nil {
		return nil, fmt.Errorf("devchain: sequencer %s's peer ID: %w", g.Sequencer, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pipe := commit.New(commit.Options{Store: o.Store, Genesis: g, Guard: o.Guard, Payload: func(stored []byte) ([]byte, error) {
		sb, err := DecodeSignedBlock(stored)
		return sb.Block, err
	}})
	c := &Chain{opts: o, pipe: pipe, pool: pool.New(pipe.Verifier(), pool.DefaultBounds, o.Logger), seqPeer: seq,
		ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), pending: map[uint64]pendingBlock{}, received: map[chain.Via]uint64{},
		syncCount: p2p.MaxSyncBlocks}
	if head, ok := o.Store.Head(); ok {
		_, c.view, _ = head.Head()
	}
	return c, nil
}

func indexOf(g *Genesis, id string) int {
	for i, n := range g.Identities[0].Nodes {
		if n.ID == id {
			return i
		}
	}
	return 0
}

// IsSequencer reports whether this node produces the blocks.
func (c *Chain) IsSequencer() bool { return c.opts.NodeID == c.opts.Genesis.Sequencer }

// Start runs the chain on net (nil: no network, for tests of a lone node).
// The chain owns its goroutines (one; the sequencer's catch-up is a second),
// stopped by Close.
func (c *Chain) Start(net *p2p.Node) error {
	c.net = net
	if net != nil {
		net.Attach(c.handlers())
	}
	c.wg.Add(1)
	if c.IsSequencer() {
		go c.produce()
		if net != nil {
			c.wg.Add(1)
			go c.catchUp()
		}
	} else {
		go c.follow()
	}
	return nil
}

// Close stops the chain and waits for its goroutine.
func (c *Chain) Close() {
	c.cancel()
	c.wg.Wait()
}

// Err returns why the chain stopped, if it stopped on its own.
func (c *Chain) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Chain) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.cancel()
}

// Head returns the state after the last applied block.
func (c *Chain) Head() *activation.State {
	s, _ := c.opts.Store.Head()
	return s
}

// maxPendingBlocks bounds the blocks a follower holds ahead of its head; a
// block further ahead is ignored by gossip and fetched by sync in its turn.
const maxPendingBlocks = 2 * p2p.MaxSyncBlocks

// CheckBlock is the block topic's validator. Cheap checks first: a block
// that does not decode is rejected; one too far ahead is ignored (sync
// fetches it in turn); one at a height already applied is ignored when it
// is the stored block, and is evidence of equivocation when it differs yet
// carries the sequencer's signature. Then the signature: a block the
// sequencer did not sign is rejected.
func (c *Chain) CheckBlock(raw []byte) error {
	b, err := DecodeSignedBlock(raw)
	if err != nil {
		return err
	}
	next := c.nextHeight()
	if b.Height >= next+maxPendingBlocks {
		return fmt.Errorf("%w: block %d is more than %d ahead of this node's head", p2p.ErrIgnore, b.Height, maxPendingBlocks)
	}
	if b.Height < next {
		stored, storeErr := c.opts.Store.Block(b.Height)
		if storeErr == nil && bytes.Equal(stored.Wire, raw) {
			return fmt.Errorf("%w: block %d is applied already", p2p.ErrIgnore, b.Height)
		}
		if err := CheckBlock(c.opts.Genesis, raw); err != nil {
			return err // an old height with a forged signature: a replay attempt
		}
		if storeErr == nil {
			c.equivocated(b.Height, stored.Wire, raw)
		}
		return fmt.Errorf("%w: block %d is behind this node's head", p2p.ErrIgnore, b.Height)
	}
	return CheckBlock(c.opts.Genesis, raw)
}

// syncSlack is how many blocks a node may know of without having applied
// them and still count as synced: the block being applied right now and one
// or two that gossip delivered early. A node further behind is catching up.
const syncSlack = 3

// Synced reports whether the node follows the chain's head: it applied a
// block within the last few view intervals, and knows of fewer than
// syncSlack blocks past its own head (from gossip, or a sync response that
// said there is more). A block that merely arrived while the previous one
// is being applied is normal traffic, not falling behind; counting it made
// /readyz flap on a busy machine. Between two sync batches a node catching
// up holds nothing unapplied, yet is still behind: the full batch said so.
func (c *Chain) Synced() bool {
	next := c.nextHeight()
	c.mu.Lock()
	defer c.mu.Unlock()
	return synced(time.Since(c.lastBlock), c.opts.Interval, next, c.known)
}

// synced is Synced's rule, apart from the clock and the lock: since is the
// time since the last applied block, next the height this node applies
// next, known one past the highest height it knows exists.
func synced(since, interval time.Duration, next, known uint64) bool {
	return since < max(10*interval, 2*time.Second) && known < next+syncSlack
}

// CurrentView implements chain.Chain.
func (c *Chain) CurrentView() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.view
}

// HandleAttestation pools a validated attestation (p2p's OnAttestation).
// Only the sequencer pools; one the full pool drops is counted there.
//
// Delivery path 1 of 4, gossip: the main one, and the only one on every
// engine. It delivers a given set of bytes once per peer per seen-cache
// lifetime (content-addressed message IDs, 2 minutes), and a peer whose
// ingest holds the signer ignores a repeat and does not forward it. The
// others (push.go, node/republish.go, catchup.go) cover what that misses;
// see each for whether it still earns its place.
func (c *Chain) HandleAttestation(a signal.Attestation) {
	if c.IsSequencer() {
		c.pool.AddAttestation(a)
	}
}

// HandleGovernance pools a governance message (p2p's OnGovernance, and
// this node's own), once its committee approval verified.
func (c *Chain) HandleGovernance(raw []byte) {
	if !c.IsSequencer() {
		return
	}
	if _, err := chain.VerifyGovernance(c.opts.Genesis, raw); err != nil {
		return
	}
	if r := c.pool.AddGovernance(raw); r == pool.Full {
		c.opts.Logger.Warn("governance message dropped: the pool is full", "bytes", len(raw))
	}
}

// pendingBlock is a block queued ahead of the head, with how it first arrived.
type pendingBlock struct {
	SignedBlock
	via chain.Via
}

// HandleBlock queues a block from the sequencer that gossip delivered (p2p's
// OnBlock; the block topic's validator has checked the signature).
func (c *Chain) HandleBlock(raw []byte) { c.queue(raw, chain.ViaGossip) }

// queue queues a block from the sequencer, signature checked, noting how it
// arrived unless it was queued already.
func (c *Chain) queue(raw []byte, via chain.Via) {
	b, err := DecodeSignedBlock(raw)
	if err != nil {
		return
	}
	next := c.nextHeight()
	if b.Height < next || b.Height >= next+maxPendingBlocks {
		return // applied already (CheckBlock compares it), or fetched by sync when its turn comes
	}
	c.mu.Lock()
	if prev, ok := c.pending[b.Height]; ok {
		if first := canon.MustEncode(prev.SignedBlock); !bytes.Equal(first, raw) {
			c.mu.Unlock()
			c.equivocated(b.Height, first, raw)
			return
		}
		via = prev.via // it arrived first by that way
	}
	c.pending[b.Height] = pendingBlock{b, via}
	c.known = max(c.known, b.Height+1)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// SubmitAttestation implements chain.Chain: the readiness is gossiped, and
// pushed straight to the sequencer beside gossip.
func (c *Chain) SubmitAttestation(ctx context.Context, a signal.Attestation) error {
	if c.net == nil {
		return errors.New("devchain: not started on a network")
	}
	err := c.net.PublishAttestation(ctx, a)
	if c.pushToSequencer(p2p.PushKindAttestation, a.Encode()) {
		return nil // a repeat is a duplicate to gossip; the push carries it
	}
	return err
}

// SubmitGovernance implements chain.Chain: the item is gossiped (and pooled
// here if this node is the sequencer), and pushed to the sequencer.
func (c *Chain) SubmitGovernance(ctx context.Context, m chain.GovernanceMessage) error {
	if c.net == nil {
		return errors.New("devchain: not started on a network")
	}
	raw := canon.MustEncode(m)
	c.HandleGovernance(raw)
	err := c.net.PublishGovernance(ctx, raw)
	if pushed := c.pushToSequencer(p2p.PushKindGovernance, raw); err != nil && !pushed && !c.IsSequencer() {
		return err
	}
	return nil
}

// EncodedBlocks serves stored signed blocks to peers (p2p's sync source).
func (c *Chain) EncodedBlocks(from, count uint64) ([][]byte, error) {
	var out [][]byte
	for h := from; h < from+count; h++ {
		b, err := c.opts.Store.Block(h)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b.Wire)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no block at height %d", from)
	}
	return out, nil
}

// produce is the sequencer's loop: one block per interval.
func (c *Chain) produce() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if err := c.produceOne(); err != nil {
			c.fail(err)
			return
		}
	}
}

// takeBlock starts the block at height, in the next view this sequencer
// does not skip, on the stored head (produceOne's: only it commits on the
// sequencer), from the pool within blockLimits. Nothing leaves the pool
// here: commitBlock's Included takes out what the committed block carried.
func (c *Chain) takeBlock(height uint64) activation.WireBlock {
	c.mu.Lock()
	c.view++
	for c.opts.SkipView != nil && c.opts.SkipView(c.view) {
		c.view++
	}
	view := c.view
	c.mu.Unlock()
	head, _ := c.opts.Store.Head()
	return c.pool.Build(head, height, view, blockLimits)
}

// produceOne makes, signs, stores and publishes the sequencer's next block.
func (c *Chain) produceOne() error {
	head, applied := c.opts.Store.Head()
	height := uint64(0)
	if applied {
		h, _, _ := head.Head()
		height = h + 1
	}
	wire := c.takeBlock(height)
	sealed, err := c.commitBlock(head, wire, nil, func(next *activation.State) ([]byte, error) {
		sb := SignedBlock{Height: height, View: wire.View, StateID: next.ID(), Block: wire.Encode()}
		var err error
		if sb.Signature, err = signal.Sign(c.opts.StakingKey, sb.signingBytes()); err != nil {
			return nil, err
		}
		return canon.MustEncode(sb), nil
	}, "")
	if err != nil {
		return err
	}
	if c.net != nil {
		// Its own validator accepts it (p2p's own-publication rule);
		// followers that miss it catch up by sync.
		if err := c.net.PublishBlock(c.ctx, sealed); err != nil && c.ctx.Err() == nil {
			c.opts.Logger.Warn("block not published on gossip; followers fetch it by sync", "height", height, "err", err)
		}
	}
	return nil
}

// follow is a follower's loop: apply queued blocks in order; when a gap
// stays open, fetch the missing blocks from the sequencer by sync.
func (c *Chain) follow() {
	defer c.wg.Done()
	t := time.NewTicker(max(c.opts.Interval*4, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
			if c.behind() {
				c.fillGap()
			}
		}
		if err := c.applyPending(); err != nil {
			c.fail(err)
			return
		}
	}
}

// behind reports whether a follower should ask peers for blocks: gossip
// left a gap (a block is queued beyond one missing), or no block arrived
// for two view intervals (it may have missed the newest ones, or be
// catching up). A follower that gossip keeps up to date does not poll: a
// poll racing gossip would fetch the block gossip is about to deliver.
func (c *Chain) behind() bool {
	next := c.nextHeight()
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastBlock) > 2*c.opts.Interval || c.known > next+1 {
		return true
	}
	for h := range c.pending {
		if h > next {
			return true
		}
	}
	return false
}

func (c *Chain) nextHeight() uint64 {
	head, applied := c.opts.Store.Head()
	if !applied {
		return 0
	}
	h, _, _ := head.Head()
	return h + 1
}

func (c *Chain) fillGap() {
	if c.net == nil {
		return
	}
	// Asked even with nothing queued: this node may have missed the newest
	// blocks. The sequencer first, then every other peer (any follower holds
	// the blocks it applied); a response too large halves the request.
	next := c.nextHeight()
	c.mu.Lock()
	count := c.syncCount
	c.mu.Unlock()
	var blocks [][]byte
	for _, p := range append([]peer.ID{c.seqPeer}, c.net.ConnectedPeers()...) {
		if p == c.net.ID() {
			continue
		}
		got, err := c.net.RequestBlocks(c.ctx, p, next, count)
		if errors.Is(err, p2p.ErrResponseTooLarge) {
			count = max(1, count/2)
			c.mu.Lock()
			c.syncCount = count
			c.mu.Unlock()
			continue
		}
		if err == nil && len(got) > 0 {
			blocks = got
			break
		}
	}
	for _, raw := range blocks {
		if c.CheckBlock(raw) == nil {
			c.queue(raw, chain.ViaSync)
		}
	}
	if uint64(len(blocks)) == count {
		// A full batch: the sequencer has more, so this node is still behind
		// once it has applied these.
		c.mu.Lock()
		c.known = max(c.known, next+uint64(len(blocks))+1)
		c.mu.Unlock()
	}
}

func (c *Chain) applyPending() error {
	for {
		next := c.nextHeight()
		c.mu.Lock()
		b, ok := c.pending[next]
		for h := range c.pending {
			if h < next {
				delete(c.pending, h)
			}
		}
		delete(c.pending, next)
		c.mu.Unlock()
		if !ok {
			return nil
		}
		if err := c.applySigned(b.SignedBlock, b.via); err != nil {
			return err
		}
		c.mu.Lock()
		c.received[b.via]++
		c.mu.Unlock()
	}
}

// applySigned verifies a sequencer block's items, applies them, and checks
// the result against the sequencer's state ID.
func (c *Chain) applySigned(b SignedBlock, via chain.Via) error {
	head, _ := c.opts.Store.Head()
	wire, err := activation.DecodeWireBlock(b.Block)
	if err != nil {
		return fmt.Errorf("devchain block %d: %w", b.Height, err)
	}
	if wire.Height != b.Height || wire.View != b.View {
		return fmt.Errorf("devchain block %d: header and body disagree on height or view", b.Height)
	}
	blockErr := func(err error) error { return fmt.Errorf("devchain block %d: %w", b.Height, err) }
	_, err = c.commitBlock(head, wire, blockErr, func(next *activation.State) ([]byte, error) {
		if id := next.ID(); id != b.StateID {
			return nil, fmt.Errorf("%w at height %d (view %d): this node computes %x…, the sequencer signed %x…; "+
				"the block carries items that do not verify here, or this node runs other rules: stop and investigate",
				ErrStateMismatch, b.Height, b.View, id[:6], b.StateID[:6])
		}
		return canon.MustEncode(b), nil
	}, via)
	return err
}

// commitBlock takes one block into the chain, the same way for the
// sequencer and a follower, through the one commit pipeline (guard, Verify,
// Apply, one synced batch): seal gets the state after the block and returns
// the encoded SignedBlock to store (the sequencer signs that state; a
// follower checks it against the one the sequencer signed). Nothing of the
// block is stored if any step fails. verifyErr, if set, gives the
// verifier's and Apply's errors their context (a follower names the block;
// the sequencer returns them as they are). via is how the block reached this
// node ("" for the sequencer's own). It returns the stored bytes.
func (c *Chain) commitBlock(head *activation.State, wire activation.WireBlock, verifyErr func(error) error,
	seal func(next *activation.State) ([]byte, error), via chain.Via) ([]byte, error) {
	pr, err := c.pipe.Prepare(head, wire)
	if err != nil {
		if invalid := (*commit.InvalidError)(nil); verifyErr != nil && errors.As(err, &invalid) {
			return nil, verifyErr(invalid.Err)
		}
		return nil, err
	}
	sealed, err := seal(pr.Block.State)
	if err != nil {
		return nil, err
	}
	if _, err := c.pipe.Commit(pr, sealed, via); err != nil {
		return nil, err
	}
	c.pool.Included(wire)
	c.mu.Lock()
	c.view = max(c.view, wire.View) // the sequencer's is there already
	c.mu.Unlock()
	c.announce()
	return sealed, nil
}

func (c *Chain) announce() {
	c.mu.Lock()
	c.lastBlock = time.Now()
	c.mu.Unlock()
}

// Finalized implements chain.Chain: each block comes with the events Apply
// produced for it. The delivering goroutine belongs to the chain: it stops
// when ctx ends or the chain closes.
func (c *Chain) Finalized(ctx context.Context, from uint64) (<-chan chain.FinalizedBlock, error) {
	out := make(chan chain.FinalizedBlock, 16)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.pipe.Deliver(ctx, c.ctx.Done(), from, out, c.fail)
	}()
	return out, nil
}

// handlers are the devchain's part of the network: its block and
// governance topics with their validators, the sequencer's pools, and its
// sync source.
func (c *Chain) handlers() p2p.Handlers {
	return p2p.Handlers{OnAttestation: c.HandleAttestation, OnBlock: c.HandleBlock, OnGovernance: c.HandleGovernance,
		BlockValidator: c.CheckBlock, GovernanceValidator: c.CheckGovernance, Sync: c}
}

// BuildsBlocks implements chain.Chain: true for the sequencer.
func (c *Chain) BuildsBlocks() bool { return c.IsSequencer() }

var _ chain.Chain = (*Chain)(nil)
