package activation_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// chain is a test harness: fixed params (L=100, Δ=10 unless set), one
// identity table, and a state that blocks are applied to in order.
type chain struct {
	t      testing.TB
	state  *activation.State
	height uint64
}

func node(id, role string, stake uint64) quorum.Identity {
	return quorum.Identity{NodeID: id, Role: role, Stake: stake}
}

func newChain(t testing.TB, epochViews, safety uint64, versions map[string]string, nodes ...quorum.Identity) *chain {
	t.Helper()
	table, err := quorum.NewTable(nodes)
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{FromEpoch: 0, Table: table}})
	require.NoError(t, err)
	params := &activation.Params{ChainID: "test", EpochViews: epochViews, SafetyViews: safety, Identities: sched}
	s, err := activation.Genesis(params, versions)
	require.NoError(t, err)
	return &chain{t: t, state: s}
}

// apply applies a block at view (height counts the blocks applied) and
// returns its events rendered by eventString.
func (c *chain) apply(view uint64, fill func(*activation.Block)) []string {
	c.t.Helper()
	_, _, applied := c.state.Head()
	b := activation.Block{View: view}
	if applied {
		c.height++
		b.Height = c.height
	}
	if fill != nil {
		fill(&b)
	}
	next, events, err := activation.Apply(c.state, b)
	require.NoError(c.t, err, "apply view %d", view)
	c.state = next
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = eventString(e)
	}
	return out
}

// run applies a block at every view in [from, to] with no content and returns all events.
func (c *chain) run(from, to uint64) []string {
	var all []string
	for v := from; v <= to; v++ {
		all = append(all, c.apply(v, nil)...)
	}
	return all
}

func eventString(e activation.Event) string {
	switch e := e.(type) {
	case activation.Transition:
		s := fmt.Sprintf("%d %s %s>%s", e.View, e.Deployment, e.From, e.To)
		if e.To == activation.LockedIn {
			s += fmt.Sprintf(" @%d", e.ActivationView)
		}
		return s
	case activation.Rejection:
		s := fmt.Sprintf("%d reject %s %s", e.View, e.Kind, e.Deployment)
		if e.Node != "" {
			s += " " + e.Node
		}
		return s + ": " + string(e.Reason)
	}
	return fmt.Sprintf("%#v", e)
}

// expectEvents requires exactly the events want, in order.
func expectEvents(t testing.TB, got []string, want ...string) {
	t.Helper()
	if len(got) == 0 {
		got = nil // no events, however the slice was made
	}
	require.Equal(t, want, got, "events")
}

func stake(name, component, version string, start, timeout uint64) activation.Proposal {
	return activation.Proposal{Name: name, Component: component, Version: version, Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: start, TimeoutEpoch: timeout}
}

func gov(name, component, version string, at uint64) activation.Proposal {
	return activation.Proposal{Name: name, Component: component, Version: version, Mode: activation.Governance, ActivationView: at}
}

func propose(ps ...activation.Proposal) func(*activation.Block) {
	return func(b *activation.Block) { b.Proposals = append(b.Proposals, ps...) }
}

func cancel(names ...string) func(*activation.Block) {
	return func(b *activation.Block) { b.Cancels = append(b.Cancels, names...) }
}

func attest(dep string, epoch uint64, nodes ...string) func(*activation.Block) {
	return func(b *activation.Block) {
		for _, n := range nodes {
			b.Readiness = append(b.Readiness, activation.Readiness{Deployment: dep, Epoch: epoch, Node: n})
		}
	}
}

func four() []quorum.Identity {
	return []quorum.Identity{node("c1", "consensus", 100), node("c2", "consensus", 100),
		node("c3", "consensus", 100), node("c4", "consensus", 100)}
}
