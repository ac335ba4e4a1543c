package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
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
	// NaturalDelay is when (hours after the release) the operator upgrades
	// with no deadline pressing; +Inf for never.
	NaturalDelay float64
	// Hurry is the node's draw for deadline behaviour: it hurries when
	// Hurry < hurry_share; HurryAt in [0,1) places it in the hurry window.
	Hurry, HurryAt float64
	// SignalsWithoutUpgrade: attests from the release on, never upgrades.
	SignalsWithoutUpgrade bool
	// NeverSignals: upgrades but never attests.
	NeverSignals bool
	// offlineSeed drives the per-epoch offline draws.
	offlineSeed uint64
}

// Population is the nodes of one run, shared by every mechanism of that run
// (common random numbers: the comparison sees the same operators).
type Population struct {
	Nodes []Node
	Table *quorum.Table
}

func (c *Config) drawPopulation(rng *rand.Rand) (*Population, error) {
	n := c.Population.Nodes
	nodes := make([]Node, n)
	if c.stakeTable != nil {
		for i, row := range c.stakeTable {
			nodes[i] = Node{ID: row.id, Role: row.role, Stake: row.stake}
		}
	} else {
		roles := c.roleAssignment()
		for i := range nodes {
			r := c.Population.Roles[roles[i]]
			nodes[i] = Node{ID: fmt.Sprintf("n%06d", i), Role: r.Name, Stake: c.drawStake(rng, r.StakeScale)}
		}
	}
	b := c.Behaviour
	for i := range nodes {
		nd := &nodes[i]
		nd.NaturalDelay = c.drawDelay(rng)
		nd.Hurry, nd.HurryAt = rng.Float64(), rng.Float64()
		kind := rng.Float64()
		nd.SignalsWithoutUpgrade = kind < b.SignalWithoutUpgrade
		nd.NeverSignals = !nd.SignalsWithoutUpgrade && kind < b.SignalWithoutUpgrade+b.UpgradeWithoutSignal
		nd.offlineSeed = rng.Uint64()
	}
	ids := make([]quorum.Identity, n)
	for i, nd := range nodes {
		ids[i] = quorum.Identity{NodeID: nd.ID, Role: nd.Role, Stake: nd.Stake}
	}
	table, err := quorum.NewTable(ids)
	if err != nil {
		return nil, fmt.Errorf("population: %w", err)
	}
	// Keep nodes in table order, so index i is the same node everywhere.
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	return &Population{Nodes: nodes, Table: table}, nil
}

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
