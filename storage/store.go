package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
)

// SchemaVersion is the layout this binary reads and writes. Version 2:
// state IDs are Merkle-style commitments ("quorumgate/state/v2",
// docs/proof.md), so every stored state ID of a version 1 store differs,
// and a store may start at a base height (state sync).
const SchemaVersion = 2

// Table prefixes (see the package doc).
const (
	tMeta     byte = 0x01
	tBlock    byte = 0x02
	tView     byte = 0x03
	tSnapshot byte = 0x04
	tHead     byte = 0x05
	// 0x06 and 0x07 held a version-history index and an attestation pool
	// that nothing read; they are reserved so that a store written by an
	// earlier build never means something else.
)

var (
	keySchema  = []byte{tMeta, 'v'}
	keyChain   = []byte{tMeta, 'c'}
	keyGenesis = []byte{tMeta, 'g'}
	keyHead    = []byte{tHead}
)

// Options configure Open.
type Options struct {
	// ChainID and GenesisHash identify the chain; a store of another chain
	// does not open.
	ChainID     string
	GenesisHash [32]byte
	// Genesis is the state before the first block, under the chain's params.
	Genesis *activation.State
	// SnapshotInterval: a full state snapshot every this many blocks (default 1024).
	SnapshotInterval uint64
	// FS is the filesystem; nil means the real one. Tests pass vfs.NewMem()
	// or vfs.NewCrashableMem().
	FS vfs.FS
	// Small trims pebble's caches and buffers for tests and tiny nodes.
	Small bool
	// ReadOnly opens an existing store for reading (node-plugin export):
	// nothing is written, Commit fails, and a missing store is an error
	// rather than created. Pebble still locks the folder, so a store a
	// running node holds does not open (ErrInUse).
	ReadOnly bool
	// Logger gets pebble's recovery reports (how far each write-ahead log
	// was replayed) at Info, its routine information at Debug and its
	// errors, and the store's own notices. nil keeps the store quiet:
	// only pebble's errors, on stderr.
	Logger *slog.Logger
	// AcceptLostBlocks opens a store whose write-ahead log lost committed
	// blocks (see ErrLostBlocks) at the head it recovered, logs how many
	// were lost, and lowers the head marker to that head: the caller is to
	// re-sync the rest from peers.
	AcceptLostBlocks bool
}

// Errors a caller may want to tell apart (errors.Is).
var (
	ErrWrongChain   = errors.New("the store belongs to another chain")
	ErrNewerSchema  = errors.New("the store was written by a newer node-plugin")
	ErrOlderSchema  = errors.New("the store was written by an older node-plugin")
	ErrCorrupt      = errors.New("the store is corrupt")
	ErrNotFound     = errors.New("not found")
	ErrInUse        = errors.New("the store is in use by another process (a running node?)")
	ErrNoStore      = errors.New("no store there")
	ErrOutOfOrder   = errors.New("block does not follow the head")
	errEmptyOptions = errors.New("storage options need a chain ID and a genesis state")
)

// corrupt builds an ErrCorrupt with what to do about it.
func corrupt(dir, format string, args ...any) error {
	return fmt.Errorf("%w: %s (the store at %s cannot be trusted: restore it from a backup, or move it aside and let the node resync from its peers)",
		ErrCorrupt, fmt.Sprintf(format, args...), dir)
}

// Store is an open store. Close it.
type Store struct {
	db   *pebble.DB
	dir  string
	opts Options

	// writeOpts is pebble.Sync; benchmarks building huge stores relax it.
	writeOpts *pebble.WriteOptions

	log *slog.Logger
	// marker is the head marker file (marker.go), nil when read-only;
	// markerSynced is when it was last fsynced.
	marker       vfs.File
	markerSynced time.Time

	mu       sync.RWMutex
	head     *activation.State
	headID   [32]byte
	hasBlock bool
	// base is the height the store joined at by state sync, if
	// bootstrapped (bootstrap.go).
	base         uint64
	bootstrapped bool

	// life guards db against use after Close: pebble panics on a closed
	// DB, and a reader on another goroutine (a peer's sync request served
	// while the node shuts down) must get ErrClosed instead.
	life   sync.RWMutex
	closed bool
}

// ErrClosed is returned by reads and commits on a store that was closed.
var ErrClosed = errors.New("storage: the store is closed")

