package node

import (
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/p2p"
)

// The fork ID (EIP-2124 in quorumgate's terms): the hash of the chain, its
// genesis and the versions active at the head, and the view of the next
// scheduled activation. Like EIP-2124 it tells a peer that is merely behind
// (it runs versions we ran until an activation it knows is coming) from one
// on another fork.

// forkHash hashes the versions active after the first `forks` activations.
func forkHash(s *activation.State, genesis [32]byte, forks []uint64, upTo uint64, extra map[string]string) [32]byte {
	h := sha256.New()
	h.Write([]byte("quorumgate/fork-id/v1\x00"))
	h.Write([]byte(s.Params().ChainID))
	h.Write([]byte{0})
	h.Write(genesis[:])
	for _, c := range s.Components() {
		version := ""
		for _, r := range s.History(c) {
			if r.ActivationView <= upTo {
				version = r.Version
			}
		}
		if v, ok := extra[c]; ok {
			version = v
		}
		h.Write([]byte(c))
		h.Write([]byte{0})
		h.Write([]byte(version))
		h.Write([]byte{0})
	}
	return [32]byte(h.Sum(nil))
}

// forkPoints returns the views at which versions activated, in order
// (genesis, at view 0, is not one).
func forkPoints(s *activation.State) []uint64 {
	var out []uint64
	for _, c := range s.Components() {
		for _, r := range s.History(c) {
			if r.ActivationView > 0 {
				out = append(out, r.ActivationView)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// nextActivation is the soonest activation view of a LOCKED_IN version
// upgrade (0: none), and the versions it brings. Parameter changes are no
// part of the fork ID: they change no version, so the hash stays the same
// across one, and announcing one as Next would make a peer a few views
// behind look, once this node has passed it, like one expecting an
// activation this node skipped.
func nextActivation(s *activation.State) (uint64, map[string]string) {
	var next uint64
	for _, d := range s.Deployments() {
		if d.Status == activation.LockedIn && d.HasActivation && !d.IsParam() && (next == 0 || d.ActivatesAt < next) {
			next = d.ActivatesAt
		}
	}
	versions := map[string]string{}
	for _, d := range s.Deployments() {
		if d.Status == activation.LockedIn && d.HasActivation && !d.IsParam() && d.ActivatesAt == next {
			versions[d.Component] = d.Version
		}
	}
	return next, versions
}

// ForkIDOf returns a state's fork ID.
func ForkIDOf(s *activation.State, genesis [32]byte) p2p.ForkID {
	_, view, _ := s.Head()
	next, _ := nextActivation(s)
	return p2p.ForkID{Hash: forkHash(s, genesis, forkPoints(s), view, nil), Next: next}
}

// CheckFork judges a peer's fork ID against this node's state, by
// EIP-2124's rules adapted to activations scheduled on chain (a node that
// has not synced yet cannot know of them, where Ethereum's are in the
// binary):
//   - same hash: compatible, unless the peer expects an activation at a view
//     this node has passed without it;
//   - the hash this node had before one of its past activations: the peer
//     is behind (still on the old versions until that view, or syncing),
//     compatible unless it expects a different activation there;
//   - the hash this node will have after its next activation: the peer is
//     ahead, compatible;
//   - any other hash: another fork, when this node is synced; a node still
//     catching up cannot tell, and keeps the peer.
func CheckFork(s *activation.State, genesis [32]byte, synced bool, remote p2p.ForkID) error {
	_, view, _ := s.Head()
	forks := forkPoints(s)
	local := ForkIDOf(s, genesis)
	if remote.Hash == local.Hash {
		if remote.Next != 0 && remote.Next <= view && remote.Next != local.Next {
			return fmt.Errorf("the peer expects an activation at view %d, which this node passed (at view %d) without it", remote.Next, view)
		}
		return nil
	}
	for i, f := range forks {
		var before uint64
		if i > 0 {
			before = forks[i-1]
		}
		if forkHash(s, genesis, forks, before, nil) == remote.Hash {
			if remote.Next == 0 || remote.Next == f {
				return nil
			}
			return fmt.Errorf("the peer runs the versions this node ran before view %d but expects its next activation at view %d", f, remote.Next)
		}
	}
	if next, versions := nextActivation(s); next != 0 && forkHash(s, genesis, forks, view, versions) == remote.Hash {
		return nil
	}
	if !synced {
		return nil
	}
	return fmt.Errorf("the peer's versions match none this node has run or will run next")
}

// forkIDNow is the node's fork ID at its head.
func (n *Node) forkIDNow() p2p.ForkID { return ForkIDOf(n.chain.Head(), n.cfg.Genesis.Hash()) }

// forkMismatch logs a peer disconnected for another fork, naming both IDs.
func (n *Node) forkMismatch(p peer.ID, local, remote p2p.ForkID, err error) {
	n.log.Warn("disconnecting a peer on another fork", "peer", p.String(), "our_fork_id", local.String(),
		"peer_fork_id", remote.String(), "why", err.Error())
}
