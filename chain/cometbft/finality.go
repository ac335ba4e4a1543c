package cometbft

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	dbm "github.com/cometbft/cometbft-db"
	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/storage"
)

// Finality evidence: a self-contained proof, checkable offline with nothing
// but the quorumgate genesis, that the block at quorumgate height h was
// finalized by more than two thirds of the voting power and that the
// protocol state ID after it is the AppHash those validators signed.
//
// Heights (see the package doc): the quorumgate block at height h is the
// CometBFT block at height h+1 (view h+1). CometBFT puts the AppHash of the
// state after block h+1 into the header of the next block, h+2, so the
// evidence is that header and a commit for it: precommits of the validators
// in force at CometBFT height h+2 (the identity table of epoch
// Epoch(view h+2), see validatorsAt). The header of block h+2 also names
// block h+1 (LastBlockID), so it proves that block final too.
//
// Encoding (docs/proof-cometbft.md): canonical CBOR (internal/canon) of
// finalityEvidence, whose Header and Commit are the CometBFT v1 protobuf
// encodings (cometbft.types.v1.Header, cometbft.types.v1.Commit). Both
// are checked to be the canonical encodings of what they decode to, so one
// proof has one byte string and every byte of it is covered: the CBOR and
// protobuf framing by canonicality, the header by its hash in the commit's
// block ID, and every commit signature present (commit and nil votes
// alike) by CometBFT's VerifyCommit, which checks all of them, not only
// the first two thirds; absent votes must be empty.

// FinalityFormat is the format number of the evidence this code writes and
// reads.
const FinalityFormat = 1

// MaxFinalityBytes bounds the evidence VerifyFinality reads: a header and a
// commit of a set of over 100,000 validators fit.
const MaxFinalityBytes = 16 << 20

// finalityEvidence is the evidence's CBOR shape.
type finalityEvidence struct {
	Format uint64 `cbor:"1,keyasint"`
	// Height is the quorumgate height h whose finality it proves.
	Height uint64 `cbor:"2,keyasint"`
	// Header is the protobuf header of CometBFT block h+2.
	Header []byte `cbor:"3,keyasint"`
	// Commit is the protobuf commit for that block.
	Commit []byte `cbor:"4,keyasint"`
}

// Errors a caller may tell apart (errors.Is). A block store a running node
// holds is storage.ErrInUse, as for quorumgate's own store.
var (
	// ErrNoBlockStore: cometHome holds no CometBFT block store.
	ErrNoBlockStore = errors.New("no CometBFT block store")
	// ErrNoFinality: the block store does not hold what proves that height
	// (below its base, or not yet committed).
	ErrNoFinality = errors.New("the CometBFT block store holds no finality evidence for that height")
)

// cometHeightOf is the CometBFT height whose header carries the state ID
// after quorumgate height h, and whose commit proves it: h+2.
func cometHeightOf(h uint64) (int64, error) {
	if h > math.MaxInt64-2 {
		return 0, fmt.Errorf("quorumgate height %d is beyond CometBFT's heights", h)
	}
	return int64(h) + 2, nil
}

