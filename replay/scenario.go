// Package replay is the normative replay runner: it reads the scenario files
// of `node-plugin replay` (DESIGN.md "Scenario files"), runs them through the
// pure activation engine, and renders what happens as the specified output
// lines. Embedders use it to check their own scenarios against the engine
// exactly as the command does.
//
// Parsing is strict: Load and Parse validate a file whole before anything
// runs, and every problem is an *InputError naming the JSON path where it is
// (unknown or missing members, wrong types, values that mean nothing). What
// is wrong inside a block (a malformed version, an undeclared parameter or
// a bad value for one, a bad window, an unknown signer) is protocol data,
// not bad input: it is left to activation.Apply,
// which rejects it with a reason that becomes a "rejected" line.
//
// Running: Scenario.Run applies the blocks from genesis to until_view with no
// keys and no network, calling back with each event in block order, and
// returns the final state. Quiet stretches are skipped unless
// RunOptions.EveryView asks for every block; the result is the same.
//
// Output: Scenario.Output runs a scenario and returns the whole JSON-lines
// document the command prints. Underneath, EventLine renders a transition or
// rejection as one JSON line and SummaryLine the closing summary of the final
// state, with the members in the order the specification gives them.
package replay

import (
	"encoding/hex"
	"fmt"
	"maps"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/identityfile"
	"github.com/quorumgate/quorumgate/internal/paramfile"
	"github.com/quorumgate/quorumgate/internal/strictjson"
	"github.com/quorumgate/quorumgate/quorum"
)

// InputError is bad input: What is wrong and Where (a JSON path such as
// blocks[2].proposals[0].start_epoch, a line and column for bad JSON, or
// empty for the file as a whole).
type InputError = strictjson.InputError

// Scenario is a validated scenario, ready to run.
type Scenario struct {
	// Params are the chain's parameters, its identity schedule and the
	// protocol parameters it declares at genesis (Params.Declared).
	Params *activation.Params
	// Versions are the genesis versions, by component.
	Versions map[string]string
	// UntilView ends the run: it covers the views from 0 to UntilView.
	UntilView uint64
	// Missing views, sorted and without repeats.
	Missing []uint64
	// Blocks are the listed blocks, in increasing view order.
	Blocks []Block
}

// Block is a listed block; unlisted views carry empty blocks.
type Block struct {
	View      uint64
	Proposals []activation.Proposal
	Cancels   []string
	Readiness []activation.Readiness
	// Rejected are the items a chain's verifying layer refused before Apply
	// (a bad signature, too few governance signatures, another chain's
	// item): a history exported from a node records them
	// (docs/replay.md), and the run reports them first in their block,
	// as the node did. They change nothing.
	Rejected []activation.Rejection
}

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &InputError{What: fmt.Sprintf("cannot read the scenario file: %v", err)}
	}
	return Parse(data)
}

