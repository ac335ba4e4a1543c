package devchain

// Finality evidence for portable proofs (package proof, docs/proof.md): on
// the devchain a block is final once the sequencer signed it, so the
// evidence that the state after block h has a given ID is the header the
// sequencer signed (height, view, state ID, block hash) and its signature.

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// Evidence is a devchain block's finality evidence: the signed header of
// the block (without its content, which the block hash stands for) and the
// sequencer's signature over it.
type Evidence struct {
	Height    uint64   `cbor:"1,keyasint"`
	View      uint64   `cbor:"2,keyasint"`
	StateID   [32]byte `cbor:"3,keyasint"`
	BlockHash [32]byte `cbor:"4,keyasint"`
	Signature []byte   `cbor:"5,keyasint"`
}

func (e Evidence) signingBytes() []byte {
	return headerSigningBytes(e.Height, e.View, e.StateID, e.BlockHash)
}

// EvidenceOf returns the finality evidence of a stored block (the
// SignedBlock bytes the devchain stores), in canonical CBOR.
func EvidenceOf(stored []byte) ([]byte, error) {
	b, err := DecodeSignedBlock(stored)
	if err != nil {
		return nil, err
	}
	e := Evidence{Height: b.Height, View: b.View, StateID: b.StateID, BlockHash: sha256.Sum256(b.Block), Signature: b.Signature}
	return canon.MustEncode(e), nil
}

// FinalityEvidence reads block h from the store of a stopped devchain node
// under home (HOME/store, opened read-only) and returns its finality
// evidence.
func FinalityEvidence(home string, g *Genesis, h uint64) ([]byte, error) {
	store, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(),
		Genesis: g.State(), ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("devchain finality evidence: %w", err)
	}
	defer store.Close()
	b, err := store.Block(h)
	if err != nil {
		return nil, fmt.Errorf("devchain finality evidence of block %d: %w", h, err)
	}
	ev, err := EvidenceOf(b.Wire)
	if err != nil {
		return nil, fmt.Errorf("devchain finality evidence of block %d: %w", h, err)
	}
	return ev, nil
}

// VerifyFinality checks that evidence proves the state after block h has
// the ID stateID: it is the canonical encoding of a header of height h with
// that state ID, signed by the genesis's sequencer.
func VerifyFinality(g *Genesis, h uint64, stateID [32]byte, evidence []byte) error {
	var e Evidence
	if err := canon.Decode(evidence, &e); err != nil {
		return fmt.Errorf("devchain finality evidence: %w", err)
	}
	switch {
	case e.Height != h:
		return fmt.Errorf("devchain finality evidence: it is for height %d, not %d", e.Height, h)
	case e.StateID != stateID:
		return fmt.Errorf("devchain finality evidence of block %d: the sequencer signed state %x…, not %x…", h, e.StateID[:6], stateID[:6])
	}
	if err := signal.Verify(sequencerKey(g), e.signingBytes(), e.Signature); err != nil {
		return fmt.Errorf("devchain finality evidence of block %d: not signed by the sequencer %s: %w", h, g.Sequencer, err)
	}
	return nil
}

// Seal signs b as the sequencer does and returns its canonical encoding,
// the bytes the devchain stores and gossips. It is for tools, tests and
// benchmarks that build a chain without running a sequencer.
func Seal(k signal.PrivateKey, b SignedBlock) ([]byte, error) {
	sig, err := signal.Sign(k, b.signingBytes())
	if err != nil {
		return nil, err
	}
	b.Signature = sig
	return canon.MustEncode(b), nil
}
