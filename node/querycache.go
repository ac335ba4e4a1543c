package node

import (
	"errors"
	"sync"
)

// Expensive API queries (a lock-in search replays states by binary search,
// a readiness at a height loads that height's state) are bounded: at most
// maxExpensiveQueries run at once, others are refused as busy; and a
// lock-in answer, which never changes once found, is computed once.
const maxExpensiveQueries = 2

var errBusy = errors.New("the node is answering other expensive queries; try again shortly")

type queryLimits struct {
	slots  chan struct{}
	mu     sync.Mutex
	lockIn map[string]Readiness // deployment name -> readiness at lock-in
}

func newQueryLimits() *queryLimits {
	return &queryLimits{slots: make(chan struct{}, maxExpensiveQueries), lockIn: map[string]Readiness{}}
}

// expensive runs f if a slot is free, else returns errBusy.
func (q *queryLimits) expensive(f func() (Readiness, error)) (Readiness, error) {
	select {
	case q.slots <- struct{}{}:
		defer func() { <-q.slots }()
		return f()
	default:
		return Readiness{}, errBusy
	}
}

// lockInReadiness is LockInReadiness, cached once found and bounded.
func (n *Node) lockInReadiness(name string) (Readiness, error) {
	q := n.queries
	q.mu.Lock()
	r, ok := q.lockIn[name]
	q.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := q.expensive(func() (Readiness, error) { return n.LockInReadiness(name) })
	if err == nil {
		q.mu.Lock()
		q.lockIn[name] = r
		q.mu.Unlock()
	}
	return r, err
}

// readinessAt is ReadinessAt, bounded.
func (n *Node) readinessAt(name string, height uint64) (Readiness, error) {
	return n.queries.expensive(func() (Readiness, error) { return n.ReadinessAt(name, height) })
}
