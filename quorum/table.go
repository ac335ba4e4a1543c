package quorum

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"

	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/signal"
)

// Identity is one node's entry in an epoch's identity table.
type Identity struct {
	NodeID string `cbor:"1,keyasint"`
	Role   string `cbor:"2,keyasint"`
	Stake  uint64 `cbor:"3,keyasint"`
	// StakingKey and PoP are empty in a keyless table (used by replay and the
	// simulator, which deal in already-verified items).
	StakingKey []byte `cbor:"4,keyasint"`
	PoP        []byte `cbor:"5,keyasint"`
	PeerID     string `cbor:"6,keyasint"`
}

// Table is an epoch's identity table: entries sorted by node ID (so the index
// of a node is the same on every machine), stake totals per role, and for a
// keyed table the decoded keys and their aggregate. Immutable once built.
type Table struct {
	entries   []Identity
	keys      []signal.PublicKey
	index     map[string]int
	roles     []string
	roleIndex map[string]int
	roleOf    []int // entry index -> role index
	roleTotal map[string]uint64
	total     uint64
	aggKey    signal.PublicKey
	id        [32]byte
}

// ErrStakeOverflow is returned when a table's total stake does not fit in 64 bits.
var ErrStakeOverflow = errors.New("total stake exceeds 2^64-1")

// TableOption adjusts NewTable.
type TableOption func(*tableConfig)

type tableConfig struct{ trustPossession bool }

// TrustPossession skips proof-of-possession checks. Use it only for entries
// whose proofs this process has already verified (for example a table
// reloaded from the node's own store); it is the rogue-key defence.
func TrustPossession() TableOption { return func(c *tableConfig) { c.trustPossession = true } }

// NewTable validates ids and builds the table. Every node ID must be non-empty
// and unique; either every entry has a staking key or none does; each key must
// decode, must not be the identity key, must not be another node's, and must
// come with a valid proof of possession. The error names the offending nodes.
func NewTable(ids []Identity, opts ...TableOption) (*Table, error) {
	var cfg tableConfig
	for _, o := range opts {
		o(&cfg)
	}
	t := &Table{
		entries:   slices.Clone(ids),
		index:     make(map[string]int, len(ids)),
		roleTotal: make(map[string]uint64),
	}
	sort.Slice(t.entries, func(i, j int) bool { return t.entries[i].NodeID < t.entries[j].NodeID })
	keyed := len(t.entries) > 0 && len(t.entries[0].StakingKey) > 0
	// Attestations do not name their signer's key, only the node: a key
	// shared by two nodes would let one signature count for both stakes.
	keyOwner := map[string]string{}
	for i, e := range t.entries {
		if e.NodeID == "" {
			return nil, errors.New("identity with an empty node ID")
		}
		if _, dup := t.index[e.NodeID]; dup {
			return nil, fmt.Errorf("node %q appears twice", e.NodeID)
		}
		t.index[e.NodeID] = i
		if _, seen := t.roleTotal[e.Role]; !seen {
			t.roles = append(t.roles, e.Role)
		}
		var carry uint64
		t.roleTotal[e.Role], carry = bits.Add64(t.roleTotal[e.Role], e.Stake, 0)
		if carry != 0 {
			return nil, fmt.Errorf("role %q: %w", e.Role, ErrStakeOverflow)
		}
		t.total, carry = bits.Add64(t.total, e.Stake, 0)
		if carry != 0 {
			return nil, ErrStakeOverflow
		}
		if (len(e.StakingKey) > 0) != keyed {
			return nil, fmt.Errorf("node %q: either every node has a staking key or none does", e.NodeID)
		}
		if !keyed {
			continue
		}
		pk, err := signal.DecodePublicKey(e.StakingKey)
		if err != nil {
			return nil, fmt.Errorf("node %q: staking key: %w", e.NodeID, err)
		}
		if other, dup := keyOwner[string(pk.Encode())]; dup {
			return nil, fmt.Errorf("nodes %q and %q have the same staking key: every node needs its own", other, e.NodeID)
		}
		keyOwner[string(pk.Encode())] = e.NodeID
		if !cfg.trustPossession {
			if err := signal.VerifyPossession(pk, e.PoP); err != nil {
				return nil, fmt.Errorf("node %q: %w", e.NodeID, err)
			}
		}
		t.keys = append(t.keys, pk)
	}
	sort.Strings(t.roles)
	t.roleIndex = make(map[string]int, len(t.roles))
	t.roleOf = make([]int, len(t.entries))
	for i, r := range t.roles {
		t.roleIndex[r] = i
	}
	for i, e := range t.entries {
		t.roleOf[i] = t.roleIndex[e.Role]
	}
	if keyed {
		agg, err := signal.AggregateKeys(t.keys)
		if err != nil {
			return nil, fmt.Errorf("aggregate staking keys: %w", err)
		}
		t.aggKey = agg
	}
	t.id = TableIDOf(t.EncodeEntries())
	return t, nil
}

