package activation

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"

	"github.com/Masterminds/semver/v3"

	"github.com/quorumgate/quorumgate/quorum"
)

// Block is a finalized block's already-verified content, in block order
// within each list.
type Block struct {
	Height uint64
	View   uint64
	// Proposals are governance-approved (the verifying layer checked the
	// committee's signatures); Apply judges them by rule 2.
	Proposals []Proposal
	// Cancels name deployments governance wants canceled (rule 3).
	Cancels []string
	// Readiness lists nodes whose readiness signatures verified (rule 4).
	Readiness []Readiness
}

// Readiness is one node's verified readiness for a deployment in an epoch.
type Readiness struct {
	Deployment string
	Epoch      uint64
	Node       string
	// IndexHint, when not zero, is Node's index in the epoch's identity
	// table plus one, for a caller that already knows it (the simulator):
	// Apply then finds the signer without hashing its ID. It is only a
	// hint: Apply checks it against Node and looks Node up when it does not
	// match, so it never changes the outcome.
	IndexHint int
}

// OutOfOrderError is returned when a block does not follow the state's head.
type OutOfOrderError struct{ Reason string }

func (e *OutOfOrderError) Error() string { return "block out of order: " + e.Reason }

// Apply applies block b to state s and returns the next state and the events
// of the block, in rule order. s is not modified. Invalid items become
// Rejection events; the only error is a block that does not come after s
// (heights and views must strictly increase), and then Apply returns no state
// and no events.
//
// Heights normally go up by one. A caller may leave out empty blocks that
// come before s.NextWake(), because they change nothing but the head; the
// height of the next block it applies still counts them.
func Apply(s *State, b Block) (*State, []Event, error) {
	if s.applied {
		switch {
		case b.Height <= s.height:
			return nil, nil, &OutOfOrderError{fmt.Sprintf("height %d does not come after %d", b.Height, s.height)}
		case b.View <= s.view:
			return nil, nil, &OutOfOrderError{fmt.Sprintf("view %d does not come after %d", b.View, s.view)}
		}
	}
	a := &applier{
		next:   s.shallowCopy(),
		owned:  make([]bool, len(s.deployments)),
		view:   b.View,
		height: b.Height,
		epoch:  s.params.Epoch(b.View),
	}
	a.next.applied, a.next.height, a.next.view = true, b.Height, b.View
	for i := range a.next.deployments {
		a.timeDriven(i)
	}
	for _, p := range b.Proposals {
		a.propose(p)
	}
	for _, name := range b.Cancels {
		a.cancel(name)
	}
	if len(b.Readiness) > 0 {
		a.tallyOwned = make([]bool, len(a.next.deployments))
		a.table = a.next.params.Identities.TableAt(a.epoch)
		for k := range b.Readiness {
			a.attest(&b.Readiness[k])
		}
	}
	for i := range a.next.deployments {
		a.lockIn(i)
	}
	return a.next, a.events, nil
}

// NextWake returns the first view after the head at which an empty block
// could change the state beyond its head: the next epoch start while a
// deployment is DEFINED or STARTED (time-driven transitions) or holds a tally
// (tallies reset), and a LOCKED_IN deployment's activation view. Empty blocks
// before it only move the head, so a replay may skip them. math.MaxUint64
// means never.
func (s *State) NextWake() uint64 {
	wake := uint64(math.MaxUint64)
	nextEpoch := uint64(0)
	if s.applied {
		nextEpoch = s.params.EpochStart(satAdd(s.params.Epoch(s.view), 1))
	}
	for _, d := range s.deployments {
		if d.Status == Defined || d.Status == Started || d.tally != nil {
			wake = min(wake, nextEpoch)
		}
		if d.Status == LockedIn {
			wake = min(wake, d.ActivatesAt)
		}
	}
	return wake
}

func (s *State) shallowCopy() *State {
	c := *s
	c.deployments = slices.Clone(s.deployments)
	c.id = &stateID{} // the next state's own ID, computed when asked for
	return &c
}

// applier builds one next state copy-on-write: deployments, tallies and the
// maps are copied the first time this block writes them.
type applier struct {
	next                *State
	owned               []bool // deployment copied in this block
	tallyOwned          []bool // deployment's tally copied (or created) in this block
	indexesOwned        bool
	versionsOwned       bool
	paramsOwned         bool
	view, height, epoch uint64
	events              []Event
	// For the attestations of one block: the epoch's identity table, and
	// the last deployment named and its index (no proposal or cancel comes
	// between attestations, so the names cannot change meanwhile).
	table    *quorum.Table
	lastName string
	lastDep  int
	hasLast  bool
}

// mut returns deployment i, copied first if this block has not written it yet.
func (a *applier) mut(i int) *Deployment {
	if !a.owned[i] {
		d := *a.next.deployments[i]
		a.next.deployments[i] = &d
		a.owned[i] = true
	}
	return a.next.deployments[i]
}

