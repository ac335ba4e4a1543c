package main

import (
	"fmt"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/engine"
	"github.com/quorumgate/quorumgate/internal/config"
	"github.com/quorumgate/quorumgate/node"
)

// pickEngine is the composition root's choice of consensus engine: it maps
// the configured engine.Name to the constructor node.Start takes, so node/
// never imports an engine. config.Load has parsed the name and checked the
// CometBFT settings; the genesis the CometBFT genesis derives from is
// checked here, so a bad one is exit 2 before anything starts.
func pickEngine(cfg config.Config, g *chain.Genesis) (node.NewEngine, error) {
	switch cfg.Engine {
	case engine.Devchain:
		return newDevchain(cfg.Devchain), nil
	case engine.CometBFT:
		if _, err := cometbft.GenesisDoc(g); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Genesis, err)
		}
		return newCometBFT(cometbft.Settings(cfg.CometBFT)), nil
	}
	return nil, fmt.Errorf("engine %q: node-plugin has no constructor for it", cfg.Engine)
}

// payloadOf is how an engine's stored block bytes hold the canonical
// WireBlock, for reading a stopped node's store (export).
func payloadOf(e engine.Name) func([]byte) ([]byte, error) {
	if e == engine.Devchain {
		return devchain.Payload
	}
	return nil // CometBFT stores the WireBlock itself
}

// newDevchain builds the devchain engine with the node's devchain settings.
func newDevchain(s config.Devchain) node.NewEngine {
	return func(env node.EngineEnv) (node.Engine, error) {
		return devchain.New(devchain.Options{Genesis: env.Genesis, Store: env.Store, NodeID: env.NodeID,
			StakingKey: env.StakingKey, Interval: env.ViewInterval, Guard: env.Guard, Logger: env.Logger, StateSync: s.StateSync})
	}
}

// newCometBFT builds the CometBFT engine with the node's CometBFT settings.
func newCometBFT(s cometbft.Settings) node.NewEngine {
	return func(env node.EngineEnv) (node.Engine, error) {
		return cometbft.New(cometbft.Options{Genesis: env.Genesis, Store: env.Store, Home: env.Home, NodeID: env.NodeID,
			Key: env.P2PKey, Interval: env.ViewInterval, Guard: env.Guard, Settings: s, Logger: env.Logger})
	}
}