// The file's shape (DESIGN.md "Scenario files"). strictjson.Unmarshal checks
// types, unknown and required members; Parse then checks what the values mean.
// Optional members whose presence matters are pointers.
type (
	scenarioFile struct {
		Chain        chainFile       `json:"chain" strict:"required"`
		Genesis      *genesisFile    `json:"genesis"`
		Identities   []identityTable `json:"identities"`
		UntilView    uint64          `json:"until_view" strict:"required"`
		MissingViews []uint64        `json:"missing_views"`
		Blocks       []blockFile     `json:"blocks"`
	}
	chainFile struct {
		ID          string `json:"id" strict:"required,nonempty"`
		EpochViews  uint64 `json:"epoch_views" strict:"required"`
		SafetyViews uint64 `json:"safety_views" strict:"required"`
	}
	genesisFile struct {
		Versions componentVersions `json:"versions"`
		Params   paramfile.Params  `json:"params"`
	}
	blockFile struct {
		View               uint64            `json:"view" strict:"required"`
		Proposals          []proposalFile    `json:"proposals"`
		Cancels            []string          `json:"cancels"`
		Attestations       []attestationFile `json:"attestations"`
		VerifierRejections []rejectionFile   `json:"verifier_rejections"`
	}
	// proposalFile keeps the members of both modes and both subjects;
	// which may appear depends on mode and subject, so the optional ones
	// are pointers.
	proposalFile struct {
		Name string `json:"name" strict:"required,nonempty"`
		// A version upgrade names component and version; a parameter
		// change param and value (docs/replay.md, "Parameters").
		Component *string `json:"component" strict:"nonempty"`
		Version   *string `json:"version"`
		Param     *string `json:"param" strict:"nonempty"`
		Value     *string `json:"value"`
		Mode      *string `json:"mode"`
		// Stake mode.
		Roles              *[]string `json:"roles"`
		Threshold          *string   `json:"threshold"`
		StartEpoch         *uint64   `json:"start_epoch"`
		TimeoutEpoch       *uint64   `json:"timeout_epoch"`
		MinActivationEpoch *uint64   `json:"min_activation_epoch"`
		DelayEpochs        *uint64   `json:"delay_epochs"`
		// Governance mode.
		ActivationView *uint64 `json:"activation_view"`
	}
	attestationFile struct {
		Deployment string   `json:"deployment" strict:"required"`
		Epoch      uint64   `json:"epoch" strict:"required"`
		Nodes      []string `json:"nodes" strict:"required"`
	}
	// rejectionFile is an item the chain's verifying layer rejected.
	rejectionFile struct {
		Kind       string  `json:"kind" strict:"required"`
		Deployment string  `json:"deployment" strict:"required"`
		Node       *string `json:"node"`
		Reason     string  `json:"reason" strict:"required"`
	}
)

// identityTable is an "identities" entry, in the shape genesis files share.
type identityTable = identityfile.Table[scenarioNode]

// scenarioNode is an identity-table node, optionally with the keys a
// chain's table holds (docs/replay.md, "Keyed identity tables"): with them
// the table, and so every state ID, is the chain's own.
type scenarioNode struct {
	identityfile.Node
	StakingKey *string `json:"staking_key"`
	PoP        *string `json:"pop"`
	PeerID     *string `json:"peer_id"`
}

// identity is the node as the quorum package counts it, with its keys if
// the file gives them (all three, or none).
func (n scenarioNode) identity(path string) (quorum.Identity, error) {
	id := n.Identity()
	given := []struct {
		name string
		v    *string
	}{{"staking_key", n.StakingKey}, {"pop", n.PoP}, {"peer_id", n.PeerID}}
	var have, lack []string
	for _, g := range given {
		if g.v != nil {
			have = append(have, g.name)
		} else {
			lack = append(lack, g.name)
		}
	}
	switch {
	case len(have) == 0:
		return id, nil
	case len(lack) > 0:
		return id, strictjson.Errorf(path, "staking_key, pop and peer_id come together: this node has %s but not %s",
			strings.Join(have, ", "), strings.Join(lack, ", "))
	}
	var err error
	if id.StakingKey, err = hexMember(*n.StakingKey, path+".staking_key"); err != nil {
		return id, err
	}
	if id.PoP, err = hexMember(*n.PoP, path+".pop"); err != nil {
		return id, err
	}
	id.PeerID = *n.PeerID // hashed into the table's ID, never dialled
	return id, nil
}

func hexMember(s, path string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, strictjson.Errorf(path, "expected non-empty hex, got %q", s)
	}
	return b, nil
}

// componentVersions is genesis.versions: an object of component names to
// version strings, read in name order so the first error is always the same.
type componentVersions struct {
	names    []string
	versions map[string]string
}

func (cv *componentVersions) UnmarshalStrict(v any, path string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return strictjson.Errorf(path, "expected an object of component names to versions, got %s", strictjson.Describe(v))
	}
	cv.names = slices.Sorted(maps.Keys(m))
	cv.versions = make(map[string]string, len(m))
	for _, c := range cv.names {
		if c == "" {
			return strictjson.Errorf(path, "a component name is empty")
		}
		s, err := strictjson.String(m[c], path+"."+c)
		if err != nil {
			return err
		}
		cv.versions[c] = s
	}
	return nil
}

