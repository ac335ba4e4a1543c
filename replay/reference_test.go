package replay

import (
	"cmp"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/quorumgate/quorumgate/activation"
)

// reference is a deliberately naive, separate implementation of DESIGN.md's
// replay semantics and docs/replay.md's parameters: it applies every view,
// rescans everything, sums stakes in big integers, compares versions with
// its own semver code, reads parameter values with its own grammar, and
// walks epoch boundaries one by one. The property test holds the engine to
// it.
type reference struct {
	sc       *Scenario
	deps     []*refDep
	versions map[string][]activation.VersionRecord
	params   map[string][]activation.ParamRecord
	events   []activation.Event
	// What the run exercised of the parameter rules, for the property test
	// to check it reaches them: the reasons parameter changes were rejected
	// for, the changes that activated by mode, and the stake lock-ins whose
	// activation a parameter's lead time moved to a later boundary.
	paramReasons map[activation.Reason]int
	paramActive  map[activation.Mode]int
	leadMoved    int
}

type refDep struct {
	p          activation.Proposal
	status     activation.Status
	since      uint64
	activation uint64
	hasAct     bool
	signed     map[[2]string]bool // (epoch, node)
}

func runReference(sc *Scenario) *reference {
	r := &reference{sc: sc, versions: map[string][]activation.VersionRecord{}, params: map[string][]activation.ParamRecord{},
		paramReasons: map[activation.Reason]int{}, paramActive: map[activation.Mode]int{}}
	for c, v := range sc.Versions {
		r.versions[c] = []activation.VersionRecord{{Version: v}}
	}
	for _, d := range sc.Params.Declared {
		r.params[d.Name] = []activation.ParamRecord{{Value: d.Value}}
	}
	listed := map[uint64]Block{}
	for _, b := range sc.Blocks {
		listed[b.View] = b
	}
	missing := map[uint64]bool{}
	for _, m := range sc.Missing {
		missing[m] = true
	}
	height := uint64(0)
	for v := uint64(0); v <= sc.UntilView; v++ {
		if missing[v] {
			continue
		}
		r.block(v, height, listed[v])
		height++
	}
	return r
}

func (r *reference) find(name string) *refDep {
	for _, d := range r.deps {
		if d.p.Name == name {
			return d
		}
	}
	return nil
}

func (r *reference) move(d *refDep, v, h, e uint64, to activation.Status) {
	t := activation.Transition{View: v, Height: h, Epoch: e, Deployment: d.p.Name, From: d.status, To: to}
	if to == activation.LockedIn {
		t.ActivationView = d.activation
	}
	d.status, d.since = to, v
	r.events = append(r.events, t)
}

func (r *reference) rule1(d *refDep, v, h, e uint64) {
	switch d.status {
	case activation.Defined:
		if e >= d.p.TimeoutEpoch {
			r.move(d, v, h, e, activation.Failed)
		} else if e >= d.p.StartEpoch {
			r.move(d, v, h, e, activation.Started)
		}
	case activation.Started:
		if e >= d.p.TimeoutEpoch {
			r.move(d, v, h, e, activation.Failed)
		}
	case activation.LockedIn:
		if v < d.activation {
			break
		}
		if d.p.Param != "" {
			r.params[d.p.Param] = append(r.params[d.p.Param],
				activation.ParamRecord{Value: d.p.Value, ActivationView: d.activation, FirstView: v})
			r.paramActive[d.p.Mode]++
		} else {
			r.versions[d.p.Component] = append(r.versions[d.p.Component],
				activation.VersionRecord{Version: d.p.Version, ActivationView: d.activation, FirstView: v})
		}
		r.move(d, v, h, e, activation.Active)
	}
}

