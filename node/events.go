package node

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
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
		if d.Status != activation.Active || n.upgrader.Handled(d.Name) {
			continue
		}
		if h, err := n.store.HeightAtView(d.Since); err == nil {
			from = min(from, h)
		} else {
			n.log.Error("activation height", "deployment", d.Name, "err", err)
		}
	}
	return from
}

// onBlock reacts to a finalized block's events. fresh is false for a block
// replayed after a restart (its events were counted before). It reports
// whether a deployment this binary cannot run locked in, so the warning
// goes out at once.
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
			d, ok := n.chain.Head().Deployment(e.Deployment)
			if !ok {
				continue
			}
			switch e.To {
			case activation.LockedIn:
				if fresh {
					n.log.Info("locked in", "deployment", d.Name, "component", d.Component, "version", d.Version,
						"activation_view", e.ActivationView, "height", fb.Height)
					warn = warn || !n.cfg.Supported.Has(d.Component, d.Version)
				}
			case activation.Active:
				n.activate(UpgradeInfo{Deployment: d.Name, Component: d.Component, Version: d.Version,
					ActivationView: d.ActivationView, Height: fb.Height})
			}
		}
	}
	return warn
}

// activate hands an activation to the upgrader; a failed hook is retried on
// the node's timer.
func (n *Node) activate(info UpgradeInfo) {
	if n.upgrader.Handled(info.Deployment) {
		return
	}
	if err := n.upgrader.OnActive(n.ctx, info); err != nil {
		n.metrics.hookRuns.WithLabelValues("failed").Inc()
		n.log.Error("upgrade hook failed; it will be retried", "deployment", info.Deployment, "err", err)
		if !slices.ContainsFunc(n.retry, func(u UpgradeInfo) bool { return u.Deployment == info.Deployment }) {
			n.retry = append(n.retry, info)
		}
		return
	}
	n.retry = slices.DeleteFunc(n.retry, func(u UpgradeInfo) bool { return u.Deployment == info.Deployment })
	n.metrics.hookRuns.WithLabelValues("ok").Inc()
	n.log.Info("activated", "deployment", info.Deployment, "component", info.Component, "version", info.Version,
		"view", info.ActivationView, "height", info.Height)
}

// retryActivations runs the hooks that failed again.
func (n *Node) retryActivations() {
	for _, info := range slices.Clone(n.retry) {
		n.activate(info)
	}
}
