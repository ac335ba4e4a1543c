package clustertest

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/storage"
)

// evidence is the finality evidence's documented shape
// (docs/proof-cometbft.md), read here as an outside verifier would.
type evidence struct {
	Format uint64 `cbor:"1,keyasint"`
	Height uint64 `cbor:"2,keyasint"`
	Header []byte `cbor:"3,keyasint"`
	Commit []byte `cbor:"4,keyasint"`
}

func (c *cluster) cometHome(id string) string { return filepath.Join(c.homes[id], "cometbft") }

// stateIDs reads the state ID after each height of a stopped node's store,
// opened read-only.
func (c *cluster) stateIDs(id string) [][32]byte {
	c.t.Helper()
	s, err := storage.Open(filepath.Join(c.homes[id], "store"), storage.Options{ChainID: c.g.ChainID, GenesisHash: c.g.Hash(),
		Genesis: c.g.State(), ReadOnly: true})
	require.NoError(c.t, err)
	defer s.Close()
	head, _ := s.Head()
	top, _, _ := head.Head()
	var ids [][32]byte
	for h := uint64(0); h <= top; h++ {
		st, err := s.StateAt(h)
		require.NoError(c.t, err)
		ids = append(ids, st.ID())
	}
	return ids
}

// A real cluster of four validators finalizes blocks; stopped, each
// validator's block store proves every height it holds a commit for, to
// the state ID its own store has, and nothing else: not another state ID,
// not under another genesis, not with any byte changed, not with the
// signatures cut to two of four (half the power).
func TestCometBFTFinalityEvidence(t *testing.T) {
	defer noLeaks(t)
	c := newCluster(t, 40)
	defer c.closeAll()
	for _, id := range validators {
		c.start(id)
	}
	c.waitHeights(8, 30*time.Second)
	_, err := cometbft.FinalityEvidence(c.cometHome("c1"), c.g, 2)
	require.ErrorIs(t, err, storage.ErrInUse, "a running node's block store")
	assert.ErrorContains(t, err, "stop the node first")
	c.closeAll()
	files := dirDigest(t, filepath.Join(c.cometHome("c1"), "data", "blockstore.db"))

	ids, proved := c.proveAll("c1")
	require.GreaterOrEqual(t, proved, uint64(6))

	h := uint64(4)
	ev, err := cometbft.FinalityEvidence(c.cometHome("c1"), c.g, h)
	require.NoError(t, err)
	again, err := cometbft.FinalityEvidence(c.cometHome("c1"), c.g, h)
	require.NoError(t, err)
	assert.Equal(t, ev, again, "deterministic")
	other, err := cometbft.FinalityEvidence(c.cometHome("c2"), c.g, h)
	require.NoError(t, err)
	assert.Equal(t, ev, other, "every node stores the same canonical commit (block h+3's LastCommit)")

	// Another state ID, another height's.
	wrong := ids[h]
	wrong[31] ^= 1
	assert.ErrorContains(t, cometbft.VerifyFinality(c.g, h, wrong, ev), "is not the state ID")
	assert.Error(t, cometbft.VerifyFinality(c.g, h, ids[h+1], ev))
	assert.Error(t, cometbft.VerifyFinality(c.g, h+1, ids[h+1], ev))

	// Another genesis: another chain ID (same keys), other validators.
	for name, edit := range map[string]func(o *chain.GenerateOptions){
		"chain ID":   func(o *chain.GenerateOptions) { o.ChainID = "cmt-other" },
		"validators": func(o *chain.GenerateOptions) { o.Seed = []byte("another seed") },
	} {
		o := chain.GenerateOptions{ChainID: c.g.ChainID, EpochViews: 40, SafetyViews: 8, Versions: map[string]string{"protocol": "1.0.0"},
			GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte(t.Name())}
		for _, id := range validators {
			o.Nodes = append(o.Nodes, chain.NodeSpec{ID: id, Role: "consensus", Stake: 100})
		}
		o.Nodes = append(o.Nodes, chain.NodeSpec{ID: "e1", Role: "execution", Stake: 100})
		edit(&o)
		g2, _, err := chain.GenerateGenesis(o)
		require.NoError(t, err)
		assert.Error(t, cometbft.VerifyFinality(g2, h, ids[h], ev), name)
		_, err = cometbft.FinalityEvidence(c.cometHome("c1"), g2, h)
		assert.ErrorContains(t, err, "another chain's home?", name)
	}

	// Every byte: any flip at any position fails.
	for pos := range ev {
		mask := byte(1) << (pos % 8) // each bit position, across the bytes
		bad := append([]byte(nil), ev...)
		bad[pos] ^= mask
		require.Error(t, cometbft.VerifyFinality(c.g, h, ids[h], bad), "byte %d ^ %#x of %d still verifies", pos, mask, len(ev))
	}

	// Signatures dropped (made absent) until two of four validators, half
	// the power, remain.
	var raw evidence
	require.NoError(t, canon.Decode(ev, &raw))
	var pc cmtproto.Commit
	require.NoError(t, pc.Unmarshal(raw.Commit))
	kept := 0
	for i := range pc.Signatures {
		if pc.Signatures[i].BlockIdFlag == cmtproto.BlockIDFlagCommit && kept < 2 {
			kept++
			continue
		}
		absent := types.NewCommitSigAbsent()
		pc.Signatures[i] = *absent.ToProto()
	}
	require.Equal(t, 2, kept)
	raw.Commit, err = pc.Marshal()
	require.NoError(t, err)
	err = cometbft.VerifyFinality(c.g, h, ids[h], canon.MustEncode(raw))
	var short types.ErrNotEnoughVotingPowerSigned
	require.ErrorAs(t, err, &short)
	assert.Equal(t, int64(200), short.Got)

	assert.Equal(t, files, dirDigest(t, filepath.Join(c.cometHome("c1"), "data", "blockstore.db")),
		"reading evidence changed no file of the block store")

	// A pruned (or state-synced) block store: heights below its base are
	// refused with the reason, the rest still proved.
	const base = 5
	db, err := dbm.NewDB("blockstore", dbm.PebbleDBBackend, filepath.Join(c.cometHome("c3"), "data"))
	require.NoError(t, err)
	_, _, err = store.NewBlockStore(db).PruneBlocks(base, sm.State{})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = cometbft.FinalityEvidence(c.cometHome("c3"), c.g, base-3)
	require.ErrorIs(t, err, cometbft.ErrNoFinality)
	assert.ErrorContains(t, err, "below the block store's base 5")
	ev3, err := cometbft.FinalityEvidence(c.cometHome("c3"), c.g, base-2)
	require.NoError(t, err)
	require.NoError(t, cometbft.VerifyFinality(c.g, base-2, ids[base-2], ev3))
}

