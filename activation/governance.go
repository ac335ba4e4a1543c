// The governance message format: what the committee signs, and the signed
// proposals and cancellations that blocks carry.

package activation

import (
	"github.com/quorumgate/quorumgate/internal/canon"
)

// GovernanceDomain prefixes the bytes the governance committee signs.
const GovernanceDomain = "quorumgate/governance/v1"

// SignedProposal is a proposal with the committee's approval.
type SignedProposal struct {
	Proposal Proposal `cbor:"1,keyasint"`
	Approval Approval `cbor:"2,keyasint"`
}

// SignedCancel is a cancellation with the committee's approval.
type SignedCancel struct {
	Deployment string   `cbor:"1,keyasint"`
	Approval   Approval `cbor:"2,keyasint"`
}

type governanceMessage struct {
	ChainID  string    `cbor:"1,keyasint"`
	Proposal *Proposal `cbor:"2,keyasint,omitempty"`
	Cancel   string    `cbor:"3,keyasint,omitempty"`
}

// ProposalMessage returns the bytes the committee signs to approve p on a chain.
func ProposalMessage(chainID string, p Proposal) []byte {
	n := p.Normalize()
	return append([]byte(GovernanceDomain), canon.MustEncode(governanceMessage{ChainID: chainID, Proposal: &n})...)
}

// CancelMessage returns the bytes the committee signs to cancel a deployment.
func CancelMessage(chainID, deployment string) []byte {
	return append([]byte(GovernanceDomain), canon.MustEncode(governanceMessage{ChainID: chainID, Cancel: deployment})...)
}
