package activation_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// The tree is RFC 6962's: these are the roots of the Certificate
// Transparency test vectors (the first n of eight fixed leaves), as every
// RFC 6962 implementation publishes them.
func TestMerkleRootMatchesRFC6962Vectors(t *testing.T) {
	leaves := [][]byte{{}, {0x00}, {0x10}, {0x20, 0x21}, {0x30, 0x31}, {0x40, 0x41, 0x42, 0x43},
		{0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
		{0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f}}
	roots := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	empty := sha256.Sum256(nil)
	assert.Equal(t, empty, activation.MerkleRoot(nil), "the empty tree")
	for n := 1; n <= len(leaves); n++ {
		var hashes [][32]byte
		for _, l := range leaves[:n] {
			hashes = append(hashes, activation.LeafHash(l))
		}
		root := activation.MerkleRoot(hashes)
		assert.Equal(t, roots[n-1], hex.EncodeToString(root[:]), "%d leaves", n)
	}
}

func leafSet(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = activation.LeafHash([]byte{byte(i), byte(i >> 8)})
	}
	return out
}

func TestMerklePathsVerifyAndTamperedOnesFail(t *testing.T) {
	for n := 1; n <= 33; n++ {
		leaves := leafSet(n)
		tree := activation.Tree{Root: activation.MerkleRoot(leaves), Size: uint64(n)}
		for i := range n {
			path := activation.MerklePath(leaves, i)
			require.NoError(t, activation.VerifyPath(tree, uint64(i), leaves[i], path), "leaf %d of %d", i, n)

			// Wrong leaf, wrong index, wrong size.
			other := leaves[(i+1)%n]
			if n > 1 {
				assert.ErrorIs(t, activation.VerifyPath(tree, uint64(i), other, path), activation.ErrBadPath, "leaf %d of %d, another leaf", i, n)
				assert.ErrorIs(t, activation.VerifyPath(tree, uint64((i+1)%n), leaves[i], path), activation.ErrBadPath, "leaf %d of %d, another index", i, n)
			}
			assert.ErrorIs(t, activation.VerifyPath(tree, uint64(n), leaves[i], path), activation.ErrBadPath, "index past the end")
			// A size that calls for another path length fails. (A size
			// with the same path shape is not caught by the path alone,
			// as in RFC 6962: the state header commits to the size.)
			doubled := tree
			doubled.Size = uint64(2 * n)
			assert.ErrorIs(t, activation.VerifyPath(doubled, uint64(i), leaves[i], path), activation.ErrBadPath, "leaf %d of %d, claimed size %d", i, n, 2*n)
			// Each sibling changed, the path cut short or made longer.
			for k := range path {
				bad := append([][32]byte(nil), path...)
				bad[k][0] ^= 1
				assert.ErrorIs(t, activation.VerifyPath(tree, uint64(i), leaves[i], bad), activation.ErrBadPath, "leaf %d of %d, sibling %d", i, n, k)
			}
			if len(path) > 0 {
				assert.ErrorIs(t, activation.VerifyPath(tree, uint64(i), leaves[i], path[:len(path)-1]), activation.ErrBadPath, "truncated")
			}
			assert.ErrorIs(t, activation.VerifyPath(tree, uint64(i), leaves[i], append(path, [32]byte{})), activation.ErrBadPath, "extended")
		}
	}
}

// A state with deployments of both modes, a tally, component history and
// parameter history.
func richState(t *testing.T) *activation.State {
	c := newParamChain(t, paramDecls())
	c.apply(5, propose(stake("p2", "protocol", "2.0.0", 1, 4), paramGov("f-ok", "fast", "true", 40),
		gov("cad", "cadence", "1.0.0", 30)))
	c.run(6, 99)
	c.apply(100, attest("p2", 1, "c1", "c2", "c3"))
	c.run(101, 200)
	c.apply(201, propose(stake("p3", "protocol", "3.0.0", 3, 5)))
	c.apply(300, attest("p3", 3, "c1"))
	return c.state
}

