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
// wrong epochs, identity changes, missing views; and parameters: some
// declared, with lead times around Δ and the epoch length, changed by
// proposals with undeclared keys, values of the wrong type or form, out of
// bounds or already active, busy keys and activation views at the lead
// time's edge.
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
	// Stake lock-ins are favoured at one offset into an epoch (up to the
	// cutoff), and lead times declared to end at the next boundary from
	// there or one view later, so the lead rule is tested at its edge.
	lastOffset := min(L-1, L-delta) // the cutoff's, or the epoch's last view's
	edge := uint64(rng.IntN(int(lastOffset) + 1))
	if rng.IntN(3) == 0 {
		edge = lastOffset // where Δ+1 and Δ views of lead differ
	}
	sc.Params.Declared = randomParams(rng, L, delta, L-edge)
	// Readiness of every node, planned for a stake proposal in the first
	// epoch it can lock in, so that lock-ins are frequent.
	planned := map[uint64][]string{}
	plan := func(p activation.Proposal, v uint64) {
		for ep := max(p.StartEpoch, v/L); ep < p.TimeoutEpoch; ep++ {
			lo, hi := max(v+1, ep*L), ep*L+lastOffset
			if lo > hi {
				continue
			}
			w := ep*L + edge
			if w < lo || rng.IntN(2) == 0 {
				w = lo + uint64(rng.IntN(int(hi-lo+1)))
			}
			planned[w] = append(planned[w], p.Name)
			return
		}
	}
	names := []string{"a", "b", "c", "d", "e", "f"}
	// Parameter changes take their own names (so that they do not use up
	// the version upgrades'); cancels and readiness name either.
	changeNames := []string{"p", "q", "r", "s"}
	anyName := func() string { return slices.Concat(names, changeNames)[rng.IntN(len(names)+len(changeNames))] }
	// Names the rule refuses, and its edges it accepts.
	oddNames := []string{"", "../x", ".hidden", "-flag", "a/b", "a b", "é", strings.Repeat("n", 65), strings.Repeat("n", 64), "A_1.2-z"}
	components := []string{"protocol", "cadence", "execution"}
	versions := []string{"2.0.0", "1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "2.0.0-rc.2", "1.0.0+b", "v3", "3", "0.9.0", "10.0.0-alpha.beta", "1.2.0-1"}
	thresholds := []quorum.Threshold{{Num: 2, Den: 3}, {Num: 2, Den: 3}, {Num: 1, Den: 2}, {Num: 3, Den: 4}, {Num: 0, Den: 1}, {Num: 5, Den: 5}, {Num: 1, Den: 100}}
	nodeName := func() string { return fmt.Sprintf("n%d", rng.IntN(10)) }
	for v := uint64(0); v <= sc.UntilView; v++ {
		bursts := planned[v]
		if sc.isMissing(v) || rng.IntN(4) != 0 && len(bursts) == 0 {
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
			// The lead a governance activation view must exceed v by.
			lead := delta
			if rng.IntN(2) == 0 {
				p.Name, p.Component, p.Version = changeNames[rng.IntN(len(changeNames))], "", ""
				p.Param, p.Value = paramNames[rng.IntN(len(paramNames))], paramValues[rng.IntN(len(paramValues))]
				if declared := sc.Params.Declared; len(declared) > 0 && rng.IntN(4) != 0 {
					p.Param = declared[rng.IntN(len(declared))].Name
				}
				if d, ok := sc.Params.Param(p.Param); ok {
					lead = max(lead, d.MinLeadViews)
					switch rng.IntN(6) {
					case 0:
						p.Value = d.Value // not an upgrade, unless a change is pending
					case 1, 2, 3:
						valid := validValues[d.Name]
						p.Value = valid[rng.IntN(len(valid))]
					}
				}
			}
			if rng.IntN(25) == 0 {
				p.Name = oddNames[rng.IntN(len(oddNames))]
			}
			if rng.IntN(3) == 0 {
				p.Mode = activation.Governance
				p.ActivationView = v + uint64(rng.IntN(int(3*L)))
				if rng.IntN(3) == 0 {
					p.ActivationView = v + lead + uint64(rng.IntN(2)) // too soon, and just late enough
				}
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
				if rng.IntN(4) != 0 {
					plan(p, v)
				}
			}
			b.Proposals = append(b.Proposals, p)
		}
		if rng.IntN(10) == 0 {
			b.Cancels = append(b.Cancels, anyName())
		}
		for range rng.IntN(6) {
			epoch := e
			if rng.IntN(10) == 0 {
				epoch = e + 1 - min(1, uint64(rng.IntN(3)))
			}
			b.Readiness = append(b.Readiness, activation.Readiness{Deployment: anyName(), Epoch: epoch, Node: nodeName()})
		}
		if rng.IntN(8) == 0 {
			bursts = append(bursts, anyName())
		}
		// A burst: every node of the epoch ready for one deployment, which
		// locks it in if it is signaling and the cutoff has not passed.
		for _, name := range bursts {
			table := sched.TableAt(e)
			for _, i := range rng.Perm(table.Len()) {
				b.Readiness = append(b.Readiness, activation.Readiness{Deployment: name, Epoch: e, Node: table.At(i).NodeID})
			}
		}
		sc.Blocks = append(sc.Blocks, b)
	}
	return sc
}

