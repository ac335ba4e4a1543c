package replay

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// randomScenario builds a small chain full of edge cases: duplicate names,
// bad versions, busy components, windows at the edges, unknown signers,
// wrong epochs, identity changes, missing views.
func randomScenario(rng *rand.Rand) *Scenario {
	L := uint64(3 + rng.IntN(28))
	delta := uint64(rng.IntN(int(L)))
	roles := []string{"consensus", "execution", "verification"}
	var steps []quorum.ScheduleEntry
	from := uint64(0)
	for i := 0; i < 1+rng.IntN(3); i++ {
		var ids []quorum.Identity
		for n := 0; n < 1+rng.IntN(7); n++ {
			stake := uint64(rng.IntN(100))
			if rng.IntN(20) == 0 {
				stake = 1<<62 + uint64(rng.IntN(1000))
			}
			ids = append(ids, quorum.Identity{NodeID: fmt.Sprintf("n%d", rng.IntN(9)), Role: roles[rng.IntN(3)], Stake: stake})
		}
		ids = slices.CompactFunc(slices.SortedFunc(slices.Values(ids), func(a, b quorum.Identity) int {
			return cmp.Compare(a.NodeID, b.NodeID)
		}), func(a, b quorum.Identity) bool { return a.NodeID == b.NodeID })
		table, err := quorum.NewTable(ids)
		if err != nil {
			panic(err)
		}
		steps = append(steps, quorum.ScheduleEntry{FromEpoch: from, Table: table})
		from += 1 + uint64(rng.IntN(3))
	}
	sched, err := quorum.NewSchedule(steps)
	if err != nil {
		panic(err)
	}
	epochs := uint64(2 + rng.IntN(7))
	sc := &Scenario{
		Params:    &activation.Params{ChainID: "prop", EpochViews: L, SafetyViews: delta, Identities: sched},
		Versions:  map[string]string{"protocol": "1.0.0", "cadence": "1.2.0"},
		UntilView: epochs*L + uint64(rng.IntN(int(L))),
	}
	for v := uint64(1); v <= sc.UntilView; v++ {
		if rng.IntN(12) == 0 {
			sc.Missing = append(sc.Missing, v)
		}
	}
	names := []string{"a", "b", "c", "d", "e", "f"}
	// Names the rule refuses, and its edges it accepts.
	oddNames := []string{"", "../x", ".hidden", "-flag", "a/b", "a b", "é", strings.Repeat("n", 65), strings.Repeat("n", 64), "A_1.2-z"}
	components := []string{"protocol", "cadence", "execution"}
	versions := []string{"2.0.0", "1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "2.0.0-rc.2", "1.0.0+b", "v3", "3", "0.9.0", "10.0.0-alpha.beta", "1.2.0-1"}
	thresholds := []quorum.Threshold{{Num: 2, Den: 3}, {Num: 2, Den: 3}, {Num: 1, Den: 2}, {Num: 3, Den: 4}, {Num: 0, Den: 1}, {Num: 5, Den: 5}, {Num: 1, Den: 100}}
	nodeName := func() string { return fmt.Sprintf("n%d", rng.IntN(10)) }
	for v := uint64(0); v <= sc.UntilView; v++ {
		if sc.isMissing(v) || rng.IntN(4) != 0 {
			continue
		}
		b := Block{View: v}
		e := v / L
		for range rng.IntN(3) {
			if rng.IntN(3) != 0 {
				continue
			}
			p := activation.Proposal{Name: names[rng.IntN(len(names))], Component: components[rng.IntN(3)],
				Version: versions[rng.IntN(len(versions))], Mode: activation.Stake}
			if rng.IntN(25) == 0 {
				p.Name = oddNames[rng.IntN(len(oddNames))]
			}
			if rng.IntN(3) == 0 {
				p.Mode = activation.Governance
				p.ActivationView = v + uint64(rng.IntN(int(3*L)))
			} else {
				p.Threshold = thresholds[rng.IntN(len(thresholds))]
				p.StartEpoch = e + uint64(rng.IntN(3)) - min(e, uint64(rng.IntN(2)))
				p.TimeoutEpoch = p.StartEpoch + uint64(rng.IntN(4)) - min(p.StartEpoch, uint64(rng.IntN(2)))
				if rng.IntN(3) == 0 {
					p.DelayEpochs = uint64(rng.IntN(3))
				}
				if rng.IntN(4) == 0 {
					p.MinActivationEpoch = uint64(rng.IntN(8))
				}
				for _, r := range append(roles, "gateway") {
					if rng.IntN(4) == 0 {
						p.Roles = append(p.Roles, r)
					}
				}
			}
			b.Proposals = append(b.Proposals, p)
		}
		if rng.IntN(10) == 0 {
			b.Cancels = append(b.Cancels, names[rng.IntN(len(names))])
		}
		for range rng.IntN(6) {
			epoch := e
			if rng.IntN(10) == 0 {
				epoch = e + 1 - min(1, uint64(rng.IntN(3)))
			}
			b.Readiness = append(b.Readiness, activation.Readiness{Deployment: names[rng.IntN(len(names))], Epoch: epoch, Node: nodeName()})
		}
		sc.Blocks = append(sc.Blocks, b)
	}
	return sc
}

func TestEngineMatchesReference(t *testing.T) {
	cases := 3000
	if testing.Short() {
		cases = 300
	}
	stats := map[activation.Status]int{}
	reasons := map[activation.Reason]int{}
	for seed := range cases {
		rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
		sc := randomScenario(rng)
		ref := runReference(sc)

		var full, skip []activation.Event
		resFull, err := sc.Run(RunOptions{EveryView: true}, func(e activation.Event) { full = append(full, e) })
		require.NoError(t, err, "seed %d", seed)
		resSkip, err := sc.Run(RunOptions{}, func(e activation.Event) { skip = append(skip, e) })
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, ref.events, full, "seed %d: engine (actual) and reference (expected) disagree", seed)
		require.Equal(t, full, skip, "seed %d: skipping quiet blocks changed the events", seed)
		require.Equal(t, resFull.Final.ID(), resSkip.Final.ID(), "seed %d: skipping quiet blocks changed the state ID", seed)
		compareFinal(t, seed, resFull.Final, ref)
		// The canonical encoding round-trips to the same state.
		back, err := activation.DecodeState(sc.Params, resFull.Final.Encode())
		require.NoError(t, err, "seed %d: decode of the final state", seed)
		require.Equal(t, resFull.Final.ID(), back.ID(), "seed %d: the decoded final state", seed)
		for _, d := range resFull.Final.Deployments() {
			stats[d.Status]++
		}
		for _, e := range full {
			if r, ok := e.(activation.Rejection); ok {
				reasons[r.Reason]++
			}
		}
	}
	// The generator must reach every outcome, or the comparison proves little.
	for s := activation.Defined; s <= activation.Canceled; s++ {
		assert.NotZero(t, stats[s], "no random scenario ended with a deployment %s", s)
	}
	for _, r := range []activation.Reason{activation.BadName, activation.DuplicateName, activation.BadVersion, activation.NotAnUpgrade,
		activation.ComponentBusy, activation.ActivationTooSoon, activation.BadThreshold, activation.BadWindow,
		activation.TooLate, activation.UnknownDeployment, activation.NotSignaling, activation.WrongEpoch,
		activation.UnknownSigner, activation.RoleNotRequired, activation.Duplicate} {
		assert.NotZero(t, reasons[r], "no random scenario produced the rejection %q", r)
	}
	t.Logf("final statuses %v; rejections %v", stats, reasons)
}

