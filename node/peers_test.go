package node

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

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
	if err != nil {
		t.Fatal(err)
	}
	id := func(node string) peer.ID {
		p, err := peer.IDFromPrivateKey(keys.P2P[node])
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// e2 is configured at another address: the configuration wins. c2 is
	// this node.
	configured := []peer.AddrInfo{{ID: id("e2"), Addrs: []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/9005")}}}
	got := withGenesisPeers(configured, g, id("c2"))
	want := []struct{ id, addr string }{{"e2", "/ip4/127.0.0.1/tcp/9005"}, {"seq", "/ip4/10.0.0.1/tcp/7001"}}
	if len(got) != len(want) {
		t.Fatalf("peers: %v; want e2 (configured) and seq", got)
	}
	for i, w := range want {
		if got[i].ID != id(w.id) || len(got[i].Addrs) != 1 || got[i].Addrs[0].String() != w.addr {
			t.Errorf("peer %d: %v; want %s at %s", i, got[i], w.id, w.addr)
		}
	}

	// A later identity step moves seq: its newer address is dialled.
	moved := g.Identities[0]
	moved.FromEpoch = 3
	moved.Nodes = append([]devchain.Node(nil), moved.Nodes...)
	moved.Nodes[0].Address = "/ip4/10.0.0.9/tcp/7009"
	g.Identities = append(g.Identities, moved)
	got = withGenesisPeers(nil, g, id("c2"))
	if len(got) != 2 || got[0].ID != id("seq") || got[0].Addrs[0].String() != "/ip4/10.0.0.9/tcp/7009" || got[1].ID != id("e2") {
		t.Fatalf("after seq moved: %v", got)
	}
}
