// Package commit is the one way a block enters a quorumgate chain, whatever
// engine finalized it: the guard, the verifying layer, activation.Apply and
// one synced store batch. It hands the node each block as a
// chain.FinalizedBlock built once, as the engine committed it (etcd raft's
// Ready): the state after the block and exactly the events of that one
// Verify and Apply. A block read back from the store, after a restart or by a
// consumer that fell behind, is rebuilt from its stored canonical wire bytes
// through the same two steps, so its events are the ones a node that watched
// it live reported: the verifying layer's rejections first, in block order,
// then Apply's, in rule and block order.
//
// Both engines use it: the devchain sequencer and follower through Prepare
// then Commit in one go; CometBFT's FinalizeBlock through Prepare (it needs
// the state ID as its AppHash) and its store writer through Commit.
package commit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/storage"
)

// Pipeline commits an engine's blocks to its store and delivers them.
type Pipeline struct {
	store    *storage.Store
	verifier *activation.Verifier
	genesis  *activation.State
	guard    func(head *activation.State, view uint64) error
	payload  func(stored []byte) ([]byte, error)

	mu     sync.Mutex
	recent map[uint64]chain.FinalizedBlock // the last keepRecent blocks committed in this process
	notify chan struct{}                   // closed and replaced at every commit
}

// keepRecent bounds the finalized blocks kept as committed; a consumer
// further behind gets rebuilt ones (the same values).
const keepRecent = 256

// Options configure a Pipeline.
type Options struct {
	Store *storage.Store
	// Genesis is the chain's genesis: its parameters and committee verify
	// items, and its state is the one before the first block.
	Genesis *chain.Genesis
	// Guard, if set, is asked before a block is taken, with the head and
	// the block's view: an error stops the block (nothing of it is stored).
	Guard func(head *activation.State, view uint64) error
	// Payload returns the canonical activation.WireBlock inside the bytes an
	// engine stores for a block (nil: the stored bytes are the WireBlock).
	Payload func(stored []byte) ([]byte, error)
}

// New builds a pipeline.
func New(o Options) *Pipeline {
	if o.Payload == nil {
		o.Payload = func(b []byte) ([]byte, error) { return b, nil }
	}
	g := o.Genesis
	return &Pipeline{store: o.Store, verifier: &activation.Verifier{Params: g.Params(), Committee: g.Committee()},
		genesis: g.State(), guard: o.Guard, payload: o.Payload, recent: map[uint64]chain.FinalizedBlock{},
		notify: make(chan struct{})}
}

// Verifier is the verifying layer the pipeline uses (engines check
// proposals with it before voting).
func (p *Pipeline) Verifier() *activation.Verifier { return p.verifier }

// Prepared is a block that passed the guard, Verify and Apply, not yet
// stored.
type Prepared struct {
	// Block is what FinalizedBlock the node will get (Payload and Via are
	// set by Commit); Block.State is the state after it.
	Block    chain.FinalizedBlock
	verified activation.Block
	rejected []activation.Rejection
}

// InvalidError is a block the verifying layer or Apply refused as a whole
// (another chain's, out of order), as opposed to the guard's error.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Prepare runs the guard, the verifying layer and Apply on wire, the block
// after head. Its error is the guard's as it is, or an *InvalidError (the
// verifier's or Apply's: a block of another chain, out of order).
func (p *Pipeline) Prepare(head *activation.State, wire activation.WireBlock) (Prepared, error) {
	if p.guard != nil {
		if err := p.guard(head, wire.View); err != nil {
			return Prepared{}, err
		}
	}
	return p.take(head, wire)
}

// take is the part of a block's way shared by Prepare and Rebuild.
func (p *Pipeline) take(head *activation.State, wire activation.WireBlock) (Prepared, error) {
	verified, rejected, err := p.verifier.Verify(head, wire)
	if err != nil {
		return Prepared{}, &InvalidError{err}
	}
	next, applied, err := activation.Apply(head, verified)
	if err != nil {
		return Prepared{}, &InvalidError{err}
	}
	events := make([]activation.Event, 0, len(rejected)+len(applied))
	for _, r := range rejected {
		events = append(events, r)
	}
	events = append(events, applied...)
	return Prepared{verified: verified, rejected: rejected, Block: chain.FinalizedBlock{Height: wire.Height, View: wire.View,
		Epoch: head.Params().Epoch(wire.View), StateID: next.ID(), State: next, Events: events}}, nil
}

// Commit stores a prepared block in one synced batch, as stored (the bytes
// the engine keeps for it, from which Payload extracts the WireBlock), then
// hands it to the consumers. via says how the block reached this node.
func (p *Pipeline) Commit(pr Prepared, stored []byte, via chain.Via) (chain.FinalizedBlock, error) {
	fb := pr.Block
	payload, err := p.payload(stored)
	if err != nil {
		return chain.FinalizedBlock{}, fmt.Errorf("block %d: %w", fb.Height, err)
	}
	if err := p.store.Commit(storage.Block{Height: fb.Height, View: fb.View, Wire: stored, Verified: pr.verified}, fb.State); err != nil {
		return chain.FinalizedBlock{}, err
	}
	fb.Payload, fb.Via = payload, via
	p.mu.Lock()
	p.recent[fb.Height] = fb
	if fb.Height >= keepRecent {
		delete(p.recent, fb.Height-keepRecent)
	}
	close(p.notify)
	p.notify = make(chan struct{})
	p.mu.Unlock()
	return fb, nil
}

