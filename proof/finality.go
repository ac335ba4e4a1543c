package proof

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/chain/devchain"
)

// FinalityScheme is how one consensus engine shows that a block is final:
// the evidence that the protocol state after the block at quorumgate
// height h has a given state ID. A proof names its engine, and Verify asks
// that engine's scheme.
type FinalityScheme interface {
	// Evidence reads the evidence of block h from a stopped node's home.
	Evidence(home string, g *chain.Genesis, h uint64) ([]byte, error)
	// Verify checks, offline, that ev proves that the state after block h
	// has the ID stateID, on the chain of g.
	Verify(g *chain.Genesis, h uint64, stateID [32]byte, ev []byte) error
}

// The registration point. Every engine whose proofs can be checked has its
// scheme here, under the name a proof records (engine.Name: "devchain",
// "cometbft"); an engine missing here is refused by name. A program
// embedding quorumgate can add its own with Register.
var (
	schemesMu sync.RWMutex
	schemes   = map[string]FinalityScheme{
		"devchain": SchemeFuncs{EvidenceFunc: devchain.FinalityEvidence, VerifyFunc: devchain.VerifyFinality},
		// CometBFT reads its own block store, under HOME/cometbft.
		"cometbft": SchemeFuncs{
			EvidenceFunc: func(home string, g *chain.Genesis, h uint64) ([]byte, error) {
				return cometbft.FinalityEvidence(filepath.Join(home, "cometbft"), g, h)
			},
			VerifyFunc: cometbft.VerifyFinality,
		},
	}
)

// SchemeFuncs makes a FinalityScheme of two functions.
type SchemeFuncs struct {
	EvidenceFunc func(home string, g *chain.Genesis, h uint64) ([]byte, error)
	VerifyFunc   func(g *chain.Genesis, h uint64, stateID [32]byte, ev []byte) error
}

// Evidence calls EvidenceFunc.
func (s SchemeFuncs) Evidence(home string, g *chain.Genesis, h uint64) ([]byte, error) {
	return s.EvidenceFunc(home, g, h)
}

// Verify calls VerifyFunc.
func (s SchemeFuncs) Verify(g *chain.Genesis, h uint64, stateID [32]byte, ev []byte) error {
	return s.VerifyFunc(g, h, stateID, ev)
}

// Register makes s the finality scheme of engine (replacing any before).
func Register(engine string, s FinalityScheme) {
	schemesMu.Lock()
	defer schemesMu.Unlock()
	schemes[engine] = s
}

// Engines returns the engines with a registered scheme, sorted.
func Engines() []string {
	schemesMu.RLock()
	defer schemesMu.RUnlock()
	names := make([]string, 0, len(schemes))
	for n := range schemes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Scheme returns the finality scheme of engine, or an error naming the
// engines this build knows.
func Scheme(engine string) (FinalityScheme, error) {
	schemesMu.RLock()
	s, ok := schemes[engine]
	schemesMu.RUnlock()
	if !ok {
		known := Engines()
		return nil, fmt.Errorf("no finality scheme for engine %q in this build (known: %v)", engine, slices.Clip(known))
	}
	return s, nil
}
