package devchain

import "github.com/quorumgate/quorumgate/chain"

// The genesis is engine-neutral and lives in package chain; these names keep
// the devchain's callers and tests as they were.
type (
	Genesis         = chain.Genesis
	IdentityStep    = chain.IdentityStep
	Node            = chain.GenesisNode
	Governance      = chain.Governance
	NodeSpec        = chain.NodeSpec
	Keys            = chain.Keys
	GenerateOptions = chain.GenerateOptions
)

// Load reads and validates a genesis file (chain.LoadGenesis).
func Load(path string) (*Genesis, error) { return chain.LoadGenesis(path) }

// Parse validates a genesis file (chain.ParseGenesis).
func Parse(data []byte) (*Genesis, error) { return chain.ParseGenesis(data) }

// Generate builds a genesis and its keys (chain.GenerateGenesis).
func Generate(o GenerateOptions) (*Genesis, *Keys, error) { return chain.GenerateGenesis(o) }