// Open opens (or creates) the store in dir and recovers its head.
func Open(dir string, opts Options) (*Store, error) {
	if opts.ChainID == "" || opts.Genesis == nil {
		return nil, errEmptyOptions
	}
	if opts.SnapshotInterval == 0 {
		opts.SnapshotInterval = 1024
	}
	po := &pebble.Options{FS: opts.FS, Logger: errorsOnly{}, ReadOnly: opts.ReadOnly}
	log := opts.Logger
	if log != nil {
		po.Logger = pebbleLogger{l: log, dir: dir}
	} else {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Small {
		po.MemTableSize = 1 << 20
		po.Cache = pebble.NewCache(1 << 20)
		defer po.Cache.Unref()
	}
	db, err := pebble.Open(dir, po)
	if err != nil {
		if opts.ReadOnly && (errors.Is(err, pebble.ErrDBDoesNotExist) || strings.Contains(err.Error(), "does not exist")) {
			return nil, fmt.Errorf("open store %s: %w", dir, ErrNoStore)
		}
		if strings.Contains(err.Error(), "lock") {
			return nil, fmt.Errorf("open store %s: %w: %v", dir, ErrInUse, err)
		}
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, opts: opts, head: opts.Genesis, writeOpts: pebble.Sync, log: log}
	if err := s.init(); err != nil {
		if s.marker != nil {
			if cerr := s.marker.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("close the head marker of %s: %w", dir, cerr))
			}
		}
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close store %s: %w", dir, cerr))
		}
		return nil, err
	}
	return s, nil
}

// errorsOnly keeps pebble's errors and drops its routine information
// (WAL replays, compactions), which would drown the node's own logs.
type errorsOnly struct{}

func (errorsOnly) Infof(string, ...any) {}
func (errorsOnly) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "storage: "+format+"\n", args...)
}
func (errorsOnly) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "storage: fatal: "+format+"\n", args...)
	os.Exit(1)
}

// Close releases the store. It waits for reads and commits under way;
// later ones, and a second Close, get ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	var err error
	if s.marker != nil {
		if err = s.marker.Sync(); err != nil {
			err = fmt.Errorf("close store %s: sync the head marker: %w", s.dir, err)
		}
		if cerr := s.marker.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store %s: close the head marker: %w", s.dir, cerr)
		}
	}
	return errors.Join(err, s.db.Close())
}

func (s *Store) get(key []byte) ([]byte, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read store %s: %w", s.dir, err)
	}
	out := bytes.Clone(v)
	if err := closer.Close(); err != nil {
		return nil, fmt.Errorf("read store %s: %w", s.dir, err)
	}
	return out, nil
}

func (s *Store) init() error {
	ver, err := s.get(keySchema)
	if errors.Is(err, ErrNotFound) {
		if s.opts.ReadOnly {
			return fmt.Errorf("open store %s: %w (it was never initialized)", s.dir, ErrNoStore)
		}
		if err := s.create(); err != nil {
			return err
		}
		return s.checkMarker() // a log that lost everything recovers no store
	}
	if err != nil {
		return err // get names the store
	}
	if len(ver) != 8 {
		return corrupt(s.dir, "the schema version has %d bytes", len(ver))
	}
	if v := binary.BigEndian.Uint64(ver); v != SchemaVersion {
		if v > SchemaVersion {
			return fmt.Errorf("%w: schema version %d, this binary reads %d: upgrade node-plugin", ErrNewerSchema, v, SchemaVersion)
		}
		if v >= 1 {
			// Its blocks are sound but its state IDs are of another
			// formula: the chain's blocks re-sync in the new one.
			return fmt.Errorf("%w: schema version %d (state IDs before quorumgate/state/v2), this binary reads %d and cannot re-key it: move the store at %s aside and let the node resync from its peers (or join by state sync)",
				ErrOlderSchema, v, SchemaVersion, s.dir)
		}
		return corrupt(s.dir, "unknown schema version %d", v)
	}
	chain, err := s.get(keyChain)
	if err != nil {
		return corrupt(s.dir, "no chain ID: %v", err)
	}
	if string(chain) != s.opts.ChainID {
		return fmt.Errorf("%w: the store at %s is for chain %q, not %q", ErrWrongChain, s.dir, chain, s.opts.ChainID)
	}
	gen, err := s.get(keyGenesis)
	if err != nil || len(gen) != 32 {
		return corrupt(s.dir, "no genesis hash")
	}
	if !bytes.Equal(gen, s.opts.GenesisHash[:]) {
		return fmt.Errorf("%w: the store at %s has genesis %x…, the configuration %x…", ErrWrongChain, s.dir, gen[:8], s.opts.GenesisHash[:8])
	}
	if err := s.recoverHead(); err != nil {
		return err
	}
	if err := s.recoverBase(); err != nil {
		return err
	}
	return s.checkMarker()
}