// EncodeEntries returns the canonical encoding of the table's entries, in
// table order: what its ID hashes.
func (t *Table) EncodeEntries() []byte { return canon.MustEncode(t.entries) }

// TableIDOf is the ID of the table whose entries encode to enc
// (EncodeEntries): a holder of a table's encoding checks it is a given
// table with one hash, without decoding it.
func TableIDOf(enc []byte) [32]byte { return canon.Hash("quorumgate/identity-table/v1", enc) }

// Len returns the number of entries.
func (t *Table) Len() int { return len(t.entries) }

// At returns entry i (in node ID order).
func (t *Table) At(i int) Identity { return t.entries[i] }

// Lookup returns the index of a node, or false if it is not in the table.
func (t *Table) Lookup(nodeID string) (int, bool) {
	i, ok := t.index[nodeID]
	return i, ok
}

// LookupHint is Lookup for a caller that may already know the index: when
// hint is the index of nodeID it is returned without hashing the ID;
// otherwise (any hint, in range or not) the map decides. The answer is always
// Lookup's: node IDs are unique, so only the speed depends on the hint.
func (t *Table) LookupHint(nodeID string, hint int) (int, bool) {
	if uint(hint) < uint(len(t.entries)) && t.entries[hint].NodeID == nodeID {
		return hint, true
	}
	return t.Lookup(nodeID)
}

// Role returns the role of entry i (At(i).Role without copying the entry).
func (t *Table) Role(i int) string { return t.entries[i].Role }

// Roles returns the roles present, sorted.
func (t *Table) Roles() []string { return t.roles }

// RoleStake returns the total stake of a role (0 for an absent role).
func (t *Table) RoleStake(role string) uint64 { return t.roleTotal[role] }

// TotalStake returns the stake of all entries.
func (t *Table) TotalStake() uint64 { return t.total }

// Keyed reports whether entries carry staking keys (so certificates can be checked).
func (t *Table) Keyed() bool { return len(t.keys) > 0 }

// Key returns the staking key of entry i; only for a keyed table.
func (t *Table) Key(i int) signal.PublicKey { return t.keys[i] }

// AggregateKey returns the sum of all staking keys, computed once when the
// table was built so a certificate check subtracts only the non-signers.
func (t *Table) AggregateKey() signal.PublicKey { return t.aggKey }

// ID is the hash of the table's canonical encoding.
func (t *Table) ID() [32]byte { return t.id }

// Schedule maps epochs to identity tables: each entry holds from its epoch
// until the next entry's. Epochs before the first entry have an empty table.
type Schedule struct {
	from   []uint64
	tables []*Table
	empty  *Table
}

// ScheduleEntry is one step of a Schedule.
type ScheduleEntry struct {
	FromEpoch uint64
	Table     *Table
}

// NewSchedule builds a schedule; entries must have strictly increasing FromEpoch.
func NewSchedule(entries []ScheduleEntry) (*Schedule, error) {
	empty, err := NewTable(nil)
	if err != nil {
		return nil, fmt.Errorf("the empty identity table: %w", err)
	}
	s := &Schedule{empty: empty}
	for i, e := range entries {
		if i > 0 && e.FromEpoch <= entries[i-1].FromEpoch {
			return nil, fmt.Errorf("identity table %d starts at epoch %d, not after the previous one's epoch %d", i, e.FromEpoch, entries[i-1].FromEpoch)
		}
		if e.Table == nil {
			return nil, fmt.Errorf("identity table %d is missing", i)
		}
		s.from = append(s.from, e.FromEpoch)
		s.tables = append(s.tables, e.Table)
	}
	return s, nil
}

// TableAt returns the identity table in force in epoch e.
func (s *Schedule) TableAt(e uint64) *Table {
	i := sort.Search(len(s.from), func(i int) bool { return s.from[i] > e })
	if i == 0 {
		return s.empty
	}
	return s.tables[i-1]
}

// Entries returns the schedule's steps, in epoch order (a copy: the
// schedule stays immutable).
func (s *Schedule) Entries() []ScheduleEntry {
	out := make([]ScheduleEntry, len(s.from))
	for i := range s.from {
		out[i] = ScheduleEntry{FromEpoch: s.from[i], Table: s.tables[i]}
	}
	return out
}

// ID commits to every table and the epoch it starts at.
func (s *Schedule) ID() [32]byte {
	type step struct {
		From  uint64   `cbor:"1,keyasint"`
		Table [32]byte `cbor:"2,keyasint"`
	}
	steps := make([]step, len(s.from))
	for i := range s.from {
		steps[i] = step{s.from[i], s.tables[i].ID()}
	}
	return canon.Hash("quorumgate/identity-schedule/v1", canon.MustEncode(steps))
}
