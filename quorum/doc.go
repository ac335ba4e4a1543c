// Package quorum holds who may signal and how much their readiness weighs:
// per-epoch identity tables, the stake tally of one (deployment, epoch), the
// strict threshold test, and quorum certificates (a signer bitmap over an
// epoch's table plus one aggregate BLS signature).
//
// The package is pure: no goroutines, clocks, IO or randomness. Tables are
// immutable once built and safe to share; a Tally is a value its owner mutates
// and clones (copy on write) when it hands out a new protocol state.
package quorum
