package activation

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/signal"
)

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
