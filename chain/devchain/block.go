package devchain

// The block format: SignedBlock, its canonical decoding, the bytes the
// sequencer signs, and the check that a block carries its signature.

import (
	"crypto/sha256"
	"fmt"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/signal"
)

// blockDomain prefixes the bytes the sequencer signs.
const blockDomain = "quorumgate/devchain-block/v1"

// SignedBlock is a devchain block: the wire block, the protocol state ID
// after it, and the sequencer's signature over both.
type SignedBlock struct {
	Height    uint64   `cbor:"1,keyasint"`
	View      uint64   `cbor:"2,keyasint"`
	StateID   [32]byte `cbor:"3,keyasint"`
	Block     []byte   `cbor:"4,keyasint"` // canonical activation.WireBlock
	Signature []byte   `cbor:"5,keyasint"`
}

func (b SignedBlock) signingBytes() []byte {
	return headerSigningBytes(b.Height, b.View, b.StateID, sha256.Sum256(b.Block))
}

// headerSigningBytes is what the sequencer signs: a block's header, with
// the block itself as its hash. A block (SignedBlock) and a proof's finality
// evidence (Evidence) are both checked against these bytes.
func headerSigningBytes(height, view uint64, stateID, blockHash [32]byte) []byte {
	type header struct {
		Height    uint64   `cbor:"1,keyasint"`
		View      uint64   `cbor:"2,keyasint"`
		StateID   [32]byte `cbor:"3,keyasint"`
		BlockHash [32]byte `cbor:"4,keyasint"`
	}
	return append([]byte(blockDomain), canon.MustEncode(header{height, view, stateID, blockHash})...)
}

// DecodeSignedBlock decodes a canonical signed block.
func DecodeSignedBlock(raw []byte) (SignedBlock, error) {
	var b SignedBlock
	if err := canon.Decode(raw, &b); err != nil {
		return b, fmt.Errorf("devchain block: %w", err)
	}
	return b, nil
}

func sequencerKey(g *Genesis) signal.PublicKey {
	t := g.Params().Identities.TableAt(0)
	i, _ := t.Lookup(g.Sequencer) // the genesis checked it is there
	return t.Key(i)
}

// CheckBlock checks that a block decodes and carries the sequencer's
// signature, for a genesis, without a chain. Its content is judged when it
// is applied; Chain.CheckBlock is the block topic's validator.
func CheckBlock(g *Genesis, raw []byte) error {
	b, err := DecodeSignedBlock(raw)
	if err != nil {
		return err
	}
	if err := signal.Verify(sequencerKey(g), b.signingBytes(), b.Signature); err != nil {
		return fmt.Errorf("devchain block %d: not signed by the sequencer: %w", b.Height, err)
	}
	return nil
}

// Payload returns the canonical activation.WireBlock inside the bytes the
// devchain stores for a block (a SignedBlock): what the commit pipeline, and
// a reader of a stopped node's store (chain/history), verify and apply.
func Payload(stored []byte) ([]byte, error) {
	sb, err := DecodeSignedBlock(stored)
	return sb.Block, err
}
