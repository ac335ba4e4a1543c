package testnet

import (
	mrand "math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// planDemo is a demo of n nodes whose processes are never started: enough
// for planUpgrades and nextRound.
func planDemo(n int, engine, mode string) *demo {
	d := &demo{o: DemoOptions{Nodes: n, Engine: engine, Mode: mode, EpochViews: 50}, rng: mrand.New(mrand.NewPCG(3, 7))}
	for _, s := range nodesOf(engine, n) {
		d.procs = append(d.procs, &proc{id: s.id, role: s.role, stake: s.stake})
	}
	return d
}

// drain plays every round nextRound gives, the deployment not ACTIVE until
// only late operators are left, and returns the rounds.
func drain(t *testing.T, d *demo, u *upgrades) [][]*proc {
	t.Helper()
	var rounds [][]*proc
	for u.next < len(u.order) {
		round := d.nextRound(u, false)
		if len(round) == 0 {
			round = d.nextRound(u, true) // only the late operators are left: the deployment is ACTIVE now
		}
		require.NotEmpty(t, round, "no round after %d of %d operators", u.next, len(u.order))
		rounds = append(rounds, round)
		u.next += len(round)
	}
	return rounds
}

// TestSmallDemoUpgradesOneAtATime: up to largeTestnet nodes the operators'
// order is the seeded permutation and each round is one operator, as the
// demo always did (the tests and the README's excerpts depend on it).
func TestSmallDemoUpgradesOneAtATime(t *testing.T) {
	for _, engine := range []string{engineDevchain, engineCometBFT} {
		for _, mode := range []string{"stake", "governance"} {
			d := planDemo(9, engine, mode)
			want := mrand.New(mrand.NewPCG(3, 7)).Perm(9)
			u := d.planUpgrades()
			assert.Equal(t, 1, u.batch, "%s %s", engine, mode)
			if u.victim == nil {
				assert.Equal(t, want, u.order, "%s %s: the drawn order", engine, mode)
			}
			for _, r := range drain(t, d, u) {
				assert.Len(t, r, 1, "%s %s", engine, mode)
			}
		}
	}
}

// TestLargeDemoUpgradesInRounds: past largeTestnet nodes every operator
// upgrades exactly once, in about nine rounds of at most a ninth of the
// nodes; late operators come last and only once the deployment is ACTIVE;
// on CometBFT no round stops several validators with a third of the voting
// power, counting the validator the stake demo SIGKILLs, which is in no
// round.
func TestLargeDemoUpgradesInRounds(t *testing.T) {
	for _, n := range []int{10, 30, 100, 200} {
		for _, engine := range []string{engineDevchain, engineCometBFT} {
			for _, mode := range []string{"stake", "governance"} {
				d := planDemo(n, engine, mode)
				u := d.planUpgrades()
				require.Equal(t, (n+8)/9, u.batch, "%d %s %s", n, engine, mode)
				if mode == "governance" {
					require.Len(t, u.late, 2)
					for i := range u.late {
						assert.False(t, d.carriesChain(d.procs[i]), "%d %s: %s is late, and the chain stands on it", n, engine, d.procs[i].id)
					}
					for _, i := range u.order[len(u.order)-2:] {
						assert.True(t, u.late[i], "%d %s: the late operators go last: %v", n, engine, u.order)
					}
					before := d.nextRound(&upgrades{order: u.order, late: u.late, batch: u.batch, next: len(u.order) - 2}, false)
					assert.Empty(t, before, "%d %s: a late operator upgraded before the activation", n, engine)
					// The nodes the chain stands on come first, so that the
					// nodes that halt at the activation view are others.
					first := true
					for _, i := range u.order {
						carries := d.carriesChain(d.procs[i])
						assert.False(t, carries && !first, "%d %s: %s, which the chain stands on, after other operators: %v", n, engine, d.procs[i].id, u.order)
						first = first && carries
					}
				}
				seen := map[string]int{}
				rounds := drain(t, d, u)
				for _, r := range rounds {
					assert.LessOrEqual(t, len(r), u.batch)
					down, validators := uint64(0), 0
					if u.victim != nil {
						down = u.victim.stake
					}
					for _, p := range r {
						seen[p.id]++
						if p.role == "consensus" {
							down += p.stake
							validators++
						}
					}
					if engine == engineCometBFT && validators > 1 {
						assert.Less(t, 3*down, d.votingPower(), "%d %s: a round stops a third of the voting power", n, mode)
					}
				}
				want := len(d.procs)
				if u.victim != nil {
					want--
					assert.Zero(t, seen[u.victim.id], "the SIGKILLed validator restarts after the activation, in no round")
				}
				assert.Len(t, seen, want, "%d %s %s: every operator upgrades", n, engine, mode)
				for id, k := range seen {
					assert.Equal(t, 1, k, "%s upgraded %d times", id, k)
				}
				assert.LessOrEqual(t, len(rounds), 9+4, "%d %s %s: %d rounds", n, engine, mode, len(rounds))
				assert.True(t, slices.IndexFunc(rounds, func(r []*proc) bool { return len(r) > 1 }) >= 0,
					"%d %s %s: no round upgraded operators side by side", n, engine, mode)
			}
		}
	}
}
