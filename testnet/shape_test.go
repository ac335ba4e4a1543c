package testnet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/node"
)

// TestNodesOf: small testnets keep the nine names the README shows; a
// testnet of MaxNodes has unique names in the role-letter scheme, and at
// 100 nodes 21 or more consensus nodes (CometBFT's validators), none with a
// third of the consensus stake.
func TestNodesOf(t *testing.T) {
	for _, eng := range []string{engineDevchain, engineCometBFT} {
		assert.Equal(t, nodesOf(eng, 9)[:7], nodesOf(eng, 7), eng)
		big := nodesOf(eng, MaxNodes)
		require.Len(t, big, MaxNodes)
		assert.Equal(t, nodesOf(eng, 9), big[:9], "%s: the first nine are the fixed ones", eng)
		seen := map[string]bool{}
		letter := map[string]string{"consensus": "c", "execution": "e", "collection": "x", "verification": "v"}
		for _, n := range big {
			assert.False(t, seen[n.id], "%s: %s twice", eng, n.id)
			seen[n.id] = true
			if n.id != "seq" {
				assert.True(t, strings.HasPrefix(n.id, letter[n.role]), "%s: %s is a %s node", eng, n.id, n.role)
			}
			assert.Positive(t, n.stake)
		}
		var validators int
		var power, most uint64
		for _, n := range nodesOf(eng, 100) {
			if n.role == "consensus" {
				validators++
				power += n.stake
				most = max(most, n.stake)
			}
		}
		assert.GreaterOrEqual(t, validators, 21, eng)
		assert.Less(t, 3*most, power, eng)
	}
	assert.Equal(t, "c5", nodesOf(engineDevchain, 10)[9].id)
	assert.Equal(t, "x2", nodesOf(engineCometBFT, 12)[11].id)
}

func TestNodeCountBounds(t *testing.T) {
	for _, tc := range []struct {
		n, want int
		engine  string
		err     string
	}{
		{0, 7, engineDevchain, ""},
		{4, 4, engineDevchain, ""},
		{100, 100, engineCometBFT, ""},
		{MaxNodes, MaxNodes, engineDevchain, ""},
		{3, 0, engineDevchain, "--nodes 3: between 4 and 200"},
		{4, 0, engineCometBFT, "--nodes 4: between 5 and 200"},
		{MaxNodes + 1, 0, engineDevchain, "--nodes 201: between 4 and 200"},
	} {
		got, err := nodeCount(tc.n, tc.engine)
		if tc.err != "" {
			var oe *OptionError
			require.ErrorAs(t, err, &oe, "%d on %s", tc.n, tc.engine)
			assert.EqualError(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
	assert.Equal(t, 100*time.Millisecond, viewIntervalFor(9, 100*time.Millisecond), "small testnets keep the base")
	assert.Equal(t, 500*time.Millisecond, viewIntervalFor(100, 100*time.Millisecond))
	assert.Equal(t, 500*time.Millisecond, viewIntervalFor(100, 20*time.Millisecond))
	assert.Equal(t, 2*time.Second, viewIntervalFor(100, 2*time.Second), "a slower base stays")
}

// TestLargeTestnetConfig: past nine nodes a node's config lists no peers
// and dials genesisDials of the genesis nodes; on CometBFT its persistent
// peers are the same nodes node.PickGenesisDials picks for libp2p.
func TestLargeTestnetConfig(t *testing.T) {
	for _, tc := range []struct {
		nodes int
		eng   string
	}{{7, engineCometBFT}, {30, engineDevchain}, {30, engineCometBFT}} {
		dir := t.TempDir()
		g, keys, _, err := writeHomes(dir, "127.0.0.1", tc.nodes, 1, 100*time.Millisecond, 100, tc.eng)
		require.NoError(t, err)
		id := g.Identities[0].Nodes[3].ID
		var cfg struct {
			Peers        []string `toml:"peers"`
			GenesisDials int      `toml:"genesis_dials"`
			CometBFT     struct {
				PersistentPeers []string `toml:"persistent_peers"`
			} `toml:"cometbft"`
		}
		_, err = toml.DecodeFile(fmt.Sprintf("%s/%s/config.toml", dir, id), &cfg)
		require.NoError(t, err)
		if tc.nodes <= largeTestnet {
			assert.Len(t, cfg.Peers, tc.nodes-1, "a small testnet dials everyone")
			assert.Zero(t, cfg.GenesisDials)
			assert.Len(t, cfg.CometBFT.PersistentPeers, tc.nodes-1)
			continue
		}
		assert.Empty(t, cfg.Peers, "%d nodes", tc.nodes)
		assert.Equal(t, genesisDials, cfg.GenesisDials)
		if tc.eng != engineCometBFT {
			assert.Empty(t, cfg.CometBFT.PersistentPeers)
			continue
		}
		// The node's own choice, as node.Start makes it from the genesis.
		var self peer.ID
		var candidates []peer.AddrInfo
		cometOf := map[peer.ID]string{}
		for _, m := range g.Identities[0].Nodes {
			pid, err := peer.Decode(m.PeerID)
			require.NoError(t, err)
			cid, err := cometbft.NodeID(keys.P2P[m.ID])
			require.NoError(t, err)
			cometOf[pid] = cid
			if m.ID == id {
				self = pid
			} else {
				candidates = append(candidates, peer.AddrInfo{ID: pid})
			}
		}
		var want []string
		for _, p := range node.PickGenesisDials(candidates, self, genesisDials) {
			want = append(want, cometOf[p.ID])
		}
		var got []string
		for _, p := range cfg.CometBFT.PersistentPeers {
			cid, _, _ := strings.Cut(p, "@")
			got = append(got, cid)
		}
		assert.ElementsMatch(t, want, got, "CometBFT's persistent peers are the libp2p choice")
		assert.Len(t, got, genesisDials)
	}
}

// TestFileLimit: enough is fine, a soft limit under the need is raised to
// it when the hard limit allows, and otherwise the error names the ulimit.
func TestFileLimit(t *testing.T) {
	need := filesNeeded(100, engineCometBFT)
	assert.Greater(t, need, 64)
	raise, err := fileLimit(100, need, uint64(need), uint64(need))
	require.NoError(t, err)
	assert.Zero(t, raise)
	raise, err = fileLimit(100, need, 256, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, uint64(need), raise)
	_, err = fileLimit(100, need, 256, 256)
	var oe *OptionError
	require.ErrorAs(t, err, &oe)
	assert.ErrorContains(t, err, fmt.Sprintf("raise it with ulimit -n %d", need))
	assert.Greater(t, filesNeeded(200, engineCometBFT), filesNeeded(100, engineCometBFT), "more nodes, more files for the watcher")
	assert.Greater(t, fdsPerNode(8, engineCometBFT), fdsPerNode(8, engineDevchain), "CometBFT has a second socket a peer")
}

// TestNodeEnv: small testnets get the runtime's defaults; large ones one P
// and GOGC=50, unless the environment says otherwise.
func TestNodeEnv(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	t.Setenv("GOGC", "")
	assert.Empty(t, nodeEnv(9))
	assert.Equal(t, []string{"GOMAXPROCS=1", "GOGC=50"}, nodeEnv(10))
	t.Setenv("GOGC", "200")
	assert.Equal(t, []string{"GOMAXPROCS=1"}, nodeEnv(100), "the environment's GOGC stays")
}
