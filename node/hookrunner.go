package node

import (
	"time"
)

// The upgrade hook runs on its own goroutine, never in the run loop: a hook
// that hangs (or leaves a child holding its output) must not delay
// signaling, warnings or shutdown. The run loop hands it activations; the
// worker runs each until it succeeds, with backoff, and ends with the node.

// hookBackoff bounds the wait between attempts of a failing hook.
const (
	hookFirstBackoff = time.Second
	hookMaxBackoff   = time.Minute
)

// dispatchHook queues an activation for the hook worker unless it is queued
// or running already. It never blocks: a full queue is tried again at the
// next pass of the run loop.
func (n *Node) dispatchHook(info UpgradeInfo) {
	n.hookMu.Lock()
	defer n.hookMu.Unlock()
	if n.hookPending[info.Deployment] {
		return
	}
	select {
	case n.hooks <- info:
		n.hookPending[info.Deployment] = true
	default:
	}
}

// hookWorker runs queued activations, one at a time, retrying failures
// with exponential backoff; it returns when the node stops (the hook's
// process group is killed by the context, see Upgrader).
func (n *Node) hookWorker() {
	defer n.wg.Done()
	for {
		var info UpgradeInfo
		select {
		case <-n.ctx.Done():
			return
		case info = <-n.hooks:
		}
		for backoff := hookFirstBackoff; ; backoff = min(2*backoff, hookMaxBackoff) {
			err := n.upgrader.OnActive(n.ctx, info)
			if err == nil {
				n.metrics.hookRuns.WithLabelValues("ok").Inc()
				n.log.Info("activated", "deployment", info.Deployment, "component", info.Component, "version", info.Version,
					"view", info.ActivationView, "height", info.Height)
				break
			}
			if n.ctx.Err() != nil {
				return
			}
			n.metrics.hookRuns.WithLabelValues("failed").Inc()
			n.log.Error("upgrade hook failed; retrying", "deployment", info.Deployment, "in", backoff, "err", err)
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		n.hookMu.Lock()
		delete(n.hookPending, info.Deployment)
		n.hookMu.Unlock()
	}
}
