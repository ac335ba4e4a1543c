package p2p

import (
	"context"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/signal"
)

func TestGossipConfigDefaults(t *testing.T) {
	// Zero: p2p's defaults, which gossipsub accepts.
	g := GossipConfig{}.withDefaults()
	assert.Equal(t, DefaultGossip(), g)
	require.NoError(t, g.check())
	p := g.pubsubParams()
	assert.Equal(t, []int{8, 6, 12, 8}, []int{p.D, p.Dlo, p.Dhi, p.Dlazy})
	assert.Equal(t, time.Second, p.HeartbeatInterval, "the library's heartbeat: a faster one cost idle CPU for nothing measured")
	assert.Equal(t, pubsub.GossipSubHistoryLength, p.HistoryLength)

	// A faster heartbeat from config: what is counted in heartbeats is scaled.
	g = GossipConfig{Heartbeat: 200 * time.Millisecond}.withDefaults()
	require.NoError(t, g.check())
	p = g.pubsubParams()
	assert.Equal(t, 200*time.Millisecond, p.HeartbeatInterval)
	// Counted in heartbeats, scaled to keep the library's durations.
	assert.Equal(t, 25, p.HistoryLength, "5 s of message cache")
	assert.Equal(t, pubsub.GossipSubHistoryGossip, p.HistoryGossip, "IHAVE of the last 3 heartbeats")
	assert.Equal(t, uint64(300), p.OpportunisticGraftTicks, "an opportunistic graft every 60 s")

	// A size-dependent setting from config keeps the other defaults.
	g = GossipConfig{D: 10, Dhi: 16}.withDefaults()
	assert.Equal(t, GossipConfig{D: 10, Dlo: 6, Dhi: 16, Dlazy: 8, Heartbeat: time.Second}, g)
	require.NoError(t, g.check())

	// Small meshes (a 4-node testnet): Dout and Dscore follow D down.
	g = GossipConfig{D: 3, Dlo: 2, Dhi: 4}.withDefaults()
	require.NoError(t, g.check())
	p = g.pubsubParams()
	assert.Equal(t, 1, p.Dout)
	assert.Equal(t, 3, p.Dscore)

	// The library's own, for the benchmark's baseline.
	p = GossipConfig{D: 10, LibraryDefaults: true}.withDefaults().pubsubParams()
	assert.Equal(t, pubsub.DefaultGossipSubParams(), p)
}

func TestGossipConfigRejectsNonsense(t *testing.T) {
	for name, tc := range map[string]struct {
		g    GossipConfig
		want string
	}{
		"D above Dhi":    {GossipConfig{D: 13}, "Dlo ≤ D ≤ Dhi, got Dlo 6, D 13, Dhi 12"},
		"Dlo above D":    {GossipConfig{Dlo: 9}, "Dlo ≤ D ≤ Dhi, got Dlo 9, D 8, Dhi 12"},
		"D of 1":         {GossipConfig{D: 1, Dlo: 1, Dhi: 1}, "need 2 ≤ D"},
		"heartbeat 1 ms": {GossipConfig{Heartbeat: time.Millisecond}, "gossip heartbeat 1ms is below 10ms"},
	} {
		err := tc.g.withDefaults().check()
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
	// Start refuses it too, before opening a host.
	f := newFixture(t, 4)
	view := testView{epoch: 1, table: f.table, signaling: map[signal.DeploymentID]bool{dep: true}}
	_, err := Start(context.Background(), Config{ChainID: "ingest", Identity: newHostKey(t), View: view,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Gossip: GossipConfig{D: 20}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gossip mesh degrees")
}
