// The governance committee: its members, and their approval of a message.

package activation

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// Committee is the governance committee fixed at genesis: its members' keys
// (each with a verified proof of possession) and how many must approve.
type Committee struct {
	keys      []signal.PublicKey
	threshold int
}

// CommitteeMember is a member's staking key and proof of possession, encoded.
type CommitteeMember struct {
	Key []byte
	PoP []byte
}

// NewCommittee checks every key and proof of possession and that the
// threshold is between 1 and the committee's size.
func NewCommittee(members []CommitteeMember, threshold int) (*Committee, error) {
	if threshold < 1 || threshold > len(members) {
		return nil, fmt.Errorf("governance threshold %d must be between 1 and the committee size %d", threshold, len(members))
	}
	c := &Committee{threshold: threshold}
	for i, m := range members {
		pk, err := signal.DecodePublicKey(m.Key)
		if err != nil {
			return nil, fmt.Errorf("governance member %d: %w", i, err)
		}
		if err := signal.VerifyPossession(pk, m.PoP); err != nil {
			return nil, fmt.Errorf("governance member %d: %w", i, err)
		}
		for j, other := range c.keys {
			if other.Equal(pk) {
				return nil, fmt.Errorf("governance members %d and %d have the same key", j, i)
			}
		}
		c.keys = append(c.keys, pk)
	}
	return c, nil
}

// Size returns the number of members.
func (c *Committee) Size() int { return len(c.keys) }

// Threshold returns how many members must approve.
func (c *Committee) Threshold() int { return c.threshold }

// Approval is the committee's approval of one governance message: which
// members signed (a bitmap over the committee) and their aggregate signature.
type Approval struct {
	Signers   quorum.Bitmap `cbor:"1,keyasint"`
	Signature []byte        `cbor:"2,keyasint"`
}

// Approve builds an approval of msg from the given members' keys (their
// indexes in the committee and their private keys, in the same order).
func (c *Committee) Approve(msg []byte, members []int, keys []signal.PrivateKey) (Approval, error) {
	if len(members) != len(keys) || len(members) == 0 {
		return Approval{}, errors.New("approve: need one private key per member, at least one")
	}
	a := Approval{Signers: quorum.NewBitmap(c.Size())}
	sigs := make([][]byte, len(keys))
	for i, m := range members {
		if m < 0 || m >= c.Size() || a.Signers.Has(m) {
			return Approval{}, fmt.Errorf("approve: member %d is not in the committee or repeats", m)
		}
		if !keys[i].PublicKey().Equal(c.keys[m]) {
			return Approval{}, fmt.Errorf("approve: the key given for member %d is not that member's", m)
		}
		a.Signers.Set(m)
		sig, err := signal.Sign(keys[i], msg)
		if err != nil {
			return Approval{}, err
		}
		sigs[i] = sig
	}
	agg, err := signal.AggregateSignatures(sigs)
	if err != nil {
		return Approval{}, err
	}
	a.Signature = agg
	return a, nil
}

// check verifies an approval of msg, returning the reason it fails, or "".
func (c *Committee) check(msg []byte, a Approval) Reason {
	if a.Signers.CheckSize(c.Size()) != nil {
		return Malformed
	}
	if a.Signers.Count() < c.threshold {
		return NotEnoughSigners
	}
	var keys []signal.PublicKey
	for i := range c.keys {
		if a.Signers.Has(i) {
			keys = append(keys, c.keys[i])
		}
	}
	key, err := signal.AggregateKeys(keys)
	if err != nil {
		return BadSignature
	}
	if signal.VerifyAggregate(key, msg, a.Signature) != nil {
		return BadSignature
	}
	return ""
}

// CheckProposal verifies a signed proposal as a block would (its shape and
// the committee's approval) without applying it: the gossip validator runs
// it before a proposal is pooled or forwarded. It returns the reason it
// fails, or "".
//
// A version upgrade's component must be a valid name (ValidName), as a
// deployment's is: it reaches the node's hook environment, upgrade-info.json
// and the logs, so an empty one or one holding a newline or "$(...)" is
// Malformed here, before any signature is checked, and no block, honest or
// not, can carry it to Apply. (A parameter change names no component; Apply
// judges its key and value.)
func (c *Committee) CheckProposal(chainID string, sp SignedProposal) Reason {
	if sp.Proposal.Mode != Stake && sp.Proposal.Mode != Governance {
		return Malformed
	}
	if !sp.Proposal.IsParam() && !ValidName(sp.Proposal.Component) {
		return Malformed
	}
	return c.check(ProposalMessage(chainID, sp.Proposal), sp.Approval)
}

// CheckCancel verifies a signed cancellation's approval, as CheckProposal.
func (c *Committee) CheckCancel(chainID string, sc SignedCancel) Reason {
	return c.check(CancelMessage(chainID, sc.Deployment), sc.Approval)
}
