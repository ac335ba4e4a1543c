package devchain

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain"
)

// BenchmarkBlockPropagation measures a block's way from the sequencer to a
// follower on a 4-node loopback testnet with 50 ms views: the time from the
// block being committed on the sequencer (it reaches the sequencer's own
// finalized stream) to it reaching a follower's finalized stream, applied
// and stored, for 100 blocks per iteration on each of the three followers.
// Target: p99 within one view. It also reports the share of blocks the
// followers got by gossip (the rest came by the sync protocol's poll).
func BenchmarkBlockPropagation(b *testing.B) { benchmarkPropagation(b, false) }

// BenchmarkBlockPropagationSyncOnly is the baseline: followers drop what
// gossip delivers and get every block by the sync protocol's poll, as every
// follower did while the sequencer's own validator ignored the blocks it
// published.
func BenchmarkBlockPropagationSyncOnly(b *testing.B) { benchmarkPropagation(b, true) }

func benchmarkPropagation(b *testing.B, syncOnly bool) {
	const interval, blocks = 50 * time.Millisecond, 100
	g, keys := devGenesis(b)
	var latencies []time.Duration
	var gossip, total uint64
	for range b.N {
		nodes, closeAll := startMeshWith(b, testOptions{interval: interval, syncOnly: syncOnly}, g, keys, "seq", "c2", "c3", "e1")
		head := uint64(1 << 62)
		for _, n := range nodes {
			h, _, _ := n.chain.Head().Head()
			head = min(head, h)
		}
		from := head + 2 // a block in flight now is not measured from its start
		ctx, cancel := context.WithCancel(context.Background())
		arrived := make([]map[uint64]time.Time, len(nodes))
		var wg sync.WaitGroup
		for i, n := range nodes {
			stream, err := n.chain.Finalized(ctx, head) // a stored height: the stream starts there
			require.NoError(b, err)
			arrived[i] = map[uint64]time.Time{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for fb := range stream {
					arrived[i][fb.Height] = time.Now()
					if fb.Height >= from+blocks {
						return
					}
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(blocks*interval + 30*time.Second):
			b.Fatal("the followers did not apply 100 blocks in time")
		}
		cancel()
		for i, n := range nodes[1:] {
			for h := from; h < from+blocks; h++ {
				seq, ok := arrived[0][h]
				got, ok2 := arrived[i+1][h]
				require.True(b, ok && ok2, "height %d reached the sequencer's and %s's stream", h, n.id)
				latencies = append(latencies, got.Sub(seq))
			}
			got := n.chain.Received()
			gossip += got[chain.ViaGossip]
			total += got[chain.ViaGossip] + got[chain.ViaSync]
		}
		closeAll()
	}
	slices.Sort(latencies)
	q := func(f float64) float64 {
		return float64(latencies[int(f*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(interval.Milliseconds()), "view-ms")
	b.ReportMetric(100*float64(gossip)/float64(max(total, 1)), "by-gossip-%")
	b.ReportMetric(0, "ns/op")
}
