// Package chaintest is a fake chain.Chain for fast tests of what consumes
// one (the node runtime): a scripted stream of finalized blocks. A test
// appends blocks with Append; each goes through the same commit pipeline as
// a real engine's (guard, Verify, Apply, one store batch), so the node gets
// FinalizedBlocks exactly as an engine hands them over, without a
// sequencer's clock, gossip or consensus. What the node submits is recorded
// for the test to look at, and to put in a later block if it likes.
// Real-engine tests stay as integration tests.
package chaintest

import (
	"context"
	"errors"
	"sync"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/internal/commit"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// Fake is a scripted chain. It implements chain.Chain, and Start and Close
// as the node's engines do.
type Fake struct {
	genesis *chain.Genesis
	store   *storage.Store
	pipe    *commit.Pipeline

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu           sync.Mutex
	attestations []signal.Attestation
	governance   []chain.GovernanceMessage
	synced       bool
	err          error
	submitted    chan struct{} // closed and replaced at every submission
}

// New builds a fake chain on a store opened with the genesis state. guard,
// if set, is asked before every block, as an engine asks the node's.
func New(g *chain.Genesis, store *storage.Store, guard func(*activation.State, uint64) error) *Fake {
	return &Fake{genesis: g, store: store, pipe: commit.New(commit.Options{Store: store, Genesis: g, Guard: guard}),
		done: make(chan struct{}), synced: true, submitted: make(chan struct{})}
}

// Append finalizes the next block at view with the given items (its height
// and chain ID are filled in). A guard error stops the chain, as it stops
// an engine: Err reports it, and the node halts.
func (f *Fake) Append(view uint64, items activation.WireBlock) (chain.FinalizedBlock, error) {
	head := f.Head()
	items.ChainID, items.Height, items.View = f.genesis.ChainID, 0, view
	if h, _, ok := head.Head(); ok {
		items.Height = h + 1
	}
	pr, err := f.pipe.Prepare(head, items)
	if err != nil {
		var invalid *commit.InvalidError
		if !errors.As(err, &invalid) {
			f.mu.Lock()
			f.err = err
			f.mu.Unlock()
		}
		return chain.FinalizedBlock{}, err
	}
	return f.pipe.Commit(pr, items.Encode(), chain.ViaGossip)
}

// Empty finalizes empty blocks at views from to to, inclusive.
func (f *Fake) Empty(from, to uint64) error {
	for v := from; v <= to; v++ {
		if _, err := f.Append(v, activation.WireBlock{}); err != nil {
			return err
		}
	}
	return nil
}

// Attestations returns what was submitted with SubmitAttestation, in order.
func (f *Fake) Attestations() []signal.Attestation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]signal.Attestation(nil), f.attestations...)
}

// Governance returns what was submitted with SubmitGovernance, in order.
func (f *Fake) Governance() []chain.GovernanceMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chain.GovernanceMessage(nil), f.governance...)
}

// Submitted returns a channel closed at the next submission.
func (f *Fake) Submitted() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submitted
}

// SetSynced sets what Synced reports (true at first).
func (f *Fake) SetSynced(synced bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.synced = synced
}

// Finalized implements chain.Chain.
func (f *Fake) Finalized(ctx context.Context, from uint64) (<-chan chain.FinalizedBlock, error) {
	out := make(chan chain.FinalizedBlock, 16)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.pipe.Deliver(ctx, f.done, from, out, func(err error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.err == nil {
				f.err = err
			}
		})
	}()
	return out, nil
}

func (f *Fake) record(add func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	add()
	close(f.submitted)
	f.submitted = make(chan struct{})
	return nil
}

// SubmitAttestation implements chain.Chain: it records the attestation.
func (f *Fake) SubmitAttestation(_ context.Context, a signal.Attestation) error {
	return f.record(func() { f.attestations = append(f.attestations, a) })
}

// SubmitGovernance implements chain.Chain: it records the message.
func (f *Fake) SubmitGovernance(_ context.Context, m chain.GovernanceMessage) error {
	return f.record(func() { f.governance = append(f.governance, m) })
}

// CurrentView implements chain.Chain: the head's view.
func (f *Fake) CurrentView() uint64 {
	_, v, _ := f.Head().Head()
	return v
}

// Head implements chain.Chain.
func (f *Fake) Head() *activation.State {
	if s, ok := f.store.Head(); ok {
		return s
	}
	return f.genesis.State()
}

// Synced implements chain.Chain.
func (f *Fake) Synced() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.synced
}

// BuildsBlocks implements chain.Chain: the test builds the blocks, so the
// node need not wait for gossip peers.
func (f *Fake) BuildsBlocks() bool { return true }

// EquivocationCount implements chain.Chain.
func (f *Fake) EquivocationCount() int { return 0 }

// Err implements chain.Chain.
func (f *Fake) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Start attaches nothing to the network: the fake has no transport.
func (f *Fake) Start(*p2p.Node) error { return nil }

// Close stops the delivering goroutines.
func (f *Fake) Close() {
	f.closeOnce.Do(func() { close(f.done) })
	f.wg.Wait()
}

var _ chain.Chain = (*Fake)(nil)
