// Package pool holds what a block builder may put in its next block: the
// verified readiness attestations it received (aggregated into one quorum
// certificate per signaling deployment at build time) and the governance
// items (proposals and cancellations). Both engines build from it, the
// devchain sequencer every view and a CometBFT proposer in PrepareProposal,
// so they choose a block's items the same way.
//
// The policy, for both engines:
//   - Bounded: at most Bounds.Attestations attestations and
//     Bounds.AttestationBytes bytes of them, at most Bounds.Governance
//     governance items and Bounds.GovernanceBytes bytes of them. When a bound
//     is reached a new item is dropped (what is pooled stays: it was there
//     first, and nothing is evicted for an item that may be junk); Add says
//     so with Full, and Stats counts the drops.
//   - Deduplicated: an attestation is keyed by deployment, epoch and signer;
//     a governance item by its canonical bytes. A repeat is Duplicate.
//   - Pruned by epoch: readiness lasts one epoch, so the attestations of an
//     epoch before the one of the block being built or committed go, and one
//     of such an epoch is Stale on arrival.
//   - Re-sent until finalized: building a block takes nothing out. An item
//     leaves the pool when a committed block carried it (Included), so one
//     left out (over a bound, in a proposal that lost its round, in a block
//     the devchain sequencer failed to commit) goes in a later block. The
//     exceptions are governance items that will never verify (the committee
//     did not sign them), dropped by Build, and attestations of past epochs.
package pool

