package activation

// The state ID as a Merkle-style commitment (docs/proof.md, "The state
// ID"): a hash of a small header that holds the head and the roots of three
// binary Merkle trees, over the deployments, the components' histories and
// the parameters' histories. A proof that one deployment has a given record
// in a state is then that entry's bytes and a path of log2(n) hashes, not
// the whole state.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"

	"github.com/quorumgate/quorumgate/internal/canon"
)

// stateDomain separates state IDs from every other hash; v2 is the Merkle
// form (v1 hashed the whole encoding).
const stateDomain = "quorumgate/state/v2"

// Tree is the commitment to one list of a state's entries: the root of the
// RFC 6962 Merkle tree over their canonical encodings, and how many there
// are (a path is checked against both).
type Tree struct {
	Root [32]byte `cbor:"1,keyasint"`
	Size uint64   `cbor:"2,keyasint"`
}

// StateHeader is what a state ID hashes: the chain parameters' ID, the
// head, and the three trees. ID = canon.Hash("quorumgate/state/v2",
// canonical CBOR of the header).
type StateHeader struct {
	Params      [32]byte `cbor:"1,keyasint"`
	Applied     bool     `cbor:"2,keyasint"`
	Height      uint64   `cbor:"3,keyasint"`
	View        uint64   `cbor:"4,keyasint"`
	Deployments Tree     `cbor:"5,keyasint"`
	Components  Tree     `cbor:"6,keyasint"`
	ParamValues Tree     `cbor:"7,keyasint"`
}

// ID is the state ID the header commits to.
func (h StateHeader) ID() [32]byte { return canon.Hash(stateDomain, canon.MustEncode(h)) }

// Header returns the state's header.
func (s *State) Header() StateHeader { return s.wire().header() }

func (w stateWire) header() StateHeader {
	return StateHeader{Params: w.Params, Applied: w.Applied, Height: w.Height, View: w.View,
		Deployments: treeOf(w.Deployments), Components: treeOf(w.Components), ParamValues: treeOf(w.ParamValues)}
}

func treeOf[E any](entries []E) Tree {
	return Tree{Root: MerkleRoot(leafHashes(entries)), Size: uint64(len(entries))}
}

func leafHashes[E any](entries []E) [][32]byte {
	out := make([][32]byte, len(entries))
	for i := range entries {
		out[i] = LeafHash(canon.MustEncode(entries[i]))
	}
	return out
}

