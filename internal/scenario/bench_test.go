package scenario

import (
	"fmt"
	"testing"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// The naive baselines for activation's Apply benchmarks: the reference
// implementation of the property test (rescan everything every block) on the
// same state as activation's benchState: 10,000 nodes, a STARTED stake
// deployment with 3,333 counted, a LOCKED_IN governance deployment.
func referenceBenchState(b *testing.B) (*reference, []quorum.Identity) {
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
	sc := &Scenario{Params: &activation.Params{ChainID: "bench", EpochViews: 1000, SafetyViews: 100, Identities: sched},
		Versions: map[string]string{"protocol": "1.0.0", "cadence": "1.0.0", "execution": "3.2.0"}, UntilView: 0}
	r := runReference(sc)
	p := activation.Proposal{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: roles, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 10}
	g := activation.Proposal{Name: "cadence-1.1", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 5000}
	r.block(1, 1, Block{View: 1, Proposals: []activation.Proposal{p, g}})
	var ready []activation.Readiness
	for i := 0; i < 3333; i++ {
		ready = append(ready, activation.Readiness{Deployment: "protocol-2", Epoch: 0, Node: ids[i].NodeID})
	}
	r.block(2, 2, Block{View: 2, Readiness: ready})
	return r, ids
}

func BenchmarkReferenceApplyEmptyBlock(b *testing.B) {
	r, _ := referenceBenchState(b)
	b.ResetTimer()
	for i := range b.N {
		r.block(3+uint64(i%500), uint64(i)+3, Block{})
	}
}

func BenchmarkReferenceApply1000Attestations(b *testing.B) {
	r, ids := referenceBenchState(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// A fresh copy of the tally so every iteration counts 1,000 new signers.
		for _, d := range r.deps {
			for k := range d.signed {
				if k[1] >= "node-05000" {
					delete(d.signed, k)
				}
			}
		}
		ready := make([]activation.Readiness, 1000)
		for i := range ready {
			ready[i] = activation.Readiness{Deployment: "protocol-2", Epoch: 0, Node: ids[5000+i].NodeID}
		}
		b.StartTimer()
		r.block(3, 3, Block{View: 3, Readiness: ready})
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "attestations/s")
}