func (a *applier) transition(i int, to Status) {
	d := a.mut(i)
	from := d.Status
	d.Status, d.Since = to, a.view
	if to.Terminal() {
		d.tally = nil
	}
	t := Transition{View: a.view, Height: a.height, Epoch: a.epoch, Deployment: d.Name, From: from, To: to}
	if to == LockedIn {
		t.ActivationView = d.ActivatesAt
	}
	a.events = append(a.events, t)
}

func (a *applier) reject(kind Kind, deployment, node string, r Reason) {
	a.events = append(a.events, Rejection{View: a.view, Kind: kind, Deployment: deployment, Node: node, Reason: r})
}

// Rule 1: time-driven transitions.
func (a *applier) timeDriven(i int) {
	d := a.next.deployments[i]
	if d.tally != nil && d.tallyEpoch != a.epoch {
		a.mut(i).tally = nil // tallies start empty in every epoch
	}
	switch d.Status {
	case Defined:
		if a.epoch >= d.TimeoutEpoch {
			a.transition(i, Failed)
		} else if a.epoch >= d.StartEpoch {
			a.transition(i, Started)
		}
	case Started:
		if a.epoch >= d.TimeoutEpoch {
			a.transition(i, Failed)
		}
	case LockedIn:
		if a.view >= d.ActivatesAt {
			a.activate(d)
			a.transition(i, Active)
		}
	case None, Active, Failed, Canceled:
		// Nothing moves a terminal deployment.
	}
}

func (a *applier) activate(d *Deployment) {
	if d.IsParam() {
		if !a.paramsOwned {
			a.next.paramValues = maps.Clone(a.next.paramValues)
			a.paramsOwned = true
		}
		h := a.next.paramValues[d.Param]
		a.next.paramValues[d.Param] = append(slices.Clip(h), ParamRecord{Value: d.Value, ActivationView: d.ActivatesAt, FirstView: a.view})
		return
	}
	if !a.versionsOwned {
		a.next.versions = maps.Clone(a.next.versions)
		a.next.parsed = maps.Clone(a.next.parsed)
		a.versionsOwned = true
	}
	h := a.next.versions[d.Component]
	a.next.versions[d.Component] = append(slices.Clip(h), VersionRecord{
		Version: d.Version, ActivationView: d.ActivatesAt, FirstView: a.view})
	// Accepted proposals carry versions that parsed (rule 2).
	a.next.parsed[d.Component] = semver.MustParse(d.Version)
}

// Rule 2: proposals.
func (a *applier) propose(p Proposal) {
	s := a.next
	reject := func(r Reason) { a.reject(KindProposal, p.Name, "", r) }
	if !ValidName(p.Name) {
		reject(BadName)
		return
	}
	if _, dup := s.byName[p.Name]; dup {
		reject(DuplicateName)
		return
	}
	// Governance needs activation_view > v + lead; a version upgrade's lead is Δ.
	lead := s.params.SafetyViews
	if p.IsParam() {
		decl, r := a.checkParamChange(p)
		if r != "" {
			reject(r)
			return
		}
		lead = max(lead, decl.MinLeadViews)
	} else if r := a.checkUpgrade(p); r != "" {
		reject(r)
		return
	}
	switch p.Mode {
	case Governance:
		if p.ActivationView <= satAdd(a.view, lead) {
			reject(ActivationTooSoon)
			return
		}
	case Stake:
		if !p.Threshold.Valid() {
			reject(BadThreshold)
			return
		}
		if p.TimeoutEpoch <= p.StartEpoch || p.TimeoutEpoch <= a.epoch {
			reject(BadWindow)
			return
		}
	default:
		// The decoders admit only the two modes; anything else is malformed data.
		reject(Malformed)
		return
	}
	p = p.Normalize()
	if !a.indexesOwned {
		s.byName, s.byID = maps.Clone(s.byName), maps.Clone(s.byID)
		a.indexesOwned = true
	}
	i := len(s.deployments)
	d := &Deployment{Proposal: &p, ID: p.ID(), Status: None}
	s.deployments = append(s.deployments, d)
	a.owned = append(a.owned, true)
	if a.tallyOwned != nil {
		a.tallyOwned = append(a.tallyOwned, false)
	}
	s.byName[p.Name], s.byID[d.ID] = i, i
	a.transition(i, Defined)
	if p.Mode == Governance {
		d.ActivatesAt, d.HasActivation = p.ActivationView, true
		a.transition(i, LockedIn)
		return
	}
	a.timeDriven(i)
}

