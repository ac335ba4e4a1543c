// Package history reads a node's finalized history back out of its store as
// a replay scenario (docs/replay.md, "Exported histories"), whatever engine
// finalized it: `node-plugin export` writes it, and `node-plugin replay
// --state-ids` runs it through the pure engine. Each stored block is rebuilt
// from its canonical wire bytes through the commit pipeline's Verify and
// Apply and checked against its stored state ID, so the scenario holds
// exactly what Apply took, in block order (a signer listed twice is there
// twice), and the verifying layer's rejections beside it; the genesis
// identity tables keep their keys, so the replayed state IDs are the
// chain's.
package history

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/internal/commit"
	"github.com/quorumgate/quorumgate/replay"
	"github.com/quorumgate/quorumgate/storage"
)

// Options say what to export.
type Options struct {
	Store   *storage.Store
	Genesis *chain.Genesis
	// Payload returns the canonical activation.WireBlock inside the bytes
	// the engine stores for a block (devchain.Payload; nil when the stored
	// bytes are the WireBlock, as on CometBFT).
	Payload func(stored []byte) ([]byte, error)
	// ToHeight is the last block exported.
	ToHeight uint64
}

// ErrEmpty is returned for a store that holds no block.
var ErrEmpty = errors.New("the store holds no finalized block yet")

// Export returns the finalized history from genesis to o.ToHeight as a
// scenario, and the state after the last block (its ID is the one a node
// reports for that height, and the one the scenario replays to).
func Export(o Options) (*replay.Scenario, *chain.FinalizedBlock, error) {
	if _, ok := o.Store.Head(); !ok {
		return nil, nil, ErrEmpty
	}
	g := o.Genesis
	sc := &replay.Scenario{Params: g.Params(), Versions: g.Versions}
	pipe := commit.New(commit.Options{Store: o.Store, Genesis: g, Payload: o.Payload})
	var last chain.FinalizedBlock
	next := uint64(0) // the first view not yet accounted for
	err := pipe.Walk(o.ToHeight, func(w commit.Walked) error {
		fb := w.Block
		for v := next; v < fb.View; v++ {
			sc.Missing = append(sc.Missing, v)
		}
		next = fb.View + 1
		v := w.Verified
		if len(v.Proposals)+len(v.Cancels)+len(v.Readiness)+len(w.Rejected) > 0 {
			sc.Blocks = append(sc.Blocks, replay.Block{View: fb.View, Proposals: v.Proposals, Cancels: v.Cancels,
				Readiness: v.Readiness, Rejected: w.Rejected})
		}
		last = fb
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("export the history: %w", err)
	}
	sc.UntilView = last.View
	return sc, &last, nil
}