func (s *Store) create() error {
	b := s.db.NewBatch()
	defer b.Close() // recycles the batch; it can fail only when closed twice
	b.Set(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion), nil)
	b.Set(keyChain, []byte(s.opts.ChainID), nil)
	b.Set(keyGenesis, s.opts.GenesisHash[:], nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("initialize store %s: %w", s.dir, err)
	}
	return nil
}

// recoverHead loads the head state and checks it against its stored ID and
// the block record at its height.
func (s *Store) recoverHead() error {
	v, err := s.get(keyHead)
	if errors.Is(err, ErrNotFound) {
		return nil // no block yet
	}
	if err != nil {
		return err
	}
	height, id, state, err := s.decodeHead(v)
	if err != nil {
		return err
	}
	rec, err := s.blockRecord(height)
	if err != nil {
		return s.corruptAt(err, "head block %d", height)
	}
	if rec.StateID != id {
		return corrupt(s.dir, "the head block %d records another state ID than the head", height)
	}
	s.head, s.headID, s.hasBlock = state, id, true
	return nil
}

// decodeHead decodes the head record: height(8) || state ID(32) || state,
// checking that the state hashes to the ID and is at that height.
func (s *Store) decodeHead(v []byte) (height uint64, id [32]byte, state *activation.State, err error) {
	if len(v) < 40 {
		return 0, id, nil, corrupt(s.dir, "the head record is truncated (%d bytes)", len(v))
	}
	height = binary.BigEndian.Uint64(v[:8])
	copy(id[:], v[8:40])
	state, err = activation.DecodeState(s.opts.Genesis.Params(), v[40:])
	if err != nil {
		return 0, id, nil, corrupt(s.dir, "head state at height %d: %v", height, err)
	}
	if state.ID() != id {
		return 0, id, nil, corrupt(s.dir, "the head state at height %d does not hash to its stored ID", height)
	}
	if h, _, ok := state.Head(); !ok || h != height {
		return 0, id, nil, corrupt(s.dir, "the head state is for height %d, the head record says %d", h, height)
	}
	return height, id, state, nil
}

// corruptAt reports err, met while reading what, as ErrCorrupt, once: an
// error that already is ErrCorrupt keeps its own advice.
func (s *Store) corruptAt(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return corrupt(s.dir, "%s: %v", what, err)
}

// Head returns the state after the last committed block (the genesis state
// if none) and whether any block is stored.
func (s *Store) Head() (*activation.State, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head, s.hasBlock
}

// Block is a finalized block as stored: its wire encoding (for serving
// peers), its verified items (for re-deriving state without re-checking
// signatures), and the ID of the state after it.
type Block struct {
	Height, View uint64
	Wire         []byte
	Verified     activation.Block
	StateID      [32]byte
}

// readinessRecord holds the verified readiness of one (deployment, epoch)
// in a block: a bitmap over the epoch's identity table, so a block carrying a
// 10,000-signer certificate stores 1,250 bytes rather than 10,000 names.
// Others keeps, by name, signers that are not in the table (Apply rejects
// them, but the stored block keeps what the block said). Within a block the
// order of readiness items does not change the resulting state (the tally is
// a set, and lock-in is judged after all of them), which StateAt re-checks
// against the stored state IDs.
type readinessRecord struct {
	Deployment string        `cbor:"1,keyasint"`
	Epoch      uint64        `cbor:"2,keyasint"`
	Signers    quorum.Bitmap `cbor:"3,keyasint,omitempty"`
	Others     []string      `cbor:"4,keyasint,omitempty"`
}

type blockRecord struct {
	View      uint64                `cbor:"1,keyasint"`
	Wire      []byte                `cbor:"2,keyasint"`
	Proposals []activation.Proposal `cbor:"3,keyasint,omitempty"`
	Cancels   []string              `cbor:"4,keyasint,omitempty"`
	Readiness []readinessRecord     `cbor:"5,keyasint,omitempty"`
	StateID   [32]byte              `cbor:"6,keyasint"`
}

