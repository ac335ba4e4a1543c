package storage

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func openMem(t testing.TB, c *testChain, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open("store", c.options(fs))
	require.NoError(t, err)
	return s
}

func commitAll(t testing.TB, s *Store, c *testChain, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		require.NoError(t, s.Commit(c.blocks[i], c.states[i]), "commit block %d", i)
	}
}

func TestCommitReopenAndQueries(t *testing.T) {
	c := makeChain(t, 700, 1)
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	_, ok := s.Head()
	assert.False(t, ok, "a new store has a head block")
	commitAll(t, s, c, 0, len(c.blocks))
	require.NoError(t, s.Close())

	s = openMem(t, c, fs)
	defer func() { assert.NoError(t, s.Close()) }()
	head, ok := s.Head()
	final := c.states[len(c.states)-1]
	require.True(t, ok, "the reopened store has a head")
	assert.Equal(t, final.ID(), head.ID(), "reopened head")
	for _, h := range []uint64{0, 1, 63, 64, 65, 300, 699} {
		st, err := s.StateAt(h)
		if assert.NoError(t, err, "StateAt(%d)", h) {
			assert.Equal(t, c.states[h].ID(), st.ID(), "StateAt(%d)", h)
		}
		b, err := s.Block(h)
		require.NoError(t, err, "Block(%d)", h)
		assert.Equal(t, c.blocks[h].Wire, b.Wire, "Block(%d).Wire", h)
		assert.Equal(t, c.blocks[h].View, b.View, "Block(%d).View", h)
		got, err := s.HeightAtView(b.View)
		if assert.NoError(t, err, "HeightAtView(%d)", b.View) {
			assert.Equal(t, h, got, "HeightAtView(%d)", b.View)
		}
	}
	_, err := s.StateAt(700)
	assert.ErrorIs(t, err, ErrNotFound, "StateAt past the head")
	assert.GreaterOrEqual(t, len(final.History("protocol")), 4, "the test chain activates versions: %v", final.History("protocol"))
	assert.ErrorIs(t, s.Commit(c.blocks[10], c.states[10]), ErrOutOfOrder, "re-committing an old block")
}

// The store writes only the tables its package doc lists; 0x06 and 0x07 stay
// reserved for what earlier builds wrote there.
func TestOnlyListedTables(t *testing.T) {
	c := makeChain(t, 130, 7)
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	commitAll(t, s, c, 0, len(c.blocks))
	require.NoError(t, s.Close())
	db, err := pebble.Open("store", &pebble.Options{FS: fs, ReadOnly: true, Logger: errorsOnly{}})
	require.NoError(t, err)
	defer func() { assert.NoError(t, db.Close()) }()
	it, err := db.NewIter(nil)
	require.NoError(t, err)
	seen := map[byte]int{}
	for it.First(); it.Valid(); it.Next() {
		seen[it.Key()[0]]++
	}
	require.NoError(t, it.Close())
	assert.Equal(t, map[byte]int{tMeta: 3, tBlock: 130, tView: 130, tSnapshot: 3, tHead: 1}, seen)
}

