package quorum

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/signal"
)

// Certificate is the compact proof that a set of an epoch's nodes are ready
// for a deployment: a signer bitmap over the epoch's identity table and one
// aggregate BLS signature over the readiness message, which every signer of
// (chain, deployment, epoch) signs identically.
type Certificate struct {
	ChainID    string              `cbor:"1,keyasint"`
	Deployment signal.DeploymentID `cbor:"2,keyasint"`
	Epoch      uint64              `cbor:"3,keyasint"`
	Signers    Bitmap              `cbor:"4,keyasint"`
	Signature  []byte              `cbor:"5,keyasint"`
}

// ErrBadCertificate is wrapped by every certificate verification failure.
var ErrBadCertificate = errors.New("invalid certificate")

// BuildCertificate aggregates attestations of one (chain, deployment, epoch)
// into a certificate over table. It checks that they agree on the message and
// that every signer is in the table, once; it does not check the signatures
// (verify them, or the certificate, before trusting it).
func BuildCertificate(table *Table, atts []signal.Attestation) (Certificate, error) {
	if len(atts) == 0 {
		return Certificate{}, errors.New("no attestations to aggregate")
	}
	c := Certificate{ChainID: atts[0].ChainID, Deployment: atts[0].Deployment, Epoch: atts[0].Epoch,
		Signers: NewBitmap(table.Len())}
	sigs := make([][]byte, 0, len(atts))
	for _, a := range atts {
		if a.ChainID != c.ChainID || a.Deployment != c.Deployment || a.Epoch != c.Epoch {
			return Certificate{}, fmt.Errorf("attestation of %s does not match the others' chain, deployment and epoch", a.Signer)
		}
		i, ok := table.Lookup(a.Signer)
		if !ok {
			return Certificate{}, fmt.Errorf("signer %q is not in the identity table", a.Signer)
		}
		if c.Signers.Has(i) {
			return Certificate{}, fmt.Errorf("signer %q appears twice", a.Signer)
		}
		c.Signers.Set(i)
		sigs = append(sigs, a.Signature)
	}
	agg, err := signal.AggregateSignatures(sigs)
	if err != nil {
		return Certificate{}, err
	}
	c.Signature = agg
	return c, nil
}

// Encode returns the canonical encoding.
func (c Certificate) Encode() []byte { return canon.MustEncode(c) }

// DecodeCertificate decodes a canonical encoding and checks its shape
// (not its signature; see Verify).
func DecodeCertificate(b []byte) (Certificate, error) {
	var c Certificate
	if err := canon.Decode(b, &c); err != nil {
		return Certificate{}, fmt.Errorf("decode certificate: %w", err)
	}
	if c.ChainID == "" || len(c.Signers) == 0 || len(c.Signature) == 0 {
		return Certificate{}, errors.New("decode certificate: chain ID, signers and signature are required")
	}
	return c, nil
}

// Message returns the readiness message every signer signed.
func (c Certificate) Message() []byte {
	return signal.ReadinessMessage(c.ChainID, c.Deployment, c.Epoch)
}

// Verify checks the certificate against the epoch's keyed table and returns
// the signers' indexes. The aggregate key is the table's cached sum of all
// keys minus the non-signers when most nodes signed (the usual case), or the
// sum of the signers' keys otherwise, so the cost follows the smaller set.
func (c Certificate) Verify(table *Table) ([]int, error) {
	if !table.Keyed() {
		return nil, fmt.Errorf("%w: the identity table carries no staking keys", ErrBadCertificate)
	}
	if err := c.Signers.CheckSize(table.Len()); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCertificate, err)
	}
	var signers []int
	var signerKeys, missingKeys []signal.PublicKey
	for i := 0; i < table.Len(); i++ {
		if c.Signers.Has(i) {
			signers = append(signers, i)
			signerKeys = append(signerKeys, table.Key(i))
		} else {
			missingKeys = append(missingKeys, table.Key(i))
		}
	}
	if len(signers) == 0 {
		return nil, fmt.Errorf("%w: no signers", ErrBadCertificate)
	}
	var key signal.PublicKey
	var err error
	if len(missingKeys) < len(signerKeys) {
		key = table.AggregateKey()
		if len(missingKeys) > 0 {
			key, err = signal.RemoveKeys(key, missingKeys)
		}
	} else {
		key, err = signal.AggregateKeys(signerKeys)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: aggregate key: %v", ErrBadCertificate, err)
	}
	if err := signal.VerifyAggregate(key, c.Message(), c.Signature); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCertificate, err)
	}
	return signers, nil
}

// VerifyNaive is Verify without the cached aggregate key: it sums the keys
// of all signers every time. It exists as the benchmark baseline.
func (c Certificate) VerifyNaive(table *Table) ([]int, error) {
	if err := c.Signers.CheckSize(table.Len()); err != nil {
		return nil, err
	}
	var signers []int
	var keys []signal.PublicKey
	for i := 0; i < table.Len(); i++ {
		if c.Signers.Has(i) {
			signers = append(signers, i)
			keys = append(keys, table.Key(i))
		}
	}
	key, err := signal.AggregateKeys(keys)
	if err != nil {
		return nil, err
	}
	return signers, signal.VerifyAggregate(key, c.Message(), c.Signature)
}