// checkUpgrade judges what is particular to a version upgrade: the version,
// and the component's state.
func (a *applier) checkUpgrade(p Proposal) Reason {
	s := a.next
	v, err := semver.StrictNewVersion(p.Version)
	if err != nil {
		return BadVersion
	}
	if active, ok := s.parsed[p.Component]; ok && !v.GreaterThan(active) {
		return NotAnUpgrade
	}
	for _, d := range s.deployments {
		if !d.IsParam() && d.Component == p.Component && d.Status.Pending() {
			return ComponentBusy
		}
	}
	return ""
}

// checkParamChange judges what is particular to a parameter change: the
// key, the value, and the key's state. A proposal that also names a
// component or a version is malformed.
func (a *applier) checkParamChange(p Proposal) (ParamDecl, Reason) {
	s := a.next
	if p.Component != "" || p.Version != "" {
		return ParamDecl{}, Malformed
	}
	decl, ok := s.params.Param(p.Param)
	if !ok {
		return decl, UnknownParameter
	}
	if r := decl.CheckValue(p.Value); r != "" {
		return decl, r
	}
	if active, _ := s.ParamValue(p.Param); active == p.Value {
		return decl, NotAnUpgrade
	}
	for _, d := range s.deployments {
		if d.Param == p.Param && d.Status.Pending() {
			return decl, ComponentBusy
		}
	}
	return decl, ""
}

// Rule 3: cancellations.
func (a *applier) cancel(name string) {
	i, ok := a.next.byName[name]
	if !ok {
		a.reject(KindCancel, name, "", UnknownDeployment)
		return
	}
	d := a.next.deployments[i]
	switch {
	case d.Status == Defined || d.Status == Started,
		d.Status == LockedIn && d.ActivatesAt > satAdd(a.view, a.next.params.SafetyViews):
		a.transition(i, Canceled)
	default:
		a.reject(KindCancel, name, "", TooLate)
	}
}

// Rule 4: attestations.
func (a *applier) attest(r *Readiness) {
	reject := func(reason Reason) { a.reject(KindAttestation, r.Deployment, r.Node, reason) }
	i := a.lastDep
	if !a.hasLast || r.Deployment != a.lastName {
		var ok bool
		if i, ok = a.next.byName[r.Deployment]; !ok {
			reject(UnknownDeployment)
			return
		}
		a.lastName, a.lastDep, a.hasLast = r.Deployment, i, true
	}
	d := a.next.deployments[i]
	if d.Status != Started && d.Status != LockedIn {
		reject(NotSignaling)
		return
	}
	if r.Epoch != a.epoch {
		reject(WrongEpoch)
		return
	}
	table := a.table
	idx, ok := table.LookupHint(r.Node, r.IndexHint-1)
	if !ok {
		reject(UnknownSigner)
		return
	}
	if len(d.Roles) > 0 && !d.RequiresRole(table.Role(idx)) {
		reject(RoleNotRequired)
		return
	}
	if tl := d.Tally(a.epoch); tl != nil && tl.Has(idx) {
		reject(Duplicate)
		return
	}
	if !a.tallyOwned[i] {
		d = a.mut(i)
		if d.tally == nil {
			d.tally, d.tallyEpoch = quorum.NewTally(table), a.epoch
		} else {
			d.tally = d.tally.Clone()
		}
		a.tallyOwned[i] = true
	}
	d.tally.Add(idx)
}

// Rule 5: lock-in.
func (a *applier) lockIn(i int) {
	d := a.next.deployments[i]
	if d.Mode != Stake || d.Status != Started {
		return
	}
	params := a.next.params
	// Δ < L, so the cutoff never underflows; EpochStart saturates at the end of time.
	cutoff := params.EpochStart(satAdd(a.epoch, 1)) - params.SafetyViews
	if a.view > cutoff {
		return
	}
	tl := d.Tally(a.epoch)
	if tl == nil || !tl.Meets(d.Threshold, d.Roles) {
		return
	}
	d = a.mut(i)
	d.ActivatesAt = params.EpochStart(max(satAdd(satAdd(a.epoch, 1), d.DelayEpochs), d.MinActivationEpoch))
	if d.IsParam() {
		// A parameter's lead time: the first epoch boundary from there on
		// that is at least Lead views after this block.
		decl, _ := params.Param(d.Param) // accepted, so declared
		if earliest := satAdd(a.view, decl.Lead(params.SafetyViews)); d.ActivatesAt < earliest {
			d.ActivatesAt = params.EpochStart(ceilDiv(earliest, params.EpochViews))
		}
	}
	d.HasActivation = true
	a.transition(i, LockedIn)
}

// ceilDiv is x / y rounded up (y > 0).
func ceilDiv(x, y uint64) uint64 {
	q := x / y
	if x%y != 0 {
		q++
	}
	return q
}

func satAdd(x, y uint64) uint64 {
	s, carry := bits.Add64(x, y, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return s
}

func satMul(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}
