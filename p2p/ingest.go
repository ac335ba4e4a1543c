package p2p

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// Verdict is what the pipeline says of one message, in gossipsub's terms:
// Accept (valid, forward it), Ignore (harmless but useless: a duplicate, an
// epoch out of the window, a deployment not signaling), Reject (invalid: the
// sender is penalized).
type Verdict uint8

const (
	Accept Verdict = iota + 1
	Ignore
	Reject
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case Ignore:
		return "ignore"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// Result is the pipeline's judgement of one message.
type Result struct {
	Verdict Verdict
	Reason  string
	// Attestation is set once the message decoded.
	Attestation signal.Attestation
	// Tag is the caller's handle for the message (a gossipsub message, a peer).
	Tag any
}

// ChainView is what the pipeline needs to know of the chain, supplied by the node.
type ChainView interface {
	// CurrentEpoch is the epoch of the finalized head.
	CurrentEpoch() uint64
	// Table returns the identity table of an epoch.
	Table(epoch uint64) *quorum.Table
	// Signaling reports whether a deployment exists and takes readiness.
	Signaling(d signal.DeploymentID) bool
}

// Ingest checks attestations cheapest first and batches the expensive part.
// Add runs the cheap checks (decode, chain ID, epoch window, membership,
// deployment, duplicate) at once; Flush verifies the queued signatures, one
// weighted aggregate check per (deployment, epoch, forwarding peer),
// searching only batches that fail, and hands the valid attestations to the
// sink. Nothing valid is dropped because its batch held a bad signature.
//
// Batches are per forwarding peer so that a forger's bad signatures cost its
// own batches only: honest peers' batches still pass with one check each, and
// the forger's first failing batch gets it rejected (and graylisted by the
// gossip score). A signer counts as seen only once its signature verified,
// so a forged attestation naming B cannot get B's genuine one dropped as a
// duplicate.
//
// Ingest is not safe for concurrent use: one goroutine owns it (the node's
// ingest loop), and Flush's own worker goroutines end before it returns.
type Ingest struct {
	chainID string
	view    ChainView
	sink    func(signal.Attestation)
	workers int

	// seen: signers whose attestation verified, per (deployment, epoch).
	seen    map[key]quorum.Bitmap
	pending map[batchKey]*batch
	order   []batchKey
	tallies map[key]*quorum.Tally
	sources map[string]*SourceStats
}

type key struct {
	d signal.DeploymentID
	e uint64
}

// batchKey groups queued attestations by what they sign and who sent them.
type batchKey struct {
	key
	source string
}

type batch struct {
	table *quorum.Table
	idx   []int // table index of each queued attestation
	atts  []signal.Attestation
	tags  []any
}

// SourceStats counts, for one forwarding peer, the attestations whose
// signatures were checked: Verified passed, Bad failed.
type SourceStats struct {
	Verified, Bad int
}

// maxSources bounds the per-peer counters; past it they start over (they
// are statistics, and peers are forgotten on disconnect anyway).
const maxSources = 4096

// NewIngest returns a pipeline for a chain. sink receives every valid
// attestation once (for the attestation pool and gossip); it may be nil.
func NewIngest(chainID string, view ChainView, sink func(signal.Attestation)) *Ingest {
	return &Ingest{chainID: chainID, view: view, sink: sink, workers: runtime.GOMAXPROCS(0),
		seen: map[key]quorum.Bitmap{}, pending: map[batchKey]*batch{}, tallies: map[key]*quorum.Tally{},
		sources: map[string]*SourceStats{}}
}

// Add runs the cheap checks on one encoded attestation from an unnamed
// source (see AddFrom).
func (in *Ingest) Add(raw []byte, tag any) Result { return in.AddFrom(raw, "", tag) }

// AddFrom runs the cheap checks on one encoded attestation forwarded by
// source. A message that passes them is queued (the returned Result has
// Verdict 0) and judged by Flush in source's own batch.
func (in *Ingest) AddFrom(raw []byte, source string, tag any) Result {
	a, err := signal.DecodeAttestation(raw)
	if err != nil {
		return Result{Verdict: Reject, Reason: "malformed: " + err.Error(), Tag: tag}
	}
	r := Result{Attestation: a, Tag: tag}
	cur := in.view.CurrentEpoch()
	switch {
	case a.ChainID != in.chainID:
		r.Verdict, r.Reason = Reject, "wrong chain"
		return r
	case a.Epoch != cur && a.Epoch != cur+1:
		r.Verdict, r.Reason = Ignore, "epoch outside the window"
		return r
	}
	table := in.view.Table(a.Epoch)
	i, ok := table.Lookup(a.Signer)
	if !ok || !table.Keyed() {
		r.Verdict, r.Reason = Reject, "unknown signer"
		return r
	}
	if !in.view.Signaling(a.Deployment) {
		r.Verdict, r.Reason = Ignore, "deployment not signaling"
		return r
	}
	k := key{a.Deployment, a.Epoch}
	if seen := in.seen[k]; seen != nil && seen.Has(i) {
		r.Verdict, r.Reason = Ignore, "duplicate"
		return r
	}
	bk := batchKey{k, source}
	b := in.pending[bk]
	if b == nil {
		b = &batch{table: table}
		in.pending[bk] = b
		in.order = append(in.order, bk)
	}
	b.idx = append(b.idx, i)
	b.atts = append(b.atts, a)
	b.tags = append(b.tags, tag)
	return r
}

// Pending returns how many attestations wait for Flush.
func (in *Ingest) Pending() int {
	n := 0
	for _, b := range in.pending {
		n += len(b.atts)
	}
	return n
}

// Flush verifies every queued attestation and returns their results, in the
// order they were added per (deployment, epoch, source). The batches are
// verified side by side on the cores (a large one cut into parts when there
// are too few); each part is one aggregate check unless it holds a bad
// signature.
func (in *Ingest) Flush() []Result {
	var out []Result
	bads := in.verify()
	for n, bk := range in.order {
		b := in.pending[bk]
		bad := bads[n]
		tl := in.tallies[bk.key]
		if tl == nil {
			tl = quorum.NewTally(b.table)
			in.tallies[bk.key] = tl
		}
		seen := in.seen[bk.key]
		if seen == nil {
			seen = quorum.NewBitmap(b.table.Len())
			in.seen[bk.key] = seen
		}
		st := in.source(bk.source)
		for j, a := range b.atts {
			if bad[j] {
				st.Bad++
				out = append(out, Result{Verdict: Reject, Reason: "bad signature", Attestation: a, Tag: b.tags[j]})
				continue
			}
			st.Verified++
			if seen.Has(b.idx[j]) {
				// The same signer's valid attestation arrived twice in one
				// round (from two peers, or by catch-up).
				out = append(out, Result{Verdict: Ignore, Reason: "duplicate", Attestation: a, Tag: b.tags[j]})
				continue
			}
			seen.Set(b.idx[j])
			tl.Add(b.idx[j])
			if in.sink != nil {
				in.sink(a)
			}
			out = append(out, Result{Verdict: Accept, Attestation: a, Tag: b.tags[j]})
		}
	}
	clear(in.pending)
	in.order = in.order[:0]
	return out
}

func (in *Ingest) source(s string) *SourceStats {
	st := in.sources[s]
	if st == nil {
		if len(in.sources) >= maxSources {
			clear(in.sources)
		}
		st = &SourceStats{}
		in.sources[s] = st
	}
	return st
}

// Source returns the counters of one forwarding peer (zero if unknown).
func (in *Ingest) Source(s string) SourceStats {
	if st := in.sources[s]; st != nil {
		return *st
	}
	return SourceStats{}
}

// Forget drops what Ingest holds about a source (it disconnected).
func (in *Ingest) Forget(source string) { delete(in.sources, source) }

// minPart is the smallest part a batch is cut into to share the cores.
const minPart = 256

// verify returns, for each pending batch in order, which of its
// attestations have bad signatures.
//
// The batches are checked side by side on the cores, each whole as one
// aggregate check (a larger weighted sum costs less a signature, and each
// part costs a pairing and 64 subgroup checks); a batch is cut only when
// there are too few to keep every core busy, into parts of about an even
// share of all the pending attestations.
func (in *Ingest) verify() [][]bool {
	type part struct{ batch, lo, hi int }
	total := 0
	for _, bk := range in.order {
		total += len(in.pending[bk].atts)
	}
	share := max(minPart, (total+in.workers-1)/in.workers)
	bads := make([][]bool, len(in.order))
	msgs := make([][]byte, len(in.order))
	var parts []part
	for n, bk := range in.order {
		size := len(in.pending[bk].atts)
		bads[n] = make([]bool, size)
		msgs[n] = signal.ReadinessMessage(in.chainID, bk.d, bk.e)
		cuts := max(1, (size+share/2)/share)
		for c := range cuts {
			parts = append(parts, part{n, c * size / cuts, (c + 1) * size / cuts})
		}
	}
	// Largest first, so the last to finish is a small one.
	slices.SortStableFunc(parts, func(a, b part) int { return (b.hi - b.lo) - (a.hi - a.lo) })
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(in.workers, len(parts)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= len(parts) {
					return
				}
				p := parts[j]
				b, bad := in.pending[in.order[p.batch]], bads[p.batch]
				pks := make([]signal.PublicKey, p.hi-p.lo)
				sigs := make([][]byte, p.hi-p.lo)
				for j := p.lo; j < p.hi; j++ {
					pks[j-p.lo], sigs[j-p.lo] = b.table.Key(b.idx[j]), b.atts[j].Signature
				}
				found, err := signal.BatchVerify(msgs[p.batch], pks, sigs)
				if err != nil {
					for j := p.lo; j < p.hi; j++ {
						bad[j] = true
					}
					continue
				}
				for _, f := range found {
					bad[p.lo+f] = true
				}
			}
		}()
	}
	wg.Wait()
	return bads
}

// Tally returns the live gossip tally of (d, epoch): readiness seen and
// verified, not yet finalized. Callers must not modify it.
func (in *Ingest) Tally(d signal.DeploymentID, epoch uint64) *quorum.Tally {
	return in.tallies[key{d, epoch}]
}

// Prune forgets everything about epochs before epoch.
func (in *Ingest) Prune(epoch uint64) {
	for k := range in.seen {
		if k.e < epoch {
			delete(in.seen, k)
		}
	}
	for k := range in.tallies {
		if k.e < epoch {
			delete(in.tallies, k)
		}
	}
}

// Size returns how many (deployment, epoch) entries Ingest holds, for
// checks that memory stays bounded.
func (in *Ingest) Size() (seen, tallies, sources int) {
	return len(in.seen), len(in.tallies), len(in.sources)
}
