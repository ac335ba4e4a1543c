package devchain

// The chain's life cycle and shared state: Options, Chain, New, Start and
// Close, the chain.Chain methods, the one commit path both roles take, and
// the devchain's part of the network (handlers, governance validator, sync
// source).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// GovernanceMessage is what travels on the governance topic (package chain's,
// shared by the engines).
type GovernanceMessage = chain.GovernanceMessage

// CheckGovernance is the governance topic's validator (chain.CheckGovernance).
func CheckGovernance(raw []byte) error { return chain.CheckGovernance(raw) }

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
	// StateSync makes a follower with an empty store join from a peer's
	// snapshot (statesync.go) rather than replay the chain from genesis; a
	// store holding blocks follows from its head as always. The sequencer
	// cannot: it makes the chain.
	StateSync bool
}

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
	refused     int             // peers' snapshots state sync refused
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
	if o.StateSync && o.NodeID == o.Genesis.Sequencer {
		return nil, errors.New("devchain: the sequencer cannot join by state sync (it makes the chain); turn devchain.state_sync off on it")
	}
	g := o.Genesis
	seq, err := peer.Decode(g.Identities[0].Nodes[indexOf(g, g.Sequencer)].PeerID)
	if err != nil {
		return nil, fmt.Errorf("devchain: sequencer %s's peer ID: %w", g.Sequencer, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pipe := commit.New(commit.Options{Store: o.Store, Genesis: g, Guard: o.Guard, Payload: Payload})
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

// commitBlock takes one block into the chain, the same way for the
// sequencer and a follower, through the one commit pipeline (guard, Verify,
// Apply, one synced batch): seal gets the state after the block and returns
// the encoded SignedBlock to store (the sequencer signs that state; a
// follower checks it against the one the sequencer signed). Nothing of the
// block is stored if any step fails. verifyErr, if set, gives the
// verifier's and Apply's errors their context (a follower names the block;
// the sequencer returns them as they are). via is how the block reached this
// node ("" for the sequencer's own). It returns the stored bytes.
//
// A block that counts a (signer, deployment, epoch) twice or carries a
// signed governance item twice (activation.WireBlock.Repeats) is refused
// first, before any signature is checked, as CometBFT's ProcessProposal
// refuses it: a follower stops on it as on any block the rules forbid, and
// the sequencer, whose pool never builds one, stops rather than sign it.
func (c *Chain) commitBlock(head *activation.State, wire activation.WireBlock, verifyErr func(error) error,
	seal func(next *activation.State) ([]byte, error), via chain.Via) ([]byte, error) {
	if err := wire.Repeats(c.pipe.Verifier().Params); err != nil {
		if verifyErr != nil {
			return nil, verifyErr(fmt.Errorf("%w; the sequencer signed a block the rules forbid (its pool never builds one): this node stops following", err))
		}
		return nil, err
	}
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
		BlockValidator: c.CheckBlock, GovernanceValidator: c.CheckGovernance, Sync: c, Snapshots: c}
}

// BuildsBlocks implements chain.Chain: true for the sequencer.
func (c *Chain) BuildsBlocks() bool { return c.IsSequencer() }

var _ chain.Chain = (*Chain)(nil)
