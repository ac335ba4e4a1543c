package devchain

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/storage"
)

// A sequencer writes a few blocks to a node home's store; once it stopped,
// each block's finality evidence, read from that home, verifies against the
// state ID the store holds, and nothing else does.
func TestFinalityEvidence(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g, keys := devGenesis(t)
	home := t.TempDir()
	store, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(),
		Genesis: g.State(), Small: true})
	require.NoError(t, err)
	seq, err := New(Options{Genesis: g, Store: store, NodeID: "seq", StakingKey: keys.Staking["seq"], Interval: time.Millisecond})
	require.NoError(t, err)
	seq.Start(nil)
	testutil.Eventually(t, 10*time.Second, "five blocks", func() bool { h, _, ok := seq.Head().Head(); return ok && h >= 5 })
	seq.Close()
	ids := map[uint64][32]byte{}
	for h := uint64(0); h <= 5; h++ {
		b, err := store.Block(h)
		require.NoError(t, err)
		ids[h] = b.StateID
	}
	require.NoError(t, store.Close())

	_, err = FinalityEvidence(t.TempDir(), g, 1)
	assert.True(t, errors.Is(err, storage.ErrNoStore), "a home without a store: %v", err)
	for h := uint64(0); h <= 5; h++ {
		ev, err := FinalityEvidence(home, g, h)
		require.NoError(t, err)
		require.NoError(t, VerifyFinality(g, h, ids[h], ev), "block %d", h)

		other := ids[h]
		other[0] ^= 1
		assert.ErrorContains(t, VerifyFinality(g, h, other, ev), "the sequencer signed state", "another state ID")
		assert.ErrorContains(t, VerifyFinality(g, h+1, ids[h], ev), "is for height", "another height")
		for i := range ev {
			bad := append([]byte(nil), ev...)
			bad[i] ^= 0x40
			assert.Error(t, VerifyFinality(g, h, ids[h], bad), "block %d, byte %d of %d flipped", h, i, len(ev))
		}
	}
	_, err = FinalityEvidence(home, g, 99)
	assert.ErrorIs(t, err, storage.ErrNotFound)

	// Another chain's sequencer key: the same evidence does not verify.
	other, _, err := Generate(GenerateOptions{ChainID: "dev-other", EpochViews: 30, SafetyViews: 5,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: []NodeSpec{{ID: "seq", Role: "consensus", Stake: 100}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("another chain")})
	require.NoError(t, err)
	ev, err := FinalityEvidence(home, g, 2)
	require.NoError(t, err)
	assert.ErrorContains(t, VerifyFinality(other, 2, ids[2], ev), "not signed by the sequencer")
}
