// Package feed turns an engine's stored blocks into the stream the node
// consumes: chain.FinalizedBlock values, each with the events activation.Apply
// produced for it. Both engines deliver through it, so the node sees the same
// thing whichever engine finalized the block.
//
// The events are re-derived from the store (the state before the block, and
// the block's verified items) rather than kept from the moment the engine
// applied the block: so a node that restarts, or asks for blocks it applied
// long ago, gets the same events as one that watched them happen. Apply of a
// stored block costs microseconds; the state ID of every re-applied block is
// checked against the stored one.
package feed

import (
	"context"
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/storage"
)

// Source is what an engine gives the feed.
type Source struct {
	Store   *storage.Store
	Genesis *activation.State
	// Payload returns a stored block's canonical activation.WireBlock.
	Payload func(storage.Block) ([]byte, error)
	// Wait returns a channel closed when the next block is stored (take it
	// before looking at the head, so no block is missed).
	Wait func() <-chan struct{}
	// Done is closed when the engine stops.
	Done <-chan struct{}
	// Fail, if set, is told why delivery stopped on its own (a store read,
	// a re-applied block or a payload that failed), before out is closed:
	// so a consumer that sees out closed finds the reason in the engine's
	// Err rather than a silent end.
	Fail func(error)
	// Via, if set, says how this node first got the block at a height
	// (chain.FinalizedBlock.Via).
	Via func(height uint64) chain.Via
}

// Deliver runs until ctx ends or the engine stops, sending every stored
// block from height from on, in order, to out; it closes out when it
// returns. It is meant to run on a goroutine the engine owns.
func Deliver(ctx context.Context, src Source, from uint64, out chan<- chain.FinalizedBlock) {
	defer close(out)
	fail := func(err error) {
		if src.Fail != nil {
			src.Fail(fmt.Errorf("deliver finalized blocks: %w", err))
		}
	}
	prev := src.Genesis
	if from > 0 {
		s, err := src.Store.StateAt(from - 1)
		if errors.Is(err, storage.ErrNotFound) {
			return // not stored yet: nothing to deliver from there
		}
		if err != nil {
			fail(fmt.Errorf("state before height %d: %w", from, err))
			return
		}
		prev = s
	}
	next := from
	for {
		notify := src.Wait()
		for ; next < nextHeight(src.Store); next++ {
			fb, state, err := Block(src, prev, next)
			if err != nil {
				fail(err)
				return
			}
			select {
			case out <- fb:
			case <-ctx.Done():
				return
			case <-src.Done:
				return
			}
			prev = state
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return
		case <-src.Done:
			return
		}
	}
}

func nextHeight(s *storage.Store) uint64 {
	head, ok := s.Head()
	if !ok {
		return 0
	}
	h, _, _ := head.Head()
	return h + 1
}

// Block builds the finalized block at height h from the store, given the
// state before it, and returns the state after it.
func Block(src Source, prev *activation.State, h uint64) (chain.FinalizedBlock, *activation.State, error) {
	b, err := src.Store.Block(h)
	if err != nil {
		return chain.FinalizedBlock{}, nil, fmt.Errorf("block %d: %w", h, err)
	}
	state, events, err := activation.Apply(prev, b.Verified)
	if err != nil {
		return chain.FinalizedBlock{}, nil, fmt.Errorf("block %d: %w", h, err)
	}
	if state.ID() != b.StateID {
		return chain.FinalizedBlock{}, nil, fmt.Errorf("block %d: re-applied, it gives another state ID than stored", h)
	}
	payload, err := src.Payload(b)
	if err != nil {
		return chain.FinalizedBlock{}, nil, fmt.Errorf("block %d: %w", h, err)
	}
	fb := chain.FinalizedBlock{Height: b.Height, View: b.View, Epoch: prev.Params().Epoch(b.View), Payload: payload,
		StateID: b.StateID, Events: events}
	if src.Via != nil {
		fb.Via = src.Via(h)
	}
	return fb, state, nil
}