func (r *reference) block(v, h uint64, b Block) {
	L, delta := r.sc.Params.EpochViews, r.sc.Params.SafetyViews
	e := v / L
	for _, d := range r.deps {
		r.rule1(d, v, h, e)
	}
	for _, p := range b.Proposals {
		if reason := r.judge(p, v, e); reason != "" {
			r.events = append(r.events, activation.Rejection{View: v, Kind: activation.KindProposal, Deployment: p.Name, Reason: reason})
			if p.Param != "" {
				r.paramReasons[reason]++
			}
			continue
		}
		d := &refDep{p: p, status: activation.None, signed: map[[2]string]bool{}}
		r.deps = append(r.deps, d)
		r.move(d, v, h, e, activation.Defined)
		if p.Mode == activation.Governance {
			d.activation, d.hasAct = p.ActivationView, true
			r.move(d, v, h, e, activation.LockedIn)
		} else {
			r.rule1(d, v, h, e)
		}
	}
	for _, name := range b.Cancels {
		d := r.find(name)
		switch {
		case d == nil:
			r.events = append(r.events, activation.Rejection{View: v, Kind: activation.KindCancel, Deployment: name, Reason: activation.UnknownDeployment})
		case d.status == activation.Defined || d.status == activation.Started ||
			d.status == activation.LockedIn && new(big.Int).SetUint64(d.activation).Cmp(bigSum(v, delta)) > 0:
			r.move(d, v, h, e, activation.Canceled)
		default:
			r.events = append(r.events, activation.Rejection{View: v, Kind: activation.KindCancel, Deployment: name, Reason: activation.TooLate})
		}
	}
	table := r.sc.Params.Identities.TableAt(e)
	for _, a := range b.Readiness {
		reason := activation.Reason("")
		d := r.find(a.Deployment)
		role := ""
		found := false
		for i := 0; i < table.Len(); i++ {
			if table.At(i).NodeID == a.Node {
				role, found = table.At(i).Role, true
			}
		}
		switch {
		case d == nil:
			reason = activation.UnknownDeployment
		case d.status != activation.Started && d.status != activation.LockedIn:
			reason = activation.NotSignaling
		case a.Epoch != e:
			reason = activation.WrongEpoch
		case !found:
			reason = activation.UnknownSigner
		case len(d.p.Roles) > 0 && !contains(d.p.Roles, role):
			reason = activation.RoleNotRequired
		case d.signed[[2]string{strconv.FormatUint(e, 10), a.Node}]:
			reason = activation.Duplicate
		}
		if reason != "" {
			r.events = append(r.events, activation.Rejection{View: v, Kind: activation.KindAttestation, Deployment: a.Deployment, Node: a.Node, Reason: reason})
			continue
		}
		d.signed[[2]string{strconv.FormatUint(e, 10), a.Node}] = true
	}
	for _, d := range r.deps {
		if d.p.Mode != activation.Stake || d.status != activation.Started {
			continue
		}
		cutoff := new(big.Int).Sub(new(big.Int).Mul(new(big.Int).SetUint64(e+1), new(big.Int).SetUint64(L)), new(big.Int).SetUint64(delta))
		if new(big.Int).SetUint64(v).Cmp(cutoff) > 0 {
			continue
		}
		groups := d.p.Roles
		if len(groups) == 0 {
			groups = []string{""} // "" = all stake
		}
		ok := true
		for _, g := range groups {
			ready, total := new(big.Int), new(big.Int)
			for i := 0; i < table.Len(); i++ {
				n := table.At(i)
				if g != "" && n.Role != g {
					continue
				}
				total.Add(total, new(big.Int).SetUint64(n.Stake))
				if d.signed[[2]string{strconv.FormatUint(e, 10), n.NodeID}] {
					ready.Add(ready, new(big.Int).SetUint64(n.Stake))
				}
			}
			lhs := new(big.Int).Mul(ready, new(big.Int).SetUint64(d.p.Threshold.Den))
			rhs := new(big.Int).Mul(total, new(big.Int).SetUint64(d.p.Threshold.Num))
			if lhs.Cmp(rhs) <= 0 {
				ok = false
			}
		}
		if ok {
			epoch := e + 1 + d.p.DelayEpochs
			if d.p.MinActivationEpoch > epoch {
				epoch = d.p.MinActivationEpoch
			}
			if d.p.Param != "" {
				// The first boundary at least max(min_lead_views, Δ+1) views after v.
				lead := max(r.decl(d.p.Param).MinLeadViews, delta+1)
				moved := false
				for epoch*L < v+lead {
					epoch++
					moved = true
				}
				if moved {
					r.leadMoved++
				}
			}
			d.activation, d.hasAct = epoch*L, true
			r.move(d, v, h, e, activation.LockedIn)
		}
	}
}

// refName is the deployment name rule, written as a regular expression.
var refName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (r *reference) judge(p activation.Proposal, v, e uint64) activation.Reason {
	if !refName.MatchString(p.Name) {
		return activation.BadName
	}
	if r.find(p.Name) != nil {
		return activation.DuplicateName
	}
	lead := r.sc.Params.SafetyViews
	if p.Param != "" {
		reason := r.judgeParamChange(p)
		if reason != "" {
			return reason
		}
		lead = max(lead, r.decl(p.Param).MinLeadViews)
	} else if reason := r.judgeUpgrade(p); reason != "" {
		return reason
	}
	if p.Mode == activation.Governance {
		if new(big.Int).SetUint64(p.ActivationView).Cmp(bigSum(v, lead)) <= 0 {
			return activation.ActivationTooSoon
		}
		return ""
	}
	if !(0 < p.Threshold.Num && p.Threshold.Num < p.Threshold.Den) {
		return activation.BadThreshold
	}
	if p.TimeoutEpoch <= p.StartEpoch || p.TimeoutEpoch <= e {
		return activation.BadWindow
	}
	return ""
}

