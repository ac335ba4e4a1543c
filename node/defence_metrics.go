package node

import "github.com/prometheus/client_golang/prometheus"

// evidenceCounter is what an engine offers when it detects equivocation
// (devchain: two sequencer-signed blocks at one height). The node never
// imports an engine, so it asks for the method.
type evidenceCounter interface{ EquivocationCount() int }

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
	if ev, ok := any(n.chain).(evidenceCounter); ok {
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quorumgate_equivocations_detected",
			Help: "Equivocations seen (two blocks signed at one height); the node stops following at the first."},
			func() float64 { return float64(ev.EquivocationCount()) }))
	}
	return out
}