// TestCrashAtRandomPoints: a writer commits a long chain while the test takes
// crash clones of the filesystem at random moments (keeping a random share of
// unsynced data). Every clone must open to a prefix of the chain that holds
// every block committed before the clone, its matching state, and nothing of
// the next block.
func TestCrashAtRandomPoints(t *testing.T) {
	c := makeChain(t, 600, 2)
	fs := vfs.NewCrashableMem()
	s := openMem(t, c, fs)
	var committed atomic.Int64 // blocks whose Commit returned
	// The writer commits up to each limit it is given, then says so. The
	// crash clones are taken while it works towards the next limit, so they
	// land before, during or after a commit; giving it a limit at a time
	// keeps the number of crash points independent of scheduling (a free
	// writer on a loaded machine could finish the chain between two clones).
	limits, reached := make(chan int64, 1), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned by the test: ends when limits closes or a commit fails
		defer wg.Done()
		defer close(reached)
		next := 0
		for limit := range limits {
			for ; next < int(limit); next++ {
				if err := s.Commit(c.blocks[next], c.states[next]); err != nil {
					t.Error(err) // not require: this is not the test's goroutine
					return
				}
				committed.Store(int64(next + 1))
			}
			reached <- struct{}{}
		}
	}()
	rng := rand.New(rand.NewPCG(3, 4))
	type clone struct {
		fs            *vfs.MemFS
		before, after int64
	}
	var clones []clone
	crash := func() {
		before := committed.Load()
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(uint64(len(clones)), 9))})
		clones = append(clones, clone{crashed, before, committed.Load()})
	}
	for done := int64(0); done < int64(len(c.blocks)); {
		limit := min(done+1+int64(rng.IntN(30)), int64(len(c.blocks)))
		limits <- limit
		for range rng.IntN(4) { // vary where in the commits the crash lands
			runtime.Gosched()
		}
		crash()
		if _, ok := <-reached; !ok {
			break // the writer failed, and said why
		}
		done = limit
	}
	crash() // and once with the whole chain committed
	close(limits)
	wg.Wait()
	require.NoError(t, s.Close())
	distinct := map[int64]bool{}
	for i, cl := range clones {
		r := openMem(t, c, cl.fs)
		head, ok := r.Head()
		n := int64(0)
		if ok {
			h, _, _ := head.Head()
			n = int64(h) + 1
		}
		require.True(t, n >= cl.before && n <= cl.after+1,
			"clone %d: %d blocks after the crash, but %d..%d were committed around it", i, n, cl.before, cl.after)
		distinct[n] = true
		if n > 0 {
			require.Equal(t, c.states[n-1].ID(), head.ID(), "clone %d: head state at height %d", i, n-1)
			st, err := r.StateAt(uint64(n - 1))
			require.NoError(t, err, "clone %d: re-deriving the head", i)
			require.Equal(t, head.ID(), st.ID(), "clone %d: re-derived head", i)
		}
		// Nothing of the next block.
		_, err := r.Block(uint64(n))
		require.ErrorIs(t, err, ErrNotFound, "clone %d: block %d present beyond the head", i, n)
		if int(n) < len(c.blocks) {
			_, err := r.HeightAtView(c.blocks[n].View)
			require.ErrorIs(t, err, ErrNotFound, "clone %d: view index of block %d present beyond the head", i, n)
			// The store resumes where it stopped.
			require.NoError(t, r.Commit(c.blocks[n], c.states[n]), "clone %d: resume", i)
		}
		require.NoError(t, r.Close())
	}
	t.Logf("%d crash clones, %d distinct heads", len(clones), len(distinct))
	assert.GreaterOrEqual(t, len(distinct), 5, "the clones saw too few distinct heads; the test crashed at too few points")
}

func TestBadStores(t *testing.T) {
	c := makeChain(t, 20, 5)
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	commitAll(t, s, c, 0, 20)
	require.NoError(t, s.Close())

	o := c.options(fs)
	o.ChainID = "other"
	_, err := Open("store", o)
	assert.ErrorIs(t, err, ErrWrongChain, "wrong chain")
	assert.ErrorContains(t, err, `"store-test"`, "wrong chain")
	o = c.options(fs)
	o.GenesisHash[0] ^= 1
	_, err = Open("store", o)
	assert.ErrorIs(t, err, ErrWrongChain, "wrong genesis")

	tamper := func(key []byte, value func([]byte) []byte) vfs.FS {
		t.Helper()
		cp := vfs.NewMem()
		_, err := vfs.Clone(fs, cp, "store", "store")
		require.NoError(t, err)
		db, err := pebble.Open("store", &pebble.Options{FS: cp, Logger: errorsOnly{}})
		require.NoError(t, err)
		v, closer, err := db.Get(key)
		require.NoError(t, err)
		nv := value(append([]byte(nil), v...))
		require.NoError(t, closer.Close())
		require.NoError(t, db.Set(key, nv, pebble.Sync))
		require.NoError(t, db.Close())
		return cp
	}
	for name, tc := range map[string]struct {
		fs   vfs.FS
		want error
		text string
	}{
		"newer schema":         {tamper(keySchema, func([]byte) []byte { return binary.BigEndian.AppendUint64(nil, SchemaVersion+1) }), ErrNewerSchema, "upgrade node-plugin"},
		"older schema":         {tamper(keySchema, func([]byte) []byte { return binary.BigEndian.AppendUint64(nil, SchemaVersion-1) }), ErrOlderSchema, "resync from its peers"},
		"zero schema":          {tamper(keySchema, func([]byte) []byte { return binary.BigEndian.AppendUint64(nil, 0) }), ErrCorrupt, "unknown schema version 0"},
		"truncated head":       {tamper(keyHead, func(v []byte) []byte { return v[:len(v)-3] }), ErrCorrupt, "restore it from a backup"},
		"short head":           {tamper(keyHead, func(v []byte) []byte { return v[:10] }), ErrCorrupt, "truncated"},
		"head state ID":        {tamper(keyHead, func(v []byte) []byte { v[9] ^= 1; return v }), ErrCorrupt, "does not hash"},
		"truncated head block": {tamper(heightKey(tBlock, 19), func(v []byte) []byte { return v[:len(v)/2] }), ErrCorrupt, "head block 19"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open("store", c.options(tc.fs))
			assert.ErrorIs(t, err, tc.want)
			assert.ErrorContains(t, err, tc.text)
		})
	}
	// A corrupt block below the head shows when a state is re-derived.
	cp := tamper(heightKey(tBlock, 5), func(v []byte) []byte { return v[:len(v)-1] })
	r, err := Open("store", c.options(cp))
	require.NoError(t, err)
	defer func() { assert.NoError(t, r.Close()) }()
	_, err = r.StateAt(10)
	assert.ErrorIs(t, err, ErrCorrupt, "StateAt over a truncated block")
	assert.Equal(t, 1, strings.Count(err.Error(), "cannot be trusted"), "the advice is given once: %v", err)
	_, err = r.Block(5)
	assert.ErrorIs(t, err, ErrCorrupt, "reading the truncated block itself")
	_, err = r.Block(6)
	assert.NoError(t, err, "the blocks around it read")
}

