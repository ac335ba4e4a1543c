package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
)

func reportBlocks(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchmarkCommitEmptyBlocks: synced commits of empty blocks on disk.
func BenchmarkCommitEmptyBlocks(b *testing.B) {
	g := testGenesis(b)
	o := Options{ChainID: "store-test", Genesis: g, SnapshotInterval: 1024}
	s, err := Open(b.TempDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	state := g
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		blk := activation.Block{Height: uint64(i), View: uint64(i) + 1}
		next, _, err := activation.Apply(state, blk)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Commit(Block{Height: blk.Height, View: blk.View, Verified: blk}, next); err != nil {
			b.Fatal(err)
		}
		state = next
	}
	reportBlocks(b)
}

// BenchmarkCommitCertificateBlocks: synced commits of blocks that each carry
// a 10,000-signer certificate (6,667 signers) for the epoch's deployment.
func BenchmarkCommitCertificateBlocks(b *testing.B) {
	var ids []quorum.Identity
	for i := range 10000 {
		ids = append(ids, quorum.Identity{NodeID: fmt.Sprintf("node-%05d", i), Role: "consensus", Stake: 100})
	}
	table, err := quorum.NewTable(ids)
	require.NoError(b, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	require.NoError(b, err)
	// Epochs of one block each, so every block's certificate counts afresh.
	params := &activation.Params{ChainID: "bench", EpochViews: 2, SafetyViews: 0, Identities: sched}
	g, err := activation.Genesis(params, map[string]string{"protocol": "1.0.0"})
	require.NoError(b, err)
	s, err := Open(b.TempDir(), Options{ChainID: "bench", Genesis: g})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	first := activation.Block{Height: 0, View: 0, Proposals: []activation.Proposal{{
		Name: "p", Component: "protocol", Version: "2.0.0", Mode: activation.Stake, Threshold: quorum.Threshold{Num: 99, Den: 100},
		StartEpoch: 0, TimeoutEpoch: 1 << 40}}}
	state, _, err := activation.Apply(g, first)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Commit(Block{Verified: first}, state); err != nil {
		b.Fatal(err)
	}
	wire := quorum.Certificate{ChainID: "bench", Signers: quorum.NewBitmap(10000), Signature: make([]byte, 48)}
	for i := range 10000 {
		if i%3 != 0 {
			wire.Signers.Set(i)
		}
	}
	wireBytes := wire.Encode()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		view := uint64(i+1) * 2
		blk := activation.Block{Height: uint64(i + 1), View: view}
		for j := range 10000 {
			if j%3 != 0 {
				blk.Readiness = append(blk.Readiness, activation.Readiness{Deployment: "p", Epoch: view / 2, Node: ids[j].NodeID})
			}
		}
		next, _, err := activation.Apply(state, blk)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := s.Commit(Block{Height: blk.Height, View: blk.View, Wire: wireBytes, Verified: blk}, next); err != nil {
			b.Fatal(err)
		}
		state = next
	}
	reportBlocks(b)
}

// A store of 1,000,000 blocks, built once per machine (without syncs, which
// would take hours) under the temp dir and reused by later runs.
const millionBlocks = 1_000_000

var millionOnce sync.Once

func millionStore(b *testing.B) (string, *activation.State) {
	g := testGenesis(b)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("quorumgate-bench-store-v%d-%d", SchemaVersion, millionBlocks))
	millionOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
			return
		}
		os.RemoveAll(dir)
		c := &testChain{genesis: g}
		s, err := Open(dir, c.options(nil))
		if err != nil {
			b.Fatal(err)
		}
		s.writeOpts = pebble.NoSync
		state := g
		for h := range uint64(millionBlocks) {
			blk := activation.Block{Height: h, View: h + 1}
			if h%5000 == 1 {
				blk.Proposals = []activation.Proposal{{Name: fmt.Sprintf("p%d", h), Component: "protocol",
					Version: fmt.Sprintf("%d.0.0", h+2), Mode: activation.Governance, ActivationView: h + 100}}
			}
			next, _, err := activation.Apply(state, blk)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(Block{Height: h, View: blk.View, Verified: blk}, next); err != nil {
				b.Fatal(err)
			}
			state = next
		}
		if err := s.db.Flush(); err != nil {
			b.Fatal(err)
		}
		s.Close()
		os.WriteFile(filepath.Join(dir, "complete"), nil, 0o644)
	})
	return dir, g
}

// BenchmarkOpenRecover1M: open a 1,000,000-block store and recover its head
// (target < 1 s).
func BenchmarkOpenRecover1M(b *testing.B) {
	dir, g := millionStore(b)
	c := &testChain{genesis: g}
	b.ResetTimer()
	for range b.N {
		s, err := Open(dir, c.options(nil))
		if err != nil {
			b.Fatal(err)
		}
		if head, ok := s.Head(); !ok {
			b.Fatal("no head")
		} else if h, _, _ := head.Head(); h != millionBlocks-1 {
			b.Fatalf("head %d", h)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkRecoverByReplay1M: the naive baseline, re-deriving the head by
// replaying every stored block from genesis.
func BenchmarkRecoverByReplay1M(b *testing.B) {
	dir, g := millionStore(b)
	c := &testChain{genesis: g}
	b.ResetTimer()
	for range b.N {
		s, err := Open(dir, c.options(nil))
		if err != nil {
			b.Fatal(err)
		}
		state := g
		for h := range uint64(millionBlocks) {
			blk, err := s.Block(h)
			if err != nil {
				b.Fatal(err)
			}
			if state, _, err = activation.Apply(state, blk.Verified); err != nil {
				b.Fatal(err)
			}
		}
		if head, _ := s.Head(); head.ID() != state.ID() {
			b.Fatal("replay disagrees with the stored head")
		}
		s.Close()
	}
}

// BenchmarkCommitEmptyBlocksUnbatched: the naive baseline for commits, the
// same records as separate synced writes instead of one synced batch (and
// not atomic: a crash between them leaves half a block).
func BenchmarkCommitEmptyBlocksUnbatched(b *testing.B) {
	g := testGenesis(b)
	s, err := Open(b.TempDir(), Options{ChainID: "store-test", Genesis: g})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	state := g
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		blk := activation.Block{Height: uint64(i), View: uint64(i) + 1}
		next, _, err := activation.Apply(state, blk)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		enc := next.Encode()
		id := next.ID()
		rec := canon.MustEncode(blockRecord{View: blk.View, StateID: id})
		head := append(binary.BigEndian.AppendUint64(nil, blk.Height), id[:]...)
		for _, kv := range [][2][]byte{
			{heightKey(tBlock, blk.Height), rec},
			{heightKey(tView, blk.View), binary.BigEndian.AppendUint64(nil, blk.Height)},
			{keyHead, append(head, enc...)},
		} {
			if err := s.db.Set(kv[0], kv[1], pebble.Sync); err != nil {
				b.Fatal(err)
			}
		}
		state = next
	}
	reportBlocks(b)
}
