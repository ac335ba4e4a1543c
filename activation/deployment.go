package activation

import (
	"slices"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// Proposal introduces a new version of one component. It is what governance
// signs; once accepted it becomes a Deployment.
type Proposal struct {
	Name      string `cbor:"1,keyasint"`
	Component string `cbor:"2,keyasint"`
	Version   string `cbor:"3,keyasint"`
	Mode      Mode   `cbor:"4,keyasint"`
	// Stake mode.
	Roles              []string         `cbor:"5,keyasint,omitempty"`
	Threshold          quorum.Threshold `cbor:"6,keyasint,omitempty"`
	StartEpoch         uint64           `cbor:"7,keyasint,omitempty"`
	TimeoutEpoch       uint64           `cbor:"8,keyasint,omitempty"`
	MinActivationEpoch uint64           `cbor:"9,keyasint,omitempty"`
	DelayEpochs        uint64           `cbor:"10,keyasint,omitempty"`
	// Governance mode.
	ActivationView uint64 `cbor:"11,keyasint,omitempty"`
	// A parameter change (docs/replay.md, "Parameters") names the
	// parameter and its new value instead of Component and Version. Both
	// are left out of a version upgrade's encoding, which keeps its ID.
	Param string `cbor:"12,keyasint,omitempty"`
	Value string `cbor:"13,keyasint,omitempty"`
}

// IsParam reports whether the proposal changes a parameter (rather than a
// component's version).
func (p *Proposal) IsParam() bool { return p.Param != "" }

// MaxNameLen is the longest deployment name, in bytes.
const MaxNameLen = 64

// ValidName reports whether name may name a deployment: 1 to MaxNameLen
// ASCII letters, digits, '.', '_' or '-', the first a letter or digit. Names
// travel into logs, metric labels, URLs and file names (the node's hook
// markers), so they carry no path separator, no "..", no spaces or control
// characters, and cannot pass for a command-line flag.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen || !isAlnum(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Normalize returns the proposal in its canonical form: roles sorted without
// repeats, and the fields of the other mode cleared, so that two proposals
// meaning the same thing encode (and hash) the same.
func (p Proposal) Normalize() Proposal {
	switch p.Mode {
	case Stake:
		p.ActivationView = 0
		if len(p.Roles) == 0 {
			p.Roles = nil
		} else {
			p.Roles = slices.Compact(slices.Sorted(slices.Values(p.Roles)))
		}
	case Governance:
		p.Roles, p.Threshold = nil, quorum.Threshold{}
		p.StartEpoch, p.TimeoutEpoch, p.MinActivationEpoch, p.DelayEpochs = 0, 0, 0, 0
	}
	return p
}

// Encode returns the canonical encoding of the normalized proposal: the
// bytes governance signs and the deployment ID hashes.
func (p Proposal) Encode() []byte { return canon.MustEncode(p.Normalize()) }

// ID is the deployment ID: the hash of the canonical encoding. Readiness
// attestations name deployments by ID, so a signature can never be replayed
// for a different deployment that reuses a name on another chain or fork.
func (p Proposal) ID() signal.DeploymentID {
	return signal.DeploymentID(canon.Hash("quorumgate/deployment/v1", p.Encode()))
}

// Deployment is an accepted proposal and where it stands. The proposal is
// shared, never modified once accepted: copying a deployment (copy on write,
// once per block that changes it) then copies only the small mutable part.
type Deployment struct {
	*Proposal
	ID     signal.DeploymentID
	Status Status
	// Since is the view of the block in which the deployment entered Status.
	Since uint64
	// ActivatesAt is set (HasActivation) from LOCKED_IN on.
	ActivatesAt   uint64
	HasActivation bool

	// The readiness tally of the epoch tallyEpoch; nil when nothing has been
	// counted this epoch. Shared between states until written (copy on write).
	tallyEpoch uint64
	tally      *quorum.Tally
}

// Tally returns the readiness counted for epoch e, or nil if none was.
func (d *Deployment) Tally(e uint64) *quorum.Tally {
	if d.tally == nil || d.tallyEpoch != e {
		return nil
	}
	return d.tally
}

// RequiresRole reports whether a signer of role counts for this deployment.
func (d *Deployment) RequiresRole(role string) bool {
	return len(d.Roles) == 0 || slices.Contains(d.Roles, role)
}