// Parse validates a scenario. When a file has several problems, the first
// problem of its shape (a type, an unknown or a missing member) is reported
// before any problem of meaning.
func Parse(data []byte) (*Scenario, error) {
	var f scenarioFile
	if err := strictjson.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	sc := &Scenario{Params: &activation.Params{}, Versions: map[string]string{}}
	if err := sc.checkChain(f.Chain); err != nil {
		return nil, err
	}
	if f.Genesis != nil {
		if err := sc.checkGenesis(f.Genesis.Versions); err != nil {
			return nil, err
		}
		// paramfile checked each declaration, and the names are an object's keys.
		sc.Params.Declared = activation.SortParamDecls(f.Genesis.Params)
	}
	steps, err := identitySchedule(f.Identities)
	if err != nil {
		return nil, err
	}
	if sc.Params.Identities, err = quorum.NewSchedule(steps); err != nil {
		return nil, strictjson.Errorf("identities", "%v", err)
	}
	sc.UntilView = f.UntilView
	if err := sc.checkMissing(f.MissingViews); err != nil {
		return nil, err
	}
	if uint64(len(sc.Missing)) > sc.UntilView {
		return nil, strictjson.Errorf("missing_views", "every view from 0 to until_view %d is missing: there is no block to apply", sc.UntilView)
	}
	if err := sc.checkBlocks(f.Blocks); err != nil {
		return nil, err
	}
	return sc, nil
}

func (sc *Scenario) checkChain(c chainFile) error {
	if c.EpochViews == 0 {
		return strictjson.Errorf("chain.epoch_views", "must be at least 1")
	}
	if c.SafetyViews >= c.EpochViews {
		return strictjson.Errorf("chain.safety_views", "must be less than epoch_views (%d), got %d", c.EpochViews, c.SafetyViews)
	}
	sc.Params.ChainID, sc.Params.EpochViews, sc.Params.SafetyViews = c.ID, c.EpochViews, c.SafetyViews
	return nil
}

func (sc *Scenario) checkGenesis(cv componentVersions) error {
	for _, c := range cv.names {
		s := cv.versions[c]
		if _, err := semver.StrictNewVersion(s); err != nil {
			return strictjson.Errorf("genesis.versions."+c, "%q is not a semantic version (MAJOR.MINOR.PATCH): %v", s, err)
		}
		sc.Versions[c] = s
	}
	return nil
}

// identitySchedule checks the identity tables (from_epoch increasing, no node
// twice, total stake within 64 bits) and builds them.
func identitySchedule(tables []identityTable) ([]quorum.ScheduleEntry, error) {
	var steps []quorum.ScheduleEntry
	var err error
	for i, t := range tables {
		path := strictjson.Index("identities", i)
		if i > 0 && t.FromEpoch <= steps[i-1].FromEpoch {
			return nil, strictjson.Errorf(path+".from_epoch", "must be greater than the previous entry's from_epoch (%d), got %d", steps[i-1].FromEpoch, t.FromEpoch)
		}
		ids := make([]quorum.Identity, len(t.Nodes))
		seen := map[string]bool{}
		var total uint64
		for j, n := range t.Nodes {
			npath := strictjson.Index(path+".nodes", j)
			if seen[n.ID] {
				return nil, strictjson.Errorf(npath+".id", "node %q appears twice in this identity table", n.ID)
			}
			seen[n.ID] = true
			var carry uint64
			if total, carry = bits.Add64(total, n.Stake, 0); carry != 0 {
				return nil, strictjson.Errorf(npath+".stake", "the total stake of this identity table exceeds 2^64-1")
			}
			if ids[j], err = n.identity(npath); err != nil {
				return nil, err
			}
		}
		table, err := quorum.NewTable(ids)
		if err != nil {
			return nil, strictjson.Errorf(path, "%v", err)
		}
		steps = append(steps, quorum.ScheduleEntry{FromEpoch: t.FromEpoch, Table: table})
	}
	return steps, nil
}

func (sc *Scenario) checkMissing(views []uint64) error {
	for i, mv := range views {
		if mv > sc.UntilView {
			return strictjson.Errorf(strictjson.Index("missing_views", i), "view %d is after until_view %d", mv, sc.UntilView)
		}
		sc.Missing = append(sc.Missing, mv)
	}
	slices.Sort(sc.Missing)
	sc.Missing = slices.Compact(sc.Missing)
	return nil
}