// Rebuild returns the stored block at height h as a finalized block, given
// the state before it: decoded from its stored canonical wire bytes and
// taken through the same Verify and Apply as when it was committed (no
// guard: it was committed already). Its state ID must be the stored one.
func (p *Pipeline) Rebuild(prev *activation.State, h uint64) (chain.FinalizedBlock, error) {
	pr, err := p.rebuild(prev, h)
	return pr.Block, err
}

func (p *Pipeline) rebuild(prev *activation.State, h uint64) (Prepared, error) {
	b, err := p.store.Block(h)
	if err != nil {
		return Prepared{}, fmt.Errorf("block %d: %w", h, err)
	}
	payload, err := p.payload(b.Wire)
	if err != nil {
		return Prepared{}, fmt.Errorf("block %d: %w", h, err)
	}
	wire, err := activation.DecodeWireBlock(payload)
	if err != nil {
		return Prepared{}, fmt.Errorf("stored block %d: %w", h, err)
	}
	if wire.Height != b.Height || wire.View != b.View {
		return Prepared{}, fmt.Errorf("stored block %d: its wire block says height %d view %d, the store height %d view %d",
			h, wire.Height, wire.View, b.Height, b.View)
	}
	pr, err := p.take(prev, wire)
	if err != nil {
		return Prepared{}, fmt.Errorf("stored block %d: %w", h, err)
	}
	if pr.Block.StateID != b.StateID {
		return Prepared{}, fmt.Errorf("stored block %d: rebuilt, it gives state %x…, the store holds %x…",
			h, pr.Block.StateID[:6], b.StateID[:6])
	}
	pr.Block.Payload = payload
	return pr, nil
}

// Walked is one stored block as Walk rebuilds it.
type Walked struct {
	// Block is the finalized block, as Rebuild returns it.
	Block chain.FinalizedBlock
	// Verified is what Apply took from it, in block order (a signer listed
	// twice is there twice).
	Verified activation.Block
	// Rejected are the verifying layer's rejections, the first events of
	// Block.
	Rejected []activation.Rejection
}

// Walk rebuilds the stored blocks from height 0 to height to, in order,
// through the same Verify and Apply as Rebuild (each checked against its
// stored state ID), and hands each to fn; an error of fn stops the walk and
// is returned. A store that joined by state sync holds no block below its
// base: Walk says so (storage.ErrPruned) rather than walk anything.
func (p *Pipeline) Walk(to uint64, fn func(Walked) error) error {
	if base, ok := p.store.Base(); ok {
		return fmt.Errorf("%w", &storage.PrunedError{Height: 0, Base: base})
	}
	if next := p.nextHeight(); to >= next {
		if next == 0 {
			return fmt.Errorf("height %d: %w: the store holds no block yet", to, storage.ErrNotFound)
		}
		return fmt.Errorf("height %d: %w: the store's head is at height %d", to, storage.ErrNotFound, next-1)
	}
	prev := p.genesis
	for h := uint64(0); h <= to; h++ {
		pr, err := p.rebuild(prev, h)
		if err != nil {
			return err
		}
		if err := fn(Walked{Block: pr.Block, Verified: pr.verified, Rejected: pr.rejected}); err != nil {
			return err
		}
		prev = pr.Block.State
	}
	return nil
}

// block returns the finalized block at h: as committed, if this process
// committed it recently, else rebuilt from the store.
func (p *Pipeline) block(prev *activation.State, h uint64) (chain.FinalizedBlock, error) {
	p.mu.Lock()
	fb, ok := p.recent[h]
	p.mu.Unlock()
	if ok {
		return fb, nil
	}
	return p.Rebuild(prev, h)
}

// Wait returns a channel closed at the next commit.
func (p *Pipeline) Wait() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notify
}

// Deliver sends every stored block from height from on, in order, to out,
// until ctx ends or done closes; it closes out when it returns. It is meant
// to run on a goroutine the engine owns. fail, if set, is told why delivery
// stopped on its own (a store read or a rebuilt block that failed), before
// out is closed, so a consumer that sees out closed finds the reason in the
// engine's Err.
func (p *Pipeline) Deliver(ctx context.Context, done <-chan struct{}, from uint64, out chan<- chain.FinalizedBlock, fail func(error)) {
	defer close(out)
	stop := func(err error) {
		if fail != nil {
			fail(fmt.Errorf("deliver finalized blocks: %w", err))
		}
	}
	prev := p.genesis
	if from > 0 {
		s, err := p.store.StateAt(from - 1)
		if errors.Is(err, storage.ErrNotFound) {
			return // not stored yet: nothing to deliver from there
		}
		if err != nil && !errors.Is(err, storage.ErrPruned) { // pruned: the loop starts after the base
			stop(fmt.Errorf("state before height %d: %w", from, err))
			return
		}
		prev = s
	}
	next := from
	for {
		notify := p.Wait()
		// A store that joined by state sync (perhaps while this waited)
		// starts after its base: delivery goes on from there.
		if base, ok := p.store.Base(); ok && next <= base {
			s, err := p.store.StateAt(base)
			if err != nil {
				stop(fmt.Errorf("the state sync base at height %d: %w", base, err))
				return
			}
			prev, next = s, base+1
		}
		for ; next < p.nextHeight(); next++ {
			fb, err := p.block(prev, next)
			if err != nil {
				stop(err)
				return
			}
			select {
			case out <- fb:
			case <-ctx.Done():
				return
			case <-done:
				return
			}
			prev = fb.State
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return
		case <-done:
			return
		}
	}
}

func (p *Pipeline) nextHeight() uint64 {
	head, ok := p.store.Head()
	if !ok {
		return 0
	}
	h, _, _ := head.Head()
	return h + 1
}
