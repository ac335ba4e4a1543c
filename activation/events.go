package activation

// Event is something Apply (or Verify) reports about a block: a Transition
// or a Rejection.
type Event interface{ isEvent() }

// Transition reports that a deployment moved from one status to another while
// applying the block at View.
type Transition struct {
	View, Height, Epoch uint64
	Deployment          string
	From, To            Status
	// ActivationView is set when To is LockedIn.
	ActivationView uint64
}

// Rejection reports an item of the block at View that was not applied, and why.
type Rejection struct {
	View       uint64
	Kind       Kind
	Deployment string
	Node       string // attestations only
	Reason     Reason
}

func (Transition) isEvent() {}
func (Rejection) isEvent()  {}
