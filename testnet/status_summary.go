package testnet

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// A large testnet's status does not fit a row, or a column, per node: past
// SummarizeAbove nodes WriteStatus groups the nodes by role and counts, and
// lists one by one only the nodes that stand out (not running, not
// answering, not synced, behind, on other versions, or seeing a deployment
// or a parameter differently from most). WriteStatusAll prints every node.

// SummarizeAbove is the size past which WriteStatus summarises.
const SummarizeAbove = 12

// lagViews is how far behind the highest head a node may be before it
// stands out: gossip takes a view or two to reach everyone.
const lagViews = 3

// WriteStatusAll prints s with a row and a column per node, whatever its size.
func WriteStatusAll(w io.Writer, s NetStatus) error {
	ew := &errWriter{w: w}
	writeHeader(ew, s)
	deps := writeNodeTable(ew, s.Nodes)
	writeNodeProblems(ew, s.Nodes)
	writeParams(ew, s.Nodes)
	if len(deps) == 0 {
		fmt.Fprintln(ew, "\nno deployments yet: propose one with node-plugin testnet propose")
		return ew.err
	}
	writeDeployments(ew, s, deps)
	return ew.err
}

// writeSummary is WriteStatus for a large testnet.
func writeSummary(w io.Writer, s NetStatus) error {
	ew := &errWriter{w: w}
	writeHeader(ew, s)
	deps := writeRoleTable(ew, s.Nodes)
	out := standOut(s.Nodes, deps)
	if len(out) == 0 {
		fmt.Fprintln(ew, "\nevery node runs, answers, is synced within", lagViews, "views of the highest head, and agrees with the others")
	} else {
		fmt.Fprintf(ew, "\n%s out (not running, not answering, not synced, behind, or seeing things differently from most):\n", plural(len(out), "node stands", "nodes stand"))
		var rows []NodeState
		for _, n := range s.Nodes {
			if out[n.ID] {
				rows = append(rows, n)
			}
		}
		writeNodeTable(ew, rows)
		writeNodeProblems(ew, rows)
	}
	writeParamSummary(ew, s.Nodes)
	if len(deps) == 0 {
		fmt.Fprintln(ew, "\nno deployments yet: propose one with node-plugin testnet propose")
	} else {
		writeDeploymentSummary(ew, s, deps)
	}
	fmt.Fprintln(ew, "\n(node-plugin testnet status --all prints a row and a column per node)")
	return ew.err
}

