package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/quorumgate/quorumgate/quorum"
)

// never is the upgrade time of a node that does not upgrade.
const never = math.MaxUint64

// Node is one simulated node of a run.
type Node struct {
	ID    string
	Role  string
	Stake uint64
	// Client is the index of the node's client in behaviour.client (-1: none).
	Client int
	// NaturalDelay is when (hours after the release) the operator upgrades
	// with no deadline pressing, a client's slip included; +Inf for never.
	NaturalDelay float64
	// Available is when (hours after the release) the node's client has a
	// release at all: nobody can hurry before it.
	Available float64
	// Hurry is the node's draw for deadline behaviour: it hurries when
	// Hurry < hurry_share; HurryAt in [0,1) places it in the hurry window.
	Hurry, HurryAt float64
	// SignalsWithoutUpgrade: attests from the release on, never upgrades.
	SignalsWithoutUpgrade bool
	// NeverSignals: upgrades but never attests (a misconfiguration, or a
	// coalition withholding its signal).
	NeverSignals bool
	// Join and Leave bound the epochs the node is in the identity table
	// (validator churn): it is a member in epochs Join <= e < Leave.
	Join, Leave uint64
	// OutFrom and OutTo are views of a correlated outage the node is caught
	// in (OutFrom == OutTo: none).
	OutFrom, OutTo uint64
	// offlineSeed drives the per-epoch offline draws.
	offlineSeed uint64
}

// Population is the nodes of one run, shared by every mechanism of that run
// (common random numbers: the comparison sees the same operators).
type Population struct {
	// Nodes are sorted by ID, every node that is a member in some epoch.
	Nodes []Node
	// Schedule gives each epoch's identity table; Tables lists the tables
	// with the epoch each starts at.
	Schedule *quorum.Schedule
	Tables   []quorum.ScheduleEntry
	// ClientSlipped[i] tells whether client i's release slipped in this run.
	ClientSlipped []bool
	// indexes[k][i] is node i's index in Tables[k] (-1: not a member).
	indexes [][]int32
}

// tableIndex maps each node to its index in epoch e's identity table (-1
// when it is not a member). Nodes and tables are both sorted by ID, so one
// merge pass builds it.
func (p *Population) tableIndex(e uint64) []int32 {
	k, _ := slices.BinarySearchFunc(p.Tables, e, func(t quorum.ScheduleEntry, e uint64) int {
		switch {
		case t.FromEpoch > e:
			return 1
		case t.FromEpoch < e:
			return -1
		}
		return 0
	})
	if k == len(p.Tables) || p.Tables[k].FromEpoch != e {
		k--
	}
	if p.indexes == nil {
		p.indexes = make([][]int32, len(p.Tables))
	}
	if p.indexes[k] == nil {
		t := p.Tables[k].Table
		idx := make([]int32, len(p.Nodes))
		j := 0
		for i := range p.Nodes {
			for j < t.Len() && t.At(j).NodeID < p.Nodes[i].ID {
				j++
			}
			if j < t.Len() && t.At(j).NodeID == p.Nodes[i].ID {
				idx[i] = int32(j)
			} else {
				idx[i] = -1
			}
		}
		p.indexes[k] = idx
	}
	return p.indexes[k]
}

// tableAt returns the identity table of epoch e.
func (p *Population) tableAt(e uint64) *quorum.Table { return p.Schedule.TableAt(e) }

func (c *Config) drawPopulation(rng *rand.Rand) (*Population, error) {
	n := c.Population.Nodes
	nodes := make([]Node, n, n+c.churnJoins())
	if c.stakeTable != nil {
		for i, row := range c.stakeTable {
			nodes[i] = Node{ID: row.id, Role: row.role, Stake: row.stake}
		}
	} else {
		roles := c.roleAssignment()
		for i := range nodes {
			r := c.Population.Roles[roles[i]]
			nodes[i] = Node{ID: fmt.Sprintf("n%07d", i), Role: r.Name, Stake: c.drawStake(rng, r.StakeScale)}
		}
	}
	b := c.Behaviour
	pop := &Population{ClientSlipped: make([]bool, len(b.Clients))}
	for i, cl := range b.Clients {
		pop.ClientSlipped[i] = rng.Float64() < cl.SlipProbability
	}
	for i := range nodes {
		c.drawOperator(rng, &nodes[i], pop.ClientSlipped)
		nodes[i].Leave = never
	}
	c.drawChurn(rng, &nodes)
	c.drawCoalitions(rng, nodes)
	c.drawOutages(rng, nodes)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	pop.Nodes = nodes
	if err := pop.buildTables(c.HorizonEpochs); err != nil {
		return nil, err
	}
	return pop, nil
}