// A store used after Close answers ErrClosed instead of crashing the node:
// a peer's sync request can be served while the node shuts down.
func TestUseAfterCloseIsAnError(t *testing.T) {
	c := makeChain(t, 3, 1)
	s := openMem(t, c, vfs.NewMem())
	commitAll(t, s, c, 0, 2)
	require.NoError(t, s.Close())
	_, err := s.Block(0)
	assert.ErrorIs(t, err, ErrClosed, "Block after Close")
	_, err = s.HeightAtView(c.blocks[0].View)
	assert.ErrorIs(t, err, ErrClosed, "HeightAtView after Close")
	assert.ErrorIs(t, s.Commit(c.blocks[2], c.states[2]), ErrClosed, "Commit after Close")
	assert.ErrorIs(t, s.Close(), ErrClosed, "a second Close")

	// Reads racing Close: each either answers or gets ErrClosed.
	s = openMem(t, c, vfs.NewMem())
	commitAll(t, s, c, 0, 2)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := s.Block(1); err != nil {
					assert.ErrorIs(t, err, ErrClosed)
					return
				}
			}
		}()
	}
	require.NoError(t, s.Close())
	wg.Wait()
}

// A read-only open reads what a node stored and writes nothing; it does not
// create a store, and a store a running node holds is ErrInUse.
func TestReadOnly(t *testing.T) {
	c := makeChain(t, 20, 3)
	dir := t.TempDir()
	opts := c.options(nil)
	opts.ReadOnly = true
	_, err := Open(dir+"/none", opts)
	assert.ErrorIs(t, err, ErrNoStore, "a missing folder")

	rw, err := Open(dir, c.options(nil))
	require.NoError(t, err)
	commitAll(t, rw, c, 0, 10)
	_, err = Open(dir, opts)
	assert.ErrorIs(t, err, ErrInUse, "the store is open for writing")
	require.NoError(t, rw.Close())

	ro, err := Open(dir, opts)
	require.NoError(t, err)
	head, ok := ro.Head()
	require.True(t, ok)
	assert.Equal(t, c.states[9].ID(), head.ID())
	st, err := ro.StateAt(4)
	require.NoError(t, err)
	assert.Equal(t, c.states[4].ID(), st.ID())
	assert.Error(t, ro.Commit(c.blocks[10], c.states[10]), "a read-only store takes no block")
	require.NoError(t, ro.Close())

	rw, err = Open(dir, c.options(nil))
	require.NoError(t, err, "the store opens for writing again")
	head, _ = rw.Head()
	assert.Equal(t, c.states[9].ID(), head.ID(), "nothing was written")
	require.NoError(t, rw.Close())

	empty := t.TempDir()
	_, err = Open(empty, opts)
	assert.ErrorIs(t, err, ErrNoStore, "an empty folder was never a store")
}