func TestStateProofs(t *testing.T) {
	s := richState(t)
	id := s.ID()
	require.Equal(t, id, s.Header().ID())
	enc, id2 := s.EncodeWithID()
	require.Equal(t, s.Encode(), enc)
	require.Equal(t, id, id2)
	fromEnc, err := activation.StateIDOf(enc)
	require.NoError(t, err)
	require.Equal(t, id, fromEnc)
	_, err = activation.StateIDOf(enc[1:])
	assert.Error(t, err)

	for _, d := range s.Deployments() {
		p, err := s.ProveDeployment(d.Name)
		require.NoError(t, err)
		e, err := activation.VerifyDeployment(id, p)
		require.NoError(t, err, d.Name)
		assert.Equal(t, d.Name, e.Proposal.Name)
		assert.Equal(t, d.Status, e.Status)
		assert.Equal(t, d.Since, e.Since)
		if d.HasActivation {
			require.NotNil(t, e.ActivatesAt)
			assert.Equal(t, d.ActivatesAt, *e.ActivatesAt)
		}
		// The same entry does not pass for a component or a parameter.
		_, err = activation.VerifyComponent(id, p)
		assert.Error(t, err)
	}
	p3, err := s.ProveDeployment("p3")
	require.NoError(t, err)
	e3, err := activation.VerifyDeployment(id, p3)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), e3.TallyEpoch)
	assert.NotEmpty(t, e3.Signers)

	for _, comp := range s.Components() {
		p, err := s.ProveComponent(comp)
		require.NoError(t, err)
		e, err := activation.VerifyComponent(id, p)
		require.NoError(t, err)
		assert.Equal(t, comp, e.Component)
		assert.Equal(t, s.History(comp), e.History)
	}
	for _, name := range s.ParamNames() {
		p, err := s.ProveParam(name)
		require.NoError(t, err)
		e, err := activation.VerifyParam(id, p)
		require.NoError(t, err)
		assert.Equal(t, name, e.Param)
		assert.Equal(t, s.ParamHistory(name), e.History)
	}
	_, err = s.ProveDeployment("nope")
	assert.ErrorContains(t, err, "no such deployment")
	_, err = s.ProveComponent("nope")
	assert.Error(t, err)
	_, err = s.ProveParam("nope")
	assert.Error(t, err)
}

func TestStateProofTampering(t *testing.T) {
	s := richState(t)
	id := s.ID()
	p, err := s.ProveDeployment("p2")
	require.NoError(t, err)

	wrongID := id
	wrongID[31] ^= 1
	_, err = activation.VerifyDeployment(wrongID, p)
	assert.ErrorIs(t, err, activation.ErrBadPath, "another state ID")

	// Every byte of the proof's encoding flipped: it either no longer
	// decodes or no longer verifies.
	enc := canon.MustEncode(p)
	for i := range enc {
		bad := append([]byte(nil), enc...)
		bad[i] ^= 0x01
		var q activation.EntryProof
		if canon.Decode(bad, &q) != nil {
			continue
		}
		_, err := activation.VerifyDeployment(id, q)
		assert.Error(t, err, "byte %d of %d flipped still verifies", i, len(enc))
	}

	// A canonical entry of another state (same index) does not pass.
	other := richState(t)
	q, err := other.ProveDeployment("p3")
	require.NoError(t, err)
	q.Index = p.Index
	_, err = activation.VerifyDeployment(id, q)
	assert.Error(t, err)
}

// The state ID is the header's hash, and the header's trees are over the
// same entries Encode writes: a state decoded from its encoding has the
// same ID, and any change to one entry changes it.
func TestStateIDCommitsToEveryEntry(t *testing.T) {
	s := richState(t)
	back, err := activation.DecodeState(s.Params(), s.Encode())
	require.NoError(t, err)
	assert.Equal(t, s.ID(), back.ID())
	assert.Equal(t, s.Header(), back.Header())
	h := s.Header()
	assert.Equal(t, uint64(len(s.Deployments())), h.Deployments.Size)
	assert.Equal(t, uint64(len(s.Components())), h.Components.Size)
	assert.Equal(t, uint64(len(s.ParamNames())), h.ParamValues.Size)
	for _, mutate := range []func(*activation.StateHeader){
		func(h *activation.StateHeader) { h.View++ },
		func(h *activation.StateHeader) { h.Height++ },
		func(h *activation.StateHeader) { h.Applied = !h.Applied },
		func(h *activation.StateHeader) { h.Params[0] ^= 1 },
		func(h *activation.StateHeader) { h.Deployments.Root[0] ^= 1 },
		func(h *activation.StateHeader) { h.Deployments.Size++ },
		func(h *activation.StateHeader) { h.Components.Root[0] ^= 1 },
		func(h *activation.StateHeader) { h.ParamValues.Size-- },
	} {
		m := h
		mutate(&m)
		assert.NotEqual(t, s.ID(), m.ID())
	}
}
