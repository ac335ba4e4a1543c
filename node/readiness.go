package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/storage"
)

// ReadinessReport is a stake deployment's finalized readiness in the epoch of a
// block: who had signaled by then, and the ready stake per required role.
// It answers "who was ready when it locked in?".
type ReadinessReport struct {
	Deployment string `json:"deployment"`
	Height     uint64 `json:"height"`
	View       uint64 `json:"view"`
	Epoch      uint64 `json:"epoch"`
	// State is the deployment's state after that block.
	State     string        `json:"state"`
	Threshold string        `json:"threshold"`
	Roles     []RoleStatus  `json:"roles"`
	Ready     []ReadySigner `json:"ready"`
}

// ReadySigner is a node whose readiness the tally counted.
type ReadySigner struct {
	NodeID string `json:"node_id"`
	Role   string `json:"role"`
	Stake  uint64 `json:"stake"`
}

// errNotFound marks an answer that does not exist (HTTP 404), as opposed to
// a store failure.
var errNotFound = errors.New("not found")

// ReadinessAt is deployment name's readiness after block height.
func (n *Node) ReadinessAt(name string, height uint64) (ReadinessReport, error) {
	if top, _, _ := n.chain.Head().Head(); height > top {
		return ReadinessReport{}, fmt.Errorf("%w: no state at height %d: the head is at height %d", errNotFound, height, top)
	}
	key := historyKey{name: name, height: height}
	if r, ok := n.history.get(key); ok {
		return r, nil
	}
	s, err := n.stateAt(height)
	if errors.Is(err, storage.ErrPruned) {
		return ReadinessReport{}, fmt.Errorf("%w: %v", errNotFound, err) // before this node's history
	}
	if err != nil {
		return ReadinessReport{}, fmt.Errorf("the state at height %d: %w", height, err) // the store failed: not the question
	}
	r, err := readinessOf(s, name)
	if err == nil {
		n.history.add(key, r)
	}
	return r, err
}

func readinessOf(s *activation.State, name string) (ReadinessReport, error) {
	h, view, _ := s.Head()
	d, ok := s.Deployment(name)
	if !ok {
		return ReadinessReport{}, fmt.Errorf("%w: no deployment %s (at height %d)", errNotFound, quoteValue(name), h)
	}
	if d.Mode != activation.Stake {
		return ReadinessReport{}, fmt.Errorf("%w: %s is a governance deployment: it does not count readiness", errNotFound, name)
	}
	p := s.Params()
	epoch := p.Epoch(view)
	table := p.Identities.TableAt(epoch)
	tally := d.Tally(epoch)
	r := ReadinessReport{Deployment: name, Height: h, View: view, Epoch: epoch, State: d.Status.String(),
		Threshold: d.Threshold.String(), Roles: roleStatuses(d, table, tally), Ready: []ReadySigner{}}
	if tally != nil {
		for i := range table.Len() {
			if tally.Has(i) {
				id := table.At(i)
				r.Ready = append(r.Ready, ReadySigner{NodeID: id.NodeID, Role: id.Role, Stake: id.Stake})
			}
		}
	}
	return r, nil
}

// LockInReadiness is deployment name's readiness in the block that locked
// it in: exactly the signers whose stake made it pass the threshold.
func (n *Node) LockInReadiness(name string) (ReadinessReport, error) {
	head := n.chain.Head()
	d, ok := head.Deployment(name)
	if !ok {
		return ReadinessReport{}, fmt.Errorf("%w: no deployment %s", errNotFound, quoteValue(name))
	}
	if d.Mode != activation.Stake {
		return ReadinessReport{}, fmt.Errorf("%w: %s is a governance deployment: it does not lock in by readiness", errNotFound, name)
	}
	// The block that locked it in is fixed once it is LOCKED_IN or ACTIVE,
	// and its readiness with it: found once, then cached.
	key := historyKey{name: name, lockIn: true}
	if r, ok := n.history.get(key); ok && (d.Status == activation.LockedIn || d.Status == activation.Active) {
		return r, nil
	}
	var h uint64
	switch d.Status {
	case activation.LockedIn:
		var err error
		if h, err = n.store.HeightAtView(d.Since); errors.Is(err, storage.ErrPruned) {
			return ReadinessReport{}, fmt.Errorf("%w: %s locked in before this node's history: %v", errNotFound, name, err)
		} else if err != nil {
			return ReadinessReport{}, fmt.Errorf("the block of view %d, where %s locked in: %w", d.Since, name, err)
		}
	case activation.Active:
		top, _, _ := head.Head()
		var err error
		if h, err = n.lockInHeight(name, top); err != nil {
			return ReadinessReport{}, err
		}
	default:
		return ReadinessReport{}, fmt.Errorf("%w: %s has not locked in (it is %s)", errNotFound, name, d.Status)
	}
	r, err := n.ReadinessAt(name, h)
	if err == nil {
		n.history.add(key, r)
	}
	return r, err
}

