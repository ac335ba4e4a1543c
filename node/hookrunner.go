package node

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// hookRunner hands activations to the Upgrader off the run loop, so a slow
// or hung hook never delays signaling, warnings or shutdown. The run loop
// enqueues (never blocks); one goroutine, owned by the node and ended by its
// context, handles activations in order and retries a failed one with
// exponential backoff. A hook running when the context ends is killed with
// its process group (Upgrader.runHook).
type hookRunner struct {
	u          *Upgrader
	log        *slog.Logger
	minBackoff time.Duration
	maxBackoff time.Duration
	// attempted, if set, learns each attempt's result (metrics).
	attempted func(UpgradeInfo, error)
	// wait sleeps d unless ctx ends first (false); tests replace it.
	wait func(ctx context.Context, d time.Duration) bool

	wake   chan struct{}
	mu     sync.Mutex
	queue  []UpgradeInfo
	queued map[string]bool // deployments in queue or being handled
}

func newHookRunner(u *Upgrader, log *slog.Logger) *hookRunner {
	return &hookRunner{u: u, log: log, minBackoff: time.Second, maxBackoff: time.Minute,
		wake: make(chan struct{}, 1), queued: map[string]bool{}, wait: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pending reports whether a deployment waits for (or is in) its hook.
func (h *hookRunner) pending(deployment string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queued[deployment]
}

// enqueue adds an activation unless it is already waiting; it never blocks.
func (h *hookRunner) enqueue(info UpgradeInfo) {
	h.mu.Lock()
	if !h.queued[info.Deployment] {
		h.queued[info.Deployment] = true
		h.queue = append(h.queue, info)
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run handles queued activations until ctx ends. It first kills what is
// left of a hook from before the node started (hook.lock), even when no
// activation will run the hook again; an error there is retried with the
// hook.
func (h *hookRunner) run(ctx context.Context) {
	if err := h.u.reclaimHook(ctx); err != nil && ctx.Err() == nil {
		h.log.Error("a hook from before the node started may still run", "err", err)
	}
	for {
		h.mu.Lock()
		var info UpgradeInfo
		next := len(h.queue) > 0
		if next {
			info = h.queue[0]
		}
		h.mu.Unlock()
		if !next {
			select {
			case <-ctx.Done():
				return
			case <-h.wake:
				continue
			}
		}
		if !h.handle(ctx, info) {
			return
		}
		h.mu.Lock()
		h.queue = h.queue[1:]
		delete(h.queued, info.Deployment)
		h.mu.Unlock()
	}
}

// handle runs one activation until it succeeds (true) or ctx ends (false).
func (h *hookRunner) handle(ctx context.Context, info UpgradeInfo) bool {
	backoff := h.minBackoff
	for {
		err := h.u.OnActive(ctx, info)
		if ctx.Err() != nil {
			return false // stopping: the started marker makes the next start retry it
		}
		if h.attempted != nil {
			h.attempted(info, err)
		}
		if err == nil {
			h.log.Info("activated", append(info.logAttrs(), "view", info.ActivationView, "height", info.Height)...)
			return true
		}
		h.log.Error("upgrade hook failed; it will be retried", "deployment", info.Deployment, "in", backoff, "err", err)
		if !h.wait(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, h.maxBackoff)
	}
}

// newHooks builds the node's hook runner, counting attempts in the metrics.
func (n *Node) newHooks() *hookRunner {
	h := newHookRunner(&Upgrader{Home: n.cfg.Home, Hook: n.cfg.Hook, HookTimeout: n.cfg.HookTimeout, WriteParams: n.writeParams,
		Log: n.log}, n.log)
	h.attempted = func(_ UpgradeInfo, err error) {
		if err != nil {
			n.metrics.hookRuns.WithLabelValues("failed").Inc()
		} else {
			n.metrics.hookRuns.WithLabelValues("ok").Inc()
		}
	}
	return h
}
