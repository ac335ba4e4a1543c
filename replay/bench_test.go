package replay

import (
	"testing"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
)

// The naive baselines for activation's Apply benchmarks: the reference
// implementation of the property test (rescan everything every block) on the
// same chain as activation's benchState (testutil.BenchChain): 10,000 nodes,
// a STARTED stake deployment with 3,333 counted, a LOCKED_IN governance
// deployment.
func referenceBenchState(b *testing.B) (*reference, []quorum.Identity) {
	c := testutil.NewBenchChain(b)
	r := runReference(&Scenario{Params: c.Params, Versions: c.Versions, UntilView: 0})
	r.block(1, 1, Block{View: 1, Proposals: c.Proposals})
	r.block(2, 2, Block{View: 2, Readiness: c.Ready})
	return r, c.Nodes
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
