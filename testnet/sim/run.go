package sim

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// Outcome is one (run, mechanism) result.
type Outcome struct {
	Run       int
	Mechanism string
	Activated bool
	// ActivationView and HoursToActivation are set when Activated.
	ActivationView    uint64
	HoursToActivation float64
	// UnreadyShare is the stake share not upgraded at activation; UpgradedShare per role.
	UnreadyShare  float64
	UpgradedShare map[string]float64
	// SignaledShareAtLockIn is, for stake and hybrid mechanisms, the smallest
	// per-group share of stake in the finalized tally at lock-in.
	SignaledShareAtLockIn float64
	// LivenessLossViews: views after activation until upgraded stake is more
	// than two thirds; Censored when that never happened within the horizon.
	LivenessLossViews uint64
	LivenessLossHours float64
	Censored          bool
	// StakeEpochsHalted: sum over halted nodes of stake share × epochs halted.
	StakeEpochsHalted float64
	NodesHalted       int
}

// upgradeViews returns each node's upgrade view under a mechanism: natural,
// or hurried before a governance deadline.
func (c *Config) upgradeViews(pop *Population, m *MechanismConfig) []uint64 {
	out := make([]uint64, len(pop.Nodes))
	deadline := math.Inf(1)
	if m.Kind != "stake" {
		deadline = m.DelayHours
	}
	dl := c.Behaviour.Deadline
	for i, nd := range pop.Nodes {
		if nd.SignalsWithoutUpgrade || math.IsInf(nd.NaturalDelay, 1) && !(nd.Hurry < dl.HurryShare && !math.IsInf(deadline, 1)) {
			out[i] = never
			continue
		}
		h := nd.NaturalDelay
		latest := deadline - dl.MarginHours
		if !math.IsInf(deadline, 1) && h > latest && nd.Hurry < dl.HurryShare {
			h = math.Max(0, latest-nd.HurryAt*dl.HurryWindowHours)
		}
		out[i] = c.hoursToViews(h)
	}
	return out
}

// simulate runs one mechanism over one population through the real engine.
func (c *Config) simulate(run int, pop *Population, m *MechanismConfig) (Outcome, error) {
	L := c.Chain.EpochViews
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: pop.Table}})
	if err != nil {
		return Outcome{}, err
	}
	params := &activation.Params{ChainID: "sim", EpochViews: L, SafetyViews: c.Chain.SafetyViews, Identities: sched}
	state, err := activation.Genesis(params, map[string]string{"protocol": "1.0.0"})
	if err != nil {
		return Outcome{}, err
	}
	upgrade := c.upgradeViews(pop, m)
	p := activation.Proposal{Name: "release", Component: "protocol", Version: "2.0.0"}
	if m.Kind == "governance" {
		p.Mode, p.ActivationView = activation.Governance, c.hoursToViews(m.DelayHours)
	} else {
		p.Mode, p.Threshold, p.Roles = activation.Stake, m.threshold, m.Roles
		p.StartEpoch, p.TimeoutEpoch = 0, m.TimeoutEpochs
		if m.Kind == "hybrid" {
			earliest := c.hoursToViews(m.DelayHours)
			p.MinActivationEpoch = (earliest + L - 1) / L
		}
	}
	out := Outcome{Run: run, Mechanism: m.Name}
	height := uint64(0)
	apply := func(b activation.Block) error {
		b.Height = height
		height++
		next, events, err := activation.Apply(state, b)
		if err != nil {
			return err
		}
		for _, e := range events {
			if t, ok := e.(activation.Transition); ok && t.To == activation.LockedIn && m.Kind != "governance" {
				d, _ := next.Deployment("release")
				out.SignaledShareAtLockIn = signaledShare(d.Tally(t.Epoch), pop.Table, m.Roles)
			}
			if r, ok := e.(activation.Rejection); ok && r.Kind == activation.KindProposal {
				return fmt.Errorf("the engine rejected the release proposal: %s", r.Reason)
			}
		}
		state = next
		return nil
	}
	if err := apply(activation.Block{View: 0, Proposals: []activation.Proposal{p}}); err != nil {
		return Outcome{}, err
	}
	horizonEnd := c.HorizonEpochs * L
	type att struct {
		view uint64
		node int
	}
	var atts []att
	for e := uint64(0); e < c.HorizonEpochs; e++ {
		d, _ := state.Deployment("release")
		if d.Status.Terminal() {
			break
		}
		start := e * L
		views := []uint64{}
		if e > 0 {
			views = append(views, start)
		}
		if d.HasActivation && d.ActivationView > start && d.ActivationView < start+L {
			views = append(views, d.ActivationView)
		}
		// Only a signaling stake deployment needs readiness.
		atts = atts[:0]
		if d.Status == activation.Started || (d.Status == activation.Defined && m.Kind != "governance") {
			for i := range pop.Nodes {
				nd := &pop.Nodes[i]
				if nd.NeverSignals || nd.offline(e, c.Behaviour.OfflinePerEpoch) {
					continue
				}
				ready := start
				if !nd.SignalsWithoutUpgrade {
					if upgrade[i] >= start+L {
						continue
					}
					ready = max(start, upgrade[i])
				}
				v := ready + nd.jitter(e, c.Chain.AttestJitterViews)
				if v == 0 {
					v = 1 // view 0 carries the proposal; readiness follows it
				}
				if v < start+L {
					atts = append(atts, att{v, i})
				}
			}
			sort.Slice(atts, func(a, b int) bool {
				return atts[a].view < atts[b].view || atts[a].view == atts[b].view && atts[a].node < atts[b].node
			})
			for _, a := range atts {
				views = append(views, a.view)
			}
		}
		slices.Sort(views)
		views = slices.Compact(views)
		k := 0
		for _, v := range views {
			if v == 0 {
				continue
			}
			b := activation.Block{View: v}
			for ; k < len(atts) && atts[k].view == v; k++ {
				b.Readiness = append(b.Readiness, activation.Readiness{Deployment: "release", Epoch: e, Node: pop.Nodes[atts[k].node].ID})
			}
			if err := apply(b); err != nil {
				return Outcome{}, err
			}
			if d, _ := state.Deployment("release"); d.Status.Terminal() {
				break
			}
		}
	}
	d, _ := state.Deployment("release")
	if d.Status != activation.Active {
		return out, nil
	}
	out.Activated = true
	out.ActivationView = d.ActivationView
	out.HoursToActivation = c.viewsToHours(d.ActivationView)
	c.measure(&out, pop, upgrade, horizonEnd)
	return out, nil
}