// lockInHeight finds the block that locked an ACTIVE deployment in, at or
// below top. The state only keeps the latest transition: this is the first
// block after which the deployment was LOCKED_IN or ACTIVE. Statuses only
// move forward, so a binary search over the heights finds it.
func (n *Node) lockInHeight(name string, top uint64) (uint64, error) {
	lo, hi := uint64(0), top // invariant: not locked in after lo; locked in after hi
	if base, ok := n.store.Base(); ok {
		// A node that joined by state sync searches from its base; if it
		// was locked in there already, the block is before its history.
		s, err := n.stateAt(base)
		if err != nil {
			return 0, err
		}
		if md, ok := s.Deployment(name); ok && (md.Status == activation.LockedIn || md.Status == activation.Active) {
			return 0, fmt.Errorf("%w: %s locked in before height %d, where this node joined by state sync; its history starts there",
				errNotFound, name, base)
		}
		lo = base
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		s, err := n.stateAt(mid)
		if err != nil {
			return 0, err
		}
		if md, ok := s.Deployment(name); ok && (md.Status == activation.LockedIn || md.Status == activation.Active) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// serveReadiness is GET /readiness?deployment=NAME[&height=H|&at=lock-in].
func (n *Node) serveReadiness(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("deployment")
	if name == "" {
		http.Error(w, "deployment=NAME is required", http.StatusBadRequest)
		return
	}
	var res ReadinessReport
	var err error
	switch {
	case q.Get("at") == "lock-in":
		res, err = n.fromHistory(r.Context(), historyKey{name: name, lockIn: true},
			func() (ReadinessReport, error) { return n.LockInReadiness(name) })
	case q.Get("at") != "":
		http.Error(w, fmt.Sprintf("at=%s: the only value is lock-in", quoteValue(q.Get("at"))), http.StatusBadRequest)
		return
	case q.Has("height"):
		h, perr := strconv.ParseUint(q.Get("height"), 10, 64)
		if perr != nil {
			http.Error(w, "height must be a whole number", http.StatusBadRequest)
			return
		}
		res, err = n.fromHistory(r.Context(), historyKey{name: name, height: h},
			func() (ReadinessReport, error) { return n.ReadinessAt(name, h) })
	default:
		res, err = readinessOf(n.chain.Head(), name)
	}
	switch {
	case errors.Is(err, errBusy):
		w.Header().Set("Retry-After", "1")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	case errors.Is(err, errNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		writeJSON(w, res)
	}
}

// errBusy: a question about the past did not get the replay turn (HTTP 503).
var errBusy = errors.New("busy: queries into the chain's history replay blocks, one at a time and a few a second; retry in a second")

// fromHistory answers a question about the past, which may replay blocks:
// unless its answer is cached, it waits for the one replay turn (and holds
// it only while answering), or fails with errBusy.
func (n *Node) fromHistory(ctx context.Context, k historyKey, answer func() (ReadinessReport, error)) (ReadinessReport, error) {
	if !n.history.cache.Contains(k) {
		release, ok := n.history.acquire(ctx)
		if !ok {
			return ReadinessReport{}, errBusy
		}
		defer release()
	}
	return answer()
}
