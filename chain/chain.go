// Package chain is the boundary between quorumgate's node runtime and the
// consensus engine that finalizes blocks. The node consumes a stream of
// finalized blocks, each with the state after it and the events its one
// Verify and Apply produced (chain/internal/commit, the one commit path of
// every engine), reads the head, whether it is synced and why the chain
// stopped, and submits typed items for inclusion; it never cares how blocks
// are agreed on,
// and it imports no engine (the composition root, cmd/node-plugin, picks
// one). The genesis file and the governance message, which every engine
// shares, live here too.
//
// Two engines implement Chain:
//   - chain/devchain, the embedded development chain: one sequencer signs a
//     block every view interval; followers verify and apply it (for local
//     testnets);
//   - chain/cometbft, quorumgate as an ABCI 2.0 application on CometBFT, in
//     process (its package doc has the mapping: PrepareProposal drains the
//     pool into one bounded WireBlock, ProcessProposal rejects anything that
//     does not verify, FinalizeBlock applies and returns the state ID as the
//     AppHash, Commit stores one synced batch, heights are views, and
//     CheckTx rejects: CometBFT's mempool is off, readiness travels on
//     libp2p gossip).
package chain

import (
	"context"
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/signal"
)

// DefaultViewInterval is the block interval an engine runs at when none is
// configured: the devchain's view interval, CometBFT's timeout_commit.
const DefaultViewInterval = 500 * time.Millisecond

// FinalizedBlock is one finalized block as the node receives it, with what
// applying it did (as etcd raft hands its caller a Ready): the node reacts
// to Events, it never polls the head for them.
type FinalizedBlock struct {
	Height, View, Epoch uint64
	// Payload is the canonical encoding of an activation.WireBlock.
	Payload []byte
	// StateID is the protocol state ID after the block, as the chain
	// committed to it; a node whose own Apply disagrees must stop.
	StateID [32]byte
	// State is the protocol state after the block (its ID is StateID).
	State *activation.State
	// Events are what taking the block did, exactly as the one Verify and
	// Apply of the block reported it: the verifying layer's rejections
	// first (items whose signatures or approvals do not verify), in block
	// order, then Apply's transitions and rejections, in rule and block
	// order. A block delivered again after a restart carries the same ones.
	Events []activation.Event
	// Via says how this node first got the block, when it received it from
	// the network while running (empty: it produced the block itself, or
	// applied it before this process started).
	Via Via
}

// Via is how a node first got a block it applied.
type Via string

const (
	// ViaGossip: the block arrived on gossip (devchain: the block topic;
	// CometBFT: its consensus reactor's block-part gossip).
	ViaGossip Via = "gossip"
	// ViaSync: the node fetched it to catch up (devchain: the sync
	// protocol; CometBFT: block sync).
	ViaSync Via = "sync"
)

// ItemKind names a governance item kind where it travels as bytes (the
// admin API, the submissions file).
type ItemKind uint8

const (
	// ItemAttestation is an encoded signal.Attestation (no longer submitted
	// as bytes; kept so the other kinds keep their numbers, which enter
	// submission IDs).
	ItemAttestation ItemKind = iota + 1
	// ItemProposal is an encoded activation.SignedProposal.
	ItemProposal
	// ItemCancel is an encoded activation.SignedCancel.
	ItemCancel
)

// Chain is what the node runtime needs from a consensus engine.
type Chain interface {
	// Finalized delivers finalized blocks from height from on, in order,
	// until ctx ends; the channel is closed then.
	Finalized(ctx context.Context, from uint64) (<-chan FinalizedBlock, error)
	// SubmitAttestation and SubmitGovernance hand an item to the chain for
	// inclusion in a future block (the engine gossips and pools it).
	SubmitAttestation(ctx context.Context, a signal.Attestation) error
	SubmitGovernance(ctx context.Context, m GovernanceMessage) error
	// CurrentView is the chain's latest view (possibly not yet finalized).
	CurrentView() uint64
	// Head is the protocol state after the last finalized block this node
	// applied (the genesis state before the first).
	Head() *activation.State
	// Synced reports whether this node follows the chain's head, rather
	// than catching up.
	Synced() bool
	// BuildsBlocks reports whether an item this node submits can reach a
	// block without gossip (this node proposes or sequences blocks), so it
	// need not wait for gossip peers before signing readiness.
	BuildsBlocks() bool
	// EquivocationCount is how many equivocations this node has seen proved
	// (devchain: two sequencer-signed blocks at one height; CometBFT:
	// double-sign evidence committed in finalized blocks).
	EquivocationCount() int
	// Err says why the chain stopped on its own (nil while it runs, or
	// after a Close): a halt, a state mismatch, a storage failure.
	Err() error
}