func heightKey(t byte, h uint64) []byte { return binary.BigEndian.AppendUint64([]byte{t}, h) }

func (s *Store) blockRecord(h uint64) (blockRecord, error) {
	v, err := s.get(heightKey(tBlock, h))
	if err != nil {
		return blockRecord{}, err
	}
	return s.decodeBlockRecord(h, v)
}

func (s *Store) decodeBlockRecord(h uint64, v []byte) (blockRecord, error) {
	var rec blockRecord
	if err := canon.Decode(v, &rec); err != nil {
		return blockRecord{}, corrupt(s.dir, "block record %d: %v", h, err)
	}
	return rec, nil
}

// Commit stores block b and the state after it, in one synced batch. b must
// follow the head, and next must be the state Apply returned for it.
func (s *Store) Commit(b Block, next *activation.State) error {
	s.mu.RLock()
	prev := s.head
	s.mu.RUnlock()
	if ph, pv, ok := prev.Head(); ok && (b.Height != ph+1 || b.View <= pv) {
		return fmt.Errorf("%w: block %d at view %d after head %d at view %d", ErrOutOfOrder, b.Height, b.View, ph, pv)
	} else if !ok && b.Height != 0 {
		return fmt.Errorf("%w: the first block must have height 0, not %d", ErrOutOfOrder, b.Height)
	}
	if nh, nv, ok := next.Head(); !ok || nh != b.Height || nv != b.View {
		return fmt.Errorf("commit block %d: the state given is for block %d at view %d", b.Height, nh, nv)
	}
	enc, id := next.EncodeWithID()
	rec := blockRecord{View: b.View, Wire: b.Wire, Proposals: b.Verified.Proposals, Cancels: b.Verified.Cancels, StateID: id,
		Readiness: s.packReadiness(b.Verified.Readiness)}
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return fmt.Errorf("commit block %d: %w", b.Height, ErrClosed)
	}
	batch := s.db.NewBatch()
	defer batch.Close() // recycles the batch; it can fail only when closed twice
	setBlock(batch, b.Height, b.View, rec, id, enc)
	if b.Height%s.opts.SnapshotInterval == 0 {
		batch.Set(heightKey(tSnapshot, b.Height), enc, nil)
	}
	if err := batch.Commit(s.writeOpts); err != nil {
		return fmt.Errorf("commit block %d: %w", b.Height, err)
	}
	s.mu.Lock()
	s.head, s.headID, s.hasBlock = next, id, true
	s.mu.Unlock()
	// After the batch's sync, so the marker is never ahead of the log.
	if s.marker != nil {
		if err := s.advanceMarker(headMarker{blocks: b.Height + 1, id: id}); err != nil {
			return fmt.Errorf("commit block %d: the block is stored, but: %w", b.Height, err)
		}
	}
	return nil
}

// setBlock adds to batch block h's record, its view's index entry, and the
// head record recoverHead reads: the height, the state ID, the state's
// encoding.
func setBlock(batch *pebble.Batch, h, view uint64, rec blockRecord, id [32]byte, enc []byte) {
	batch.Set(heightKey(tBlock, h), canon.MustEncode(rec), nil)
	batch.Set(heightKey(tView, view), binary.BigEndian.AppendUint64(nil, h), nil)
	head := binary.BigEndian.AppendUint64(nil, h)
	head = append(head, id[:]...)
	batch.Set(keyHead, append(head, enc...), nil)
}

// Block returns the stored block at height h. On a store that joined by
// state sync, a height below its base is ErrPruned, and the block at the
// base has its wire bytes and state ID but no verified items.
func (s *Store) Block(h uint64) (Block, error) {
	if err := s.pruned(h); err != nil {
		return Block{}, err
	}
	v, err := s.get(heightKey(tBlock, h))
	if err != nil {
		return Block{}, err
	}
	return s.decodeBlock(h, v)
}

