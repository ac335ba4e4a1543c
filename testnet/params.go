package testnet

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/node"
)

// Every new testnet's genesis declares a few protocol parameters, so that a
// testnet can change one the way it upgrades a version (`testnet propose
// --param KEY --value V`). They stand for what a chain's node software
// would read from params.json; nothing in the testnet uses their values.
// Their leads are fractions of an epoch, so that a change activates within
// an epoch or two on a testnet of any pace.

// paramDecls are the demonstration parameters of a testnet with epochs of
// epochViews views (at least 10: pace checks it).
func paramDecls(epochViews uint64) []activation.ParamDecl {
	bound := func(n uint64) *uint64 { return &n }
	return []activation.ParamDecl{
		// The largest block, in bytes: a change takes half an epoch's notice.
		{Name: "block_size_limit", Type: activation.ParamUint, Value: "1048576",
			Min: bound(64 << 10), Max: bound(16 << 20), MinLeadViews: epochViews / 2},
		// How long consensus waits for a proposal before it moves on.
		{Name: "consensus_timeout_ms", Type: activation.ParamUint, Value: "1000",
			Min: bound(100), Max: bound(60000), MinLeadViews: epochViews / 4},
		// A switch: execution overlaps the next block's consensus.
		{Name: "execution_pipelining", Type: activation.ParamBool, Value: "false", MinLeadViews: epochViews / 2},
		// A line of text the node software shows its operators.
		{Name: "operator_notice", Type: activation.ParamString, Value: "welcome", MinLeadViews: 1},
	}
}

// governanceLead is the lead rule 2 asks of a governance proposal: its
// activation view must come after the view of the block that carries it
// plus this many views; Δ for a version upgrade, max(Δ, min_lead_views)
// for a parameter change.
func governanceLead(g *chain.Genesis, p activation.Proposal) uint64 {
	lead := g.SafetyViews
	if d, ok := g.Params().Param(p.Param); ok && p.IsParam() {
		lead = max(lead, d.MinLeadViews)
	}
	return lead
}

// DefaultActivationView is the activation view `testnet propose` gives a
// governance proposal when none is given: three epochs after head (the
// view of the node it submits through), time for a person to watch, and
// never less than the lead the chain asks plus an epoch for the blocks
// made while the proposal travels to the block that carries it.
func DefaultActivationView(g *chain.Genesis, head uint64, p activation.Proposal) uint64 {
	return head + max(3*g.EpochViews, governanceLead(g, p)+g.EpochViews)
}

// CheckProposal refuses, before anything is signed, a proposal the chain
// would reject for a reason the testnet can already see in its genesis and
// in st, the status of the node it submits through: a parameter the genesis
// does not declare, a value not of the parameter's type or out of its
// bounds, the value already active, another change of the parameter
// pending, or (governance) an activation view too soon even for a block
// right after the head. It returns an *OptionError.
func CheckProposal(g *chain.Genesis, st node.Status, p activation.Proposal) error {
	if p.IsParam() {
		if err := checkParamChange(g, st, p); err != nil {
			return err
		}
	}
	if p.Mode == activation.Governance {
		// The carrying block comes after the head, so a view this close is too soon whichever block carries it.
		if lead := governanceLead(g, p); p.ActivationView <= st.Head.View+lead {
			what := fmt.Sprintf("Δ = %d views", lead)
			if p.IsParam() && lead > g.SafetyViews {
				what = fmt.Sprintf("%s's min_lead_views = %d", p.Param, lead)
			}
			return badOption("--activation-view %d: the chain would reject it (activation too soon): it must come more than %s after the block that carries the proposal, "+
				"and the head is at view %d already; leave --activation-view out for a default that leaves room", p.ActivationView, what, st.Head.View)
		}
	}
	return nil
}

// checkParamChange judges what is particular to a parameter change (the
// chain's rule 2 for parameters, in its order).
func checkParamChange(g *chain.Genesis, st node.Status, p activation.Proposal) error {
	decls := g.Params().Declared
	if len(decls) == 0 {
		return badOption("--param %s: this testnet's genesis declares no protocol parameters (the testnet predates them; "+
			"down --purge and up make a new one that has some)", p.Param)
	}
	d, ok := g.Params().Param(p.Param)
	if !ok {
		var names []string
		for _, d := range decls {
			names = append(names, fmt.Sprintf("%s (%s)", d.Name, d.Type))
		}
		return badOption("--param %s: the testnet's genesis declares no such parameter; it declares %s", p.Param, strings.Join(names, ", "))
	}
	switch d.CheckValue(p.Value) {
	case activation.BadValue:
		return badOption("--value %q: %s is a %s parameter, so its value is %s", p.Value, d.Name, d.Type, valueForm(d))
	case activation.OutOfBounds:
		return badOption("--value %s: out of %s's bounds, %s", p.Value, d.Name, valueForm(d))
	}
	for _, ps := range st.Params {
		if ps.Name != d.Name {
			continue
		}
		if ps.Active == p.Value {
			return badOption("--value %s: %s is %s already (as %s sees it at view %d); the chain would reject the change (not an upgrade)",
				p.Value, d.Name, ps.Active, st.NodeID, st.Head.View)
		}
		if len(ps.Pending) > 0 {
			c := ps.Pending[0]
			return badOption("--param %s: %s, %s, already sets it to %s, and the chain takes one change of a parameter at a time "+
				"(it would reject this one: component busy); wait for it, or cancel it with testnet cancel --name %s", d.Name, c.Deployment, c.State, c.Value, c.Deployment)
		}
	}
	return nil
}

// valueForm says what a value of d looks like, bounds included.
func valueForm(d activation.ParamDecl) string {
	switch d.Type {
	case activation.ParamUint:
		lo, hi := uint64(0), ^uint64(0)
		if d.Min != nil {
			lo = *d.Min
		}
		if d.Max != nil {
			hi = *d.Max
		}
		return "a whole number in decimal (no sign, no leading zeros) from " + strconv.FormatUint(lo, 10) + " to " + strconv.FormatUint(hi, 10)
	case activation.ParamBool:
		return `"true" or "false"`
	}
	return fmt.Sprintf("text of at most %d bytes of UTF-8, with no control character (no newline, tab, ...)", activation.MaxParamStringLen)
}
