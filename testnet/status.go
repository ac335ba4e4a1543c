package testnet

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode"

	"github.com/quorumgate/quorumgate/node"
)

// NodeState is one node of a testnet as `testnet status` shows it: its
// process, and what the node itself reports on /status.
type NodeState struct {
	ID        string   `json:"id"`
	Role      string   `json:"role"`
	Stake     uint64   `json:"stake"`
	Sequencer bool     `json:"sequencer,omitempty"`
	Supported []string `json:"supported"`
	// API is the address of the node's public HTTP API.
	API string `json:"api"`
	// Process is running, stopped (by a command) or exited (on its own).
	Process string `json:"process"`
	PID     int    `json:"pid,omitempty"`
	// Exit is why an exited node ended, from its log.
	Exit string `json:"exit,omitempty"`
	// Status is the node's own /status; nil when it does not answer.
	Status *node.Status `json:"status,omitempty"`
	// Error is why a running node's /status could not be read.
	Error string `json:"error,omitempty"`
}

// NetStatus is every node's view, side by side.
type NetStatus struct {
	Dir          string `json:"dir"`
	ChainID      string `json:"chain_id"`
	EpochViews   uint64 `json:"epoch_views"`
	ViewInterval string `json:"view_interval"`
	// Engine is "cometbft" for a CometBFT testnet (empty: the devchain).
	Engine string      `json:"engine,omitempty"`
	Nodes  []NodeState `json:"nodes"`
	// LockIns says, for each stake deployment that has locked in, whose
	// readiness carried it.
	LockIns []LockIn `json:"lock_ins,omitempty"`
	// Dashboard is the URL of the testnet's page while it runs.
	Dashboard string `json:"dashboard,omitempty"`
}

// LockIn is a node's answer to /readiness?at=lock-in for one deployment.
type LockIn struct {
	node.ReadinessReport
	// AsSeenBy is the node asked: the first running one that knows the
	// deployment locked in.
	AsSeenBy string `json:"as_seen_by"`
	// Error is why that node could not answer; ReadinessReport is empty then.
	Error string `json:"error,omitempty"`
}

// Status asks every running node for its status, a few at a time so that a
// large testnet's answers are of about the same moment.
func (t *Testnet) Status() NetStatus {
	s := NetStatus{Dir: t.Dir, ChainID: t.M.ChainID, EpochViews: t.M.EpochViews, ViewInterval: t.M.ViewInterval, Engine: t.M.Engine}
	s.Nodes = make([]NodeState, len(t.M.Nodes))
	var wg sync.WaitGroup
	slots := make(chan struct{}, statusQueries)
	for i := range t.M.Nodes {
		n := &t.M.Nodes[i]
		ns := &s.Nodes[i]
		*ns = NodeState{ID: n.ID, Role: n.Role, Stake: n.Stake, Sequencer: n.Sequencer, Supported: n.Supported, API: n.API}
		switch {
		case t.running(n):
			ns.Process, ns.PID = "running", n.PID
			wg.Add(1)
			slots <- struct{}{}
			go func() { // owned by Status, which waits for it; bounded by apiTimeout
				defer func() { <-slots; wg.Done() }()
				if st, err := nodeAPI(n.API).Status(context.Background()); err != nil {
					ns.Error = err.Error()
				} else {
					ns.Status = &st
				}
			}()
		case n.PID != 0:
			ns.Process, ns.Exit = "exited", t.ExitReason(n)
		default:
			ns.Process = "stopped"
		}
	}
	wg.Wait()
	s.LockIns = lockIns(s.Nodes)
	s.Dashboard = t.RunningDashboardURL()
	return s
}

// statusQueries bounds the /status questions in flight at once.
const statusQueries = 16

