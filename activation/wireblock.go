package activation

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// WireBlock is a block's signed content as it travels and is stored.
type WireBlock struct {
	ChainID      string               `cbor:"1,keyasint"`
	Height       uint64               `cbor:"2,keyasint"`
	View         uint64               `cbor:"3,keyasint"`
	Proposals    []SignedProposal     `cbor:"4,keyasint,omitempty"`
	Cancels      []SignedCancel       `cbor:"5,keyasint,omitempty"`
	Certificates []quorum.Certificate `cbor:"6,keyasint,omitempty"`
	Attestations []signal.Attestation `cbor:"7,keyasint,omitempty"`
}

// Encode returns the canonical encoding.
func (b WireBlock) Encode() []byte { return canon.MustEncode(b) }

// DecodeWireBlock decodes a canonical wire block. It checks only the encoding
// and that the block names a chain; everything else (a proposal's mode, every
// signature, the chain it names) is judged by Verify and Apply.
func DecodeWireBlock(data []byte) (WireBlock, error) {
	var b WireBlock
	if err := canon.Decode(data, &b); err != nil {
		return WireBlock{}, fmt.Errorf("decode block: %w", err)
	}
	if b.ChainID == "" {
		return WireBlock{}, errors.New("decode block: no chain ID")
	}
	return b, nil
}
