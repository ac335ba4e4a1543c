package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/testutil"
)

// Four real nodes on 127.0.0.1 with 50 ms views: followers get the
// sequencer's blocks from gossip, sync only filling what gossip missed. On
// main before the fix the sequencer's own block validator ignored every
// block it published ("applied already"), so every block came by sync.
func TestFollowersReceiveBlocksByGossip(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := newCluster(t)
	c.interval, c.api = 50*time.Millisecond, true
	defer c.closeAll()
	ids := []string{"seq", "c2", "c3", "e1"}
	for _, id := range ids {
		c.start(id)
	}
	for _, id := range ids {
		c.waitReady(id)
	}
	// Count from here, once every node is in the mesh: 100 views more.
	before := map[string][2]uint64{}
	for _, id := range ids[1:] {
		before[id] = [2]uint64{c.nodes[id].Received(chain.ViaGossip), c.nodes[id].Received(chain.ViaSync)}
	}
	from, _, _ := c.nodes["seq"].Head().Head()
	testutil.Eventually(t, 30*time.Second, "every follower applies 100 more blocks", func() bool {
		for _, id := range ids[1:] {
			if h, _, _ := c.nodes[id].Head().Head(); h < from+100 {
				return false
			}
		}
		return true
	})
	for _, id := range ids[1:] {
		n := c.nodes[id]
		gossip := n.Received(chain.ViaGossip) - before[id][0]
		sync := n.Received(chain.ViaSync) - before[id][1]
		require.GreaterOrEqual(t, gossip+sync, uint64(100), "%s: blocks applied while counting", id)
		assert.GreaterOrEqual(t, float64(gossip)/float64(gossip+sync), 0.9,
			"%s: %d blocks by gossip, %d by sync", id, gossip, sync)
	}
	// The same figures on /metrics, and none for the sequencer's own blocks.
	fams := scrape(t, apiAddr(t, c.homes["c2"]))
	got, ok := sample(fams, "quorumgate_blocks_received_total", map[string]string{"via": "gossip"})
	require.True(t, ok, "c2 exports quorumgate_blocks_received_total{via=\"gossip\"}")
	assert.GreaterOrEqual(t, got, 90.0)
	_, ok = sample(fams, "quorumgate_blocks_received_total", map[string]string{"via": "sync"})
	assert.True(t, ok, "the via=sync series exists too")
	seq := scrape(t, apiAddr(t, c.homes["seq"]))
	own, _ := sample(seq, "quorumgate_blocks_received_total", map[string]string{"via": "gossip"})
	assert.Zero(t, own, "the sequencer receives no block: it produces them")
}
