package activation

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// GovernanceDomain prefixes the bytes the governance committee signs.
const GovernanceDomain = "quorumgate/governance/v1"

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

// CheckProposal verifies a signed proposal as a block would (its mode and
// the committee's approval) without applying it: the gossip validator runs
// it before a proposal is pooled or forwarded. It returns the reason it
// fails, or "".
func (c *Committee) CheckProposal(chainID string, sp SignedProposal) Reason {
	if sp.Proposal.Mode != Stake && sp.Proposal.Mode != Governance {
		return Malformed
	}
	return c.check(ProposalMessage(chainID, sp.Proposal), sp.Approval)
}

// CheckCancel verifies a signed cancellation's approval, as CheckProposal.
func (c *Committee) CheckCancel(chainID string, sc SignedCancel) Reason {
	return c.check(CancelMessage(chainID, sc.Deployment), sc.Approval)
}

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

// DecodeWireBlock decodes a canonical wire block. It checks the encoding and
// that every proposal names a known mode; everything else is judged by Verify
// and Apply.
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

// Verifier is the verifying layer: it checks a wire block's signatures and
// membership and turns it into the verified items Apply takes.
type Verifier struct {
	Params    *Params
	Committee *Committee
}

// ErrWrongChain is returned by Verify for a block of another chain.
var ErrWrongChain = errors.New("block belongs to another chain")

// Verify checks every item of wb against the committee and the identity
// tables and returns the verified block and the rejected items. s is the
// state the block applies to: attestations name deployments by ID, and Verify
// resolves them against s and the block's own proposals. Items that fail
// (bad signature, not enough governance signers, unknown signer, unknown
// deployment, another chain) are rejected with a reason; the rest go on, in
// block order. The only error is a block of another chain.
func (v *Verifier) Verify(s *State, wb WireBlock) (Block, []Rejection, error) {
	if wb.ChainID != v.Params.ChainID {
		return Block{}, nil, fmt.Errorf("%w: %q, not %q", ErrWrongChain, wb.ChainID, v.Params.ChainID)
	}
	b := Block{Height: wb.Height, View: wb.View}
	var rejected []Rejection
	reject := func(kind Kind, dep, node string, r Reason) {
		rejected = append(rejected, Rejection{View: wb.View, Kind: kind, Deployment: dep, Node: node, Reason: r})
	}
	inBlock := map[signal.DeploymentID]string{}
	for _, sp := range wb.Proposals {
		if r := v.Committee.CheckProposal(v.Params.ChainID, sp); r != "" {
			reject(KindProposal, sp.Proposal.Name, "", r)
			continue
		}
		b.Proposals = append(b.Proposals, sp.Proposal)
		if _, seen := inBlock[sp.Proposal.ID()]; !seen {
			inBlock[sp.Proposal.ID()] = sp.Proposal.Name
		}
	}
	for _, sc := range wb.Cancels {
		if r := v.Committee.CheckCancel(v.Params.ChainID, sc); r != "" {
			reject(KindCancel, sc.Deployment, "", r)
			continue
		}
		b.Cancels = append(b.Cancels, sc.Deployment)
	}
	name := func(id signal.DeploymentID) (string, bool) {
		if d, ok := s.DeploymentByID(id); ok {
			return d.Name, true
		}
		n, ok := inBlock[id]
		return n, ok
	}
	for _, c := range wb.Certificates {
		dep, known := name(c.Deployment)
		if !known {
			dep = c.Deployment.String()
		}
		if c.ChainID != v.Params.ChainID {
			reject(KindCertificate, dep, "", WrongChain)
			continue
		}
		table := v.Params.Identities.TableAt(c.Epoch)
		signers, err := c.Verify(table)
		if err != nil {
			reject(KindCertificate, dep, "", BadSignature)
			continue
		}
		if !known {
			reject(KindCertificate, dep, "", UnknownDeployment)
			continue
		}
		for _, i := range signers {
			b.Readiness = append(b.Readiness, Readiness{Deployment: dep, Epoch: c.Epoch, Node: table.At(i).NodeID})
		}
	}
	b.Readiness = append(b.Readiness, v.verifyAttestations(wb, name, reject)...)
	return b, rejected, nil
}

// verifyAttestations checks single attestations, batching the signature
// checks of each (deployment, epoch) message, and returns the valid ones in
// block order.
func (v *Verifier) verifyAttestations(wb WireBlock, name func(signal.DeploymentID) (string, bool),
	reject func(Kind, string, string, Reason)) []Readiness {
	type group struct {
		idx  []int
		keys []signal.PublicKey
		sigs [][]byte
	}
	type key struct {
		d signal.DeploymentID
		e uint64
	}
	verdict := make([]Reason, len(wb.Attestations))
	groups := map[key]*group{}
	var order []key
	for i, a := range wb.Attestations {
		if a.ChainID != v.Params.ChainID {
			verdict[i] = WrongChain
			continue
		}
		table := v.Params.Identities.TableAt(a.Epoch)
		idx, ok := table.Lookup(a.Signer)
		if !ok || !table.Keyed() {
			verdict[i] = UnknownSigner
			continue
		}
		k := key{a.Deployment, a.Epoch}
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			order = append(order, k)
		}
		g.idx = append(g.idx, i)
		g.keys = append(g.keys, table.Key(idx))
		g.sigs = append(g.sigs, a.Signature)
	}
	for _, k := range order {
		g := groups[k]
		bad, err := signal.BatchVerify(signal.ReadinessMessage(v.Params.ChainID, k.d, k.e), g.keys, g.sigs)
		if err != nil {
			for _, i := range g.idx {
				verdict[i] = BadSignature
			}
			continue
		}
		for _, b := range bad {
			verdict[g.idx[b]] = BadSignature
		}
	}
	var out []Readiness
	for i, a := range wb.Attestations {
		dep, known := name(a.Deployment)
		if !known {
			dep = a.Deployment.String()
		}
		if verdict[i] == "" && !known {
			verdict[i] = UnknownDeployment
		}
		if verdict[i] != "" {
			reject(KindAttestation, dep, a.Signer, verdict[i])
			continue
		}
		out = append(out, Readiness{Deployment: dep, Epoch: a.Epoch, Node: a.Signer})
	}
	return out
}
