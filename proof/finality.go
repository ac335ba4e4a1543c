package proof

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/chain/devchain"
)

// FinalityScheme is how one consensus engine shows that a block is final:
// the evidence that the protocol state after the block at quorumgate
// height h has a given state ID. A proof names its engine, and Verify asks
// that engine's scheme.
type FinalityScheme struct {
	// Evidence reads the evidence of block h from a stopped node's home.
	Evidence func(home string, g *chain.Genesis, h uint64) ([]byte, error)
	// Verify checks, offline, that ev proves that the state after block h
	// has the ID stateID, on the chain of g.
	Verify func(g *chain.Genesis, h uint64, stateID [32]byte, ev []byte) error
}

// schemes are the engines whose proofs can be checked, under the name a
// proof records (engine.Name: "devchain", "cometbft"); an engine missing
// here is refused by name.
var schemes = map[string]FinalityScheme{
	"devchain": {Evidence: devchain.FinalityEvidence, Verify: devchain.VerifyFinality},
	// CometBFT reads its own block store, under HOME/cometbft.
	"cometbft": {
		Evidence: func(home string, g *chain.Genesis, h uint64) ([]byte, error) {
			return cometbft.FinalityEvidence(filepath.Join(home, "cometbft"), g, h)
		},
		Verify: cometbft.VerifyFinality,
	},
}

// Scheme returns the finality scheme of engine, or an error naming the
// engines this build knows.
func Scheme(engine string) (FinalityScheme, error) {
	s, ok := schemes[engine]
	if !ok {
		return FinalityScheme{}, fmt.Errorf("no finality scheme for engine %q in this build (known: %v)", engine, slices.Sorted(maps.Keys(schemes)))
	}
	return s, nil
}