// decodeBlock decodes the stored record of block h into the block, its
// readiness bitmaps back into signers of the epoch's identity table.
func (s *Store) decodeBlock(h uint64, v []byte) (Block, error) {
	rec, err := s.decodeBlockRecord(h, v)
	if err != nil {
		return Block{}, err
	}
	b := Block{Height: h, View: rec.View, Wire: rec.Wire, StateID: rec.StateID,
		Verified: activation.Block{Height: h, View: rec.View, Proposals: rec.Proposals, Cancels: rec.Cancels}}
	for _, r := range rec.Readiness {
		table := s.opts.Genesis.Params().Identities.TableAt(r.Epoch)
		if len(r.Signers) > 0 {
			if err := r.Signers.CheckSize(table.Len()); err != nil {
				return Block{}, corrupt(s.dir, "block %d: readiness of %s: %v", h, r.Deployment, err)
			}
			for i := 0; i < table.Len(); i++ {
				if r.Signers.Has(i) {
					b.Verified.Readiness = append(b.Verified.Readiness, activation.Readiness{Deployment: r.Deployment, Epoch: r.Epoch, Node: table.At(i).NodeID})
				}
			}
		}
		for _, n := range r.Others {
			b.Verified.Readiness = append(b.Verified.Readiness, activation.Readiness{Deployment: r.Deployment, Epoch: r.Epoch, Node: n})
		}
	}
	return b, nil
}

// packReadiness groups readiness by (deployment, epoch) in order of first
// appearance, as bitmaps over the epoch's table.
func (s *Store) packReadiness(items []activation.Readiness) []readinessRecord {
	type key struct {
		d string
		e uint64
	}
	at := map[key]int{}
	var out []readinessRecord
	for _, r := range items {
		k := key{r.Deployment, r.Epoch}
		i, ok := at[k]
		table := s.opts.Genesis.Params().Identities.TableAt(r.Epoch)
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, readinessRecord{Deployment: r.Deployment, Epoch: r.Epoch})
		}
		if idx, in := table.Lookup(r.Node); in {
			if out[i].Signers == nil {
				out[i].Signers = quorum.NewBitmap(table.Len())
			}
			out[i].Signers.Set(idx)
		} else {
			out[i].Others = append(out[i].Others, r.Node)
		}
	}
	return out
}

// HeightAtView returns the height of the block at view v.
func (s *Store) HeightAtView(v uint64) (uint64, error) {
	val, err := s.get(heightKey(tView, v))
	if errors.Is(err, ErrNotFound) {
		if base, ok := s.Base(); ok {
			if b, berr := s.blockRecord(base); berr == nil && v < b.View {
				return 0, fmt.Errorf("view %d is before view %d, where this node joined by state sync (height %d): %w", v, b.View, base, ErrPruned)
			}
		}
	}
	if err != nil {
		return 0, err
	}
	if len(val) != 8 {
		return 0, corrupt(s.dir, "view index entry for view %d has %d bytes", v, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}

// StateAt rebuilds the state after block h: the nearest snapshot at or below
// h, then the stored verified blocks applied on top, each checked against its
// stored state ID. On a store that joined by state sync, the state at its
// base is the nearest snapshot of every height above it, and a height below
// it is ErrPruned.
func (s *Store) StateAt(h uint64) (*activation.State, error) {
	head, ok := s.Head()
	if hh, _, _ := head.Head(); !ok || h > hh {
		return nil, fmt.Errorf("state at height %d: %w", h, ErrNotFound)
	}
	if err := s.pruned(h); err != nil {
		return nil, fmt.Errorf("state at height %d: %w", h, err)
	}
	state := s.opts.Genesis
	from := uint64(0)
	snap := h - h%s.opts.SnapshotInterval
	if base, ok := s.Base(); ok && snap < base {
		snap = base
	}
	if v, err := s.get(heightKey(tSnapshot, snap)); err == nil {
		if state, err = activation.DecodeState(s.opts.Genesis.Params(), v); err != nil {
			return nil, corrupt(s.dir, "snapshot at %d: %v", snap, err)
		}
		from = snap + 1
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	for height := from; height <= h; height++ {
		b, err := s.Block(height)
		if err != nil {
			return nil, s.corruptAt(err, "block %d", height)
		}
		next, _, err := activation.Apply(state, b.Verified)
		if err != nil {
			return nil, corrupt(s.dir, "re-applying block %d: %v", height, err)
		}
		if next.ID() != b.StateID {
			return nil, corrupt(s.dir, "re-applying block %d gives another state ID than stored", height)
		}
		state = next
	}
	return state, nil
}
