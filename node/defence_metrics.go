package node

import "github.com/prometheus/client_golang/prometheus"

// defenceMetrics are the figures of the network's defences: equivocations
// detected, invalid blocks and governance messages rejected, and how much
// per-epoch state the gossip pipeline holds.
func defenceMetrics(n *Node) []prometheus.Collector {
	out := []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quorumgate_gossip_payloads_rejected_total",
			Help: "Block and governance messages rejected by the topic validators (their senders are penalised)."},
			func() float64 { return float64(n.net.PayloadRejected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_attestation_pool_bytes",
			Help: "Bytes of verified attestations held to serve catch-up (bounded, pruned each epoch)."},
			func() float64 { return float64(n.net.Memory().PoolBytes) }),
	}
	return append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_equivocations_detected",
		Help: "Equivocations proved: devchain, two sequencer-signed blocks at one height (the node stops following at the first); " +
			"CometBFT, double-sign evidence committed in finalized blocks."},
		func() float64 { return float64(n.chain.EquivocationCount()) }))
}
