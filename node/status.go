package node

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// Status is what `node-plugin status` and GET /status show: at a glance,
// what is pending, how close it is, whether this node is ready, and what
// will happen when.
type Status struct {
	NodeID      string             `json:"node_id"`
	Head        HeadStatus         `json:"head"`
	Peers       int                `json:"peers"`
	Synced      bool               `json:"synced"`
	Deployments []DeploymentStatus `json:"deployments"`
	Versions    []ComponentStatus  `json:"versions"`
	// Supported are the entries of this node's `supported` setting
	// (component=MAJOR.MINOR or component=MAJOR.MINOR.PATCH), sorted.
	Supported []string `json:"supported"`
	// Params are the protocol parameters (params.go), on a chain that
	// declares any.
	Params []ParamStatus `json:"params,omitempty"`
}

// HeadStatus is where the node is on the chain.
type HeadStatus struct {
	Height uint64 `json:"height"`
	View   uint64 `json:"view"`
	Epoch  uint64 `json:"epoch"`
	// Base is the height this node's history starts at when it joined by
	// state sync (storage.Store.Base): it holds no block below it. Absent
	// for a node that has every block from genesis.
	Base *uint64 `json:"base,omitempty"`
}

// DeploymentStatus is one deployment as an operator sees it. A parameter
// change has Param and Value, and Component and Version empty.
type DeploymentStatus struct {
	Name           string  `json:"name"`
	Component      string  `json:"component"`
	Version        string  `json:"version"`
	Param          string  `json:"param,omitempty"`
	Value          string  `json:"value,omitempty"`
	Mode           string  `json:"mode"`
	State          string  `json:"state"`
	SinceView      uint64  `json:"since_view"`
	ActivationView *uint64 `json:"activation_view,omitempty"`
	// ETASeconds estimates the time to activation for a LOCKED_IN deployment.
	ETASeconds *float64 `json:"eta_seconds,omitempty"`
	// ThisNodeSupports: whether this binary runs the version ("<-- this
	// node"); true for every parameter change, which needs no new software.
	ThisNodeSupports bool `json:"this_node_supports"`
	// CoveredBy is the `supported` entry that covers the version (e.g.
	// protocol=2.0 for 2.0.1), "" if none does.
	CoveredBy string `json:"covered_by"`
	// Signaling is the current epoch's readiness, for a signaling stake deployment.
	Signaling *SignalingStatus `json:"signaling,omitempty"`
}

// SignalingStatus is the readiness of the current epoch per required role.
type SignalingStatus struct {
	Epoch     uint64 `json:"epoch"`
	Threshold string `json:"threshold"`
	CutoffIn  uint64 `json:"views_to_cutoff"`
	// LiveSigners: valid readiness seen by gossip this epoch, finalized or not.
	LiveSigners int          `json:"live_signers"`
	Roles       []RoleStatus `json:"roles"`
}

// AllRoles is the Role of the one RoleStatus of a deployment that requires
// no particular role: all stake counts, as one group.
const AllRoles = "all"

// RoleStatus is one role's finalized ready stake in the current epoch.
type RoleStatus struct {
	Role       string  `json:"role"`
	TotalStake uint64  `json:"total_stake"`
	ReadyStake uint64  `json:"ready_stake"`
	ReadyRatio float64 `json:"ready_ratio"`
}

// ComponentStatus is a component's current version and history.
type ComponentStatus struct {
	Component string                     `json:"component"`
	Active    string                     `json:"active"`
	History   []activation.VersionRecord `json:"history"`
	// CoveredBy is the `supported` entry that covers the active version,
	// "" if none does.
	CoveredBy string `json:"covered_by"`
}