func (r *reference) pending(d *refDep) bool {
	return d.status == activation.Defined || d.status == activation.Started || d.status == activation.LockedIn
}

func (r *reference) judgeUpgrade(p activation.Proposal) activation.Reason {
	if !refIsSemver(p.Version) {
		return activation.BadVersion
	}
	if h := r.versions[p.Component]; len(h) > 0 && refCompare(p.Version, h[len(h)-1].Version) <= 0 {
		return activation.NotAnUpgrade
	}
	for _, d := range r.deps {
		if d.p.Param == "" && d.p.Component == p.Component && r.pending(d) {
			return activation.ComponentBusy
		}
	}
	return ""
}

// judgeParamChange is rule 2 for a parameter change, after the name checks
// and before the mode's: the key, the value, the key's state.
func (r *reference) judgeParamChange(p activation.Proposal) activation.Reason {
	h, declared := r.params[p.Param]
	if !declared {
		return activation.UnknownParameter
	}
	if reason := refCheckValue(r.decl(p.Param), p.Value); reason != "" {
		return reason
	}
	if h[len(h)-1].Value == p.Value {
		return activation.NotAnUpgrade
	}
	for _, d := range r.deps {
		if d.p.Param == p.Param && r.pending(d) {
			return activation.ComponentBusy
		}
	}
	return ""
}

func (r *reference) decl(name string) activation.ParamDecl {
	for _, d := range r.sc.Params.Declared {
		if d.Name == name {
			return d
		}
	}
	panic("reference: parameter " + name + " is not declared")
}

// refUint is a uint's canonical text: decimal, no sign, no leading zero.
var refUint = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

// refCheckValue judges a value by its declaration's type and bounds.
func refCheckValue(d activation.ParamDecl, value string) activation.Reason {
	switch d.Type {
	case activation.ParamUint:
		n, ok := new(big.Int).SetString(value, 10)
		if !refUint.MatchString(value) || !ok || n.Cmp(new(big.Int).SetUint64(math.MaxUint64)) > 0 {
			return activation.BadValue
		}
		if d.Min != nil && n.Cmp(new(big.Int).SetUint64(*d.Min)) < 0 || d.Max != nil && n.Cmp(new(big.Int).SetUint64(*d.Max)) > 0 {
			return activation.OutOfBounds
		}
	case activation.ParamBool:
		if value != "true" && value != "false" {
			return activation.BadValue
		}
	case activation.ParamString:
		// Valid UTF-8 survives the trip through runes unchanged.
		if len(value) > 1024 || string([]rune(value)) != value {
			return activation.BadValue
		}
	}
	return ""
}

func bigSum(a, b uint64) *big.Int {
	return new(big.Int).Add(new(big.Int).SetUint64(a), new(big.Int).SetUint64(b))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The SemVer 2.0.0 grammar, from semver.org.
var refSemver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

func refIsSemver(s string) bool { return refSemver.MatchString(s) }

// refCompare orders versions by SemVer precedence (build metadata ignored).
func refCompare(a, b string) int {
	ma, mb := refSemver.FindStringSubmatch(a), refSemver.FindStringSubmatch(b)
	for i := 1; i <= 3; i++ {
		if c := refCompareDigits(ma[i], mb[i]); c != 0 {
			return c
		}
	}
	pa, pb := ma[4], mb[4]
	switch {
	case pa == pb:
		return 0
	case pa == "":
		return 1
	case pb == "":
		return -1
	}
	ia, ib := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(ia) && i < len(ib); i++ {
		if ia[i] == ib[i] {
			continue
		}
		na, errA := strconv.ParseUint(ia[i], 10, 64)
		nb, errB := strconv.ParseUint(ib[i], 10, 64)
		switch {
		case errA == nil && errB == nil:
			if na < nb {
				return -1
			}
			return 1
		case errA == nil:
			return -1
		case errB == nil:
			return 1
		case ia[i] < ib[i]:
			return -1
		default:
			return 1
		}
	}
	switch {
	case len(ia) < len(ib):
		return -1
	case len(ia) > len(ib):
		return 1
	}
	return 0
}

// refCompareDigits orders two decimal numbers without leading zeros (the
// grammar forbids them) of any length: the longer is larger, else the
// digits decide.
func refCompareDigits(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}