// drawOperator draws how one operator behaves after the release.
func (c *Config) drawOperator(rng *rand.Rand, nd *Node, slipped []bool) {
	b := c.Behaviour
	nd.NaturalDelay = c.drawDelay(rng)
	nd.Hurry, nd.HurryAt = rng.Float64(), rng.Float64()
	kind := rng.Float64()
	nd.SignalsWithoutUpgrade = kind < b.SignalWithoutUpgrade
	nd.NeverSignals = !nd.SignalsWithoutUpgrade && kind < b.SignalWithoutUpgrade+b.UpgradeWithoutSignal
	nd.offlineSeed = rng.Uint64()
	nd.Client = -1
	if len(b.Clients) > 0 {
		u, acc := rng.Float64(), 0.0
		for i, cl := range b.Clients {
			acc += cl.Share
			if u < acc || i == len(b.Clients)-1 {
				nd.Client = i
				break
			}
		}
		if slipped[nd.Client] {
			nd.Available = b.Clients[nd.Client].SlipHours
			nd.NaturalDelay += nd.Available
		}
	}
}

// churnJoins is how many nodes join over the horizon.
func (c *Config) churnJoins() int {
	return c.churnJoinsOf(c.Population.Nodes)
}

// churnJoinsOf is how many nodes join over the horizon in a population of
// nodes nodes.
func (c *Config) churnJoinsOf(nodes int) int {
	return int(c.HorizonEpochs) * c.churnPerEpochOf(nodes)
}

func (c *Config) churnPerEpoch() int {
	return c.churnPerEpochOf(c.Population.Nodes)
}

func (c *Config) churnPerEpochOf(nodes int) int {
	return int(math.Round(c.Behaviour.ChurnPerEpoch * float64(nodes)))
}

// drawChurn replaces churn_per_epoch of the members at every epoch boundary:
// leavers are drawn at random from the members, joiners are new identities
// with the same stake and role as the leaver they replace (the role mix and
// total stake stay put, so churn alone does not move thresholds). A joiner
// installs the newest release when it joins (an assumption: new validators
// set up from the current release), so it is ready from its first epoch.
func (c *Config) drawChurn(rng *rand.Rand, nodes *[]Node) {
	k := c.churnPerEpoch()
	if k == 0 {
		return
	}
	members := make([]int, len(*nodes))
	for i := range members {
		members[i] = i
	}
	for e := uint64(1); e < c.HorizonEpochs; e++ {
		for j := 0; j < k && len(members) > 0; j++ {
			slot := rng.IntN(len(members))
			leaver := members[slot]
			(*nodes)[leaver].Leave = e
			joiner := Node{ID: fmt.Sprintf("j%04d-%06d", e, j), Role: (*nodes)[leaver].Role, Stake: (*nodes)[leaver].Stake,
				Join: e, Leave: never, Client: -1, offlineSeed: rng.Uint64(), Hurry: 1}
			joiner.NaturalDelay = c.viewsToHours(e * c.Chain.EpochViews)
			*nodes = append(*nodes, joiner)
			members[slot] = len(*nodes) - 1
		}
	}
}

// drawCoalitions marks, per coalition, nodes holding the coalition's share of
// stake: the largest stakes first (a few big operators acting together) or
// nodes in random order.
func (c *Config) drawCoalitions(rng *rand.Rand, nodes []Node) {
	if len(c.Behaviour.Coalitions) == 0 {
		return
	}
	total := 0.0
	for _, nd := range nodes[:c.Population.Nodes] {
		total += float64(nd.Stake)
	}
	taken := make([]bool, c.Population.Nodes)
	for _, co := range c.Behaviour.Coalitions {
		order := rng.Perm(c.Population.Nodes)
		if co.Target == "largest" {
			slices.SortStableFunc(order, func(a, b int) int {
				switch {
				case nodes[a].Stake > nodes[b].Stake:
					return -1
				case nodes[a].Stake < nodes[b].Stake:
					return 1
				}
				return 0
			})
		}
		held := 0.0
		for _, i := range order {
			if held >= co.Share*total {
				break
			}
			if taken[i] {
				continue
			}
			taken[i] = true
			held += float64(nodes[i].Stake)
			nd := &nodes[i]
			switch co.Action {
			case "signal_without_upgrade":
				nd.SignalsWithoutUpgrade, nd.NeverSignals = true, false
			case "withhold":
				nd.SignalsWithoutUpgrade, nd.NeverSignals = false, true
			}
		}
	}
}

// drawOutages puts, for each outage that happens in this run, nodes holding
// its share of stake (drawn at random) offline for its span of views: a
// cloud region down, or a partition cutting them off from the majority.
func (c *Config) drawOutages(rng *rand.Rand, nodes []Node) {
	total := 0.0
	for _, nd := range nodes[:c.Population.Nodes] {
		total += float64(nd.Stake)
	}
	for _, o := range c.Behaviour.Outages {
		if !(rng.Float64() < *o.Probability) {
			continue
		}
		from := c.hoursToViews(o.StartHours)
		to := from + c.hoursToViews(o.Hours)
		held := 0.0
		for _, i := range rng.Perm(c.Population.Nodes) {
			if held >= o.Share*total {
				break
			}
			if nodes[i].OutFrom != nodes[i].OutTo {
				continue // in an earlier outage already
			}
			nodes[i].OutFrom, nodes[i].OutTo = from, to
			held += float64(nodes[i].Stake)
		}
	}
}