// FinalityEvidence reads a STOPPED node's CometBFT block store under
// cometHome (HOME/cometbft: the data folder's blockstore.db, pebble, as
// Config leaves CometBFT's default backend) and returns a self-contained
// deterministic encoding proving that the quorumgate block at height h was
// finalized by more than two thirds of the voting power, and that the
// protocol state ID after it is the AppHash those validators signed: the
// header of CometBFT block h+2 and a commit for it (the one in block h+3's
// LastCommit, else the store's seen commit). The block store is opened
// read-only, under pebble's lock, so a running node's store is refused
// (storage.ErrInUse). A height is ErrNoFinality if block h+2 is below the
// block store's base (a state-synced or pruned node) or above its head
// (not committed yet: the highest height proved is the head's less 2, one
// below the quorumgate head that CometBFT's head block carries). The evidence is verified (VerifyFinality) before it is
// returned, so a home of another genesis is an error here, not a bad proof.
func FinalityEvidence(cometHome string, g *chain.Genesis, h uint64) ([]byte, error) {
	ch, err := cometHeightOf(h)
	if err != nil {
		return nil, err
	}
	bs, closeStore, err := openBlockStore(cometHome)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	var header types.Header
	var commit *types.Commit
	// openBlockStore refused an empty store: 1 <= base <= head.
	base, head := bs.Base(), bs.Height()
	switch {
	case ch < base:
		return nil, fmt.Errorf("%w: quorumgate height %d is proved by CometBFT block %d, below the block store's base %d (the node was state-synced or pruned its blocks; the lowest quorumgate height it proves is %d): export it from a node that keeps that block",
			ErrNoFinality, h, ch, base, max(base-2, 0))
	case ch > head && head < 2:
		return nil, fmt.Errorf("%w: quorumgate height %d is proved by CometBFT block %d and its commit, and the block store's head is block %d: it proves no height yet",
			ErrNoFinality, h, ch, head)
	case ch > head:
		return nil, fmt.Errorf("%w: quorumgate height %d is proved by CometBFT block %d and its commit, and the block store's head is block %d: the highest quorumgate height it proves is %d",
			ErrNoFinality, h, ch, head, head-2)
	}
	err = guard(cometHome, func() error {
		meta := bs.LoadBlockMeta(ch)
		if meta == nil {
			return fmt.Errorf("%w: CometBFT block %d is missing from the block store in %s", ErrNoFinality, ch, cometHome)
		}
		header = meta.Header
		if commit = bs.LoadBlockCommit(ch); commit == nil {
			commit = bs.LoadSeenCommit(ch)
		}
		if commit == nil {
			return fmt.Errorf("%w: the block store in %s holds no commit for CometBFT block %d", ErrNoFinality, cometHome, ch)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ev, err := encodeFinality(h, &header, commit)
	if err != nil {
		return nil, err
	}
	if len(header.AppHash) != 32 {
		return nil, fmt.Errorf("CometBFT block %d in %s has an AppHash of %d bytes, not a 32-byte quorumgate state ID", ch, cometHome, len(header.AppHash))
	}
	if err := VerifyFinality(g, h, [32]byte(header.AppHash), ev); err != nil {
		return nil, fmt.Errorf("the CometBFT block store in %s does not prove quorumgate height %d under this genesis (another chain's home?): %w", cometHome, h, err)
	}
	return ev, nil
}

// encodeFinality is the evidence's encoding (see finalityEvidence).
func encodeFinality(h uint64, header *types.Header, commit *types.Commit) ([]byte, error) {
	hb, err := header.ToProto().Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode the header of CometBFT block %d: %w", header.Height, err)
	}
	cb, err := commit.ToProto().Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode the commit for CometBFT block %d: %w", commit.Height, err)
	}
	return canon.Encode(finalityEvidence{Format: FinalityFormat, Height: h, Header: hb, Commit: cb})
}

// VerifyFinality checks finality evidence offline, with nothing but the
// genesis: the validator set is the one the application derives from the
// genesis identity table in force at CometBFT height h+2 (validatorsAt);
// the header's ValidatorsHash is that set's hash, header.Hash() is the
// commit's block ID, the header's chain ID is the genesis's and its height
// h+2, its AppHash is stateID; every signature the commit carries verifies
// (CometBFT's VerifyCommit: all of them, commit and nil votes), each from
// the validator at its index, and those for the block hold more than two
// thirds of the voting power. Every failure is an error naming what does
// not verify.
func VerifyFinality(g *chain.Genesis, h uint64, stateID [32]byte, evidence []byte) error {
	header, commit, err := decodeFinality(h, evidence)
	if err != nil {
		return err
	}
	ch, err := cometHeightOf(h)
	if err != nil {
		return err
	}
	switch {
	case header.ChainID != g.ChainID:
		return fmt.Errorf("finality evidence: the header is of chain %q, not the genesis's %q", header.ChainID, g.ChainID)
	case header.Height != ch:
		return fmt.Errorf("finality evidence: the header is of CometBFT height %d, not %d (quorumgate height %d's state ID is in block %d)", header.Height, ch, h, ch)
	case commit.Height != ch:
		return fmt.Errorf("finality evidence: the commit is for CometBFT height %d, not %d", commit.Height, ch)
	}
	vals, err := validatorsAt(g, ch)
	if err != nil {
		return fmt.Errorf("finality evidence: the genesis's validators at CometBFT height %d: %w", ch, err)
	}
	if want := vals.Hash(); !bytes.Equal(header.ValidatorsHash, want) {
		return fmt.Errorf("finality evidence: the header's validators hash %X is not %X, the hash of the genesis's validators at CometBFT height %d", header.ValidatorsHash, want, ch)
	}
	if hash := header.Hash(); !bytes.Equal(commit.BlockID.Hash, hash) {
		return fmt.Errorf("finality evidence: the commit is for block %X, not the header's %X", commit.BlockID.Hash, hash)
	}
	if !bytes.Equal(header.AppHash, stateID[:]) {
		return fmt.Errorf("finality evidence: the signed AppHash %X is not the state ID %X", header.AppHash, stateID)
	}
	if len(commit.Signatures) != vals.Size() {
		return fmt.Errorf("finality evidence: the commit has %d signatures for %d validators", len(commit.Signatures), vals.Size())
	}
	// CometBFT looks validators up by index and signs no address: a vote
	// moved to another validator's address would still verify.
	for i, sig := range commit.Signatures {
		if sig.BlockIDFlag != types.BlockIDFlagAbsent && !bytes.Equal(sig.ValidatorAddress, vals.Validators[i].Address) {
			return fmt.Errorf("finality evidence: commit signature %d names validator %X, not %X", i, sig.ValidatorAddress, vals.Validators[i].Address)
		}
	}
	if err := vals.VerifyCommit(g.ChainID, commit.BlockID, ch, commit); err != nil {
		return fmt.Errorf("finality evidence: the commit for CometBFT block %d does not verify: %w", ch, err)
	}
	return nil
}

// decodeFinality decodes evidence for quorumgate height h, accepting only
// canonical encodings.
func decodeFinality(h uint64, evidence []byte) (*types.Header, *types.Commit, error) {
	if len(evidence) > MaxFinalityBytes {
		return nil, nil, fmt.Errorf("finality evidence: %d bytes, over the bound of %d", len(evidence), MaxFinalityBytes)
	}
	var ev finalityEvidence
	if err := canon.Decode(evidence, &ev); err != nil {
		return nil, nil, fmt.Errorf("finality evidence: not canonical CBOR of {1: format, 2: height, 3: header, 4: commit}: %w", err)
	}
	if ev.Format != FinalityFormat {
		return nil, nil, fmt.Errorf("finality evidence: format %d, this node reads format %d", ev.Format, FinalityFormat)
	}
	if ev.Height != h {
		return nil, nil, fmt.Errorf("finality evidence: it is for quorumgate height %d, not %d", ev.Height, h)
	}
	var ph cmtproto.Header
	if err := ph.Unmarshal(ev.Header); err != nil {
		return nil, nil, fmt.Errorf("finality evidence: the header does not decode: %w", err)
	}
	header, err := types.HeaderFromProto(&ph)
	if err != nil {
		return nil, nil, fmt.Errorf("finality evidence: the header is invalid: %w", err)
	}
	if again, err := header.ToProto().Marshal(); err != nil || !bytes.Equal(again, ev.Header) {
		return nil, nil, errors.New("finality evidence: the header is not in canonical protobuf encoding")
	}
	var pc cmtproto.Commit
	if err := pc.Unmarshal(ev.Commit); err != nil {
		return nil, nil, fmt.Errorf("finality evidence: the commit does not decode: %w", err)
	}
	commit, err := types.CommitFromProto(&pc)
	if err != nil {
		return nil, nil, fmt.Errorf("finality evidence: the commit is invalid: %w", err)
	}
	if again, err := commit.ToProto().Marshal(); err != nil || !bytes.Equal(again, ev.Commit) {
		return nil, nil, errors.New("finality evidence: the commit is not in canonical protobuf encoding")
	}
	return &header, commit, nil
}

// validatorsAt is CometBFT's validator set at height ch as the application
// makes it: the genesis document starts with the epoch-0 table
// (GenesisDoc), and validatorUpdates switches to each later table from its
// epoch's first height, so at height ch (view ch) the set is the table in
// force at Epoch(ch), built by validatorSet, the function both use.
// CometBFT keeps a set sorted (power descending, then address), as
// NewValidatorSet does here, so commit signature i is validator i's.
func validatorsAt(g *chain.Genesis, ch int64) (*types.ValidatorSet, error) {
	if ch < 1 {
		return nil, fmt.Errorf("CometBFT height %d: heights start at 1", ch)
	}
	gv, err := validatorSet(g.Identities[stepAt(g, g.Params().Epoch(uint64(ch)))].Nodes)
	if err != nil {
		return nil, err
	}
	changes := make([]*types.Validator, len(gv))
	for i, v := range gv {
		changes[i] = types.NewValidator(v.PubKey, v.Power)
	}
	vals := types.NewValidatorSet(nil)
	if err := vals.UpdateWithChangeSet(changes); err != nil {
		return nil, err
	}
	return vals, nil
}

// openBlockStore opens the block store under cometHome read-only. Close it
// with the returned function.
func openBlockStore(cometHome string) (*store.BlockStore, func(), error) {
	cfg := cmtcfg.DefaultConfig()
	cfg.SetRoot(cometHome)
	if cfg.DBBackend != string(dbm.PebbleDBBackend) {
		return nil, nil, fmt.Errorf("CometBFT's database backend is %q; finality evidence reads %q", cfg.DBBackend, dbm.PebbleDBBackend)
	}
	const name = "blockstore"
	dir := filepath.Join(cfg.DBDir(), name+".db")
	if _, err := os.Stat(filepath.Join(dir, "CURRENT")); err != nil {
		return nil, nil, fmt.Errorf("%w in %s (%v): is %s a node's HOME/cometbft?", ErrNoBlockStore, dir, err, cometHome)
	}
	// Take pebble's lock first, to tell a running node from other failures.
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		// Creating the LOCK file failed (a read-only copy, permissions):
		// the store may well be idle. Otherwise its lock is held.
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			return nil, nil, fmt.Errorf("the CometBFT block store %s cannot be locked for reading: %w", dir, err)
		}
		return nil, nil, fmt.Errorf("the CometBFT block store %s: %w: %v; stop the node first", dir, storage.ErrInUse, err)
	}
	var db *dbm.PebbleDB
	err = guard(cometHome, func() error {
		var err error
		db, err = dbm.NewPebbleDBWithOpts(name, cfg.DBDir(), &pebble.Options{ReadOnly: true, Lock: lock, Logger: quietPebble{}})
		return err
	})
	if err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("open the CometBFT block store %s: %w", dir, err)
	}
	closeAll := func() {
		db.Close()
		lock.Close()
	}
	var bs *store.BlockStore
	err = guard(cometHome, func() error {
		if st := store.LoadBlockStoreState(db); st.Height == 0 {
			return fmt.Errorf("%w: the block store %s is empty", ErrNoFinality, dir)
		}
		bs = store.NewBlockStore(readOnlyDB{db})
		return nil
	})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return bs, closeAll, nil
}

// guard turns the panics with which CometBFT's block store reports what it
// cannot read into errors.
func guard(cometHome string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the CometBFT block store in %s cannot be read: %v", cometHome, r)
		}
	}()
	return f()
}

// readOnlyDB lets NewBlockStore "write" the key layout version it already
// holds (it rewrites it on every open; a store without one is read as "v1",
// which it then writes) and refuses every other write; pebble, opened
// read-only, refuses the rest anyway.
type readOnlyDB struct{ dbm.DB }

func (d readOnlyDB) Set(key, value []byte) error { return d.same(key, value) }

func (d readOnlyDB) SetSync(key, value []byte) error { return d.same(key, value) }

func (d readOnlyDB) same(key, value []byte) error {
	old, err := d.Get(key)
	if err != nil {
		return err
	}
	if old == nil && string(key) == "version" && string(value) == "v1" {
		return nil
	}
	if old == nil || !bytes.Equal(old, value) {
		return fmt.Errorf("the block store is opened read-only: refusing to write key %q", key)
	}
	return nil
}

// quietPebble drops pebble's routine reports (a read-only open replays the
// write-ahead log) and panics on a fatal one, which guard reports.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any) {}

func (quietPebble) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
