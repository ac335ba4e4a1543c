package activation_test

import (
	"fmt"
	"testing"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// benchState is a realistic head: 10,000 nodes in five roles, a stake-mode
// deployment STARTED with a third of the nodes counted this epoch, a
// governance deployment LOCKED_IN, and some history.
func benchState(b *testing.B) (*activation.State, uint64) {
	b.Helper()
	roles := []string{"consensus", "collection", "execution", "verification", "access"}
	ids := make([]quorum.Identity, 10000)
	for i := range ids {
		ids[i] = quorum.Identity{NodeID: fmt.Sprintf("node-%05d", i), Role: roles[i%5], Stake: 1000 + uint64(i)}
	}
	table, err := quorum.NewTable(ids)
	if err != nil {
		b.Fatal(err)
	}
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	if err != nil {
		b.Fatal(err)
	}
	params := &activation.Params{ChainID: "bench", EpochViews: 1000, SafetyViews: 100, Identities: sched}
	s, err := activation.Genesis(params, map[string]string{"protocol": "1.0.0", "cadence": "1.0.0", "execution": "3.2.0"})
	if err != nil {
		b.Fatal(err)
	}
	apply := func(blk activation.Block) {
		var err error
		if s, _, err = activation.Apply(s, blk); err != nil {
			b.Fatal(err)
		}
	}
	p := activation.Proposal{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: roles, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 10}
	g := activation.Proposal{Name: "cadence-1.1", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 5000}
	apply(activation.Block{Height: 0, View: 1, Proposals: []activation.Proposal{p, g}})
	var ready []activation.Readiness
	for i := 0; i < 3333; i++ {
		ready = append(ready, activation.Readiness{Deployment: "protocol-2", Epoch: 0, Node: ids[i].NodeID})
	}
	apply(activation.Block{Height: 1, View: 2, Readiness: ready})
	return s, 2
}

// BenchmarkApplyEmptyBlock: one empty block, state ID included (target ≤ 20 µs).
func BenchmarkApplyEmptyBlock(b *testing.B) {
	s, view := benchState(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		next, _, err := activation.Apply(s, activation.Block{Height: uint64(i) + 2, View: view + 1 + uint64(i%500)})
		if err != nil {
			b.Fatal(err)
		}
		_ = next.ID()
	}
}

// BenchmarkApply1000Attestations: a block carrying 1,000 verified readiness items.
func BenchmarkApply1000Attestations(b *testing.B) {
	s, view := benchState(b)
	ready := make([]activation.Readiness, 1000)
	for i := range ready {
		ready[i] = activation.Readiness{Deployment: "protocol-2", Epoch: 0, Node: fmt.Sprintf("node-%05d", 5000+i)}
	}
	blk := activation.Block{Height: 2, View: view + 1, Readiness: ready}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		next, _, err := activation.Apply(s, blk)
		if err != nil {
			b.Fatal(err)
		}
		_ = next.ID()
	}
	b.ReportMetric(float64(len(ready))*float64(b.N)/b.Elapsed().Seconds(), "attestations/s")
}
