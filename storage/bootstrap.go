package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/quorumgate/quorumgate/activation"
)

// A store that joined by state sync starts at a base height H: it holds the
// verified state after block H (as a snapshot and as the head), the record
// of block H (its wire bytes as the engine got them with the snapshot, no
// verified items: it is never re-applied), and every block from H+1 on.
// Nothing below H exists; reads below it are ErrPruned.

// keyBase holds the base height (8 bytes, big-endian) of a store that
// joined by state sync; a store that started at genesis has none.
var keyBase = []byte{tMeta, 'b'}

// ErrPruned: the height asked for is below the store's base, the height it
// joined the chain at by state sync (errors.Is; the error is a *PrunedError).
var ErrPruned = errors.New("before this node's history")

// ErrNotEmpty: Bootstrap on a store that holds blocks already.
var ErrNotEmpty = errors.New("the store is not empty")

// PrunedError says which height was asked for and where the history starts.
type PrunedError struct {
	Height, Base uint64
}

func (e *PrunedError) Error() string {
	return fmt.Sprintf("height %d: this node joined by state sync at height %d; its history starts there", e.Height, e.Base)
}

func (e *PrunedError) Is(target error) bool { return target == ErrPruned }

// Base returns the height the store joined the chain at by state sync, and
// whether it did; a store that started at genesis has (0, false).
func (s *Store) Base() (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.base, s.bootstrapped
}

// pruned returns a *PrunedError if h is below the base (h < base; at the
// base, only the block's items are missing, which callers check themselves).
func (s *Store) pruned(h uint64) error {
	if base, ok := s.Base(); ok && h < base {
		return &PrunedError{Height: h, Base: base}
	}
	return nil
}

// Bootstrap starts an empty store at a verified state: state is the state
// after block H (its Head gives H and the view), wire the bytes the engine
// keeps for block H (the devchain's sequencer-signed block that commits to
// the state's ID, served to peers like any stored block; nil on CometBFT,
// whose light client verified the state's ID instead). The caller has
// verified the state; the store checks only that it is for the chain's
// parameters and holds a block. Everything is written in one synced batch,
// then the head marker; a crash before the batch leaves an empty store, one
// after it a bootstrapped one (the marker lagging is normal, see marker.go).
//
// A store holding any block is refused with ErrNotEmpty: state sync joins a
// node afresh, it never rewrites history.
func (s *Store) Bootstrap(state *activation.State, wire []byte) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("bootstrap store %s: it was opened read-only", s.dir)
	}
	height, view, ok := state.Head()
	if !ok {
		return fmt.Errorf("bootstrap store %s: the state holds no block (it is a genesis state)", s.dir)
	}
	if state.Params().ChainID != s.opts.Genesis.Params().ChainID {
		return fmt.Errorf("bootstrap store %s: the state is of chain %q, the store of %q", s.dir, state.Params().ChainID, s.opts.Genesis.Params().ChainID)
	}
	s.mu.RLock()
	has, head := s.hasBlock, s.head
	s.mu.RUnlock()
	if has {
		hh, _, _ := head.Head()
		return fmt.Errorf("bootstrap store %s: %w: it holds blocks up to height %d; state sync starts only on an empty store (move it aside to join afresh)",
			s.dir, ErrNotEmpty, hh)
	}
	enc, id := state.EncodeWithID()
	rec := blockRecord{View: view, Wire: wire, StateID: id}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return fmt.Errorf("bootstrap store %s: %w", s.dir, ErrClosed)
	}
	batch := s.db.NewBatch()
	defer batch.Close() // recycles the batch; it can fail only when closed twice
	batch.Set(keyBase, binary.BigEndian.AppendUint64(nil, height), nil)
	setBlock(batch, height, view, rec, id, enc)
	batch.Set(heightKey(tSnapshot, height), enc, nil)
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("bootstrap store %s at height %d: %w", s.dir, height, err)
	}
	s.mu.Lock()
	s.head, s.headID, s.hasBlock = state, id, true
	s.base, s.bootstrapped = height, true
	s.mu.Unlock()
	if s.marker != nil {
		if err := s.resetMarker(headMarker{blocks: height + 1, id: id}); err != nil {
			return fmt.Errorf("bootstrap store %s: the state is stored, but: %w", s.dir, err)
		}
	}
	s.log.Info("store: joined by state sync", "store", s.dir, "height", height, "view", view, "state_id", fmt.Sprintf("%x", id[:8]))
	return nil
}

// recoverBase loads the base height of a store that joined by state sync.
func (s *Store) recoverBase() error {
	v, err := s.get(keyBase)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(v) != 8 {
		return corrupt(s.dir, "the base height has %d bytes", len(v))
	}
	base := binary.BigEndian.Uint64(v)
	if h, _, ok := s.head.Head(); !s.hasBlock || !ok || h < base {
		return corrupt(s.dir, "the store joined by state sync at height %d but its head is below it", base)
	}
	s.base, s.bootstrapped = base, true
	return nil
}
