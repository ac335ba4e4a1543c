package quorum

import "slices"

// Tally counts the readiness of one (deployment, epoch) against that epoch's
// table: who has been counted (a bitmap, the canonical part) and the ready
// stake per role (derived, kept for speed).
type Tally struct {
	table   *Table
	signers Bitmap
	count   int
	// ready is indexed like table.Roles(): a slice, so cloning a tally (once
	// per block that counts readiness) is two small copies, no map.
	ready []uint64
	total uint64
}

// NewTally returns an empty tally over t.
func NewTally(t *Table) *Tally {
	return &Tally{table: t, signers: NewBitmap(t.Len()), ready: make([]uint64, len(t.roles))}
}

// TallyFromBitmap rebuilds a tally from its canonical signer bitmap.
func TallyFromBitmap(t *Table, b Bitmap) (*Tally, error) {
	if err := b.CheckSize(t.Len()); err != nil {
		return nil, err
	}
	tl := NewTally(t)
	for i := 0; i < t.Len(); i++ {
		if b.Has(i) {
			tl.Add(i)
		}
	}
	return tl, nil
}

// Table returns the table the tally counts against.
func (tl *Tally) Table() *Table { return tl.table }

// Has reports whether entry i was counted.
func (tl *Tally) Has(i int) bool { return tl.signers.Has(i) }

// Add counts entry i; it returns false if i was counted already.
func (tl *Tally) Add(i int) bool {
	if tl.signers.Has(i) {
		return false
	}
	tl.signers.Set(i)
	stake := tl.table.entries[i].Stake
	// Cannot overflow: a table's totals fit in 64 bits and each signer counts once.
	tl.ready[tl.table.roleOf[i]] += stake
	tl.total += stake
	tl.count++
	return true
}

// Count returns how many entries were counted.
func (tl *Tally) Count() int { return tl.count }

// Ready returns the ready stake of a role.
func (tl *Tally) Ready(role string) uint64 {
	if r, ok := tl.table.roleIndex[role]; ok {
		return tl.ready[r]
	}
	return 0
}

// ReadyTotal returns the ready stake of all roles.
func (tl *Tally) ReadyTotal() uint64 { return tl.total }

// Signers returns the canonical signer bitmap; callers must not modify it.
func (tl *Tally) Signers() Bitmap { return tl.signers }

// Clone returns an independent copy sharing only the immutable table.
func (tl *Tally) Clone() *Tally {
	return &Tally{table: tl.table, signers: tl.signers.Clone(), count: tl.count, total: tl.total,
		ready: slices.Clone(tl.ready)}
}

// Meets reports whether the tally strictly exceeds th for every role in roles
// or, when roles is empty, for all stake as one group. A role with no stake in
// the table is never satisfied.
func (tl *Tally) Meets(th Threshold, roles []string) bool {
	if len(roles) == 0 {
		return th.Exceeds(tl.total, tl.table.TotalStake())
	}
	for _, r := range roles {
		if !th.Exceeds(tl.Ready(r), tl.table.RoleStake(r)) {
			return false
		}
	}
	return true
}
