package node

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/storage"
)

// eventMetrics count what finalized blocks did, from their events.
type eventMetrics struct {
	rejections  *prometheus.CounterVec
	transitions *prometheus.CounterVec
}

func newEventMetrics(reg *prometheus.Registry) *eventMetrics {
	m := &eventMetrics{
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quorumgate_rejections_total",
			Help: "Items of finalized blocks that Apply rejected, by kind and reason."}, []string{"kind", "reason"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quorumgate_transitions_total",
			Help: "Deployment transitions in finalized blocks, by the state entered."}, []string{"to"}),
	}
	reg.MustRegister(m.rejections, m.transitions)
	return m
}

// replayFrom is the height the node asks the chain to deliver from, given
// the height after its head: earlier, after a restart, when a deployment is
// ACTIVE whose activation the upgrader has not finished (the node stopped
// between the block and the hook's end), so its ACTIVE event comes again.
func (n *Node) replayFrom(next uint64) uint64 {
	from := next
	for _, d := range n.chain.Head().Deployments() {
		if d.Status != activation.Active || n.hooks.u.Handled(d.Name) {
			continue
		}
		if h, err := n.store.HeightAtView(d.Since); err == nil {
			from = min(from, h)
		} else if errors.Is(err, storage.ErrPruned) {
			// It activated before this node joined by state sync: there is
			// no block to replay, and nothing of it ran here.
			continue
		} else {
			n.log.Error("activation height", "deployment", d.Name, "err", err)
		}
	}
	return from
}

// onBlock reacts to a finalized block's events. fresh is false for a block
// replayed after a restart (its events were counted before). It reports
// whether a deployment this binary cannot run locked in, so the warning
// goes out at once. An activation, of a version or a parameter, goes to
// the hook runner; a parameter's also rewrites params.json at once.
func (n *Node) onBlock(fb chain.FinalizedBlock, fresh bool) (warn bool) {
	for _, ev := range fb.Events {
		switch e := ev.(type) {
		case activation.Rejection:
			if fresh {
				n.events.rejections.WithLabelValues(string(e.Kind), string(e.Reason)).Inc()
			}
		case activation.Transition:
			if fresh {
				n.events.transitions.WithLabelValues(e.To.String()).Inc()
			}
			d, ok := fb.State.Deployment(e.Deployment) // as the block left it
			if !ok {
				continue
			}
			info := activationOf(d, fb.Height)
			switch e.To {
			case activation.LockedIn:
				if fresh {
					n.log.Info("locked in", append(info.logAttrs(), "activation_view", e.ActivationView, "height", fb.Height)...)
					warn = warn || !n.cfg.Supported.Runs(d)
				}
			case activation.Active:
				if d.IsParam() {
					// The node software gets the new value now, even while
					// an earlier activation's hook still runs; the hook
					// runner writes it again before this one's hook.
					if err := n.writeParams(); err != nil {
						n.log.Error("write the parameters' values", "deployment", d.Name, "err", err)
					}
				}
				n.activate(info)
			}
		}
	}
	return warn
}

// activate hands an activation to the hook runner, which runs the upgrader
// off this loop and retries a failed hook with backoff (hookrunner.go).
func (n *Node) activate(info UpgradeInfo) {
	if n.hooks.pending(info.Deployment) || n.hooks.u.Handled(info.Deployment) {
		return
	}
	n.hooks.enqueue(info)
}