// writeRoleTable prints a row per role: how many nodes, their stake, how
// many run and are synced, the range of their views and peers, and their
// active versions with how many nodes run each. It returns the deployments
// the running nodes know, in the order they first appear.
func writeRoleTable(w *errWriter, nodes []NodeState) []string {
	var roles []string
	var deps []string
	for _, n := range nodes {
		if !slices.Contains(roles, n.Role) {
			roles = append(roles, n.Role)
		}
		if n.Status != nil {
			for _, d := range n.Status.Deployments {
				if !slices.Contains(deps, d.Name) {
					deps = append(deps, d.Name)
				}
			}
		}
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "role\tnodes\tstake\trunning\tanswering\tsynced\tview\tpeers\tactive versions")
	for _, role := range append(roles, "all") {
		var count, running, answering, synced int
		var stake uint64
		var views, peers []uint64
		active := counter{}
		for _, n := range nodes {
			if role != "all" && n.Role != role {
				continue
			}
			count++
			stake += n.Stake
			if n.Process == "running" {
				running++
			}
			st := n.Status
			if st == nil {
				continue
			}
			answering++
			if st.Synced {
				synced++
			}
			views, peers = append(views, st.Head.View), append(peers, uint64(st.Peers))
			var a []string
			for _, c := range st.Versions {
				a = append(a, c.Component+"="+c.Active)
			}
			active.add(strings.Join(a, ","), n.ID)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", role, count, stake, running, answering, synced, span(views), span(peers), active.text(false))
	}
	w.flush(tw)
	return deps
}

// span is "lo..hi" of vs, "lo" when all are equal, "-" when there are none.
func span(vs []uint64) string {
	if len(vs) == 0 {
		return "-"
	}
	lo, hi := slices.Min(vs), slices.Max(vs)
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d..%d", lo, hi)
}

// standOut are the nodes WriteStatus lists one by one in a large testnet.
func standOut(nodes []NodeState, deps []string) map[string]bool {
	out := map[string]bool{}
	var top uint64
	versions, cells := counter{}, map[string]counter{}
	params := map[string]counter{}
	for _, n := range nodes {
		st := n.Status
		if st == nil {
			continue
		}
		top = max(top, st.Head.View)
		var a []string
		for _, c := range st.Versions {
			a = append(a, c.Component+"="+c.Active)
		}
		versions.add(strings.Join(a, ","), n.ID)
		for _, d := range deps {
			if cells[d] == nil {
				cells[d] = counter{}
			}
			cells[d].add(cell(n, d), n.ID)
		}
		for _, p := range st.Params {
			if params[p.Name] == nil {
				params[p.Name] = counter{}
			}
			params[p.Name].add(p.Active, n.ID)
		}
	}
	minority := func(c counter) {
		for _, v := range c.values()[1:] {
			for _, id := range c[v] {
				out[id] = true
			}
		}
	}
	minority(versions)
	for _, c := range cells {
		minority(c)
	}
	for _, c := range params {
		minority(c)
	}
	for _, n := range nodes {
		st := n.Status
		if st == nil || !st.Synced || st.Head.View+lagViews < top {
			out[n.ID] = true
		}
	}
	return out
}

// counter groups node IDs by a value they share.
type counter map[string][]string

func (c counter) add(value, id string) { c[value] = append(c[value], id) }

// values are the values, the most common first (ties in value order).
func (c counter) values() []string {
	var vs []string
	for v := range c {
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(a, b string) int { return cmp.Or(cmp.Compare(len(c[b]), len(c[a])), cmp.Compare(a, b)) })
	return vs
}

// text is "value (count)" for each value, the most common first; with
// names, a value held by a few nodes names them.
func (c counter) text(names bool) string {
	if len(c) == 0 {
		return "-"
	}
	var parts []string
	for i, v := range c.values() {
		ids := c[v]
		part := fmt.Sprintf("%s (%d)", cmp.Or(v, `""`), len(ids))
		if names && i > 0 && len(ids) <= 10 {
			part = fmt.Sprintf("%s (%d: %s)", cmp.Or(v, `""`), len(ids), strings.Join(ids, ", "))
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

// writeParamSummary prints each parameter's active values with how many
// nodes see each, and the changes pending as the node furthest along sees them.
func writeParamSummary(w *errWriter, nodes []NodeState) {
	names, types, ahead := paramsSeen(nodes)
	values := map[string]counter{}
	for _, name := range names {
		values[name] = counter{}
	}
	for _, n := range nodes {
		if n.Status == nil {
			continue
		}
		for _, p := range n.Status.Params {
			values[p.Name].add(shortValue(p.Active), n.ID)
		}
	}
	if len(names) == 0 {
		return
	}
	fmt.Fprintln(w, "\nparams, the active values and how many nodes have each (agree: every node that answers has the same):")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "param\ttype\tvalues\tagree")
	for i, name := range names {
		agree := "yes"
		if len(values[name]) > 1 {
			agree = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, types[i], values[name].text(true), agree)
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

// writeDeploymentSummary prints, per deployment, the states the nodes see
// it in with how many nodes see each, then the signaling progress and who
// carried each lock-in, counted.
func writeDeploymentSummary(w *errWriter, s NetStatus, deps []string) {
	fmt.Fprintln(w, "\ndeployments, the states the nodes see and how many see each (@ activation view; ! not supported; - not answering):")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "deployment\tstates")
	for _, name := range deps {
		c := counter{}
		for _, n := range s.Nodes {
			c.add(cell(n, name), n.ID)
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, c.text(true))
	}
	w.flush(tw)
	for _, name := range deps {
		if line := signalingLine(s, name); line != "" {
			fmt.Fprintln(w, line)
		}
	}
	for _, l := range s.LockIns {
		fmt.Fprintln(w, lockInSummary(s.Nodes, l))
	}
}

// lockInSummary is lockInLine with the ready nodes counted, and the nodes
// of a counted role that were not ready named when they are few.
func lockInSummary(nodes []NodeState, l LockIn) string {
	if l.Error != "" {
		return lockInError(l)
	}
	head, ready, notReady := lockInParts(nodes, l)
	line := fmt.Sprintf("%s; %d nodes ready", head, len(ready))
	switch {
	case len(notReady) == 0:
	case len(notReady) <= 10:
		line += "; not ready: " + strings.Join(notReady, ", ")
	default:
		line += fmt.Sprintf("; %d not ready", len(notReady))
	}
	return line
}

// plural is "1 node stands" or "3 nodes stand".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
