package p2p

import (
	"fmt"
	"runtime"
	"sync"

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
// order they were added per (deployment, epoch, source). Large batches are
// split across the cores; each part is one aggregate check unless it holds a
// bad signature.
func (in *Ingest) Flush() []Result {
	var out []Result
	for _, bk := range in.order {
		b := in.pending[bk]
		bad := in.verify(bk.key, b)
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

// verify returns which attestations of the batch have bad signatures.
func (in *Ingest) verify(k key, b *batch) []bool {
	msg := signal.ReadinessMessage(in.chainID, k.d, k.e)
	n := len(b.atts)
	bad := make([]bool, n)
	parts := min(in.workers, max(1, n/256))
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*n/parts, (p+1)*n/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			pks := make([]signal.PublicKey, hi-lo)
			sigs := make([][]byte, hi-lo)
			for j := lo; j < hi; j++ {
				pks[j-lo], sigs[j-lo] = b.table.Key(b.idx[j]), b.atts[j].Signature
			}
			found, err := signal.BatchVerify(msg, pks, sigs)
			if err != nil {
				for j := lo; j < hi; j++ {
					bad[j] = true
				}
				return
			}
			for _, f := range found {
				bad[lo+f] = true
			}
		}()
	}
	wg.Wait()
	return bad
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
