package storage

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/signal"
)

func openMem(t testing.TB, c *testChain, fs vfs.FS) *Store {
	t.Helper()
	s, err := Open("store", c.options(fs))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func commitAll(t testing.TB, s *Store, c *testChain, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Commit(c.blocks[i], c.states[i]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCommitReopenAndQueries(t *testing.T) {
	c := makeChain(t, 700, 1)
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	if _, ok := s.Head(); ok {
		t.Fatal("a new store has a head block")
	}
	commitAll(t, s, c, 0, len(c.blocks))
	s.Close()

	s = openMem(t, c, fs)
	defer s.Close()
	head, ok := s.Head()
	final := c.states[len(c.states)-1]
	if !ok || head.ID() != final.ID() {
		t.Fatal("reopened head differs")
	}
	for _, h := range []uint64{0, 1, 63, 64, 65, 300, 699} {
		st, err := s.StateAt(h)
		if err != nil || st.ID() != c.states[h].ID() {
			t.Fatalf("StateAt(%d): %v", h, err)
		}
		b, err := s.Block(h)
		if err != nil || string(b.Wire) != string(c.blocks[h].Wire) || b.View != c.blocks[h].View {
			t.Fatalf("Block(%d): %v", h, err)
		}
		if got, err := s.HeightAtView(b.View); err != nil || got != h {
			t.Fatalf("HeightAtView(%d) = %d, %v", b.View, got, err)
		}
	}
	if _, err := s.StateAt(700); !errors.Is(err, ErrNotFound) {
		t.Fatalf("StateAt past the head: %v", err)
	}
	if len(final.History("protocol")) < 4 {
		t.Fatalf("test chain activated too little: %v", final.History("protocol"))
	}
	_, lastView, _ := final.Head()
	for v := uint64(0); v <= lastView+5; v++ {
		want, wantOK := final.VersionAt("protocol", v)
		got, gotOK, err := s.VersionAt("protocol", v)
		if err != nil || got != want || gotOK != wantOK {
			t.Fatalf("VersionAt(protocol, %d) = %q %v %v, want %q %v", v, got, gotOK, err, want, wantOK)
		}
	}
	if _, ok, _ := s.VersionAt("nothing", 5); ok {
		t.Fatal("version of an unknown component")
	}
	if err := s.Commit(c.blocks[10], c.states[10]); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("re-committing an old block: %v", err)
	}
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
					t.Error(err)
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
	s.Close()
	distinct := map[int64]bool{}
	for i, cl := range clones {
		r := openMem(t, c, cl.fs)
		head, ok := r.Head()
		n := int64(0)
		if ok {
			h, _, _ := head.Head()
			n = int64(h) + 1
		}
		if n < cl.before || n > cl.after+1 {
			t.Fatalf("clone %d: %d blocks after the crash, but %d..%d were committed around it", i, n, cl.before, cl.after)
		}
		distinct[n] = true
		if n > 0 && head.ID() != c.states[n-1].ID() {
			t.Fatalf("clone %d: head state differs from the chain's at height %d", i, n-1)
		}
		if n > 0 {
			if st, err := r.StateAt(uint64(n - 1)); err != nil || st.ID() != head.ID() {
				t.Fatalf("clone %d: re-deriving the head: %v", i, err)
			}
		}
		// Nothing of the next block.
		if _, err := r.Block(uint64(n)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("clone %d: block %d present beyond the head: %v", i, n, err)
		}
		if int(n) < len(c.blocks) {
			if _, err := r.HeightAtView(c.blocks[n].View); !errors.Is(err, ErrNotFound) {
				t.Fatalf("clone %d: view index of block %d present beyond the head", i, n)
			}
			// The store resumes where it stopped.
			if err := r.Commit(c.blocks[n], c.states[n]); err != nil {
				t.Fatalf("clone %d: resume: %v", i, err)
			}
		}
		r.Close()
	}
	t.Logf("%d crash clones, %d distinct heads", len(clones), len(distinct))
	if len(distinct) < 5 {
		t.Fatalf("the clones saw only %d distinct heads; the test crashed at too few points", len(distinct))
	}
}

func TestBadStores(t *testing.T) {
	c := makeChain(t, 20, 5)
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	commitAll(t, s, c, 0, 20)
	s.Close()

	o := c.options(fs)
	o.ChainID = "other"
	if _, err := Open("store", o); !errors.Is(err, ErrWrongChain) || !strings.Contains(err.Error(), `"store-test"`) {
		t.Fatalf("wrong chain: %v", err)
	}
	o = c.options(fs)
	o.GenesisHash[0] ^= 1
	if _, err := Open("store", o); !errors.Is(err, ErrWrongChain) {
		t.Fatalf("wrong genesis: %v", err)
	}

	tamper := func(key []byte, value func([]byte) []byte) vfs.FS {
		t.Helper()
		cp := vfs.NewMem()
		if _, err := vfs.Clone(fs, cp, "store", "store"); err != nil {
			t.Fatal(err)
		}
		db, err := pebble.Open("store", &pebble.Options{FS: cp})
		if err != nil {
			t.Fatal(err)
		}
		v, closer, err := db.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		nv := value(append([]byte(nil), v...))
		closer.Close()
		db.Set(key, nv, pebble.Sync)
		db.Close()
		return cp
	}
	for name, tc := range map[string]struct {
		fs   vfs.FS
		want error
		text string
	}{
		"newer schema":         {tamper(keySchema, func([]byte) []byte { return binary.BigEndian.AppendUint64(nil, SchemaVersion+1) }), ErrNewerSchema, "upgrade node-plugin"},
		"truncated head":       {tamper(keyHead, func(v []byte) []byte { return v[:len(v)-3] }), ErrCorrupt, "restore it from a backup"},
		"short head":           {tamper(keyHead, func(v []byte) []byte { return v[:10] }), ErrCorrupt, "truncated"},
		"head state ID":        {tamper(keyHead, func(v []byte) []byte { v[9] ^= 1; return v }), ErrCorrupt, "does not hash"},
		"truncated head block": {tamper(heightKey(tBlock, 19), func(v []byte) []byte { return v[:len(v)/2] }), ErrCorrupt, "head block 19"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open("store", c.options(tc.fs))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.want, tc.text)
			}
		})
	}
	// A corrupt block below the head shows when a state is re-derived.
	cp := tamper(heightKey(tBlock, 5), func(v []byte) []byte { return v[:len(v)-1] })
	r, err := Open("store", c.options(cp))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.StateAt(10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("StateAt over a truncated block: %v", err)
	}
}

