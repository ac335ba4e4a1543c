// Package proof writes and checks portable proofs of what activated on a
// quorumgate chain (docs/proof.md): one self-contained file that anyone
// holding only the chain's genesis can check offline, with no network and
// no node.
//
// A deployment proof shows that a deployment locked in and activated: the
// state after the block that locked it in and the state after the block
// that activated it, each an entry proven by a Merkle path to the block's
// state ID (activation.EntryProof), each state ID shown final by the
// engine's finality evidence (FinalityScheme); for a stake-mode deployment
// also the lock-in epoch's identity table and the quorum certificate (one
// aggregate BLS signature and a signer bitmap) of the stake that carried
// it. A view proof shows which component versions and parameter values
// governed a view: every component's and parameter's history, proven from
// a final state at a view at or after it.
//
// Verify checks a proof; Export and ExportView build one from a node's
// store, and AttachFinality adds the engine's evidence. The checks are
// pure but for the BLS and hash computations: no clock, IO or network.
package proof

import (
	"fmt"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
)

// Format names this file format; a proof of another format is refused.
const Format = "quorumgate-proof/v1"

// The kinds of proof.
const (
	KindDeployment = "deployment"
	KindView       = "view"
)

// File is a proof file. Its encoding is canonical CBOR (internal/canon):
// one encoding per proof, checked on decoding.
type File struct {
	Format string `cbor:"1,keyasint"`
	Kind   string `cbor:"2,keyasint"`
	// ChainID and GenesisHash name the chain; a proof of another chain is
	// refused before anything else is checked.
	ChainID     string   `cbor:"3,keyasint"`
	GenesisHash [32]byte `cbor:"4,keyasint"`
	// Engine is the consensus engine whose finality evidence the anchors
	// carry ("devchain", "cometbft").
	Engine     string           `cbor:"5,keyasint"`
	Deployment *DeploymentProof `cbor:"6,keyasint,omitempty"`
	View       *ViewProof       `cbor:"7,keyasint,omitempty"`
}

// Anchor is a finalized block's state: the quorumgate height of the block,
// the ID of the state after it, and the engine's evidence that it is final.
type Anchor struct {
	Height   uint64   `cbor:"1,keyasint"`
	StateID  [32]byte `cbor:"2,keyasint"`
	Finality []byte   `cbor:"3,keyasint"`
}

// DeploymentProof proves a deployment's lock-in and activation.
type DeploymentProof struct {
	Name string `cbor:"1,keyasint"`
	// LockIn is the block that locked the deployment in (stake mode) or
	// accepted it (governance mode, which locks in at once); LockInEntry
	// proves the deployment's record in the state after it: LOCKED_IN
	// since that block's view.
	LockIn      Anchor                `cbor:"2,keyasint"`
	LockInEntry activation.EntryProof `cbor:"3,keyasint"`
	// Stake mode: the identity table of the lock-in epoch (its entries,
	// keys and proofs of possession included, in table order, canonically
	// encoded: quorum.Table.EncodeEntries) and the certificate of the
	// readiness that carried the lock-in.
	Identities  []byte       `cbor:"4,keyasint,omitempty"`
	Certificate *Certificate `cbor:"5,keyasint,omitempty"`
	// Activation is the block that activated it; ActivationEntry proves
	// the record (ACTIVE since that block's view) and History the
	// component's version history (or the parameter's value history) in
	// the state after it, which ends with the deployment's version.
	Activation      Anchor                `cbor:"6,keyasint"`
	ActivationEntry activation.EntryProof `cbor:"7,keyasint"`
	History         activation.EntryProof `cbor:"8,keyasint"`
}

// Certificate is a quorum certificate over the readiness message of the
// deployment in the lock-in epoch: a signer bitmap over the epoch's
// identity table and the aggregate of their BLS signatures. The chain,
// deployment and epoch are those the proof establishes, so they are not
// repeated.
type Certificate struct {
	Signers   quorum.Bitmap `cbor:"1,keyasint"`
	Signature []byte        `cbor:"2,keyasint"`
}

// ViewProof proves which versions and parameter values governed a view.
type ViewProof struct {
	View uint64 `cbor:"1,keyasint"`
	// At is a final block at a view at or after View; Components and
	// Params prove every entry of its components and parameters trees, in
	// tree order.
	At         Anchor                  `cbor:"2,keyasint"`
	Components []activation.EntryProof `cbor:"3,keyasint,omitempty"`
	Params     []activation.EntryProof `cbor:"4,keyasint,omitempty"`
}

// Encode returns the canonical encoding of the file.
func (f *File) Encode() []byte { return canon.MustEncode(f) }

// Decode reads a proof file: canonical CBOR of a File, nothing else.
func Decode(data []byte) (*File, error) {
	var f File
	if err := canon.Decode(data, &f); err != nil {
		return nil, fmt.Errorf("not a proof file (canonical CBOR of the format %s): %w", Format, err)
	}
	return &f, nil
}
