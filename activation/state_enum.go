package activation

import "fmt"

// Status is where a deployment is in its life (BIP9 states plus CANCELED).
type Status uint8

const (
	// None is the "from" of a deployment's first transition; no deployment rests in it.
	None Status = iota
	Defined
	Started
	LockedIn
	Active
	Failed
	Canceled

	numStatuses // sentinel: keep last, the String test walks up to it
)

var statusNames = [numStatuses]string{
	None:     "NONE",
	Defined:  "DEFINED",
	Started:  "STARTED",
	LockedIn: "LOCKED_IN",
	Active:   "ACTIVE",
	Failed:   "FAILED",
	Canceled: "CANCELED",
}

func (s Status) String() string {
	if s < numStatuses && statusNames[s] != "" {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// ParseStatus is the inverse of String.
func ParseStatus(name string) (Status, bool) {
	for s, n := range statusNames {
		if n == name {
			return Status(s), true
		}
	}
	return 0, false
}

// Terminal reports whether no rule moves a deployment out of s.
func (s Status) Terminal() bool { return s == Active || s == Failed || s == Canceled }

// Pending reports whether a deployment in s still holds its component
// (so another deployment of the component is "component busy").
func (s Status) Pending() bool { return s == Defined || s == Started || s == LockedIn }

// Mode says what makes a deployment activate.
type Mode uint8

const (
	// Stake: locks in when ready stake strictly exceeds the threshold before
	// an epoch's cutoff, activates at a following epoch boundary.
	Stake Mode = iota + 1
	// Governance: the committee fixes the activation view (Flow-style).
	Governance
)

func (m Mode) String() string {
	switch m {
	case Stake:
		return "stake"
	case Governance:
		return "governance"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode reads "stake" or "governance".
func ParseMode(s string) (Mode, bool) {
	switch s {
	case "stake":
		return Stake, true
	case "governance":
		return Governance, true
	}
	return 0, false
}

// Reason says why an item of a block was not applied.
type Reason string

// The rejection reasons of DESIGN.md, rules 2-4, and of the verifying layer.
const (
	// Proposals (rule 2), in the order they are checked.
	BadName       Reason = "bad name"
	DuplicateName Reason = "duplicate name"
	BadVersion    Reason = "bad version"
	// Parameter changes, after duplicate name (then not an upgrade,
	// component busy per key, and the mode's checks).
	UnknownParameter  Reason = "unknown parameter"
	BadValue          Reason = "bad value"
	OutOfBounds       Reason = "out of bounds"
	NotAnUpgrade      Reason = "not an upgrade"
	ComponentBusy     Reason = "component busy"
	ActivationTooSoon Reason = "activation too soon"
	BadThreshold      Reason = "bad threshold"
	BadWindow         Reason = "bad window"
	// Cancellations (rule 3).
	TooLate           Reason = "too late"
	UnknownDeployment Reason = "unknown deployment"
	// Attestations (rule 4), in the order they are checked.
	NotSignaling    Reason = "not signaling"
	WrongEpoch      Reason = "wrong epoch"
	UnknownSigner   Reason = "unknown signer"
	RoleNotRequired Reason = "role not required"
	Duplicate       Reason = "duplicate"
	// Verifying layer.
	Malformed        Reason = "malformed"
	WrongChain       Reason = "wrong chain"
	BadSignature     Reason = "bad signature"
	NotEnoughSigners Reason = "not enough governance signatures"
)

// Kind is the kind of block item a rejection is about.
type Kind string

const (
	KindProposal    Kind = "proposal"
	KindCancel      Kind = "cancel"
	KindAttestation Kind = "attestation"
	KindCertificate Kind = "certificate"
)
