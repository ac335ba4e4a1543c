package activation_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/testutil"
)

// benchState is a realistic head: 10,000 nodes in five roles, a stake-mode
// deployment STARTED with a third of the nodes counted this epoch, a
// governance deployment LOCKED_IN, and some history (testutil.BenchChain).
func benchState(b *testing.B) (*activation.State, uint64) {
	b.Helper()
	c := testutil.NewBenchChain(b)
	s, err := activation.Genesis(c.Params, c.Versions)
	require.NoError(b, err)
	for _, blk := range []activation.Block{{Height: 0, View: 1, Proposals: c.Proposals}, {Height: 1, View: 2, Readiness: c.Ready}} {
		s, _, err = activation.Apply(s, blk)
		require.NoError(b, err)
	}
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
