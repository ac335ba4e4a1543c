package testnet

import (
	"github.com/quorumgate/quorumgate/activation"
)

// Every new testnet's genesis declares a few protocol parameters, so that a
// testnet can change one the way it upgrades a version (`testnet propose
// --param KEY --value V`). They stand for what a chain's node software
// would read from params.json; nothing in the testnet uses their values.
// Their leads are fractions of an epoch, so that a change activates within
// an epoch or two on a testnet of any pace.

// paramDecls are the demonstration parameters of a testnet with epochs of
// epochViews views (at least 10: pace checks it).
func paramDecls(epochViews uint64) []activation.ParamDecl {
	bound := func(n uint64) *uint64 { return &n }
	return []activation.ParamDecl{
		// The largest block, in bytes: a change takes half an epoch's notice.
		{Name: "block_size_limit", Type: activation.ParamUint, Value: "1048576",
			Min: bound(64 << 10), Max: bound(16 << 20), MinLeadViews: epochViews / 2},
		// How long consensus waits for a proposal before it moves on.
		{Name: "consensus_timeout_ms", Type: activation.ParamUint, Value: "1000",
			Min: bound(100), Max: bound(60000), MinLeadViews: epochViews / 4},
		// A switch: execution overlaps the next block's consensus.
		{Name: "execution_pipelining", Type: activation.ParamBool, Value: "false", MinLeadViews: epochViews / 2},
		// A line of text the node software shows its operators.
		{Name: "operator_notice", Type: activation.ParamString, Value: "welcome", MinLeadViews: 1},
	}
}
