package devchain

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/storage"
)

// BenchmarkJoin measures how long a new follower takes to reach the head of
// a running devchain of about 3,000 blocks (1 ms views, a stake deployment
// signaling in every epoch, so blocks carry readiness), from the start of
// its chain and network to its head reaching the sequencer's head of that
// moment: joining by state sync (statesync-ms: a peer's snapshot, verified,
// then the few blocks since) against replaying every block from genesis by
// the sync protocol (replay-ms), on the same chain in the same run. Each
// iteration joins one node each way, on fresh in-memory stores.
func BenchmarkJoin(b *testing.B) {
	const blocks = 3000
	g, keys := devGenesis(b)
	nodes, closeAll := startMeshWith(b, testOptions{interval: time.Millisecond}, g, keys, "seq", "c2")
	defer closeAll()
	seq, c2 := nodes[0], nodes[1]
	epoch := netView{seq.chain}.CurrentEpoch()
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: []string{"consensus"}, Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 100000}
	propose(b, g, keys, c2, p)
	// c2 alone (a third of the consensus stake) signals every epoch: the
	// deployment never locks in, and every epoch's blocks carry readiness.
	testutil.Eventually(b, 120*time.Second, "the chain grows", func() bool {
		attestAll(b, g, keys, []*testNode{c2}, p)
		h, _, _ := seq.chain.Head().Head()
		if h < blocks {
			time.Sleep(5 * time.Millisecond)
		}
		return h >= blocks
	})
	peers := []peer.AddrInfo{seq.net.AddrInfo(), c2.net.AddrInfo()}
	join := func(id string, stateSync bool) time.Duration {
		store, err := storage.Open("store", storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), FS: vfs.NewMem(), Small: true})
		require.NoError(b, err)
		target, _, _ := seq.chain.Head().Head()
		start := time.Now()
		n := startOnWith(b, testOptions{interval: time.Millisecond, stateSync: stateSync}, g, keys, id, peers, store, nil)
		defer n.close()
		testutil.Eventually(b, 300*time.Second, id+" reaches the head", func() bool {
			h, _, ok := n.chain.Head().Head()
			return ok && h >= target
		})
		took := time.Since(start)
		require.NoError(b, n.chain.Err())
		_, joined := store.Base()
		require.Equal(b, stateSync, joined, "%s joined by state sync", id)
		return took
	}
	var synced, replayed time.Duration
	b.ResetTimer()
	for range b.N {
		synced += join("c3", true)
		replayed += join("e1", false)
	}
	b.StopTimer()
	b.ReportMetric(float64(synced.Milliseconds())/float64(b.N), "statesync-ms")
	b.ReportMetric(float64(replayed.Milliseconds())/float64(b.N), "replay-ms")
}
