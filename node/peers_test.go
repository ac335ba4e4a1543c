package node

import (
	"testing"

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
	got := withGenesisPeers(configured, g, id("c2"))
	assert.Equal(t, []string{"e2 /ip4/127.0.0.1/tcp/9005", "seq /ip4/10.0.0.1/tcp/7001"}, peerList(t, got, id),
		"e2 as configured, and seq from the genesis")

	// A later identity step moves seq: its newer address is dialled.
	moved := g.Identities[0]
	moved.FromEpoch = 3
	moved.Nodes = append([]devchain.Node(nil), moved.Nodes...)
	moved.Nodes[0].Address = "/ip4/10.0.0.9/tcp/7009"
	g.Identities = append(g.Identities, moved)
	got = withGenesisPeers(nil, g, id("c2"))
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
