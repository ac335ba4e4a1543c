package sim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// The proof-of-work model (a mechanism with pow = true), after BIP9:
//
//   - A period is an epoch of epoch_views blocks, one per view. Each block's
//     miner is drawn by hash power (a node's stake), and the block signals
//     when its miner signals at that block: upgraded by then, or signalling
//     without upgrading. So the period's count of signalling blocks is a sum
//     of Bernoulli draws, binomial while the signalling hash power holds
//     still; at exactly 1916/2016 of hash power a period reaches 1916 blocks
//     about half the time.
//   - The engine counts the blocks: its identity table for the mechanism has
//     one identity of stake 1 per block of a period, and a period's
//     signalling blocks attest at the period's last block, so the lock-in
//     falls at the period's end and, with delay_epochs = 1, activation one
//     period after the next boundary (BIP9: LOCKED_IN from the next period's
//     first block, ACTIVE one period later).
//   - After activation nobody halts: non-upgraded miners keep mining, and a
//     block of theirs is invalid to upgraded nodes. It starts a chain of its
//     own, which non-upgraded miners extend while it is at least as long as
//     the upgraded chain since the fork; once the upgraded chain is longer,
//     non-upgraded nodes reorganize onto it (it is valid to them) and the
//     split ends. The outcome is the longest such split in the liveness
//     window, in blocks (SplitBlocks): the BIP66 fork of July 2015 was one,
//     six blocks long.

// maxPoWPeriod bounds a pow mechanism's period (blocks drawn one by one).
const maxPoWPeriod = 100_000

// buildSlots makes the block-slot identity schedule when a mechanism is pow.
func (c *Config) buildSlots() {
	c.slots = nil
	if !slices.ContainsFunc(c.Mechanisms, func(m MechanismConfig) bool { return m.PoW }) {
		return
	}
	ids := make([]quorum.Identity, c.Chain.EpochViews)
	for j := range ids {
		ids[j] = quorum.Identity{NodeID: slotID(j), Role: "block", Stake: 1}
	}
	table, err := quorum.NewTable(ids)
	if err != nil {
		panic(fmt.Sprintf("block slots: %v", err)) // distinct IDs of stake 1 always make a table
	}
	s, err := quorum.NewSchedule([]quorum.ScheduleEntry{{FromEpoch: 0, Table: table}})
	if err != nil {
		panic(fmt.Sprintf("block slots: %v", err))
	}
	c.slots = s
}

func slotID(j int) string { return fmt.Sprintf("block%06d", j) }

// powRNG is the block lottery's random source for one run and mechanism: a
// function of the seed, the run and the mechanism's index only.
func (c *Config) powRNG(run int, m *MechanismConfig) *rand.Rand {
	idx := slices.IndexFunc(c.Mechanisms, func(x MechanismConfig) bool { return x.Name == m.Name })
	return rand.New(rand.NewPCG(c.Seed^0x706f775f626c6f63, uint64(run)<<16|uint64(idx)))
}

// stakeEvent adds stake at a view.
type stakeEvent struct {
	view  uint64
	stake uint64
}

// stakeBy returns the stake of epoch e's members that count (count(i)) and
// are so at view from, and the views in (from, to) at which more join them
// (at[i], sorted).
func stakeBy(pop *Population, e, from, to uint64, count func(i int) bool, at func(i int) uint64) (uint64, []stakeEvent) {
	base := uint64(0)
	var evs []stakeEvent
	for i := range pop.Nodes {
		nd := &pop.Nodes[i]
		if !nd.member(e) || !count(i) {
			continue
		}
		switch v := at(i); {
		case v <= from:
			base += nd.Stake
		case v < to:
			evs = append(evs, stakeEvent{v, nd.Stake})
		}
	}
	slices.SortFunc(evs, func(a, b stakeEvent) int { return cmp.Compare(a.view, b.view) })
	return base, evs
}

// signalBlocks draws period e's blocks, counts those that signal, and feeds
// the engine that many slot attestations at the period's last counted block.
func (c *Config) signalBlocks(pop *Population, upgrade []uint64, e uint64, rng *rand.Rand, apply func(activation.Block) error) error {
	L := c.Chain.EpochViews
	start := e * L
	last := min(start+L-1, start+L-c.Chain.SafetyViews) // the cutoff: later blocks cannot lock in
	total := float64(pop.tableAt(e).TotalStake())
	signals := func(i int) bool { return !pop.Nodes[i].NeverSignals }
	from := func(i int) uint64 {
		if pop.Nodes[i].SignalsWithoutUpgrade {
			return 0
		}
		return upgrade[i]
	}
	up, evs := stakeBy(pop, e, start, last+1, signals, from)
	k := 0
	for v, n := start, 0; v <= last; v++ {
		for ; n < len(evs) && evs[n].view <= v; n++ {
			up += evs[n].stake
		}
		if rng.Float64()*total < float64(up) {
			k++
		}
	}
	if k == 0 {
		return nil
	}
	rs := make([]activation.Readiness, k)
	for j := range rs {
		rs[j] = activation.Readiness{Deployment: "release", Epoch: e, Node: slotID(j), IndexHint: j + 1}
	}
	return apply(activation.Block{View: last, Readiness: rs})
}

// measureSplit plays the liveness window after activation block by block:
// each block's miner drawn by hash power, upgraded or not at that block,
// and records the longest chain of non-upgraded blocks (SplitBlocks).
func (c *Config) measureSplit(out *Outcome, pop *Population, upgrade []uint64, rng *rand.Rand) {
	L := c.Chain.EpochViews
	act := out.ActivationView
	end := act + c.hoursToViews(c.LivenessWindowHours)
	branch, upgradedSince := 0, 0 // the current split's blocks, and the upgraded chain's since the fork
	all := func(int) bool { return true }
	for e := act / L; e*L < end; e++ {
		from, to := max(act, e*L), min(end, (e+1)*L)
		total := float64(pop.tableAt(e).TotalStake())
		up, evs := stakeBy(pop, e, from, to, all, func(i int) uint64 { return upgrade[i] })
		for v, n := from, 0; v < to; v++ {
			for ; n < len(evs) && evs[n].view <= v; n++ {
				up += evs[n].stake
			}
			if rng.Float64()*total >= float64(up) { // a non-upgraded miner's block
				branch++
				out.SplitBlocks = max(out.SplitBlocks, branch)
				continue
			}
			if branch > 0 {
				if upgradedSince++; upgradedSince > branch {
					branch, upgradedSince = 0, 0 // the split is abandoned: non-upgraded nodes reorganize
				}
			}
		}
	}
}
