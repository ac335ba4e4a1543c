package node

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain/devchain"
)

func TestWithGenesisPeers(t *testing.T) {
	g, keys, err := devchain.Generate(devchain.GenerateOptions{
		ChainID: "peers-test", EpochViews: 40, SafetyViews: 5, Versions: map[string]string{"protocol": "1.0.0"},
		Nodes: []devchain.NodeSpec{
			{ID: "seq", Role: "consensus", Stake: 100, Address: "/ip4/10.0.0.1/tcp/7001"},
			{ID: "c2", Role: "consensus", Stake: 100, Address: "/ip4/10.0.0.2/tcp/7002"},
			{ID: "c3", Role: "consensus", Stake: 100}, // no address: /tcp/0, not dialable
			{ID: "e1", Role: "execution", Stake: 100, Address: "/ip4/0.0.0.0/tcp/7004"},
			{ID: "e2", Role: "execution", Stake: 100, Address: "/ip4/10.0.0.5/tcp/7005"},
		},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("peers-test"),
	})
	require.NoError(t, err)
	id := func(node string) peer.ID {
		p, err := peer.IDFromPrivateKey(keys.P2P[node])
		require.NoError(t, err)
		return p
	}
	// e2 is configured at another address: the configuration wins. c2 is
	// this node.
	configured := []peer.AddrInfo{{ID: id("e2"), Addrs: []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/9005")}}}
	got := withGenesisPeers(configured, g, id("c2"), 0)
	assert.Equal(t, []string{"e2 /ip4/127.0.0.1/tcp/9005", "seq /ip4/10.0.0.1/tcp/7001"}, peerList(t, got, id),
		"e2 as configured, and seq from the genesis")

	// A later identity step moves seq: its newer address is dialled.
	moved := g.Identities[0]
	moved.FromEpoch = 3
	moved.Nodes = append([]devchain.Node(nil), moved.Nodes...)
	moved.Nodes[0].Address = "/ip4/10.0.0.9/tcp/7009"
	g.Identities = append(g.Identities, moved)
	got = withGenesisPeers(nil, g, id("c2"), 0)
	assert.Equal(t, []string{"seq /ip4/10.0.0.9/tcp/7009", "e2 /ip4/10.0.0.5/tcp/7005"}, peerList(t, got, id), "after seq moved")
}

// peerList names each peer by its node and its one address.
func peerList(t *testing.T, peers []peer.AddrInfo, id func(string) peer.ID) []string {
	t.Helper()
	var out []string
	for _, p := range peers {
		name := p.ID.String()
		for _, node := range []string{"seq", "c2", "c3", "e1", "e2"} {
			if id(node) == p.ID {
				name = node
			}
		}
		require.Len(t, p.Addrs, 1, "peer %s", name)
		out = append(out, name+" "+p.Addrs[0].String())
	}
	return out
}

// TestPickGenesisDials: at a hundred nodes each dialling 8, every node's
// choice holds its ring successor and 7 others, is the same when computed
// again, and the choices together connect every node, with no node dialled
// by a crowd.
func TestPickGenesisDials(t *testing.T) {
	const nodes, dials = 100, 8
	var all []peer.AddrInfo
	for i := range nodes {
		_, pub, err := crypto.GenerateEd25519Key(rand.NewChaCha8([32]byte{byte(i)}))
		require.NoError(t, err)
		id, err := peer.IDFromPublicKey(pub)
		require.NoError(t, err)
		all = append(all, peer.AddrInfo{ID: id, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 7000+i))}})
	}
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b peer.AddrInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	edges := map[peer.ID][]peer.ID{}
	inbound := map[peer.ID]int{}
	for i, self := range sorted {
		others := slices.DeleteFunc(slices.Clone(all), func(p peer.AddrInfo) bool { return p.ID == self.ID })
		got := pickGenesisDials(others, self.ID, dials)
		require.Len(t, got, dials, "node %d", i)
		assert.Equal(t, got, pickGenesisDials(others, self.ID, dials), "the same choice again")
		successor := sorted[(i+1)%len(sorted)].ID
		assert.True(t, slices.ContainsFunc(got, func(p peer.AddrInfo) bool { return p.ID == successor }), "node %d dials its successor", i)
		for _, p := range got {
			require.NotEqual(t, self.ID, p.ID)
			edges[self.ID] = append(edges[self.ID], p.ID)
			edges[p.ID] = append(edges[p.ID], self.ID)
			inbound[p.ID]++
		}
	}
	// Breadth-first from one node reaches all of them.
	seen := map[peer.ID]bool{sorted[0].ID: true}
	for queue := []peer.ID{sorted[0].ID}; len(queue) > 0; queue = queue[1:] {
		for _, next := range edges[queue[0]] {
			if !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	assert.Len(t, seen, nodes, "every node is reachable")
	for id, n := range inbound {
		assert.LessOrEqual(t, n, 3*dials, "node %s is dialled by %d nodes", id, n)
	}
	// Asking for as many as there are, or more, dials every candidate.
	assert.Equal(t, all[1:], pickGenesisDials(all[1:], all[0].ID, nodes-1))
	assert.Equal(t, all[1:], pickGenesisDials(all[1:], all[0].ID, 1000))
}
