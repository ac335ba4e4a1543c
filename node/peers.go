package node

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/quorumgate/quorumgate/chain"
)

// withGenesisPeers adds to the configured peers every other node of the
// genesis identity tables, at the address the genesis gives it. As in Flow,
// the identity table is the list of peers to dial: a node given a single
// --bootstrap address still connects to the whole network, and keeps
// gossiping when that one peer goes away. Configured peers come first and
// win over the genesis for the same peer ID; a later identity step's address
// wins over an earlier one's. Addresses nobody can dial (port 0, or an
// unspecified host, as in genesis files written for tests) are skipped.
func withGenesisPeers(configured []peer.AddrInfo, g *chain.Genesis, self peer.ID) []peer.AddrInfo {
	out := append([]peer.AddrInfo(nil), configured...)
	seen := map[peer.ID]bool{self: true}
	for _, p := range configured {
		seen[p.ID] = true
	}
	index := map[peer.ID]int{}
	for _, step := range g.Identities {
		for _, n := range step.Nodes {
			// ParseGenesis checked every peer ID and address: an error here
			// is a genesis built in code, whose bad entry is not dialled.
			id, err := peer.Decode(n.PeerID)
			if err != nil || seen[id] {
				continue
			}
			addr, err := multiaddr.NewMultiaddr(n.Address)
			if err != nil || !dialable(addr) {
				continue
			}
			if i, ok := index[id]; ok {
				out[i].Addrs = []multiaddr.Multiaddr{addr}
				continue
			}
			index[id] = len(out)
			out = append(out, peer.AddrInfo{ID: id, Addrs: []multiaddr.Multiaddr{addr}})
		}
	}
	return out
}

// dialable: the address names a host and a port another machine can dial.
func dialable(a multiaddr.Multiaddr) bool {
	for _, p := range []int{multiaddr.P_TCP, multiaddr.P_UDP} {
		if v, err := a.ValueForProtocol(p); err == nil && v == "0" {
			return false
		}
	}
	for _, p := range []int{multiaddr.P_IP4, multiaddr.P_IP6} {
		if v, err := a.ValueForProtocol(p); err == nil && (v == "0.0.0.0" || v == "::") {
			return false
		}
	}
	return true
}