// BuildStatus assembles the status from the head state. live reports the
// signers seen by gossip for (deployment, epoch); it may be nil.
func BuildStatus(nodeID string, head *activation.State, sup Supported, viewInterval time.Duration, peers int, synced bool,
	live func(signal.DeploymentID, uint64) int) Status {
	h, view, _ := head.Head()
	p := head.Params()
	epoch := p.Epoch(view)
	st := Status{NodeID: nodeID, Head: HeadStatus{Height: h, View: view, Epoch: epoch}, Peers: peers, Synced: synced,
		Deployments: []DeploymentStatus{}, Versions: []ComponentStatus{}, Supported: sup.Entries()}
	table := p.Identities.TableAt(epoch)
	for _, d := range head.Deployments() {
		ds := DeploymentStatus{Name: d.Name, Component: d.Component, Version: d.Version, Mode: d.Mode.String(),
			State: d.Status.String(), SinceView: d.Since}
		ds.CoveredBy, ds.ThisNodeSupports = sup.CoveredBy(d.Component, d.Version)
		if d.IsParam() {
			// A parameter change needs no new software (Supported.Runs).
			ds.Param, ds.Value, ds.CoveredBy, ds.ThisNodeSupports = d.Param, d.Value, "", true
		}
		if d.HasActivation {
			av := d.ActivatesAt
			ds.ActivationView = &av
			if d.Status == activation.LockedIn && av > view {
				eta := (time.Duration(av-view) * viewInterval).Seconds()
				ds.ETASeconds = &eta
			}
		}
		if d.Mode == activation.Stake && d.Status == activation.Started {
			sig := &SignalingStatus{Epoch: epoch, Threshold: d.Threshold.String()}
			if cutoff := p.EpochStart(epoch+1) - p.SafetyViews; cutoff > view {
				sig.CutoffIn = cutoff - view
			}
			if live != nil {
				sig.LiveSigners = live(d.ID, epoch)
			}
			sig.Roles = roleStatuses(d, table, d.Tally(epoch))
			ds.Signaling = sig
		}
		st.Deployments = append(st.Deployments, ds)
	}
	for _, c := range head.Components() {
		v, _ := head.ActiveVersion(c)
		covered, _ := sup.CoveredBy(c, v)
		st.Versions = append(st.Versions, ComponentStatus{Component: c, Active: v, History: head.History(c), CoveredBy: covered})
	}
	st.Params = paramStatuses(head, view)
	return st
}

// roleStatuses is a deployment's ready stake per required role (one group,
// AllRoles, when it requires none) in tally, which may be nil.
func roleStatuses(d *activation.Deployment, table *quorum.Table, tally *quorum.Tally) []RoleStatus {
	roles := d.Roles
	if len(roles) == 0 {
		roles = []string{""} // all stake as one group
	}
	var out []RoleStatus
	for _, r := range roles {
		rs := RoleStatus{Role: r}
		if r == "" {
			rs.Role, rs.TotalStake = AllRoles, table.TotalStake()
			if tally != nil {
				rs.ReadyStake = tally.ReadyTotal()
			}
		} else {
			rs.TotalStake = table.RoleStake(r)
			if tally != nil {
				rs.ReadyStake = tally.Ready(r)
			}
		}
		if rs.TotalStake > 0 {
			rs.ReadyRatio = math.Round(float64(rs.ReadyStake)/float64(rs.TotalStake)*10000) / 10000
		}
		out = append(out, rs)
	}
	return out
}

// ThresholdRatio is the signaling threshold as a fraction (0 if the
// threshold cannot be read).
func (s *SignalingStatus) ThresholdRatio() float64 { return thresholdRatio(s.Threshold) }

// ThresholdRatio is the deployment's threshold as a fraction (0 if the
// threshold cannot be read).
func (r *ReadinessReport) ThresholdRatio() float64 { return thresholdRatio(r.Threshold) }

func thresholdRatio(threshold string) float64 {
	th, err := quorum.ParseThreshold(threshold)
	if err != nil || th.Den == 0 {
		return 0
	}
	return float64(th.Num) / float64(th.Den)
}

// Bar draws ratio as a 20-cell bar with the threshold marked by '|'.
func Bar(ratio, threshold float64) string {
	const width = 20
	filled := int(math.Round(ratio * width))
	mark := int(math.Round(threshold * width))
	var b strings.Builder
	for i := range width {
		switch {
		case i == mark:
			b.WriteByte('|')
		case i < filled:
			b.WriteString("#")
		default:
			b.WriteByte('.')
		}
	}
	return "[" + b.String() + "]"
}