func (sc *Scenario) isMissing(v uint64) bool {
	_, found := slices.BinarySearch(sc.Missing, v)
	return found
}

func (sc *Scenario) checkBlocks(blocks []blockFile) error {
	for i, bf := range blocks {
		path := strictjson.Index("blocks", i)
		switch {
		case i > 0 && bf.View <= sc.Blocks[i-1].View:
			return strictjson.Errorf(path+".view", "blocks must be in strictly increasing view order: %d does not come after %d", bf.View, sc.Blocks[i-1].View)
		case bf.View > sc.UntilView:
			return strictjson.Errorf(path+".view", "view %d is after until_view %d", bf.View, sc.UntilView)
		case sc.isMissing(bf.View):
			return strictjson.Errorf(path+".view", "view %d is listed in missing_views", bf.View)
		}
		b := Block{View: bf.View, Cancels: bf.Cancels}
		for j, pf := range bf.Proposals {
			p, err := pf.proposal(strictjson.Index(path+".proposals", j))
			if err != nil {
				return err
			}
			b.Proposals = append(b.Proposals, p)
		}
		for _, a := range bf.Attestations {
			for _, n := range a.Nodes {
				b.Readiness = append(b.Readiness, activation.Readiness{Deployment: a.Deployment, Epoch: a.Epoch, Node: n})
			}
		}
		for j, rf := range bf.VerifierRejections {
			r, err := rf.rejection(strictjson.Index(path+".verifier_rejections", j), bf.View)
			if err != nil {
				return err
			}
			b.Rejected = append(b.Rejected, r)
		}
		sc.Blocks = append(sc.Blocks, b)
	}
	return nil
}

// verifierReasons are the reasons a chain's verifying layer gives, and the
// only ones a verifier_rejections entry may carry: Apply's own reasons come
// from the run itself.
var verifierReasons = []activation.Reason{activation.Malformed, activation.WrongChain, activation.BadSignature,
	activation.NotEnoughSigners, activation.UnknownSigner, activation.UnknownDeployment}

// rejection checks a verifier_rejections entry: a known kind, a verifying
// layer's reason, and a node for attestations only.
func (rf rejectionFile) rejection(path string, view uint64) (activation.Rejection, error) {
	r := activation.Rejection{View: view, Kind: activation.Kind(rf.Kind), Deployment: rf.Deployment, Reason: activation.Reason(rf.Reason)}
	switch r.Kind {
	case activation.KindProposal, activation.KindCancel, activation.KindAttestation, activation.KindCertificate:
	default:
		return r, strictjson.Errorf(path+".kind", "must be \"proposal\", \"cancel\", \"attestation\" or \"certificate\", got %q", rf.Kind)
	}
	if !slices.Contains(verifierReasons, r.Reason) {
		names := make([]string, len(verifierReasons))
		for i, vr := range verifierReasons {
			names[i] = strconv.Quote(string(vr))
		}
		return r, strictjson.Errorf(path+".reason", "%q is not a reason of the verifying layer (allowed: %s)", rf.Reason, strings.Join(names, ", "))
	}
	if rf.Node != nil {
		if r.Kind != activation.KindAttestation {
			return r, strictjson.Errorf(path+".node", "applies only to attestations, and this is a %s", rf.Kind)
		}
		r.Node = *rf.Node
	}
	return r, nil
}

