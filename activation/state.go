package activation

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/Masterminds/semver/v3"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// Params are the fixed rules of a chain, set at genesis.
type Params struct {
	ChainID string
	// EpochViews is L: epoch(v) = v / L, start(e) = e * L.
	EpochViews uint64
	// SafetyViews is Δ, the finality lead time (Flow's FinalizationSafetyThreshold).
	SafetyViews uint64
	// Identities gives each epoch's identity table.
	Identities *quorum.Schedule
	// Declared are the protocol parameters, in name order
	// (SortParamDecls); none on a chain that declares none.
	Declared []ParamDecl
}

// Validate checks the parameters make sense together.
func (p *Params) Validate() error {
	switch {
	case p.ChainID == "":
		return errors.New("chain ID is empty")
	case p.EpochViews == 0:
		return errors.New("epoch_views must be at least 1")
	case p.SafetyViews >= p.EpochViews:
		return fmt.Errorf("safety_views (%d) must be less than epoch_views (%d)", p.SafetyViews, p.EpochViews)
	case p.Identities == nil:
		return errors.New("no identity schedule")
	}
	return checkParams(p.Declared)
}

// Epoch returns the epoch of view v.
func (p *Params) Epoch(v uint64) uint64 { return v / p.EpochViews }

// EpochStart returns the first view of epoch e, saturating at the largest view.
func (p *Params) EpochStart(e uint64) uint64 { return satMul(e, p.EpochViews) }

func (p *Params) id() [32]byte {
	type wire struct {
		ChainID     string   `cbor:"1,keyasint"`
		EpochViews  uint64   `cbor:"2,keyasint"`
		SafetyViews uint64   `cbor:"3,keyasint"`
		Identities  [32]byte `cbor:"4,keyasint"`
		// Left out with no parameters, so a chain without any keeps its ID.
		Declared []ParamDecl `cbor:"5,keyasint,omitempty"`
	}
	return canon.Hash("quorumgate/params/v1", canon.MustEncode(wire{p.ChainID, p.EpochViews, p.SafetyViews, p.Identities.ID(), p.Declared}))
}

// VersionRecord is one step of a component's history: Version governs blocks
// from ActivationView on; FirstView is the first block that ran it.
type VersionRecord struct {
	Version        string `cbor:"1,keyasint" json:"version"`
	ActivationView uint64 `cbor:"2,keyasint" json:"activation_view"`
	FirstView      uint64 `cbor:"3,keyasint" json:"first_view"`
}

// State is the protocol state after a block (or at genesis). Immutable.
type State struct {
	params   *Params
	paramsID [32]byte
	// applied is false at genesis, before any block.
	applied      bool
	height, view uint64
	deployments  []*Deployment // acceptance order
	byName       map[string]int
	byID         map[signal.DeploymentID]int
	versions     map[string][]VersionRecord
	// parsed is the semver of each component's active version, kept beside
	// versions (shared with it copy-on-write) so Apply never re-parses.
	parsed map[string]*semver.Version
	// paramValues holds each declared parameter's history (copy-on-write).
	paramValues map[string][]ParamRecord
	// id is the state ID, computed once when first asked for (a block's
	// commit asks for it several times: the pipeline, the store, the
	// engine's app hash). A pointer, so that the copy Apply starts from
	// gets a fresh one (shallowCopy); nil computes it every time.
	id *stateID
}

// stateID is a State's ID, memoized. Computing it is pure (the same state
// always gives the same ID); the sync.Once only lets states be read from
// several goroutines, as they are.
type stateID struct {
	once sync.Once
	id   [32]byte
}