func signaledShare(tl *quorum.Tally, table *quorum.Table, roles []string) float64 {
	if tl == nil {
		return 0
	}
	if len(roles) == 0 {
		return float64(tl.ReadyTotal()) / float64(table.TotalStake())
	}
	least := 1.0
	for _, r := range roles {
		if total := table.RoleStake(r); total > 0 {
			least = math.Min(least, float64(tl.Ready(r))/float64(total))
		} else {
			least = 0
		}
	}
	return least
}

// measure fills in what activation cost: unready stake, liveness, halts.
func (c *Config) measure(out *Outcome, pop *Population, upgrade []uint64, horizonEnd uint64) {
	act := out.ActivationView
	total := float64(pop.Table.TotalStake())
	roleTotal := map[string]float64{}
	roleUp := map[string]float64{}
	type up struct {
		view  uint64
		stake uint64
	}
	var later []up
	upgraded := 0.0
	for i, nd := range pop.Nodes {
		roleTotal[nd.Role] += float64(nd.Stake)
		if upgrade[i] <= act {
			upgraded += float64(nd.Stake)
			roleUp[nd.Role] += float64(nd.Stake)
			continue
		}
		out.NodesHalted++
		end := min(upgrade[i], max(horizonEnd, act))
		out.StakeEpochsHalted += float64(nd.Stake) / total * float64(end-act) / float64(c.Chain.EpochViews)
		later = append(later, up{upgrade[i], nd.Stake})
	}
	out.UnreadyShare = 1 - upgraded/total
	out.UpgradedShare = map[string]float64{}
	for r, t := range roleTotal {
		out.UpgradedShare[r] = roleUp[r] / t
	}
	// Liveness: the network finalizes only with more than two thirds of stake upgraded.
	sort.Slice(later, func(a, b int) bool { return later[a].view < later[b].view })
	cum := upgraded
	recovered := act
	ok := 3*cum > 2*total
	for _, l := range later {
		if ok || l.view == never {
			break
		}
		cum += float64(l.stake)
		recovered = l.view
		ok = 3*cum > 2*total
	}
	if !ok {
		out.Censored = true
		recovered = max(horizonEnd, act)
	}
	out.LivenessLossViews = recovered - act
	out.LivenessLossHours = c.viewsToHours(out.LivenessLossViews)
}