import (
	"bytes"
	"encoding/hex"
	"log/slog"
	"slices"
	"sort"
	"sync"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// Bounds bound what a pool holds.
type Bounds struct {
	Attestations     int
	AttestationBytes int
	Governance       int
	GovernanceBytes  int
}

// DefaultBounds suit both engines: room for every signer of a 10,000-node
// table in a few deployments, and for far more governance than a committee
// signs (a proposal is a few hundred bytes).
var DefaultBounds = Bounds{Attestations: 1 << 16, AttestationBytes: 32 << 20, Governance: 256, GovernanceBytes: 1 << 20}

// Limits bound one block that Build makes. A zero field is no bound.
type Limits struct {
	Proposals    int
	Cancels      int
	Certificates int
	// Bytes bounds the encoded WireBlock: certificates, then cancellations,
	// then proposals are left out from the end until it fits.
	Bytes int
}

// Result is what Add did with an item.
type Result int

const (
	// Added: the item is pooled.
	Added Result = iota
	// Duplicate: the pool holds it already.
	Duplicate
	// Full: a bound is reached; the item was dropped.
	Full
	// Stale: an attestation of an epoch the pool has pruned.
	Stale
	// Invalid: a governance message that does not decode to one item, or
	// an attestation of another chain.
	Invalid
)

func (r Result) String() string {
	switch r {
	case Added:
		return "added"
	case Duplicate:
		return "duplicate"
	case Full:
		return "pool full"
	case Stale:
		return "stale epoch"
	case Invalid:
		return "invalid"
	}
	return "unknown"
}

// Stats describe a pool's content, and how many items it dropped when full.
type Stats struct {
	Attestations, AttestationBytes int
	Proposals, Cancels             int
	GovernanceBytes                int
	DroppedAttestations            uint64
	DroppedGovernance              uint64
}

// group is the pooled readiness of one deployment in one epoch.
type group struct {
	d signal.DeploymentID
	e uint64
}

type govItem struct {
	raw      []byte // canonical chain.GovernanceMessage
	msg      chain.GovernanceMessage
	verified bool // its committee approval verified (it always will)
}

// Pool is the block builder's pool. Its methods are safe for concurrent use.
type Pool struct {
	verifier *activation.Verifier
	bounds   Bounds
	log      *slog.Logger

	mu       sync.Mutex
	atts     map[group]map[string]signal.Attestation
	nAtts    int
	attBytes int
	floor    uint64     // attestations of epochs below it are pruned
	gov      []*govItem // arrival order
	govByRaw map[string]*govItem
	govBytes int
	dropped  struct{ atts, gov uint64 }
}

// New makes an empty pool for the chain verifier checks blocks of. log, if
// set, gets the attestation groups Build could not aggregate (a bug).
func New(verifier *activation.Verifier, bounds Bounds, log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{verifier: verifier, bounds: bounds, log: log,
		atts: map[group]map[string]signal.Attestation{}, govByRaw: map[string]*govItem{}}
}

// attSize is what an attestation costs the pool's byte bound.
func attSize(a signal.Attestation) int {
	return len(a.ChainID) + len(a.Deployment) + 8 + len(a.Signer) + len(a.Signature)
}

// AddAttestation pools an attestation whose signature the caller verified
// (gossip's validator, or this node's own).
func (p *Pool) AddAttestation(a signal.Attestation) Result {
	if a.ChainID != p.verifier.Params.ChainID {
		return Invalid
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if a.Epoch < p.floor {
		return Stale
	}
	k := group{a.Deployment, a.Epoch}
	if _, ok := p.atts[k][a.Signer]; ok {
		return Duplicate
	}
	size := attSize(a)
	if p.nAtts >= p.bounds.Attestations || p.attBytes+size > p.bounds.AttestationBytes {
		p.dropped.atts++
		return Full
	}
	if p.atts[k] == nil {
		p.atts[k] = map[string]signal.Attestation{}
	}
	p.atts[k][a.Signer] = a
	p.nAtts++
	p.attBytes += size
	return Added
}

// AddGovernance pools a canonical chain.GovernanceMessage. It decodes it;
// whether the committee signed it is the caller's check or Build's.
func (p *Pool) AddGovernance(raw []byte) Result {
	m, err := chain.DecodeGovernance(raw)
	if err != nil {
		return Invalid
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.govByRaw[string(raw)] != nil {
		return Duplicate
	}
	if len(p.gov) >= p.bounds.Governance || p.govBytes+len(raw) > p.bounds.GovernanceBytes {
		p.dropped.gov++
		return Full
	}
	it := &govItem{raw: bytes.Clone(raw), msg: m}
	p.gov = append(p.gov, it)
	p.govByRaw[string(raw)] = it
	p.govBytes += len(raw)
	return Added
}

// HasGovernance reports whether the pool holds this governance message.
func (p *Pool) HasGovernance(raw []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.govByRaw[string(raw)] != nil
}

// Stats returns the pool's counts.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Attestations: p.nAtts, AttestationBytes: p.attBytes, GovernanceBytes: p.govBytes,
		DroppedAttestations: p.dropped.atts, DroppedGovernance: p.dropped.gov}
	for _, it := range p.gov {
		if it.msg.Proposal != nil {
			s.Proposals++
		} else {
			s.Cancels++
		}
	}
	return s
}

// prune drops the attestations of epochs before epoch. Called with mu held.
func (p *Pool) prune(epoch uint64) {
	if epoch <= p.floor {
		return
	}
	p.floor = epoch
	for k, m := range p.atts {
		if k.e < epoch {
			for _, a := range m {
				p.attBytes -= attSize(a)
			}
			p.nAtts -= len(m)
			delete(p.atts, k)
		}
	}
}

// removeGov drops governance items. Called with mu held.
func (p *Pool) removeGov(drop map[*govItem]bool) {
	if len(drop) == 0 {
		return
	}
	p.gov = slices.DeleteFunc(p.gov, func(it *govItem) bool {
		if !drop[it] {
			return false
		}
		delete(p.govByRaw, string(it.raw))
		p.govBytes -= len(it.raw)
		return true
	})
}

// Build makes the WireBlock at height and view on head, within limits,
// from what the pool holds, and takes nothing out (Included does, once a
// committed block carried it). In order:
//   - governance items, in arrival order, up to the limit of each kind, that
//     verify against head; one that does not (the committee did not sign it:
//     it never will) leaves the pool;
//   - one certificate per deployment STARTED in head with readiness of the
//     view's epoch, in deployment ID order, up to the certificate limit
//     (readiness for a deployment that is not signaling waits in the pool:
//     it may start within the epoch);
//   - then the byte bound.
//
// The same pool content and head give the same block. Attestations of
// epochs before the view's are pruned.
func (p *Pool) Build(head *activation.State, height, view uint64, limits Limits) activation.WireBlock {
	params := p.verifier.Params
	epoch := params.Epoch(view)
	wire := activation.WireBlock{ChainID: params.ChainID, Height: height, View: view}

	// Take a snapshot, and verify and aggregate outside the lock: BLS costs
	// milliseconds, and gossip keeps adding meanwhile.
	p.mu.Lock()
	p.prune(epoch)
	gov := slices.Clone(p.gov)
	verified := make([]bool, len(gov))
	for i, it := range gov {
		verified[i] = it.verified
	}
	var groups []group
	for k := range p.atts {
		if k.e == epoch {
			groups = append(groups, k)
		}
	}
	sort.Slice(groups, func(i, j int) bool { return bytes.Compare(groups[i].d[:], groups[j].d[:]) < 0 })
	lists := make([][]signal.Attestation, len(groups))
	for i, k := range groups {
		for _, a := range p.atts[k] {
			lists[i] = append(lists[i], a)
		}
	}
	p.mu.Unlock()

	bad, good := map[*govItem]bool{}, map[*govItem]bool{}
	for i, it := range gov {
		one := activation.WireBlock{ChainID: wire.ChainID, Height: height, View: view}
		if sp := it.msg.Proposal; sp != nil {
			if within(len(wire.Proposals), limits.Proposals) {
				one.Proposals = []activation.SignedProposal{*sp}
			}
		} else if within(len(wire.Cancels), limits.Cancels) {
			one.Cancels = []activation.SignedCancel{*it.msg.Cancel}
		}
		if len(one.Proposals)+len(one.Cancels) == 0 {
			continue // over its kind's limit: a later block
		}
		if !verified[i] {
			_, rej, err := p.verifier.Verify(head, one)
			if err != nil {
				continue // not the item's fault (another chain's verifier): keep it
			}
			if len(rej) > 0 {
				bad[it] = true
				continue
			}
			good[it] = true
		}
		wire.Proposals = append(wire.Proposals, one.Proposals...)
		wire.Cancels = append(wire.Cancels, one.Cancels...)
	}

	table := params.Identities.TableAt(epoch)
	for i, k := range groups {
		if !within(len(wire.Certificates), limits.Certificates) {
			break
		}
		if d, ok := head.DeploymentByID(k.d); !ok || d.Status != activation.Started {
			continue // not signaling: Apply would reject every signer
		}
		list := lists[i]
		sort.Slice(list, func(i, j int) bool { return list[i].Signer < list[j].Signer })
		cert, err := quorum.BuildCertificate(table, list)
		if err != nil {
			// The pool holds only verified attestations of the epoch's
			// table, so this is a bug; the block goes out without them.
			p.log.Error("pooled attestations left out of the block: they do not aggregate",
				"epoch", epoch, "deployment", hex.EncodeToString(k.d[:]), "attestations", len(list), "err", err)
			continue
		}
		wire.Certificates = append(wire.Certificates, cert)
	}

	for limits.Bytes > 0 && len(wire.Encode()) > limits.Bytes {
		switch {
		case len(wire.Certificates) > 0:
			wire.Certificates = wire.Certificates[:len(wire.Certificates)-1]
		case len(wire.Cancels) > 0:
			wire.Cancels = wire.Cancels[:len(wire.Cancels)-1]
		case len(wire.Proposals) > 0:
			wire.Proposals = wire.Proposals[:len(wire.Proposals)-1]
		default:
			return wire // an empty block over the bound: nothing to leave out
		}
	}

	p.mu.Lock()
	for it := range good {
		it.verified = true
	}
	p.removeGov(bad)
	p.mu.Unlock()
	return wire
}

func within(n, limit int) bool { return limit <= 0 || n < limit }

// Included takes out of the pool what a committed block carried: the
// signers of its certificates, its single attestations, its governance
// items; and the attestations of epochs before the block's. Call it at
// every commit, whoever built the block.
func (p *Pool) Included(wire activation.WireBlock) {
	params := p.verifier.Params
	var carried []string
	for _, sp := range wire.Proposals {
		carried = append(carried, string(canon.MustEncode(chain.GovernanceMessage{Proposal: &sp})))
	}
	for _, sc := range wire.Cancels {
		carried = append(carried, string(canon.MustEncode(chain.GovernanceMessage{Cancel: &sc})))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.prune(params.Epoch(wire.View))
	drop := func(k group, signer string) {
		m := p.atts[k]
		a, ok := m[signer]
		if !ok {
			return
		}
		delete(m, signer)
		p.nAtts--
		p.attBytes -= attSize(a)
		if len(m) == 0 {
			delete(p.atts, k)
		}
	}
	for _, c := range wire.Certificates {
		k := group{c.Deployment, c.Epoch}
		if p.atts[k] == nil {
			continue
		}
		t := params.Identities.TableAt(c.Epoch)
		for signer := range p.atts[k] {
			if i, ok := t.Lookup(signer); ok && i>>3 < len(c.Signers) && c.Signers.Has(i) {
				drop(k, signer)
			}
		}
	}
	for _, a := range wire.Attestations {
		drop(group{a.Deployment, a.Epoch}, a.Signer)
	}
	gone := map[*govItem]bool{}
	for _, raw := range carried {
		if it := p.govByRaw[raw]; it != nil {
			gone[it] = true
		}
	}
	p.removeGov(gone)
}