// The parameters a random scenario may declare and propose (one is never
// declared), and values for them: canonical and not, in bounds and not, of
// every type.
var (
	paramNames  = []string{"timeout", "limit", "flag", "motd", "nope"}
	paramValues = []string{"100", "10", "9", "1000", "1001", "0", "5", "007", "-1", "+5", "1e3", " 5", "18446744073709551615",
		"18446744073709551616", "true", "false", "TRUE", "", "hello", "h\xffllo", strings.Repeat("é", 512), strings.Repeat("x", 1025)}
	// validValues are values each declared parameter accepts (a change, or
	// its genesis value).
	validValues = map[string][]string{
		"timeout": {"10", "200", "1000", "100"},
		"limit":   {"1", "7", "18446744073709551615", "0"},
		"flag":    {"true", "false"},
		"motd":    {"hello", strings.Repeat("é", 512), ""},
	}
)

// randomParams declares some of paramNames, with lead times at the edges of
// Δ, the epoch length L and edgeLead (a lead that ends exactly at the
// boundary after the favoured lock-in).
func randomParams(rng *rand.Rand, L, delta, edgeLead uint64) []activation.ParamDecl {
	lo, hi := uint64(10), uint64(1000)
	pool := []activation.ParamDecl{
		{Name: "timeout", Type: activation.ParamUint, Min: &lo, Max: &hi, Value: "100"},
		{Name: "limit", Type: activation.ParamUint, Value: "0"},
		{Name: "flag", Type: activation.ParamBool, Value: "false"},
		{Name: "motd", Type: activation.ParamString, Value: ""},
	}
	leads := []uint64{1, delta, delta + 1, L - 1, L, L + 1, 2 * L, 1 + uint64(rng.IntN(int(3*L))), edgeLead, edgeLead, edgeLead + 1}
	var decls []activation.ParamDecl
	for _, d := range pool {
		if rng.IntN(3) != 0 {
			d.MinLeadViews = max(1, leads[rng.IntN(len(leads))])
			decls = append(decls, d)
		}
	}
	return activation.SortParamDecls(decls)
}

func TestEngineMatchesReference(t *testing.T) {
	cases := 3000
	if testing.Short() {
		cases = 300
	}
	stats := map[activation.Status]int{}
	reasons := map[activation.Reason]int{}
	paramReasons := map[activation.Reason]int{}
	paramActive := map[activation.Mode]int{}
	leadMoved := 0
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
		for r, n := range ref.paramReasons {
			paramReasons[r] += n
		}
		for m, n := range ref.paramActive {
			paramActive[m] += n
		}
		leadMoved += ref.leadMoved
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
		activation.UnknownSigner, activation.RoleNotRequired, activation.Duplicate,
		activation.UnknownParameter, activation.BadValue, activation.OutOfBounds} {
		assert.NotZero(t, reasons[r], "no random scenario produced the rejection %q", r)
	}
	// And every rule of a parameter change, with both modes.
	for _, r := range []activation.Reason{activation.BadName, activation.DuplicateName, activation.UnknownParameter, activation.BadValue,
		activation.OutOfBounds, activation.NotAnUpgrade, activation.ComponentBusy, activation.ActivationTooSoon,
		activation.BadThreshold, activation.BadWindow} {
		assert.NotZero(t, paramReasons[r], "no random parameter change was rejected with %q", r)
	}
	for _, m := range []activation.Mode{activation.Stake, activation.Governance} {
		assert.NotZero(t, paramActive[m], "no random %v parameter change activated", m)
	}
	assert.NotZero(t, leadMoved, "no random stake parameter change had its activation moved by the lead time")
	t.Logf("final statuses %v; rejections %v; parameter changes rejected %v, activated %v, moved by the lead %d",
		stats, reasons, paramReasons, paramActive, leadMoved)
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
	for name, h := range ref.params {
		require.Equal(t, h, s.ParamHistory(name), "seed %d: history of parameter %s (expected: reference)", seed, name)
	}
	require.Len(t, s.ParamNames(), len(ref.params), "seed %d: parameters", seed)
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
