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

// View is what the pipeline needs to know of the chain, supplied by the node.
type View interface {
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
// aggregate check per (deployment, epoch), bisecting only batches that fail,
// and hands the valid attestations to the sink. Nothing valid is dropped
// because its batch held a bad signature.
//
// Ingest is not safe for concurrent use: one goroutine owns it (the node's
// ingest loop), and Flush's own worker goroutines end before it returns.
type Ingest struct {
	chainID string
	view    View
	sink    func(signal.Attestation)
	workers int

	// seen: signers already accepted or queued per (deployment, epoch).
	seen    map[key]quorum.Bitmap
	pending map[key]*batch
	order   []key
	tallies map[key]*quorum.Tally
}

type key struct {
	d signal.DeploymentID
	e uint64
}

type batch struct {
	table *quorum.Table
	idx   []int // table index of each queued attestation
	atts  []signal.Attestation
	tags  []any
}

// NewIngest returns a pipeline for a chain. sink receives every valid
// attestation once (for the attestation pool and gossip); it may be nil.
func NewIngest(chainID string, view View, sink func(signal.Attestation)) *Ingest {
	return &Ingest{chainID: chainID, view: view, sink: sink, workers: runtime.GOMAXPROCS(0),
		seen: map[key]quorum.Bitmap{}, pending: map[key]*batch{}, tallies: map[key]*quorum.Tally{}}
}

// Add runs the cheap checks on one encoded attestation. A message that passes
// them is queued (the returned Result has Verdict 0) and judged by Flush.
func (in *Ingest) Add(raw []byte, tag any) Result {
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
	seen := in.seen[k]
	if seen == nil {
		seen = quorum.NewBitmap(table.Len())
		in.seen[k] = seen
	}
	if seen.Has(i) {
		r.Verdict, r.Reason = Ignore, "duplicate"
		return r
	}
	seen.Set(i)
	b := in.pending[k]
	if b == nil {
		b = &batch{table: table}
		in.pending[k] = b
		in.order = append(in.order, k)
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
// order they were added per (deployment, epoch). Large batches are split
// across the cores; each part is one aggregate check unless it holds a bad
// signature.
func (in *Ingest) Flush() []Result {
	var out []Result
	for _, k := range in.order {
		b := in.pending[k]
		bad := in.verify(k, b)
		tl := in.tallies[k]
		if tl == nil {
			tl = quorum.NewTally(b.table)
			in.tallies[k] = tl
		}
		for j, a := range b.atts {
			if bad[j] {
				// Forget the signer, so a later valid attestation of theirs counts.
				in.seen[k].Clear(b.idx[j])
				out = append(out, Result{Verdict: Reject, Reason: "bad signature", Attestation: a, Tag: b.tags[j]})
				continue
			}
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
			delete(in.tallies, k)
		}
	}
}