// lockIns asks, for every stake deployment some running node sees LOCKED_IN
// or ACTIVE, that node who was ready in the block that locked it in.
func lockIns(nodes []NodeState) []LockIn {
	var out []LockIn
	asked := map[string]bool{}
	for _, n := range nodes {
		if n.Status == nil {
			continue
		}
		for _, d := range n.Status.Deployments {
			if asked[d.Name] || d.Mode != "stake" || (d.State != "LOCKED_IN" && d.State != "ACTIVE") {
				continue
			}
			asked[d.Name] = true
			l := LockIn{AsSeenBy: n.ID}
			var err error
			if l.ReadinessReport, err = nodeAPI(n.API).ReadinessAtLockIn(context.Background(), d.Name); err != nil {
				l.ReadinessReport, l.Error = node.ReadinessReport{Deployment: d.Name}, err.Error()
			}
			out = append(out, l)
		}
	}
	return out
}

// needs finds what a halted node asks for in its last words.
var needs = regexp.MustCompile(`halted.*supports ([^\s=]+=\S+?)[\s,;)]`)

// WriteStatus prints s for people: a row per node, then every deployment
// as each node sees it, side by side; past SummarizeAbove nodes, a summary
// by role that lists only the nodes that stand out (status_summary.go). It
// returns the first write error.
func WriteStatus(w io.Writer, s NetStatus) error {
	if len(s.Nodes) > SummarizeAbove {
		return writeSummary(w, s)
	}
	return WriteStatusAll(w, s)
}

// errWriter keeps the first error of the writes through it and skips the
// writes after it, so a printer can write line after line and check once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// flush flushes a tabwriter over e, keeping its error.
func (e *errWriter) flush(tw *tabwriter.Writer) {
	if err := tw.Flush(); err != nil && e.err == nil {
		e.err = err
	}
}

// writeHeader prints the testnet's chain, clock and live page.
func writeHeader(w *errWriter, s NetStatus) {
	engine := ""
	if s.Engine == engineCometBFT {
		engine = " on CometBFT (views are heights)"
	}
	fmt.Fprintf(w, "testnet %s: chain %s%s, %d nodes, epochs of %d views at %s a view\n", s.Dir, s.ChainID, engine, len(s.Nodes), s.EpochViews, s.ViewInterval)
	if s.Dashboard != "" {
		fmt.Fprintf(w, "live page: %s\n", s.Dashboard)
	}
	fmt.Fprintln(w)
}

// writeNodeTable prints a row per node and returns the deployments the
// running nodes know, in the order they first appear.
func writeNodeTable(w *errWriter, nodes []NodeState) []string {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "node\trole\tstake\tprocess\tview\theight\tepoch\tpeers\tsynced\tactive versions\tsupports")
	var deps []string
	for _, n := range nodes {
		role := n.Role
		if n.Sequencer {
			role += " (sequencer)"
		}
		proc := n.Process
		if n.PID != 0 {
			proc = fmt.Sprintf("%s (pid %d)", proc, n.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t", n.ID, role, n.Stake, proc)
		if st := n.Status; st != nil {
			fmt.Fprint(tw, headCells(st))
			for _, d := range st.Deployments {
				if !slices.Contains(deps, d.Name) {
					deps = append(deps, d.Name)
				}
			}
		} else {
			fmt.Fprint(tw, "-\t-\t-\t-\t-\t-\t")
		}
		fmt.Fprintf(tw, "%s\n", strings.Join(n.Supported, ","))
	}
	w.flush(tw)
	return deps
}

// headCells are a running node's view, height, epoch, peers, synced and
// active versions cells.
func headCells(st *node.Status) string {
	var active []string
	for _, c := range st.Versions {
		active = append(active, c.Component+"="+c.Active)
	}
	synced := "yes"
	if !st.Synced {
		synced = "no"
	}
	return fmt.Sprintf("%d\t%d\t%d\t%d\t%s\t%s\t", st.Head.View, st.Head.Height, st.Head.Epoch, st.Peers, synced, strings.Join(active, ","))
}

// writeNodeProblems says why each exited node ended (and, for a halted
// one, how to upgrade it), and why a running node's API did not answer.
func writeNodeProblems(w *errWriter, nodes []NodeState) {
	for _, n := range nodes {
		switch {
		case n.Exit != "":
			fmt.Fprintf(w, "\n%s exited: %s\n", n.ID, n.Exit)
			if m := needs.FindStringSubmatch(n.Exit); m != nil {
				fmt.Fprintf(w, "  its operator has to upgrade it: node-plugin testnet upgrade %s --supports %s\n", n.ID, m[1])
			}
		case n.Error != "":
			fmt.Fprintf(w, "\n%s runs but its API does not answer: %s\n", n.ID, n.Error)
		}
	}
}

// writeDeployments prints each deployment as each node sees it, then the
// signaling progress and who carried each lock-in.
func writeDeployments(w *errWriter, s NetStatus, deps []string) {
	fmt.Fprintln(w, "\ndeployments as each node sees them (@ activation view; ! this node does not support it):")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "deployment")
	for _, n := range s.Nodes {
		fmt.Fprintf(tw, "\t%s", n.ID)
	}
	fmt.Fprintln(tw)
	var signaling []string
	for _, name := range deps {
		fmt.Fprint(tw, name)
		for _, n := range s.Nodes {
			fmt.Fprintf(tw, "\t%s", cell(n, name))
		}
		fmt.Fprintln(tw)
		if line := signalingLine(s, name); line != "" {
			signaling = append(signaling, line)
		}
	}
	w.flush(tw)
	for _, l := range signaling {
		fmt.Fprintln(w, l)
	}
	for _, l := range s.LockIns {
		fmt.Fprintln(w, lockInLine(s.Nodes, l))
	}
}

