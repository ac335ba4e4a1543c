// Package storage persists a node's finalized chain in pebble: blocks and the
// protocol state (which holds each component's version history).
//
// # Guarantees
//
// Every finalized block is committed in one pebble batch with pebble.Sync:
// the block record, its view index entry, its state ID, the new head (with
// the full head state) and, every SnapshotInterval blocks, a state snapshot. After a crash the store therefore holds a prefix
// of the chain and the state that matches it, never half a block. Opening
// re-checks the head state's ID against the stored one.
//
// Pebble replays a damaged write-ahead log only up to the damage and opens
// without error, so the store also keeps a head marker beside pebble's
// files (marker.go): written after each synced batch, fsynced once a second
// and on Close. Open fails with ErrLostBlocks if the recovered head is below
// it (Options.AcceptLostBlocks opens anyway and lowers it). Every block whose
// Commit returned is covered after a process crash; after a machine crash,
// those up to the marker's last fsync.
//
// Why head state plus periodic snapshots rather than a state per block: the
// state can carry tally bitmaps of thousands of signers, and a state per
// block would cost that much per block for ever; the head gives a fast
// restart, snapshots bound the replay needed to rebuild any older state
// (StateAt) to SnapshotInterval blocks, and the per-block state ID keeps
// every height checkable.
//
// # State sync
//
// A new node may join a running chain from a verified state instead of
// replaying it from genesis (Bootstrap, bootstrap.go): the store then starts
// at a base height H, holding the state after block H and the blocks after
// it, never those before (Block, StateAt and HeightAtView below H are
// ErrPruned, which says so).
//
// # Key layout
//
// One-byte table prefix, then big-endian fixed-width integers, so keys sort
// by height, view or epoch:
//
//	0x01 'v'                               schema version (uint64)
//	0x01 'c'                               chain ID
//	0x01 'g'                               genesis hash (32 bytes)
//	0x01 'b'                               base height (uint64), only in a store that joined by state sync
//	0x02 height(8)                         block record (canonical CBOR: view, wire bytes, verified items, state ID)
//	0x03 view(8)                           height(8) of the block at that view
//	0x04 height(8)                         state snapshot after that block
//	0x05                                   head: height(8) || state ID(32) || head state encoding
//	0x06, 0x07                             reserved: earlier builds wrote a version
//	                                       history index and an attestation pool
//	                                       there that nothing read
//
// # Ownership
//
// Open returns a Store that the caller must Close. A Store is safe for
// concurrent readers; Commit calls must come from one goroutine at a time.
// The store starts no goroutines of its own beyond pebble's, which Close stops.
package storage
