package storage

import (
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A store bootstrapped at height 300 holds the state there and every block
// after it; it reopens to the same head and base; below the base every
// read says the node joined by state sync there; StateAt above the base
// replays from the base state (no snapshot of the interval below exists).
func TestBootstrapThenCommitAndReopen(t *testing.T) {
	c := makeChain(t, 400, 3)
	const base = 300
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	_, ok := s.Base()
	assert.False(t, ok, "a new store has a base")
	require.NoError(t, s.Bootstrap(c.states[base], []byte("signed-300")))
	got, ok := s.Base()
	require.True(t, ok, "a bootstrapped store has a base")
	assert.Equal(t, uint64(base), got)
	head, ok := s.Head()
	require.True(t, ok)
	assert.Equal(t, c.states[base].ID(), head.ID(), "head after bootstrap")
	commitAll(t, s, c, base+1, 350)
	require.NoError(t, s.Close())

	s = openMem(t, c, fs)
	got, ok = s.Base()
	require.True(t, ok, "the reopened store has its base")
	assert.Equal(t, uint64(base), got)
	head, ok = s.Head()
	require.True(t, ok)
	assert.Equal(t, c.states[349].ID(), head.ID(), "reopened head")
	commitAll(t, s, c, 350, 400)
	require.NoError(t, s.Close())

	s = openMem(t, c, fs)
	defer func() { assert.NoError(t, s.Close()) }()
	for _, h := range []uint64{base, base + 1, 319, 320, 321, 399} {
		st, err := s.StateAt(h)
		if assert.NoError(t, err, "StateAt(%d)", h) {
			assert.Equal(t, c.states[h].ID(), st.ID(), "StateAt(%d)", h)
		}
	}
	b, err := s.Block(base)
	require.NoError(t, err)
	assert.Equal(t, []byte("signed-300"), b.Wire, "the base block keeps the bytes it came with")
	assert.Equal(t, c.states[base].ID(), b.StateID)
	b, err = s.Block(base + 1)
	require.NoError(t, err)
	assert.Equal(t, c.blocks[base+1].Wire, b.Wire)
	h, err := s.HeightAtView(c.blocks[base+5].View)
	require.NoError(t, err)
	assert.Equal(t, uint64(base+5), h)

	for _, h := range []uint64{0, 64, base - 1} {
		_, err := s.Block(h)
		assert.ErrorIs(t, err, ErrPruned, "Block(%d)", h)
		assert.NotErrorIs(t, err, ErrNotFound, "Block(%d) is pruned, not missing", h)
		assert.ErrorContains(t, err, "joined by state sync at height 300")
		_, err = s.StateAt(h)
		assert.ErrorIs(t, err, ErrPruned, "StateAt(%d)", h)
	}
	_, err = s.HeightAtView(c.blocks[10].View)
	assert.ErrorIs(t, err, ErrPruned, "HeightAtView before the base")
}

// Bootstrap refuses a store that holds blocks, a genesis state, another
// chain's state, and a second bootstrap.
func TestBootstrapRefusals(t *testing.T) {
	c := makeChain(t, 20, 4)
	s := openMem(t, c, vfs.NewMem())
	defer func() { assert.NoError(t, s.Close()) }()
	assert.ErrorContains(t, s.Bootstrap(c.genesis, nil), "genesis state")
	commitAll(t, s, c, 0, 3)
	err := s.Bootstrap(c.states[10], nil)
	assert.ErrorIs(t, err, ErrNotEmpty)
	assert.ErrorContains(t, err, "holds blocks up to height 2")
	head, _ := s.Head()
	assert.Equal(t, c.states[2].ID(), head.ID(), "a refused bootstrap changes nothing")
	_, ok := s.Base()
	assert.False(t, ok)

	s2 := openMem(t, c, vfs.NewMem())
	defer func() { assert.NoError(t, s2.Close()) }()
	require.NoError(t, s2.Bootstrap(c.states[10], nil))
	assert.ErrorIs(t, s2.Bootstrap(c.states[12], nil), ErrNotEmpty, "a second bootstrap")
	assert.ErrorIs(t, s2.Commit(c.blocks[10], c.states[10]), ErrOutOfOrder, "the base block again")
	require.NoError(t, s2.Commit(c.blocks[11], c.states[11]), "the block after the base")
}

// A crash at any point of Bootstrap leaves either an empty store or the
// bootstrapped one, never half of it; and a crash after it keeps it.
func TestBootstrapCrash(t *testing.T) {
	c := makeChain(t, 100, 5)
	fs := vfs.NewCrashableMem()
	s := openMem(t, c, fs)
	before := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(5, 5))})
	require.NoError(t, s.Bootstrap(c.states[80], nil))
	after := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(6, 6))})
	require.NoError(t, s.Close())

	s = openMem(t, c, before)
	_, ok := s.Head()
	assert.False(t, ok, "a crash before the bootstrap leaves an empty store")
	_, ok = s.Base()
	assert.False(t, ok)
	require.NoError(t, s.Bootstrap(c.states[80], nil), "and it can bootstrap then")
	require.NoError(t, s.Close())

	s = openMem(t, c, after)
	defer func() { assert.NoError(t, s.Close()) }()
	head, ok := s.Head()
	require.True(t, ok, "a crash after the bootstrap keeps it")
	assert.Equal(t, c.states[80].ID(), head.ID())
	base, ok := s.Base()
	assert.True(t, ok)
	assert.Equal(t, uint64(80), base)
}
