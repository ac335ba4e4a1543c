package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The head marker: a small file beside pebble's, in the store's folder,
// that records how many blocks the store has committed, so that a
// write-ahead log that loses its tail (a torn or overwritten WAL, which
// pebble replays up to the damage and then opens without error) cannot
// shrink the chain unnoticed.
//
// Commit writes the marker after the block's batch is synced, without an
// fsync of its own (that would double a commit's cost); the marker is
// fsynced at most every markerSyncEvery and on Close. So:
//
//   - The marker is never ahead of what pebble holds durably: it is written
//     only after the batch's fsync returned. A head below the marker can
//     only mean that pebble lost blocks it had synced.
//   - After any stop of the process (Close, SIGKILL, a panic, the OOM
//     killer) the marker names the last block whose Commit returned: the
//     write sits in the OS's page cache, which outlives the process.
//   - After a crash of the machine (power loss, kernel panic) the marker
//     may lag, but it names at least the head as of its last fsync (at most
//     markerSyncEvery before the crash). Blocks after that are covered by
//     pebble's own fsync only: a damaged WAL that loses them as well goes
//     unnoticed.
//
// The file holds two 48-byte slots, at offsets 0 and 512 (different disk
// sectors), written alternately, each with a checksum: a write torn by a
// power loss damages one slot, and the other still holds the marker before
// it. Open takes the valid slot with more blocks.
const (
	markerFile      = "quorumgate-head"
	markerSlotSize  = 48
	markerSlotAt    = 512
	markerSyncEvery = time.Second
)

var markerMagic = []byte("QGH1")

// headMarker is what a slot holds: the number of blocks committed (the head
// height + 1; 0 for none) and the state ID after the last of them.
type headMarker struct {
	blocks uint64
	id     [32]byte
}

func (m headMarker) encode() []byte {
	b := make([]byte, 0, markerSlotSize)
	b = append(b, markerMagic...)
	b = binary.BigEndian.AppendUint64(b, m.blocks)
	b = append(b, m.id[:]...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func decodeMarkerSlot(b []byte) (headMarker, bool) {
	if len(b) < markerSlotSize || !bytes.Equal(b[:4], markerMagic) ||
		binary.BigEndian.Uint32(b[44:48]) != crc32.ChecksumIEEE(b[:44]) {
		return headMarker{}, false
	}
	m := headMarker{blocks: binary.BigEndian.Uint64(b[4:12])}
	copy(m.id[:], b[12:44])
	return m, true
}

// ErrLostBlocks: the store recovered a head below the blocks its head
// marker says were committed (errors.Is; the error is a *LostBlocksError).
var ErrLostBlocks = errors.New("the store lost committed blocks")

// LostBlocksError says how many blocks a store lost, and where.
type LostBlocksError struct {
	Dir string
	// Committed is how many blocks the marker says were committed;
	// Recovered how many pebble recovered (each is the height + 1).
	Committed, Recovered uint64
}

// Lost is how many blocks are missing.
func (e *LostBlocksError) Lost() uint64 { return e.Committed - e.Recovered }

func (e *LostBlocksError) Error() string {
	rec := "no block"
	if e.Recovered > 0 {
		rec = fmt.Sprintf("blocks up to %d", e.Recovered-1)
	}
	return fmt.Sprintf("the store at %s lost %d committed blocks: it had committed blocks up to %d, but its write-ahead log is damaged and recovers only %s",
		e.Dir, e.Lost(), e.Committed-1, rec)
}

func (e *LostBlocksError) Is(target error) bool { return target == ErrLostBlocks }

// markerPath is the marker's path in the store's folder.
func (s *Store) markerPath() string { return s.fs().PathJoin(s.dir, markerFile) }

func (s *Store) fs() vfs.FS {
	if s.opts.FS != nil {
		return s.opts.FS
	}
	return vfs.Default
}

// readMarker reads the marker; ok is false if there is none.
func (s *Store) readMarker() (m headMarker, ok bool, err error) {
	return readMarkerIn(s.fs(), s.dir)
}

func readMarkerIn(fs vfs.FS, dir string) (m headMarker, ok bool, err error) {
	path := fs.PathJoin(dir, markerFile)
	f, err := fs.Open(path)
	if oserrorNotExist(err) {
		return headMarker{}, false, nil
	}
	if err != nil {
		return headMarker{}, false, fmt.Errorf("open store %s: read the head marker: %w", dir, err)
	}
	defer f.Close() // read-only: nothing to lose
	buf := make([]byte, markerSlotAt+markerSlotSize)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return headMarker{}, false, fmt.Errorf("open store %s: read the head marker: %w", dir, err)
	}
	buf = buf[:n]
	if len(bytes.Trim(buf, "\x00")) == 0 {
		// Created, but a crash came before its first write was synced.
		return headMarker{}, false, nil
	}
	a, okA := decodeMarkerSlot(buf)
	var b headMarker
	okB := false
	if len(buf) >= markerSlotAt+markerSlotSize {
		b, okB = decodeMarkerSlot(buf[markerSlotAt:])
	}
	switch {
	case okA && okB && b.blocks > a.blocks, !okA && okB:
		return b, true, nil
	case okA:
		return a, true, nil
	}
	return headMarker{}, false, corrupt(dir, "neither slot of the head marker %s is valid", path)
}

func oserrorNotExist(err error) bool {
	return err != nil && (errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "does not exist") ||
		strings.Contains(err.Error(), "no such file"))
}

