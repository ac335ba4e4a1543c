// Package engine is the composition root's choice of consensus engine: it
// maps an engine name to the constructor node.Start takes, so node/ never
// imports an engine.
package engine

import (
	"fmt"

	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/node"
)

// The engines node-plugin runs on.
const (
	// Devchain is the embedded development chain: one sequencer, quickest
	// for a laptop, no fault tolerance.
	Devchain = "devchain"
	// CometBFT runs quorumgate as an ABCI 2.0 application on CometBFT, in
	// process: BFT consensus, tolerating faults of less than a third of the
	// voting power.
	CometBFT = "cometbft"
)

// Names are the engines, for help and error messages.
var Names = []string{Devchain, CometBFT}

// NewDevchain builds the devchain engine.
func NewDevchain(env node.EngineEnv) (node.Engine, error) {
	return devchain.New(devchain.Options{Genesis: env.Genesis, Store: env.Store, NodeID: env.NodeID,
		StakingKey: env.StakingKey, Interval: env.ViewInterval, Guard: env.Guard, Logger: env.Logger})
}

// NewCometBFT builds the CometBFT engine with the node's CometBFT settings.
func NewCometBFT(s cometbft.Settings) node.NewEngine {
	return func(env node.EngineEnv) (node.Engine, error) {
		return cometbft.New(cometbft.Options{Genesis: env.Genesis, Store: env.Store, Home: env.Home, NodeID: env.NodeID,
			Key: env.P2PKey, Interval: env.ViewInterval, Guard: env.Guard, Settings: s, Logger: env.Logger})
	}
}

// Check reports whether name is an engine.
func Check(name string) error {
	switch name {
	case Devchain, CometBFT:
		return nil
	}
	return fmt.Errorf("%q is not an engine: allowed are %s, %s", name, Devchain, CometBFT)
}