// lockInLine says who carried a deployment's lock-in: the stake per role,
// the nodes ready, and the nodes of a counted role that were not.
func lockInLine(nodes []NodeState, l LockIn) string {
	if l.Error != "" {
		return lockInError(l)
	}
	head, ready, notReady := lockInParts(nodes, l)
	line := head + "; ready: " + strings.Join(ready, ", ")
	if len(notReady) > 0 {
		line += "; not ready: " + strings.Join(notReady, ", ")
	}
	return line
}

// lockInError is the line of a lock-in its reporting node could not
// attribute.
func lockInError(l LockIn) string {
	return fmt.Sprintf("%s locked in; %s cannot say who carried it: %s", l.Deployment, l.AsSeenBy, l.Error)
}

// lockInParts are what lockInLine and lockInSummary say of a lock-in: its
// view and stake per role, the nodes whose readiness counted, and the nodes
// of a counted role that were not ready.
func lockInParts(nodes []NodeState, l LockIn) (head string, ready, notReady []string) {
	head = fmt.Sprintf("%s locked in at view %d (epoch %d), as %s sees it:", l.Deployment, l.View, l.Epoch, l.AsSeenBy)
	counted := map[string]bool{}
	for _, r := range l.Roles {
		counted[r.Role] = true
		head += fmt.Sprintf("  %s %s %.0f%% (%d of %d)", r.Role, node.Bar(r.ReadyRatio, l.ThresholdRatio()), 100*r.ReadyRatio, r.ReadyStake, r.TotalStake)
	}
	signed := map[string]bool{}
	for _, r := range l.Ready {
		signed[r.NodeID] = true
	}
	for _, n := range nodes {
		switch {
		case signed[n.ID]:
			ready = append(ready, n.ID)
		case counted[n.Role] || counted[node.AllRoles]:
			notReady = append(notReady, n.ID)
		}
	}
	return head, ready, notReady
}

func cell(n NodeState, name string) string {
	if n.Status == nil {
		return "-"
	}
	d := find(*n.Status, name)
	if d == nil {
		return "unknown"
	}
	c := d.State
	if d.ActivationView != nil && d.State != "CANCELED" && d.State != "FAILED" {
		c += fmt.Sprintf("@%d", *d.ActivationView)
	}
	if !d.ThisNodeSupports && d.State != "CANCELED" && d.State != "FAILED" {
		c += "!"
	}
	return c
}