// proveAll checks that a stopped node's block store proves every height it
// holds a commit for, to the state ID of the node's own store, and that the
// first height past those is refused for want of a commit. It returns the
// store's state IDs and the highest height proved.
func (c *cluster) proveAll(id string) ([][32]byte, uint64) {
	c.t.Helper()
	ids := c.stateIDs(id)
	require.GreaterOrEqual(c.t, len(ids), 3)
	proved := uint64(0)
	for h := uint64(0); ; h++ {
		ev, err := cometbft.FinalityEvidence(c.cometHome(id), c.g, h)
		if err != nil {
			require.ErrorIs(c.t, err, cometbft.ErrNoFinality, "%s: height %d", id, h)
			assert.ErrorContains(c.t, err, "the block store's head")
			break
		}
		require.Less(c.t, h, uint64(len(ids)), "%s: evidence for a height its store does not have", id)
		require.NoError(c.t, cometbft.VerifyFinality(c.g, h, ids[h], ev), "%s: height %d", id, h)
		var raw evidence
		require.NoError(c.t, canon.Decode(ev, &raw))
		assert.Equal(c.t, h, raw.Height)
		proved = h
	}
	// The store's head is at most one block behind CometBFT's, whose last
	// block has no commit yet.
	assert.GreaterOrEqual(c.t, proved+2, uint64(len(ids)-1), "%s: every height but the last one or two is proved", id)
	return ids, proved
}

// dirDigest is the SHA-256 of each file in dir.
func dirDigest(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string][32]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = sha256.Sum256(data)
	}
	require.NotEmpty(t, out)
	return out
}