// Genesis returns the state before the first block: the given component
// versions and the declared parameters' values, each with activation and
// first view 0, and no deployments.
func Genesis(params *Params, versions map[string]string) (*State, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	s := &State{
		id:       &stateID{},
		params:   params,
		paramsID: params.id(),
		byName:   map[string]int{},
		byID:     map[signal.DeploymentID]int{},
		versions: map[string][]VersionRecord{},
		parsed:   map[string]*semver.Version{},
	}
	if len(params.Declared) > 0 {
		s.paramValues = make(map[string][]ParamRecord, len(params.Declared))
		for _, d := range params.Declared {
			s.paramValues[d.Name] = []ParamRecord{{Value: d.Value}}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(versions)) {
		if c == "" {
			return nil, errors.New("genesis version for an empty component name")
		}
		v, err := semver.StrictNewVersion(versions[c])
		if err != nil {
			return nil, fmt.Errorf("genesis version of %q: %q is not a semantic version: %v", c, versions[c], err)
		}
		s.versions[c] = []VersionRecord{{Version: versions[c]}}
		s.parsed[c] = v
	}
	return s, nil
}

// Params returns the chain parameters.
func (s *State) Params() *Params { return s.params }

// Head returns the height and view of the last applied block; ok is false at genesis.
func (s *State) Head() (height, view uint64, ok bool) { return s.height, s.view, s.applied }

// Deployments returns the deployments in acceptance order. Callers must not modify them.
func (s *State) Deployments() []*Deployment { return s.deployments }

// Deployment returns a deployment by name.
func (s *State) Deployment(name string) (*Deployment, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return s.deployments[i], true
}

// DeploymentByID returns a deployment by its ID.
func (s *State) DeploymentByID(id signal.DeploymentID) (*Deployment, bool) {
	i, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	return s.deployments[i], true
}

// Components returns the names of components with a version, sorted.
func (s *State) Components() []string { return slices.Sorted(maps.Keys(s.versions)) }

// History returns a component's version history, oldest first. Callers must not modify it.
func (s *State) History(component string) []VersionRecord { return s.versions[component] }

// ActiveVersion returns the version a component runs at the head.
func (s *State) ActiveVersion(component string) (string, bool) {
	h := s.versions[component]
	if len(h) == 0 {
		return "", false
	}
	return h[len(h)-1].Version, true
}

// VersionAt returns the version that governs a block at view v according to
// the history recorded so far: the latest record whose activation view is at
// most v. No block exists between an activation view and the record's first
// view, so this agrees with FirstView wherever there is a block. It does not
// look ahead: a LOCKED_IN deployment is not yet history.
func (s *State) VersionAt(component string, v uint64) (string, bool) {
	h := s.versions[component]
	i := sort.Search(len(h), func(i int) bool { return h[i].ActivationView > v })
	if i == 0 {
		return "", false
	}
	return h[i-1].Version, true
}

// Encode returns the canonical encoding of the state. Tallies are encoded as
// their signer bitmaps (ready stake is derived from them and the table).
func (s *State) Encode() []byte { return canon.MustEncode(s.wire()) }

// ID is the state ID: the hash of the state's header, which commits to the
// head and to Merkle trees over the deployments, the components' histories
// and the parameters' histories (merkle.go, docs/proof.md). Same blocks,
// same ID, on every machine.
func (s *State) ID() [32]byte {
	if s.id == nil {
		return s.Header().ID()
	}
	s.id.once.Do(func() { s.id.id = s.Header().ID() })
	return s.id.id
}

// EncodeWithID returns Encode and ID together, building the state's
// canonical form once (and not at all for the ID, once it is known).
func (s *State) EncodeWithID() ([]byte, [32]byte) {
	w := s.wire()
	if s.id == nil {
		return canon.MustEncode(w), w.header().ID()
	}
	s.id.once.Do(func() { s.id.id = w.header().ID() })
	return canon.MustEncode(w), s.id.id
}

// StateIDOf is the state ID of a state's canonical encoding (State.Encode),
// for callers that hold only the encoding. It decodes it (checking only its
// shape, not the chain's rules: DecodeState does that); bytes that are not
// a state's encoding get an error.
func StateIDOf(encoding []byte) ([32]byte, error) {
	var w stateWire
	if err := canon.Decode(encoding, &w); err != nil {
		return [32]byte{}, fmt.Errorf("state ID of an encoding: %w", err)
	}
	return w.header().ID(), nil
}

// DeploymentEntry is a deployment as the state commits to it (a leaf of the
// deployments tree): the normalized proposal, the status, the view it
// entered it, the activation view once set, and the readiness tally of
// TallyEpoch as a signer bitmap over that epoch's identity table.
type DeploymentEntry struct {
	Proposal    Proposal `cbor:"1,keyasint"`
	Status      Status   `cbor:"2,keyasint"`
	Since       uint64   `cbor:"3,keyasint"`
	ActivatesAt *uint64  `cbor:"4,keyasint,omitempty"`
	TallyEpoch  uint64   `cbor:"5,keyasint,omitempty"`
	Signers     []byte   `cbor:"6,keyasint,omitempty"`
}

// ComponentEntry is a component's version history as the state commits to
// it (a leaf of the components tree).
type ComponentEntry struct {
	Component string          `cbor:"1,keyasint"`
	History   []VersionRecord `cbor:"2,keyasint"`
}

// ParamEntry is a parameter's value history as the state commits to it (a
// leaf of the parameters tree).
type ParamEntry struct {
	Param   string        `cbor:"1,keyasint"`
	History []ParamRecord `cbor:"2,keyasint"`
}

type stateWire struct {
	Params      [32]byte          `cbor:"1,keyasint"`
	Applied     bool              `cbor:"2,keyasint"`
	Height      uint64            `cbor:"3,keyasint"`
	View        uint64            `cbor:"4,keyasint"`
	Deployments []DeploymentEntry `cbor:"5,keyasint"`
	Components  []ComponentEntry  `cbor:"6,keyasint"`
	// Left out with no parameters, so a state without any keeps its
	// encoding (the header's tree of them is then empty).
	ParamValues []ParamEntry `cbor:"7,keyasint,omitempty"`
}

func (s *State) wire() stateWire {
	w := stateWire{Params: s.paramsID, Applied: s.applied, Height: s.height, View: s.view,
		Deployments: make([]DeploymentEntry, len(s.deployments)),
		Components:  make([]ComponentEntry, 0, len(s.versions))}
	for i, d := range s.deployments {
		dw := DeploymentEntry{Proposal: d.Proposal.Normalize(), Status: d.Status, Since: d.Since}
		if d.HasActivation {
			av := d.ActivatesAt
			dw.ActivatesAt = &av
		}
		if d.tally != nil && d.tally.Count() > 0 {
			dw.TallyEpoch, dw.Signers = d.tallyEpoch, d.tally.Signers()
		}
		w.Deployments[i] = dw
	}
	for _, c := range s.Components() {
		w.Components = append(w.Components, ComponentEntry{c, s.versions[c]})
	}
	for _, d := range s.params.Declared {
		w.ParamValues = append(w.ParamValues, ParamEntry{d.Name, s.paramValues[d.Name]})
	}
	return w
}

// DecodeState rebuilds a state from its canonical encoding under params,
// checking everything Apply relies on: it is the inverse of Encode.
func DecodeState(params *Params, b []byte) (*State, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	var w stateWire
	if err := canon.Decode(b, &w); err != nil {
		return nil, fmt.Errorf("decode protocol state: %w", err)
	}
	s := &State{id: &stateID{}, params: params, paramsID: params.id(), applied: w.Applied, height: w.Height, view: w.View,
		byName: map[string]int{}, byID: map[signal.DeploymentID]int{},
		versions: map[string][]VersionRecord{}, parsed: map[string]*semver.Version{}}
	if w.Params != s.paramsID {
		return nil, errors.New("decode protocol state: it belongs to other chain parameters")
	}
	if !w.Applied && (w.Height != 0 || w.View != 0) {
		return nil, errors.New("decode protocol state: a genesis state with a head")
	}
	for i, c := range w.Components {
		if i > 0 && c.Component <= w.Components[i-1].Component {
			return nil, errors.New("decode protocol state: components not in order")
		}
		if len(c.History) == 0 {
			return nil, fmt.Errorf("decode protocol state: component %q has no history", c.Component)
		}
		var last *semver.Version
		for _, r := range c.History {
			v, err := semver.StrictNewVersion(r.Version)
			if err != nil {
				return nil, fmt.Errorf("decode protocol state: component %q: bad version %q", c.Component, r.Version)
			}
			last = v
		}
		s.versions[c.Component], s.parsed[c.Component] = c.History, last
	}
	if len(w.ParamValues) != len(params.Declared) {
		return nil, fmt.Errorf("decode protocol state: %d parameters, the chain declares %d", len(w.ParamValues), len(params.Declared))
	}
	if len(w.ParamValues) > 0 {
		s.paramValues = make(map[string][]ParamRecord, len(w.ParamValues))
	}
	for i, pw := range w.ParamValues {
		d := params.Declared[i]
		if pw.Param != d.Name || len(pw.History) == 0 {
			return nil, fmt.Errorf("decode protocol state: parameter %d is not %s, or has no history", i, d.Name)
		}
		for _, r := range pw.History {
			if d.CheckValue(r.Value) != "" {
				return nil, fmt.Errorf("decode protocol state: parameter %s: bad value %q", d.Name, r.Value)
			}
		}
		s.paramValues[d.Name] = pw.History
	}
	for i, dw := range w.Deployments {
		p := dw.Proposal
		if !slices.Equal(p.Encode(), canon.MustEncode(p)) {
			return nil, fmt.Errorf("decode protocol state: deployment %d is not normalized", i)
		}
		if _, dup := s.byName[p.Name]; dup || p.Name == "" {
			return nil, fmt.Errorf("decode protocol state: deployment %d has a repeated or empty name", i)
		}
		if dw.Status == None || dw.Status >= numStatuses || (p.Mode != Stake && p.Mode != Governance) {
			return nil, fmt.Errorf("decode protocol state: deployment %q has a bad status or mode", p.Name)
		}
		d := &Deployment{Proposal: &p, ID: p.ID(), Status: dw.Status, Since: dw.Since}
		if dw.ActivatesAt != nil {
			d.ActivatesAt, d.HasActivation = *dw.ActivatesAt, true
		}
		if dw.Signers != nil {
			tl, err := quorum.TallyFromBitmap(params.Identities.TableAt(dw.TallyEpoch), dw.Signers)
			if err != nil || tl.Count() == 0 {
				return nil, fmt.Errorf("decode protocol state: deployment %q: bad tally", p.Name)
			}
			d.tallyEpoch, d.tally = dw.TallyEpoch, tl
		}
		s.byName[p.Name], s.byID[d.ID] = i, i
		s.deployments = append(s.deployments, d)
	}
	if !slices.Equal(s.Encode(), b) {
		return nil, errors.New("decode protocol state: not in canonical form")
	}
	return s, nil
}