func compareFinal(t *testing.T, seed int, s *activation.State, ref *reference) {
	t.Helper()
	// What a deployment ends as, side by side for engine and reference.
	type outcome struct {
		Name          string
		Status        activation.Status
		Since         uint64
		HasActivation bool
		Activation    uint64
	}
	var got, want []outcome
	for _, d := range s.Deployments() {
		got = append(got, outcome{d.Name, d.Status, d.Since, d.HasActivation, d.ActivatesAt})
	}
	for _, r := range ref.deps {
		want = append(want, outcome{r.p.Name, r.status, r.since, r.hasAct, r.activation})
	}
	require.Equal(t, want, got, "seed %d: deployments (expected: reference)", seed)
	for c, h := range ref.versions {
		require.Equal(t, h, s.History(c), "seed %d: history of %s (expected: reference)", seed, c)
	}
	require.Len(t, s.Components(), len(ref.versions), "seed %d: components", seed)
}

func TestReplayIsDeterministic(t *testing.T) {
	for seed := range 50 {
		var ids [2][32]byte
		for i := range ids {
			sc := randomScenario(rand.New(rand.NewPCG(uint64(seed), 1)))
			res, err := sc.Run(RunOptions{}, func(activation.Event) {})
			require.NoError(t, err, "seed %d", seed)
			ids[i] = res.Final.ID()
		}
		require.Equal(t, ids[0], ids[1], "seed %d: same blocks, different state IDs", seed)
	}
}