// resetMarker (re)writes both slots with m and syncs the file (and, if it
// was created, the folder), leaving it open for Commit's writes.
func (s *Store) resetMarker(m headMarker) error {
	created := false
	if s.marker == nil {
		f, err := s.fs().OpenReadWrite(s.markerPath(), vfs.WriteCategoryUnspecified)
		if err != nil {
			return fmt.Errorf("open store %s: open the head marker: %w", s.dir, err)
		}
		s.marker, created = f, true
	}
	enc := m.encode()
	buf := make([]byte, markerSlotAt+markerSlotSize)
	copy(buf, enc)
	copy(buf[markerSlotAt:], enc)
	if _, err := s.marker.WriteAt(buf, 0); err != nil {
		return fmt.Errorf("store %s: write the head marker: %w", s.dir, err)
	}
	if err := s.marker.Sync(); err != nil {
		return fmt.Errorf("store %s: sync the head marker: %w", s.dir, err)
	}
	s.markerSynced = time.Now()
	if created {
		dir, err := s.fs().OpenDir(s.dir)
		if err != nil {
			return fmt.Errorf("store %s: sync the folder of the head marker: %w", s.dir, err)
		}
		err = dir.Sync()
		if cerr := dir.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("store %s: sync the folder of the head marker: %w", s.dir, err)
		}
	}
	return nil
}

// advanceMarker records a committed block: one slot written, synced only
// if the last sync is markerSyncEvery old.
func (s *Store) advanceMarker(m headMarker) error {
	if _, err := s.marker.WriteAt(m.encode(), int64(m.blocks%2)*markerSlotAt); err != nil {
		return fmt.Errorf("write the head marker: %w", err)
	}
	if now := time.Now(); now.Sub(s.markerSynced) >= markerSyncEvery {
		if err := s.marker.Sync(); err != nil {
			return fmt.Errorf("sync the head marker: %w", err)
		}
		s.markerSynced = now
	}
	return nil
}

// checkMarker compares the recovered head with the marker. A head below
// the marker is ErrLostBlocks, unless AcceptLostBlocks, which logs the loss
// and lowers the marker to the head. A head at or above the marker (the
// marker may lag after a machine crash) must hold, at the marker's height,
// the state the marker names.
func (s *Store) checkMarker() error {
	m, ok, err := s.readMarker()
	if err != nil {
		return err
	}
	head := headMarker{}
	if s.hasBlock {
		h, _, _ := s.head.Head()
		head = headMarker{blocks: h + 1, id: s.headID}
	}
	if !ok {
		if s.opts.ReadOnly {
			return nil
		}
		if head.blocks > 0 {
			s.log.Info("store: no head marker (a store written by an earlier build?): writing one at the recovered head",
				"store", s.dir, "blocks", head.blocks)
		}
		return s.resetMarker(head)
	}
	if head.blocks < m.blocks {
		lost := &LostBlocksError{Dir: s.dir, Committed: m.blocks, Recovered: head.blocks}
		if !s.opts.AcceptLostBlocks {
			return lost
		}
		s.log.Warn("store: starting from the recovered head; the lost blocks are to be re-synced from peers",
			"store", s.dir, "lost", lost.Lost(), "committed", m.blocks, "recovered", head.blocks)
		if s.opts.ReadOnly {
			return nil
		}
		return s.resetMarker(head)
	}
	if m.blocks > 0 {
		rec, err := s.blockRecord(m.blocks - 1)
		if err != nil {
			return s.corruptAt(err, "block %d, which the head marker names", m.blocks-1)
		}
		if rec.StateID != m.id {
			return corrupt(s.dir, "block %d records another state ID than the head marker", m.blocks-1)
		}
	}
	if s.opts.ReadOnly {
		return nil
	}
	return s.resetMarker(head)
}

// pebbleLogger routes pebble's messages into the store's logger: its WAL
// recovery reports (how far each log was replayed) at Info, its routine
// information (flushes, compactions) at Debug, and its errors at Error.
type pebbleLogger struct {
	l   *slog.Logger
	dir string
}

func (p pebbleLogger) Infof(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelDebug
	if strings.Contains(msg, "WAL") {
		level = slog.LevelInfo
	}
	p.l.Log(context.Background(), level, "store: pebble: "+msg, "store", p.dir)
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("store: pebble: "+fmt.Sprintf(format, args...), "store", p.dir)
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("store: pebble: fatal: "+fmt.Sprintf(format, args...), "store", p.dir)
	os.Exit(1)
}
