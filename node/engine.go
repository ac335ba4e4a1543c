package node

import (
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// Engine is the consensus engine a node runs on: chain.Chain plus its life
// cycle. The node sees nothing else of it and never imports an engine; the
// composition root (cmd/node-plugin) picks one and hands the
// node its constructor. An engine owns its transport: Start attaches its
// topics, validators and sync source to the node's network (p2p.Attach).
type Engine interface {
	chain.Chain
	// Start runs the engine on the node's network. Close stops it.
	Start(net *p2p.Node) error
	Close()
}

// EngineEnv is what the node gives the engine it starts.
type EngineEnv struct {
	Genesis    *chain.Genesis
	Store      *storage.Store
	Home       string
	NodeID     string
	StakingKey signal.PrivateKey
	// P2PKey is the node's libp2p key (the CometBFT engine signs votes
	// with it: its public key is in the genesis, as the peer ID).
	P2PKey crypto.PrivKey
	// ViewInterval paces the devchain's sequencer (and CometBFT's blocks).
	ViewInterval time.Duration
	// Guard is asked before any block is finalized, with the head state and
	// the block's view: an error (a *HaltError) stops the engine before the
	// block, with nothing of it stored.
	Guard  func(head *activation.State, view uint64) error
	Logger *slog.Logger
}

// NewEngine builds the engine a node runs on.
type NewEngine func(EngineEnv) (Engine, error)
