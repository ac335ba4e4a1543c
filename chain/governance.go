package chain

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// GovernanceMessage is what travels on the governance gossip topic, for
// every engine: one signed proposal or cancellation.
type GovernanceMessage struct {
	Proposal *activation.SignedProposal `cbor:"1,keyasint,omitempty"`
	Cancel   *activation.SignedCancel   `cbor:"2,keyasint,omitempty"`
}

// CheckGovernance is the governance topic's validator: the message must
// decode to exactly one item; its committee signatures are judged by Verify.
func CheckGovernance(raw []byte) error {
	_, err := DecodeGovernance(raw)
	return err
}

// DecodeGovernance decodes a governance message holding exactly one item.
func DecodeGovernance(raw []byte) (GovernanceMessage, error) {
	var m GovernanceMessage
	if err := canon.Decode(raw, &m); err != nil {
		return m, err
	}
	if (m.Proposal == nil) == (m.Cancel == nil) {
		return m, errors.New("a governance message holds exactly one proposal or cancellation")
	}
	return m, nil
}

// GovernanceItem turns the canonical bytes of a proposal or cancellation
// (as the admin API takes them) into the governance message that carries it.
func GovernanceItem(kind ItemKind, payload []byte) (GovernanceMessage, error) {
	var m GovernanceMessage
	switch kind {
	case ItemProposal:
		var sp activation.SignedProposal
		if err := canon.Decode(payload, &sp); err != nil {
			return m, err
		}
		m.Proposal = &sp
	case ItemCancel:
		var sc activation.SignedCancel
		if err := canon.Decode(payload, &sc); err != nil {
			return m, err
		}
		m.Cancel = &sc
	default:
		return m, errors.New("not a governance item")
	}
	return m, nil
}

// VerifyGovernance checks a governance message in full: its shape, then the
// committee's approval (one aggregate BLS check), so that junk is neither
// pooled nor forwarded by any engine.
func VerifyGovernance(g *Genesis, raw []byte) (GovernanceMessage, error) {
	m, err := DecodeGovernance(raw)
	if err != nil {
		return m, err
	}
	if m.Proposal != nil {
		if r := g.Committee().CheckProposal(g.ChainID, *m.Proposal); r != "" {
			return m, fmt.Errorf("proposal %q: %s", m.Proposal.Proposal.Name, r)
		}
	} else if r := g.Committee().CheckCancel(g.ChainID, *m.Cancel); r != "" {
		return m, fmt.Errorf("cancellation of %q: %s", m.Cancel.Deployment, r)
	}
	return m, nil
}
