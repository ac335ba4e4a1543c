package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newestWAL is the path of the newest pebble write-ahead log in the store.
func newestWAL(t *testing.T, fs vfs.FS) string {
	t.Helper()
	names, err := fs.List("store")
	require.NoError(t, err)
	var logs []string
	for _, n := range names {
		if strings.HasSuffix(n, ".log") {
			logs = append(logs, n)
		}
	}
	require.NotEmpty(t, logs, "no WAL in %v", names)
	slices.Sort(logs)
	return fs.PathJoin("store", logs[len(logs)-1])
}

// damageWAL overwrites 4 bytes in the middle of the newest WAL, or cuts its
// second half off.
func damageWAL(t *testing.T, fs vfs.FS, how string) {
	t.Helper()
	p := newestWAL(t, fs)
	st, err := fs.Stat(p)
	require.NoError(t, err)
	size := st.Size()
	f, err := fs.Open(p)
	require.NoError(t, err)
	data := make([]byte, size)
	_, err = f.ReadAt(data, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	switch how {
	case "overwrite":
		copy(data[size/2:], []byte{0xde, 0xad, 0xbe, 0xef})
	case "truncate":
		data = data[:size/2]
	default:
		t.Fatalf("damage %q", how)
	}
	require.NoError(t, fs.Remove(p))
	w, err := fs.Create(p, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Sync())
	require.NoError(t, w.Close())
}

// damagedStore commits n blocks, then copies the store as a process that
// stopped (Close) or was killed (no Close: the copy holds every write, synced
// or not, as the OS does after SIGKILL) would leave it, with the newest WAL
// damaged.
func damagedStore(t *testing.T, c *testChain, n int, stop, how string) vfs.FS {
	t.Helper()
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	commitAll(t, s, c, 0, n)
	if stop == "stopped" {
		require.NoError(t, s.Close())
	} else {
		defer func() { assert.NoError(t, s.Close()) }()
	}
	cp := vfs.NewMem()
	_, err := vfs.Clone(fs, cp, "store", "store")
	require.NoError(t, err)
	damageWAL(t, cp, how)
	return cp
}

// A damaged WAL makes pebble open at an older head without error; the store
// notices from its head marker and says how many blocks were lost.
func TestDamagedWALLosesNothingSilently(t *testing.T) {
	const n = 1500
	c := makeChain(t, n, 11)
	for _, stop := range []string{"stopped", "killed"} {
		for _, how := range []string{"overwrite", "truncate"} {
			t.Run(stop+"/"+how, func(t *testing.T) {
				fs := damagedStore(t, c, n, stop, how)
				_, err := Open("store", c.options(fs))
				require.ErrorIs(t, err, ErrLostBlocks)
				var lb *LostBlocksError
				require.True(t, errors.As(err, &lb))
				assert.Equal(t, uint64(n), lb.Committed, "blocks committed")
				require.Less(t, lb.Recovered, uint64(n), "blocks recovered")
				assert.Greater(t, lb.Lost(), uint64(0))
				assert.Contains(t, err.Error(), fmt.Sprintf("the store at store lost %d committed blocks", lb.Lost()))
				assert.NotContains(t, err.Error(), "\n", "one line")
				t.Logf("%v", err)

				// AcceptLostBlocks opens at the recovered head, says so,
				// and lowers the marker: the next open is clean.
				var logged bytes.Buffer
				o := c.options(fs)
				o.AcceptLostBlocks = true
				o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
				s, err := Open("store", o)
				require.NoError(t, err)
				head, ok := s.Head()
				require.Equal(t, lb.Recovered > 0, ok)
				if ok {
					h, _, _ := head.Head()
					assert.Equal(t, lb.Recovered-1, h, "the head opened at")
					assert.Equal(t, c.states[h].ID(), head.ID())
				}
				assert.Contains(t, logged.String(), fmt.Sprintf("lost=%d", lb.Lost()), "the loss is logged")
				assert.Contains(t, logged.String(), "stopped reading at offset", "pebble's recovery report reaches the logger")
				m, ok, err := s.readMarker()
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, lb.Recovered, m.blocks, "the marker is lowered to the head")
				// The lost blocks are committed again (as a re-sync would).
				commitAll(t, s, c, int(lb.Recovered), n)
				require.NoError(t, s.Close())
				s = openMem(t, c, fs)
				head, _ = s.Head()
				assert.Equal(t, c.states[n-1].ID(), head.ID(), "re-synced head")
				require.NoError(t, s.Close())
			})
		}
	}
}

// Without damage the marker raises nothing: a reopen, and a reopen after a
// machine crash that keeps only synced data (the marker may then lag the
// head, never lead it), both open at the head with the marker at the head.
func TestMarkerFollowsTheHead(t *testing.T) {
	const n = 300
	c := makeChain(t, n, 12)
	fs := vfs.NewCrashableMem()
	s := openMem(t, c, fs)
	commitAll(t, s, c, 0, n/2)
	m, ok, err := s.readMarker()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(n/2), m.blocks, "the marker after commits (not synced, but written)")
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	commitAll(t, s, c, n/2, n)
	require.NoError(t, s.Close())

	for name, f := range map[string]vfs.FS{"reopen": fs, "crash": crashed} {
		r, err := Open("store", c.options(f))
		require.NoError(t, err, name)
		head, ok := r.Head()
		require.True(t, ok, name)
		h, _, _ := head.Head()
		if name == "reopen" {
			assert.Equal(t, uint64(n-1), h, name)
		}
		assert.Equal(t, c.states[h].ID(), head.ID(), name)
		m, ok, err := r.readMarker()
		require.NoError(t, err, name)
		require.True(t, ok, name)
		assert.Equal(t, h+1, m.blocks, "%s: the marker is at the head after open", name)
		require.NoError(t, r.Close(), name)
	}
}

// A torn marker write damages one slot; the other one still counts.
func TestMarkerSurvivesATornSlot(t *testing.T) {
	c := makeChain(t, 30, 13)
	fs := vfs.NewMem()
	s := openMem(t, c, fs)
	commitAll(t, s, c, 0, 30)
	require.NoError(t, s.Close())
	f, err := fs.OpenReadWrite("store/"+markerFile, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{0xff, 0xff}, 20) // slot 0 (30 blocks: the last write went to it)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	s = openMem(t, c, fs) // slot 1 says 29 blocks: below the head, fine
	m, ok, err := s.readMarker()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(30), m.blocks)
	require.NoError(t, s.Close())

	// A marker naming another state than the store's at its height is not a
	// lag but corruption.
	f, err = fs.OpenReadWrite("store/"+markerFile, vfs.WriteCategoryUnspecified)
	require.NoError(t, err)
	bad := headMarker{blocks: 10, id: [32]byte{9}}.encode()
	_, err = f.WriteAt(append(append(bad, make([]byte, markerSlotAt-len(bad))...), bad...), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, err = Open("store", c.options(fs))
	assert.ErrorIs(t, err, ErrCorrupt)
	assert.ErrorContains(t, err, "head marker")
}