// proposal checks the members against the subject and the mode and fills
// in the defaults (stake mode, threshold 2/3). A malformed version,
// threshold value or window, an undeclared parameter or a bad value is
// protocol data that Apply rejects with a reason, not bad input.
func (pf proposalFile) proposal(path string) (activation.Proposal, error) {
	p := activation.Proposal{Name: pf.Name, Mode: activation.Stake}
	if err := pf.subject(path, &p); err != nil {
		return p, err
	}
	if pf.Mode != nil {
		var ok bool
		if p.Mode, ok = activation.ParseMode(*pf.Mode); !ok {
			return p, strictjson.Errorf(path+".mode", "must be \"stake\" or \"governance\", got %q", *pf.Mode)
		}
	}
	stakeOnly := []struct {
		name    string
		present bool
	}{{"roles", pf.Roles != nil}, {"threshold", pf.Threshold != nil}, {"start_epoch", pf.StartEpoch != nil},
		{"timeout_epoch", pf.TimeoutEpoch != nil}, {"min_activation_epoch", pf.MinActivationEpoch != nil}, {"delay_epochs", pf.DelayEpochs != nil}}
	if p.Mode == activation.Governance {
		for _, f := range stakeOnly {
			if f.present {
				return p, strictjson.Errorf(strictjson.Join(path, f.name), "applies only to stake-mode proposals, and this one is governance mode")
			}
		}
		if pf.ActivationView == nil {
			return p, strictjson.Errorf(path, "missing required field \"activation_view\" (governance mode)")
		}
		p.ActivationView = *pf.ActivationView
		return p, nil
	}
	if pf.ActivationView != nil {
		return p, strictjson.Errorf(path+".activation_view", "applies only to governance-mode proposals, and this one is stake mode")
	}
	if pf.StartEpoch == nil {
		return p, strictjson.Errorf(path, "missing required field \"start_epoch\" (stake mode)")
	}
	if pf.TimeoutEpoch == nil {
		return p, strictjson.Errorf(path, "missing required field \"timeout_epoch\" (stake mode)")
	}
	p.StartEpoch, p.TimeoutEpoch = *pf.StartEpoch, *pf.TimeoutEpoch
	if pf.MinActivationEpoch != nil {
		p.MinActivationEpoch = *pf.MinActivationEpoch
	}
	if pf.DelayEpochs != nil {
		p.DelayEpochs = *pf.DelayEpochs
	}
	p.Threshold = quorum.TwoThirds
	if pf.Threshold != nil {
		var err error
		if p.Threshold, err = quorum.ParseThreshold(*pf.Threshold); err != nil {
			return p, strictjson.Errorf(path+".threshold", "%q: %v", *pf.Threshold, err)
		}
	}
	if pf.Roles != nil {
		p.Roles = *pf.Roles
	}
	return p, nil
}

// subject checks what the proposal changes, and sets it: a component's
// version (component and version) or a parameter (param and value), one
// whole pair and not both.
func (pf proposalFile) subject(path string, p *activation.Proposal) error {
	members := []struct {
		name    string
		present bool
	}{{"component", pf.Component != nil}, {"version", pf.Version != nil}, {"param", pf.Param != nil}, {"value", pf.Value != nil}}
	var upgrade, change []string
	for i, m := range members {
		switch {
		case !m.present:
		case i < 2:
			upgrade = append(upgrade, m.name)
		default:
			change = append(change, m.name)
		}
	}
	switch {
	case len(upgrade) > 0 && len(change) > 0:
		return strictjson.Errorf(path, "a proposal changes a component's version (component, version) or a parameter (param, value), not both: this one has %s",
			strings.Join(append(upgrade, change...), ", "))
	case len(change) > 0:
		if pf.Param == nil {
			return strictjson.Errorf(path, "missing required field \"param\" (a parameter change)")
		}
		if pf.Value == nil {
			return strictjson.Errorf(path, "missing required field \"value\" (a parameter change)")
		}
		p.Param, p.Value = *pf.Param, *pf.Value
		return nil
	case len(upgrade) == 0:
		return strictjson.Errorf(path, "missing required field \"component\" (a version upgrade; a parameter change has \"param\" and \"value\")")
	case pf.Component == nil:
		return strictjson.Errorf(path, "missing required field \"component\"")
	case pf.Version == nil:
		return strictjson.Errorf(path, "missing required field \"version\"")
	case !activation.ValidName(*pf.Component):
		// A chain's verifying layer refuses such a proposal (malformed), so
		// no verified block, and no exported history, carries one.
		return strictjson.Errorf(path+".component", "%q: a component name is 1 to %d ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, as a deployment name is",
			*pf.Component, activation.MaxNameLen)
	}
	p.Component, p.Version = *pf.Component, *pf.Version
	return nil
}