// signalingLine is a signaling deployment's readiness as the first running
// node that signals it sees it.
func signalingLine(s NetStatus, name string) string {
	for _, n := range s.Nodes {
		if n.Status == nil {
			continue
		}
		d := find(*n.Status, name)
		if d == nil || d.Signaling == nil {
			continue
		}
		sig := d.Signaling
		line := fmt.Sprintf("%s signaling, epoch %d as %s sees it:", name, sig.Epoch, n.ID)
		for _, r := range sig.Roles {
			line += fmt.Sprintf("  %s %s %.0f%% (%d of %d)", r.Role, node.Bar(r.ReadyRatio, sig.ThresholdRatio()), 100*r.ReadyRatio, r.ReadyStake, r.TotalStake)
		}
		return line + fmt.Sprintf("  need > %s; %d views to the cutoff; %d ready signers seen by gossip", sig.Threshold, sig.CutoffIn, sig.LiveSigners)
	}
	return ""
}

func find(st node.Status, name string) *node.DeploymentStatus {
	for i := range st.Deployments {
		if st.Deployments[i].Name == name {
			return &st.Deployments[i]
		}
	}
	return nil
}

// paramsSeen lists the parameters the answering nodes report (names and
// types, in the order first seen) and the answering node with the highest
// head, whose pending changes the status shows (nil if none answers).
func paramsSeen(nodes []NodeState) (names, types []string, ahead *NodeState) {
	for i, n := range nodes {
		if n.Status == nil {
			continue
		}
		if ahead == nil || n.Status.Head.View > ahead.Status.Head.View {
			ahead = &nodes[i]
		}
		for _, p := range n.Status.Params {
			if !slices.Contains(names, p.Name) {
				names, types = append(names, p.Name), append(types, p.Type)
			}
		}
	}
	return names, types, ahead
}

// writeParams prints every protocol parameter's active value as each node
// sees it, whether the nodes that answer agree, and the changes pending as
// the node furthest along the chain sees them. A chain that declares no
// parameters gets nothing.
func writeParams(w *errWriter, nodes []NodeState) {
	names, types, ahead := paramsSeen(nodes)
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w, "\nparams, each node's active value (agree: every node that answers has the same):")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "param\ttype")
	for _, n := range nodes {
		fmt.Fprintf(tw, "\t%s", n.ID)
	}
	fmt.Fprintln(tw, "\tagree")
	for i, name := range names {
		fmt.Fprintf(tw, "%s\t%s", name, types[i])
		var seen []string
		for _, n := range nodes {
			v, ok := paramOf(n, name)
			switch {
			case n.Status == nil:
				fmt.Fprint(tw, "\t-")
			case !ok:
				fmt.Fprint(tw, "\tunknown")
			default:
				fmt.Fprintf(tw, "\t%s", shortValue(v.Active))
			}
			if ok && !slices.Contains(seen, v.Active) {
				seen = append(seen, v.Active)
			}
		}
		agree := "yes"
		if len(seen) > 1 {
			agree = "NO"
		}
		fmt.Fprintf(tw, "\t%s\n", agree)
	}
	w.flush(tw)
	for _, name := range names {
		p, _ := paramOf(*ahead, name)
		for _, c := range p.Pending {
			line := fmt.Sprintf("pending: %s sets %s to %s (%s, %s)", c.Deployment, name, shortValue(c.Value), c.Mode, c.State)
			if c.ActivationView != nil {
				line += fmt.Sprintf(": activates at view %d, in %d views", *c.ActivationView, *c.ViewsToActivation)
			}
			fmt.Fprintf(w, "%s, as %s sees it at view %d\n", line, ahead.ID, ahead.Status.Head.View)
		}
	}
}

// paramOf is parameter name as node n sees it.
func paramOf(n NodeState, name string) (node.ParamStatus, bool) {
	if n.Status == nil {
		return node.ParamStatus{}, false
	}
	for _, p := range n.Status.Params {
		if p.Name == name {
			return p, true
		}
	}
	return node.ParamStatus{}, false
}

// shortValue is a value for a table cell: "" quoted, a long string cut.
func shortValue(v string) string {
	const most = 24
	switch r := []rune(v); {
	case len(r) == 0, strings.ContainsFunc(v, unicode.IsControl):
		return strconv.Quote(v)
	case len(r) > most:
		return string(r[:most-1]) + "…"
	}
	return v
}