// Render is the text form of the status, for people.
func (s Status) Render() string {
	var b strings.Builder
	sync := "synced"
	if !s.Synced {
		sync = "catching up"
	}
	fmt.Fprintf(&b, "node %s  height %d  view %d  epoch %d  peers %d  %s\n", s.NodeID, s.Head.Height, s.Head.View, s.Head.Epoch, s.Peers, sync)
	if s.Head.Base != nil {
		fmt.Fprintf(&b, "history from height %d: this node joined by state sync and holds no block below it\n", *s.Head.Base)
	}
	if len(s.Deployments) == 0 {
		b.WriteString("\nno deployments\n")
	}
	for _, d := range s.Deployments {
		me := ""
		if d.ThisNodeSupports {
			me = "  <-- this node supports it"
		} else if pendingState(d.State) {
			me = "  <-- this node does NOT support it"
		}
		what := d.Component + " " + d.Version
		if d.Param != "" { // no new software: nothing for this node to support
			what, me = "param "+d.Param+" = "+d.Value, ""
		}
		fmt.Fprintf(&b, "\n%s: %s (%s)  %s since view %d%s\n", d.Name, what, d.Mode, d.State, d.SinceView, me)
		if d.ActivationView != nil {
			verb := "activates"
			switch d.State {
			case "ACTIVE":
				verb = "activated"
			case "CANCELED":
				verb = "would have activated"
			}
			line := fmt.Sprintf("  %s at view %d", verb, *d.ActivationView)
			if d.ETASeconds != nil {
				line += fmt.Sprintf(", about %s from now", (time.Duration(*d.ETASeconds) * time.Second).Round(time.Second))
			}
			b.WriteString(line + "\n")
		}
		if sig := d.Signaling; sig != nil {
			fmt.Fprintf(&b, "  epoch %d signaling: needs more than %s of stake per role, %d views to the cutoff; gossip has seen %d ready signers\n",
				sig.Epoch, sig.Threshold, sig.CutoffIn, sig.LiveSigners)
			for _, r := range sig.Roles {
				fmt.Fprintf(&b, "    %-13s %s %6.2f%%  %d / %d stake finalized\n", r.Role, Bar(r.ReadyRatio, sig.ThresholdRatio()),
					r.ReadyRatio*100, r.ReadyStake, r.TotalStake)
			}
		}
	}
	s.renderVersions(&b)
	s.renderParams(&b)
	return b.String()
}

// renderVersions writes each component's active version and the version of
// its pending deployment, each with the `supported` entry that covers it:
// which component versions this node-plugin runs.
func (s Status) renderVersions(b *strings.Builder) {
	// A status from a node-plugin older than component versions says
	// nothing of coverage; Supported is [] for one that supports nothing.
	known := s.Supported != nil
	if known {
		list := strings.Join(s.Supported, ", ")
		if list == "" {
			list = "nothing"
		}
		fmt.Fprintf(b, "\nversions (this node supports %s)\n", list)
	} else {
		b.WriteString("\nversions\n")
	}
	covered := func(entry string) string {
		switch {
		case !known:
			return ""
		case entry == "":
			return "  — no supported entry covers it"
		default:
			return "  — covered by supported " + entry
		}
	}
	pendingOf := func(component string) {
		for _, d := range s.Deployments {
			if d.Param == "" && d.Component == component && pendingState(d.State) {
				fmt.Fprintf(b, "  %-12s %s  pending: %s, %s%s\n", d.Component, d.Version, d.Name, d.State, covered(d.CoveredBy))
			}
		}
	}
	active := map[string]bool{}
	for _, c := range s.Versions {
		active[c.Component] = true
		fmt.Fprintf(b, "  %-12s %s", c.Component, c.Active)
		if len(c.History) > 1 {
			last := c.History[len(c.History)-1]
			fmt.Fprintf(b, "  (since view %d, first block at view %d)", last.ActivationView, last.FirstView)
		}
		b.WriteString(covered(c.CoveredBy) + "\n")
		pendingOf(c.Component)
	}
	for _, d := range s.Deployments { // a new component's first version
		if d.Param == "" && !active[d.Component] && pendingState(d.State) {
			active[d.Component] = true
			pendingOf(d.Component)
		}
	}
}

// pendingState: a deployment in this state may yet activate.
func pendingState(state string) bool {
	return state == "DEFINED" || state == "STARTED" || state == "LOCKED_IN"
}

// renderParams is the params section of the text status: each parameter's
// active value and type, and its pending changes.
func (s Status) renderParams(b *strings.Builder) {
	if len(s.Params) == 0 {
		return
	}
	b.WriteString("\nparams\n")
	for _, p := range s.Params {
		fmt.Fprintf(b, "  %-12s %s (%s)", p.Name, p.Active, p.Type)
		if len(p.History) > 1 {
			last := p.History[len(p.History)-1]
			fmt.Fprintf(b, "  (since view %d, first block at view %d)", last.ActivationView, last.FirstView)
		}
		b.WriteString("\n")
		for _, c := range p.Pending {
			fmt.Fprintf(b, "    pending: %s sets %s (%s, %s)", c.Deployment, c.Value, c.Mode, c.State)
			if c.ActivationView != nil {
				fmt.Fprintf(b, ", activates at view %d, in %d views", *c.ActivationView, *c.ViewsToActivation)
			}
			b.WriteString("\n")
		}
	}
}
