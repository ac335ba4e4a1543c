package node

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/quorumgate/quorumgate/activation"
)

// history bounds the API's questions about the past. The state after an old
// block is re-derived by replaying up to a snapshot interval of blocks
// (storage's StateAt), and `?at=lock-in` does that about log2(height) times,
// so any caller could keep the node replaying. Finalized history never
// changes, so answers are cached (a fixed number, least recently used
// evicted); at most one replay runs at a time, and uncached questions are
// rate-limited, so that no caller can keep a core replaying. A caller that
// cannot get the turn within wait, or comes over the rate, is told to retry
// (HTTP 503, Retry-After).
type history struct {
	cache *lru.Cache[historyKey, ReadinessReport]
	turn  chan struct{}
	wait  atomic.Int64 // nanoseconds
	rate  *rate.Limiter
	// replays counts the states re-derived from the store (tests read it).
	replays atomic.Int64
}

// historyKey names an answer: a deployment's readiness after block height,
// or (lockIn) in the block that locked it in.
type historyKey struct {
	name   string
	height uint64
	lockIn bool
}

const historyCacheSize = 256

func newHistory() *history {
	c, _ := lru.New[historyKey, ReadinessReport](historyCacheSize) // errors only for a size <= 0
	h := &history{cache: c, turn: make(chan struct{}, 1), rate: rate.NewLimiter(4, 8)}
	h.wait.Store(int64(2 * time.Second))
	return h
}

// get returns a cached answer, as a copy the caller may change.
func (h *history) get(k historyKey) (ReadinessReport, bool) {
	r, ok := h.cache.Get(k)
	if ok {
		r.Roles, r.Ready = slices.Clone(r.Roles), slices.Clone(r.Ready)
	}
	return r, ok
}

func (h *history) add(k historyKey, r ReadinessReport) {
	r.Roles, r.Ready = slices.Clone(r.Roles), slices.Clone(r.Ready)
	h.cache.Add(k, r)
}

// acquire takes a replay from the rate and waits for the replay turn, at
// most h.wait or until ctx ends; the caller calls release once done.
func (h *history) acquire(ctx context.Context) (release func(), ok bool) {
	if !h.rate.Allow() {
		return nil, false
	}
	t := time.NewTimer(time.Duration(h.wait.Load()))
	defer t.Stop()
	select {
	case h.turn <- struct{}{}:
		return func() { <-h.turn }, true
	case <-ctx.Done():
	case <-t.C:
	}
	return nil, false
}

// stateAt is the store's StateAt, counted.
func (n *Node) stateAt(height uint64) (*activation.State, error) {
	n.history.replays.Add(1)
	return n.store.StateAt(height)
}