// LeafHash is RFC 6962's leaf hash: SHA-256(0x00 || entry).
func LeafHash(entry []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(entry)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// nodeHash is RFC 6962's interior node hash: SHA-256(0x01 || left || right).
func nodeHash(left, right [32]byte) [32]byte {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}

// MerkleRoot is RFC 6962's Merkle tree hash of the leaf hashes: SHA-256 of
// nothing for no leaves, the leaf hash for one, else the node hash of the
// left subtree's root (the largest power of two below n leaves) and the
// right one's.
func MerkleRoot(leaves [][32]byte) [32]byte {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := splitPoint(len(leaves))
	return nodeHash(MerkleRoot(leaves[:k]), MerkleRoot(leaves[k:]))
}

// splitPoint is the largest power of two smaller than n (n > 1).
func splitPoint(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// MerklePath is RFC 6962's audit path of leaf i: the sibling hashes from
// the leaf up to the root.
func MerklePath(leaves [][32]byte, i int) [][32]byte {
	if len(leaves) <= 1 {
		return nil
	}
	k := splitPoint(len(leaves))
	if i < k {
		return append(MerklePath(leaves[:k], i), MerkleRoot(leaves[k:]))
	}
	return append(MerklePath(leaves[k:], i-k), MerkleRoot(leaves[:k]))
}

// Path errors (errors.Is).
var (
	ErrBadPath  = errors.New("the Merkle path does not lead to the root")
	ErrBadEntry = errors.New("the proven entry is not what it claims")
)

// VerifyPath checks that leaf is entry index of a tree (RFC 9162, 2.1.3.2):
// the path must have exactly the length the index and the size call for,
// and lead to the root.
func VerifyPath(tree Tree, index uint64, leaf [32]byte, path [][32]byte) error {
	if index >= tree.Size {
		return fmt.Errorf("%w: index %d in a tree of %d entries", ErrBadPath, index, tree.Size)
	}
	fn, sn := index, tree.Size-1
	r := leaf
	for i, p := range path {
		if sn == 0 {
			return fmt.Errorf("%w: %d hashes, %d too many", ErrBadPath, len(path), len(path)-i)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 {
		return fmt.Errorf("%w: %d hashes, too few for entry %d of %d", ErrBadPath, len(path), index, tree.Size)
	}
	if r != tree.Root {
		return fmt.Errorf("%w: entry %d of %d hashes to another root", ErrBadPath, index, tree.Size)
	}
	return nil
}

// EntryProof proves that a state, identified by its ID, holds an entry:
// the state's header (which hashes to the ID), where the entry sits in its
// tree, its canonical encoding, and its audit path.
type EntryProof struct {
	Header StateHeader `cbor:"1,keyasint"`
	Index  uint64      `cbor:"2,keyasint"`
	Entry  []byte      `cbor:"3,keyasint"`
	Path   [][32]byte  `cbor:"4,keyasint"`
}

// ProveDeployment proves the record of the deployment called name.
func (s *State) ProveDeployment(name string) (EntryProof, error) {
	i, ok := s.byName[name]
	if !ok {
		return EntryProof{}, fmt.Errorf("prove deployment %q: no such deployment in the state", name)
	}
	w := s.wire()
	return proveEntry(&w, w.Deployments, i), nil
}

// ProveComponent proves the version history of a component.
func (s *State) ProveComponent(component string) (EntryProof, error) {
	w := s.wire()
	for i, c := range w.Components {
		if c.Component == component {
			return proveEntry(&w, w.Components, i), nil
		}
	}
	return EntryProof{}, fmt.Errorf("prove component %q: the state has no version of it", component)
}

// ProveParam proves the value history of a parameter.
func (s *State) ProveParam(name string) (EntryProof, error) {
	w := s.wire()
	for i, p := range w.ParamValues {
		if p.Param == name {
			return proveEntry(&w, w.ParamValues, i), nil
		}
	}
	return EntryProof{}, fmt.Errorf("prove parameter %q: the chain declares no such parameter", name)
}

func proveEntry[E any](w *stateWire, entries []E, i int) EntryProof {
	leaves := leafHashes(entries)
	return EntryProof{Header: w.header(), Index: uint64(i), Entry: canon.MustEncode(entries[i]), Path: MerklePath(leaves, i)}
}

// verifyEntry checks p against stateID in the tree pick selects, and
// decodes the entry (canonically) into e.
func verifyEntry(stateID [32]byte, p EntryProof, pick func(*StateHeader) Tree, e any) error {
	if id := p.Header.ID(); id != stateID {
		return fmt.Errorf("%w: the state header hashes to %x…, not to the state ID %x…", ErrBadPath, id[:6], stateID[:6])
	}
	if err := VerifyPath(pick(&p.Header), p.Index, LeafHash(p.Entry), p.Path); err != nil {
		return err
	}
	if err := canon.Decode(p.Entry, e); err != nil {
		return fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	return nil
}

// VerifyDeployment checks that the state stateID holds the deployment entry
// p proves, and returns it. The caller checks the name it expected.
func VerifyDeployment(stateID [32]byte, p EntryProof) (DeploymentEntry, error) {
	var e DeploymentEntry
	if err := verifyEntry(stateID, p, func(h *StateHeader) Tree { return h.Deployments }, &e); err != nil {
		return e, fmt.Errorf("deployment proof: %w", err)
	}
	if e.Proposal.Name == "" || !bytes.Equal(e.Proposal.Encode(), canon.MustEncode(e.Proposal)) {
		return e, fmt.Errorf("deployment proof: %w: the proposal is not normalized", ErrBadEntry)
	}
	return e, nil
}

// VerifyComponent checks that the state stateID holds the component history
// p proves, and returns it.
func VerifyComponent(stateID [32]byte, p EntryProof) (ComponentEntry, error) {
	var e ComponentEntry
	if err := verifyEntry(stateID, p, func(h *StateHeader) Tree { return h.Components }, &e); err != nil {
		return e, fmt.Errorf("component proof: %w", err)
	}
	if len(e.History) == 0 {
		return e, fmt.Errorf("component proof: %w: component %q has no history", ErrBadEntry, e.Component)
	}
	return e, nil
}

// VerifyParam checks that the state stateID holds the parameter history p
// proves, and returns it.
func VerifyParam(stateID [32]byte, p EntryProof) (ParamEntry, error) {
	var e ParamEntry
	if err := verifyEntry(stateID, p, func(h *StateHeader) Tree { return h.ParamValues }, &e); err != nil {
		return e, fmt.Errorf("parameter proof: %w", err)
	}
	if len(e.History) == 0 {
		return e, fmt.Errorf("parameter proof: %w: parameter %q has no history", ErrBadEntry, e.Param)
	}
	return e, nil
}
