package node

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/p2p"
)

// The node's Prometheus collectors, served at GET /metrics: the runtime's
// own here; the operator's (opmetrics.go), the defences'
// (defence_metrics.go) and the finalized blocks' events (events.go) beside.

type metrics struct {
	reg         *prometheus.Registry
	verdicts    *prometheus.CounterVec
	blocks      prometheus.Counter
	hookRuns    *prometheus.CounterVec
	deployState *prometheus.Desc
	readyRatio  *prometheus.Desc
	paramValue  *prometheus.Desc
	n           *Node
}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), n: n,
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quorumgate_attestations_total",
			Help: "Attestations received by gossip, by verdict (accept, ignore, reject) and reason."}, []string{"verdict", "reason"}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "quorumgate_blocks_applied_total", Help: "Finalized blocks applied."}),
		hookRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quorumgate_hook_runs_total",
			Help: "Activations handed to the upgrade hook, by result."}, []string{"result"}),
		deployState: prometheus.NewDesc("quorumgate_deployment_state",
			"Deployment status: 1 DEFINED, 2 STARTED, 3 LOCKED_IN, 4 ACTIVE, 5 FAILED, 6 CANCELED. "+
				"A parameter change has component=\"param:KEY\" and version=its new value.", []string{"deployment", "component", "version"}, nil),
		readyRatio: prometheus.NewDesc("quorumgate_ready_stake_ratio",
			"Share of a role's stake ready for a signaling deployment this epoch: source=finalized (the chain's tally) or live (verified gossip).",
			[]string{"deployment", "role", "source"}, nil),
		paramValue: prometheus.NewDesc("quorumgate_param_value",
			"Active value of each uint protocol parameter, in the state after the last finalized block (bool and string parameters have none).",
			[]string{"param"}, nil),
	}
	head := func(f func(h, v, e uint64) uint64) func() float64 {
		return func() float64 {
			s := n.chain.Head()
			h, v, _ := s.Head()
			return float64(f(h, v, s.Params().Epoch(v)))
		}
	}
	m.reg.MustRegister(m.verdicts, m.blocks, m.hookRuns, m,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_head_height", Help: "Height of the last applied block."}, head(func(h, _, _ uint64) uint64 { return h })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_head_view", Help: "View of the last applied block."}, head(func(_, v, _ uint64) uint64 { return v })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_head_epoch", Help: "Epoch of the last applied block."}, head(func(_, _, e uint64) uint64 { return e })),
		received(n, chain.ViaGossip), received(n, chain.ViaSync),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_peers", Help: "Connected peers."}, func() float64 { return float64(n.net.Peers()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_live_signers",
			Help: "Ready signers seen by gossip this epoch, summed over signaling deployments."}, func() float64 {
			s := n.chain.Head()
			_, v, _ := s.Head()
			total := 0
			for _, d := range s.Deployments() {
				c, _ := n.net.LiveTally(d.ID, s.Params().Epoch(v))
				total += c
			}
			return float64(total)
		}),
	)
	m.registerOperatorMetrics(n) // opmetrics.go
	m.reg.MustRegister(defenceMetrics(n)...)
	return m
}

// received is quorumgate_blocks_received_total for one way of arrival.
func received(n *Node, via chain.Via) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quorumgate_blocks_received_total",
		Help: "Finalized blocks this node applied since it started, by how it first got them: via=gossip " +
			"(the block topic; CometBFT: its consensus gossip) or via=sync (fetched to catch up). Blocks the node produced are not counted.",
		ConstLabels: prometheus.Labels{"via": string(via)}},
		func() float64 { return float64(n.Received(via)) })
}

// Describe and Collect make the per-deployment series follow the state.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.deployState
	ch <- m.readyRatio
	ch <- m.paramValue
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	head := m.n.chain.Head()
	st := BuildStatus(m.n.cfg.NodeID, head, m.n.cfg.Supported, m.n.cfg.ViewInterval, 0, true, nil)
	_, view, _ := head.Head()
	epoch := head.Params().Epoch(view)
	table := head.Params().Identities.TableAt(epoch)
	m.collectParams(ch, head)
	deps := head.Deployments() // st.Deployments[i] reports deps[i]
	for i, d := range st.Deployments {
		component, version := deploymentLabels(deps[i])
		ch <- prometheus.MustNewConstMetric(m.deployState, prometheus.GaugeValue, float64(deps[i].Status), d.Name, component, version)
		if d.Signaling == nil {
			continue
		}
		live := m.n.net.LiveReady(deps[i].ID, epoch)
		for _, r := range d.Signaling.Roles {
			ch <- prometheus.MustNewConstMetric(m.readyRatio, prometheus.GaugeValue, r.ReadyRatio, d.Name, r.Role, "finalized")
			key, total := r.Role, table.RoleStake(r.Role)
			if r.Role == AllRoles {
				key, total = "", table.TotalStake()
			}
			ratio := 0.0
			if total > 0 {
				ratio = float64(live[key]) / float64(total)
			}
			ch <- prometheus.MustNewConstMetric(m.readyRatio, prometheus.GaugeValue, ratio, d.Name, r.Role, "live")
		}
	}
}

// collectParams is quorumgate_param_value: each uint parameter's active value.
func (m *metrics) collectParams(ch chan<- prometheus.Metric, head *activation.State) {
	for _, decl := range head.Params().Declared {
		if decl.Type != activation.ParamUint {
			continue
		}
		v, _ := head.ParamValue(decl.Name)
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			ch <- prometheus.MustNewConstMetric(m.paramValue, prometheus.GaugeValue, float64(n), decl.Name)
		}
	}
}

// deploymentLabels are a deployment's component and version labels: a
// parameter change's are component="param:KEY" and version=the new value,
// so the series of version upgrades keep their labels and a parameter
// change still reads as what it changes, and to what.
func deploymentLabels(d *activation.Deployment) (component, version string) {
	if d.IsParam() {
		return "param:" + d.Param, d.Value
	}
	return d.Component, d.Version
}

func (m *metrics) verdict(v p2p.Verdict, reason string) {
	if i := strings.IndexByte(reason, ':'); i >= 0 {
		reason = reason[:i] // "malformed: <details>" -> "malformed", keeping label values few
	}
	m.verdicts.WithLabelValues(v.String(), reason).Inc()
}