func TestAttestationPool(t *testing.T) {
	c := makeChain(t, 1, 6)
	s := openMem(t, c, vfs.NewMem())
	defer s.Close()
	k, _ := signal.GenerateKey(make([]byte, 32))
	var d1, d2 signal.DeploymentID
	d1[0], d2[0] = 1, 2
	put := func(d signal.DeploymentID, epoch uint64, signer string) {
		a, err := signal.SignReadiness(k, "store-test", d, epoch, signer)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutAttestation(a); err != nil {
			t.Fatal(err)
		}
	}
	put(d1, 3, "b")
	put(d1, 3, "a")
	put(d1, 3, "a") // again: one entry
	put(d2, 3, "a")
	put(d1, 4, "c")
	got, err := s.Attestations(d1, 3)
	if err != nil || len(got) != 2 || got[0].Signer != "a" || got[1].Signer != "b" {
		t.Fatalf("pool of (d1, 3): %v %+v", err, got)
	}
	if err := s.PruneAttestations(4); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Attestations(d1, 3); len(got) != 0 {
		t.Fatal("epoch 3 survived pruning")
	}
	if got, _ := s.Attestations(d1, 4); len(got) != 1 {
		t.Fatal("epoch 4 was pruned")
	}
	// Committing the first block of epoch 5 ends epoch 4's pool by itself.
	put(d1, 5, "d")
	g := c.genesis
	for h, view := range []uint64{79, 100} { // epoch_views 20: epochs 3 and 5
		blk := activation.Block{Height: uint64(h), View: view}
		next, _, err := activation.Apply(g, blk)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(Block{Height: uint64(h), View: view, Verified: blk}, next); err != nil {
			t.Fatal(err)
		}
		g = next
	}
	if got, _ := s.Attestations(d1, 4); len(got) != 0 {
		t.Fatal("epoch 4's pool survived the move to epoch 5")
	}
	if got, _ := s.Attestations(d1, 5); len(got) != 1 {
		t.Fatal("epoch 5's pool was dropped")
	}
}
