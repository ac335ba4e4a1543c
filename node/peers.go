package node

import (
	"bytes"
	"crypto/sha256"
	"slices"

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
//
// dials, when positive, bounds how many genesis nodes are dialled (see
// pickGenesisDials); zero dials every one.
func withGenesisPeers(configured []peer.AddrInfo, g *chain.Genesis, self peer.ID, dials int) []peer.AddrInfo {
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
	if dials > 0 {
		out = append(out[:len(configured)], pickGenesisDials(out[len(configured):], self, dials)...)
	}
	return out
}

// PickGenesisDials is the choice of peers a node whose peer ID is self
// makes among candidates when it dials only dials of them (genesis_dials):
// the testnet gives CometBFT the same peers.
func PickGenesisDials(candidates []peer.AddrInfo, self peer.ID, dials int) []peer.AddrInfo {
	return pickGenesisDials(candidates, self, dials)
}

// pickGenesisDials chooses which dials of the genesis nodes candidates this
// node dials, when it does not dial them all: in a testnet of a hundred
// nodes, each dialling the 99 others makes ~5,000 connections that start at
// the same moment, and keeps each node busy with 99 peers' keep-alives,
// identify and gossip heartbeats. Gossip needs far fewer: a mesh of D ≈ 6
// peers per topic, fed by whoever is connected.
//
// The choice is a function of the peer IDs alone, so every node computes its
// own without talking to anyone, and it is different for every node:
//   - the node's successor in the ring of peer IDs (the candidates and self
//     sorted by ID), so that the nodes' choices together link everyone into
//     one connected network once all are up, whatever the other picks are;
//   - then the candidates closest to self by sha256(self || candidate)
//     (rendezvous hashing), a random-looking spread that keeps the network's
//     diameter small and no node a hub.
//
// Inbound connections are never refused, so a node ends up with about twice
// dials peers. The result keeps the candidates' order.
func pickGenesisDials(candidates []peer.AddrInfo, self peer.ID, dials int) []peer.AddrInfo {
	if dials >= len(candidates) {
		return candidates
	}
	chosen := map[peer.ID]bool{}
	ids := make([]peer.ID, 0, len(candidates)+1)
	for _, c := range candidates {
		ids = append(ids, c.ID)
	}
	ids = append(ids, self)
	slices.Sort(ids)
	i := slices.Index(ids, self)
	chosen[ids[(i+1)%len(ids)]] = true
	dist := func(id peer.ID) []byte {
		h := sha256.Sum256(append([]byte(self+"\x00"), id...))
		return h[:]
	}
	byDistance := slices.Clone(candidates)
	slices.SortFunc(byDistance, func(a, b peer.AddrInfo) int { return bytes.Compare(dist(a.ID), dist(b.ID)) })
	for _, c := range byDistance {
		if len(chosen) >= dials {
			break
		}
		chosen[c.ID] = true
	}
	return slices.DeleteFunc(slices.Clone(candidates), func(c peer.AddrInfo) bool { return !chosen[c.ID] })
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
