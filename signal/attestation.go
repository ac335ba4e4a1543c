package signal

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/onflow/crypto"

	"github.com/quorumgate/quorumgate/internal/canon"
)

// ReadinessDomain prefixes the bytes of every readiness signature.
const ReadinessDomain = "quorumgate/readiness/v1"

// Limits on attestation fields, so a decoder never holds unbounded strings.
const (
	MaxChainIDLen = 128
	MaxSignerLen  = 256
)

// DeploymentID names a deployment: the hash of its canonical encoding.
type DeploymentID [32]byte

// String returns the ID in lowercase hex.
func (d DeploymentID) String() string { return hex.EncodeToString(d[:]) }

// ParseDeploymentID reads 64 hex characters.
func ParseDeploymentID(s string) (DeploymentID, error) {
	var d DeploymentID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("deployment ID %q is not 64 hex characters", s)
	}
	copy(d[:], b)
	return d, nil
}

// ReadinessMessage returns the bytes signed to say "ready for deployment d in epoch".
func ReadinessMessage(chainID string, d DeploymentID, epoch uint64) []byte {
	b := make([]byte, 0, len(ReadinessDomain)+len(chainID)+len(d)+8)
	b = append(b, ReadinessDomain...)
	b = append(b, chainID...)
	b = append(b, d[:]...)
	return binary.BigEndian.AppendUint64(b, epoch)
}

// Attestation is one node's signed readiness for a deployment in an epoch.
// Readiness lasts one epoch; nodes attest again at every epoch start.
type Attestation struct {
	ChainID    string       `cbor:"1,keyasint"`
	Deployment DeploymentID `cbor:"2,keyasint"`
	Epoch      uint64       `cbor:"3,keyasint"`
	// Signer is the node ID in the epoch's identity table; it is not signed
	// (so signatures aggregate), and a wrong signer simply fails to verify.
	Signer    string `cbor:"4,keyasint"`
	Signature []byte `cbor:"5,keyasint"`
}

// SignReadiness signs readiness for (chainID, d, epoch) as signer.
func SignReadiness(k PrivateKey, chainID string, d DeploymentID, epoch uint64, signer string) (Attestation, error) {
	a := Attestation{ChainID: chainID, Deployment: d, Epoch: epoch, Signer: signer}
	if err := a.checkFields(); err != nil {
		return Attestation{}, err
	}
	sig, err := Sign(k, a.Message())
	if err != nil {
		return Attestation{}, err
	}
	a.Signature = sig
	return a, nil
}

// Message returns the signed bytes.
func (a Attestation) Message() []byte { return ReadinessMessage(a.ChainID, a.Deployment, a.Epoch) }

// Verify checks the signature under the signer's staking key.
func (a Attestation) Verify(pk PublicKey) error {
	if err := Verify(pk, a.Message(), a.Signature); err != nil {
		return fmt.Errorf("attestation of %q for %s epoch %d: %w", a.Signer, a.Deployment.String()[:12], a.Epoch, err)
	}
	return nil
}

// Encode returns the canonical encoding.
func (a Attestation) Encode() []byte { return canon.MustEncode(a) }

// DecodeAttestation decodes a canonical encoding and checks the fields' shape.
func DecodeAttestation(b []byte) (Attestation, error) {
	var a Attestation
	if err := canon.Decode(b, &a); err != nil {
		return Attestation{}, fmt.Errorf("decode attestation: %w", err)
	}
	if err := a.checkFields(); err != nil {
		return Attestation{}, err
	}
	if len(a.Signature) != crypto.SignatureLenBLSBLS12381 {
		return Attestation{}, fmt.Errorf("decode attestation: signature has %d bytes, want %d", len(a.Signature), crypto.SignatureLenBLSBLS12381)
	}
	if IsIdentitySignature(a.Signature) {
		// The identity verifies under no key and adds nothing to a sum:
		// it only ever serves to cancel another signature out.
		return Attestation{}, fmt.Errorf("decode attestation: %w: the identity signature", ErrBadSignature)
	}
	return a, nil
}

func (a Attestation) checkFields() error {
	switch {
	case a.ChainID == "" || len(a.ChainID) > MaxChainIDLen:
		return fmt.Errorf("attestation: chain ID must have 1 to %d bytes, has %d", MaxChainIDLen, len(a.ChainID))
	case a.Signer == "" || len(a.Signer) > MaxSignerLen:
		return fmt.Errorf("attestation: signer must have 1 to %d bytes, has %d", MaxSignerLen, len(a.Signer))
	}
	return nil
}
