package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/p2p"
)

// The metrics an operator's dashboard and alert rules need beyond the
// runtime's own (deploy/grafana/quorumgate.json, deploy/prometheus/alerts.yml):
// what is about to happen and whether this node is ready for it.

type operatorMetrics struct {
	n                                          *Node
	synced, meshPeers, viewInterval            *prometheus.Desc
	threshold, supported, toCutoff, toActivate *prometheus.Desc
	activationETA, upgradeNeeded               *prometheus.Desc
}

func newOperatorMetrics(n *Node) *operatorMetrics {
	d := prometheus.NewDesc
	dep := []string{"deployment"}
	return &operatorMetrics{n: n,
		synced:       d("quorumgate_synced", "1 when the node has caught up with the chain's head, 0 while it catches up.", nil, nil),
		meshPeers:    d("quorumgate_mesh_peers", "Peers in the node's gossip mesh for attestations.", nil, nil),
		viewInterval: d("quorumgate_view_interval_seconds", "Expected time between views: turns views into wall time.", nil, nil),
		threshold: d("quorumgate_deployment_threshold",
			"The share of every required role's stake a stake deployment needs (strictly more than this) to lock in.", dep, nil),
		supported: d("quorumgate_deployment_supported",
			"1 when this node's binary runs the deployment's version (always, for a parameter change: component=\"param:KEY\"), 0 when it does not.", []string{"deployment", "component", "version"}, nil),
		toCutoff: d("quorumgate_views_to_cutoff",
			"Views left in this epoch before a signaling deployment's cutoff (readiness finalized later counts next epoch).", dep, nil),
		toActivate: d("quorumgate_views_to_activation", "Views left until a LOCKED_IN deployment activates.", dep, nil),
		activationETA: d("quorumgate_activation_eta_seconds",
			"Estimated seconds until a LOCKED_IN deployment activates (views left times the view interval).", dep, nil),
		upgradeNeeded: d("quorumgate_upgrade_needed_seconds",
			"Present for each LOCKED_IN deployment whose version this node does not run: estimated seconds until it activates and the node halts.",
			[]string{"deployment", "component", "version"}, nil),
	}
}

func (m *operatorMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.synced, m.meshPeers, m.viewInterval, m.threshold, m.supported, m.toCutoff,
		m.toActivate, m.activationETA, m.upgradeNeeded} {
		ch <- d
	}
}

func (m *operatorMetrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	n := m.n
	synced := 0.0
	if n.chain.Synced() {
		synced = 1
	}
	gauge(m.synced, synced)
	gauge(m.meshPeers, float64(n.net.MeshPeers()))
	interval := n.cfg.ViewInterval.Seconds()
	gauge(m.viewInterval, interval)
	head := n.chain.Head()
	_, view, _ := head.Head()
	p := head.Params()
	epoch := p.Epoch(view)
	for _, d := range head.Deployments() {
		sup := n.cfg.Supported.Runs(d)
		component, version := deploymentLabels(d)
		gauge(m.supported, b2f(sup), d.Name, component, version)
		if d.Mode == activation.Stake {
			gauge(m.threshold, float64(d.Threshold.Num)/float64(d.Threshold.Den), d.Name)
		}
		switch d.Status {
		case activation.Started:
			if d.Mode == activation.Stake {
				left := uint64(0)
				if cutoff := p.EpochStart(epoch+1) - p.SafetyViews; cutoff > view {
					left = cutoff - view
				}
				gauge(m.toCutoff, float64(left), d.Name)
			}
		case activation.LockedIn:
			left := uint64(0)
			if d.ActivatesAt > view {
				left = d.ActivatesAt - view
			}
			gauge(m.toActivate, float64(left), d.Name)
			gauge(m.activationETA, float64(left)*interval, d.Name)
			if !sup {
				gauge(m.upgradeNeeded, float64(left)*interval, d.Name, d.Component, d.Version)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// knownVerdicts are the attestation verdicts and reasons p2p gives, so
// their series exist at zero from the start: a rate() over a series that
// appears with its first rejection would miss that rejection.
var knownVerdicts = []struct {
	v      p2p.Verdict
	reason string
}{
	{p2p.Accept, ""}, {p2p.Reject, "malformed"}, {p2p.Reject, "wrong chain"}, {p2p.Reject, "unknown signer"},
	{p2p.Reject, "bad signature"}, {p2p.Ignore, "epoch outside the window"}, {p2p.Ignore, "deployment not signaling"},
	{p2p.Ignore, "duplicate"},
}

// registerOperatorMetrics adds the operator metrics and starts the counters
// the alert rules watch at zero.
func (m *metrics) registerOperatorMetrics(n *Node) {
	m.reg.MustRegister(newOperatorMetrics(n))
	for _, k := range knownVerdicts {
		m.verdicts.WithLabelValues(k.v.String(), k.reason)
	}
	m.hookRuns.WithLabelValues("ok")
	m.hookRuns.WithLabelValues("failed")
}
