package activation

// The repeat check: a block may count each (signer, deployment, epoch) once
// and carry each signed governance item once. Apply rejects every repeat as
// a duplicate, so repeats never move stake; the check exists because each
// repeat costs every validator a signature check before Apply sees it. It
// is cheap (no signature is checked), so engines run it before verifying:
// padding a block costs its proposer the block, not every validator the
// BLS work.

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// ErrRepeat is wrapped by every error Repeats returns.
var ErrRepeat = errors.New("block repeats an item")

// Item names one item of a wire block: its list and its index there.
type Item struct {
	Kind  Kind
	Index int
}

func (i Item) String() string { return fmt.Sprintf("%s %d", i.Kind, i.Index) }

// RepeatError is the first repeat Repeats found, and the two items that
// carry it (First comes before Second in the order Verify reads a block:
// proposals, cancellations, certificates, attestations, each in block
// order).
type RepeatError struct {
	First, Second Item
	// Signer, Deployment and Epoch name a readiness repeat (a certificate
	// or attestation Second counts a signer First counted already).
	Signer     string
	Deployment signal.DeploymentID
	Epoch      uint64
	// Name names a governance repeat (Second is the same signed proposal
	// or cancellation as First): the proposal's name, or the deployment
	// cancelled.
	Name string
}

func (e *RepeatError) Error() string {
	if e.First.Kind == KindProposal || e.First.Kind == KindCancel {
		return fmt.Sprintf("%v: %s and %s are the same signed %s of %q", ErrRepeat, e.First, e.Second, e.First.Kind, e.Name)
	}
	return fmt.Sprintf("%v: signer %q for deployment %s in epoch %d is counted by %s and again by %s",
		ErrRepeat, e.Signer, e.Deployment, e.Epoch, e.First, e.Second)
}

func (e *RepeatError) Unwrap() error { return ErrRepeat }

// Repeats returns a *RepeatError naming the first repeat in the block, or
// nil. A readiness repeat is a (signer, deployment, epoch) counted twice:
// by two certificates, by two single attestations, or by a certificate and
// an attestation. A governance repeat is the same signed proposal or
// cancellation twice, byte for byte (two approvals of one proposal are two
// items: the committee signed each, and Apply takes the first and rejects
// the second by name).
//
// It checks no signature and reads no state: certificate signers are read
// from their bitmaps over the epoch's identity table in params. Bits a
// bitmap sets past its table are left to Verify, which rejects the
// certificate. Memory is one bitmap of the table's size per certificate's
// (deployment, epoch), plus one entry per attestation and governance item.
func (b WireBlock) Repeats(params *Params) error {
	if err := b.governanceRepeats(); err != nil {
		return err
	}
	return b.readinessRepeats(params)
}

func (b WireBlock) governanceRepeats() error {
	seen := make(map[string]int, len(b.Proposals))
	for i, sp := range b.Proposals {
		k := string(canon.MustEncode(sp))
		if j, ok := seen[k]; ok {
			return &RepeatError{First: Item{KindProposal, j}, Second: Item{KindProposal, i}, Name: sp.Proposal.Name}
		}
		seen[k] = i
	}
	seen = make(map[string]int, len(b.Cancels))
	for i, sc := range b.Cancels {
		k := string(canon.MustEncode(sc))
		if j, ok := seen[k]; ok {
			return &RepeatError{First: Item{KindCancel, j}, Second: Item{KindCancel, i}, Name: sc.Deployment}
		}
		seen[k] = i
	}
	return nil
}

func (b WireBlock) readinessRepeats(params *Params) error {
	type group struct {
		d signal.DeploymentID
		e uint64
	}
	// counted: per (deployment, epoch), the table indexes the block's
	// certificates counted so far.
	counted := map[group]quorum.Bitmap{}
	// firstCert finds, for the error only, the first certificate before
	// end that counts index i of group k.
	firstCert := func(k group, i, end int) Item {
		for j, c := range b.Certificates[:end] {
			if c.Deployment == k.d && c.Epoch == k.e && i>>3 < len(c.Signers) && c.Signers.Has(i) {
				return Item{KindCertificate, j}
			}
		}
		return Item{} // not reached: counted holds only certificates' bits
	}
	for ci, c := range b.Certificates {
		table := params.Identities.TableAt(c.Epoch)
		k := group{c.Deployment, c.Epoch}
		seen := counted[k]
		if seen == nil {
			seen = quorum.NewBitmap(table.Len())
			counted[k] = seen
		}
		for j := range min(len(seen), len(c.Signers)) {
			set := c.Signers[j]
			if j == len(seen)-1 && table.Len()%8 != 0 {
				set &= 1<<(table.Len()%8) - 1 // bits past the table: Verify rejects the certificate
			}
			if both := set & seen[j]; both != 0 {
				i := j*8 + bits.TrailingZeros8(both)
				return &RepeatError{First: firstCert(k, i, ci), Second: Item{KindCertificate, ci},
					Signer: table.At(i).NodeID, Deployment: k.d, Epoch: k.e}
			}
			seen[j] |= set
		}
	}
	type signer struct {
		group
		node string
	}
	attested := make(map[signer]int, len(b.Attestations))
	for ai, a := range b.Attestations {
		k := group{a.Deployment, a.Epoch}
		repeat := func(first Item) error {
			return &RepeatError{First: first, Second: Item{KindAttestation, ai}, Signer: a.Signer, Deployment: k.d, Epoch: k.e}
		}
		if seen := counted[k]; seen != nil {
			if i, ok := params.Identities.TableAt(a.Epoch).Lookup(a.Signer); ok && seen.Has(i) {
				return repeat(firstCert(k, i, len(b.Certificates)))
			}
		}
		s := signer{k, a.Signer}
		if j, ok := attested[s]; ok {
			return repeat(Item{KindAttestation, j})
		}
		attested[s] = ai
	}
	return nil
}