// buildTables builds one identity table per epoch in which membership changes.
func (p *Population) buildTables(horizon uint64) error {
	changes := []uint64{0}
	for _, nd := range p.Nodes {
		if nd.Join > 0 {
			changes = append(changes, nd.Join)
		}
		if nd.Leave != never && nd.Leave < horizon {
			changes = append(changes, nd.Leave)
		}
	}
	slices.Sort(changes)
	changes = slices.Compact(changes)
	ids := make([]quorum.Identity, 0, len(p.Nodes))
	for _, e := range changes {
		ids = ids[:0]
		for _, nd := range p.Nodes {
			if nd.Join <= e && e < nd.Leave {
				ids = append(ids, quorum.Identity{NodeID: nd.ID, Role: nd.Role, Stake: nd.Stake})
			}
		}
		table, err := quorum.NewTable(ids)
		if err != nil {
			return fmt.Errorf("population, epoch %d: %w", e, err)
		}
		p.Tables = append(p.Tables, quorum.ScheduleEntry{FromEpoch: e, Table: table})
	}
	s, err := quorum.NewSchedule(p.Tables)
	if err != nil {
		return fmt.Errorf("population: %w", err)
	}
	p.Schedule = s
	return nil
}

// member reports whether the node is in epoch e's identity table.
func (nd *Node) member(e uint64) bool { return nd.Join <= e && e < nd.Leave }

// out reports whether the node is caught in its outage at view v.
func (nd *Node) out(v uint64) bool { return v >= nd.OutFrom && v < nd.OutTo }

// roleAssignment gives node i a role so that counts follow the shares exactly
// (largest remainder), in a fixed order: roles are not a source of noise.
func (c *Config) roleAssignment() []int {
	n := c.Population.Nodes
	counts := make([]int, len(c.Population.Roles))
	type rem struct {
		i int
		r float64
	}
	var rems []rem
	assigned := 0
	for i, r := range c.Population.Roles {
		exact := r.Share * float64(n)
		counts[i] = int(math.Floor(exact))
		assigned += counts[i]
		rems = append(rems, rem{i, exact - math.Floor(exact)})
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; assigned < n; k++ {
		counts[rems[k%len(rems)].i]++
		assigned++
	}
	out := make([]int, 0, n)
	for i, cnt := range counts {
		for range cnt {
			out = append(out, i)
		}
	}
	return out
}

func (c *Config) drawStake(rng *rand.Rand, scale float64) uint64 {
	s := c.Population.Stake
	var v float64
	switch s.Distribution {
	case "uniform":
		v = s.Min + rng.Float64()*(s.Max-s.Min)
	case "pareto":
		v = s.Scale / math.Pow(1-rng.Float64(), 1/s.Shape)
	}
	v *= scale
	// Cap so that a million nodes still sum below 2^64.
	return uint64(math.Max(1, math.Min(math.Round(v), 1e12)))
}

// drawDelay returns hours until the operator upgrades (+Inf: never).
func (c *Config) drawDelay(rng *rand.Rand) float64 {
	d := c.Behaviour.Delay
	if d.Distribution == "lognormal" {
		return d.MedianHours * math.Exp(d.Sigma*rng.NormFloat64())
	}
	// Empirical CDF: invert by linear interpolation; beyond the last point's
	// share the operator never upgrades.
	u := rng.Float64()
	pts := c.delayCDF
	if u < pts[0].share {
		return pts[0].hours
	}
	for i := 1; i < len(pts); i++ {
		if u < pts[i].share {
			a, b := pts[i-1], pts[i]
			return a.hours + (u-a.share)/(b.share-a.share)*(b.hours-a.hours)
		}
	}
	return math.Inf(1)
}

// offline reports whether node i is offline in epoch e (a pure function of
// the node's seed and the epoch, so every mechanism sees the same outages).
func (nd *Node) offline(e uint64, p float64) bool {
	if p == 0 {
		return false
	}
	return unit(splitmix(nd.offlineSeed^(e*0x9e3779b97f4a7c15))) < p
}

// jitter places a node's attestation within the first views of an epoch.
func (nd *Node) jitter(e, span uint64) uint64 {
	if span == 0 {
		return 0
	}
	return splitmix(nd.offlineSeed+e*0xbf58476d1ce4e5b9) % (span + 1)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func unit(x uint64) float64 { return float64(x>>11) / (1 << 53) }
