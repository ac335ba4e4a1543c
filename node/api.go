package node

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/p2p"
)

// APIAddrFile in the home records where a running node's APIs listen, so
// `node-plugin status --home` finds them.
const APIAddrFile = "api.json"

// APIAddrs are the addresses a running node's APIs listen on.
type APIAddrs struct {
	API   string `json:"api"`
	Admin string `json:"admin"`
}

type metrics struct {
	reg         *prometheus.Registry
	verdicts    *prometheus.CounterVec
	blocks      prometheus.Counter
	hookRuns    *prometheus.CounterVec
	deployState *prometheus.Desc
	readyRatio  *prometheus.Desc
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
			"Deployment status: 1 DEFINED, 2 STARTED, 3 LOCKED_IN, 4 ACTIVE, 5 FAILED, 6 CANCELED.", []string{"deployment", "component", "version"}, nil),
		readyRatio: prometheus.NewDesc("quorumgate_ready_stake_ratio",
			"Share of a role's stake ready for a signaling deployment this epoch: source=finalized (the chain's tally) or live (verified gossip).",
			[]string{"deployment", "role", "source"}, nil),
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

// Describe and Collect make the per-deployment series follow the state.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.deployState; ch <- m.readyRatio }

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	head := m.n.chain.Head()
	st := BuildStatus(m.n.cfg.NodeID, head, m.n.cfg.Supported, m.n.cfg.ViewInterval, 0, true, nil)
	_, view, _ := head.Head()
	epoch := head.Params().Epoch(view)
	table := head.Params().Identities.TableAt(epoch)
	for i, d := range st.Deployments {
		s, _ := activation.ParseStatus(d.State)
		ch <- prometheus.MustNewConstMetric(m.deployState, prometheus.GaugeValue, float64(s), d.Name, d.Component, d.Version)
		if d.Signaling == nil {
			continue
		}
		live := m.n.net.LiveReady(head.Deployments()[i].ID, epoch)
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

func (m *metrics) verdict(v p2p.Verdict, reason string) {
	if i := strings.IndexByte(reason, ':'); i >= 0 {
		reason = reason[:i] // "malformed: <details>" -> "malformed", keeping label values few
	}
	m.verdicts.WithLabelValues(v.String(), reason).Inc()
}

// listen binds an API address: host:port, or unix:PATH.
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		os.Remove(path)
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// startAPI serves the read-only API on cfg.APIListen and the admin API on
// cfg.AdminListen (loopback or a unix socket only, token required).
func (n *Node) startAPI() error {
	if n.cfg.APIListen == "" {
		return nil
	}
	pub := http.NewServeMux()
	pub.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.Status()) })
	pub.HandleFunc("GET /deployments", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.Status().Deployments) })
	pub.HandleFunc("GET /versions", n.serveVersions)
	pub.HandleFunc("GET /state-id", n.serveStateID)
	pub.HandleFunc("GET /readiness", n.serveReadiness)
	pub.HandleFunc("GET /submissions/{id}", func(w http.ResponseWriter, r *http.Request) {
		it, ok := n.Submission(r.PathValue("id"))
		if !ok {
			http.Error(w, "no submission "+r.PathValue("id")+" was made through this node", http.StatusNotFound)
			return
		}
		writeJSON(w, it)
	})
	pub.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	n.registerDashboard(pub) // the page at /: dashboard.go
	pub.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	pub.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !n.chain.Synced() {
			http.Error(w, "not synced to the chain head", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	pl, err := listen(n.cfg.APIListen)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	addrs := APIAddrs{API: pl.Addr().String()}
	n.serve(pl, pub)

	if n.cfg.AdminListen != "" {
		if err := checkLoopback(n.cfg.AdminListen); err != nil {
			return err
		}
		token, err := os.ReadFile(filepath.Join(n.cfg.Home, AdminTokenFile))
		if err != nil {
			return fmt.Errorf("admin api: %w", err)
		}
		adm := http.NewServeMux()
		adm.HandleFunc("POST /governance", n.serveGovernance(strings.TrimSpace(string(token))))
		al, err := listen(n.cfg.AdminListen)
		if err != nil {
			return fmt.Errorf("admin api: %w", err)
		}
		addrs.Admin = al.Addr().String()
		if al.Addr().Network() == "unix" {
			addrs.Admin = "unix:" + addrs.Admin
		}
		n.serve(al, adm)
	}
	data, _ := json.Marshal(addrs)
	return WriteFileAtomic(filepath.Join(n.cfg.Home, APIAddrFile), data, 0o644)
}

func checkLoopback(addr string) error {
	if strings.HasPrefix(addr, "unix:") {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin api %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("admin api %q: it listens on localhost or a unix socket only", addr)
	}
	return nil
}

// serve runs an HTTP server owned by the node: Close shuts it down.
func (n *Node) serve(l net.Listener, h http.Handler) {
	srv := NewHTTPServer(l, h)
	n.wg.Add(2)
	go func() { defer n.wg.Done(); srv.Serve(l) }()
	go func() {
		defer n.wg.Done()
		<-n.ctx.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (n *Node) serveVersions(w http.ResponseWriter, r *http.Request) {
	head := n.chain.Head()
	at := r.URL.Query().Get("at")
	if at == "" {
		writeJSON(w, n.Status().Versions)
		return
	}
	view, err := strconv.ParseUint(at, 10, 64)
	if err != nil {
		http.Error(w, fmt.Sprintf("at=%q is not a view (a whole number)", at), http.StatusBadRequest)
		return
	}
	out := map[string]string{}
	for _, c := range head.Components() {
		if v, ok := head.VersionAt(c, view); ok {
			out[c] = v
		}
	}
	writeJSON(w, map[string]any{"view": view, "versions": out})
}

// serveStateID answers the protocol state ID after block ?height=H, so nodes
// can be compared at the same height.
func (n *Node) serveStateID(w http.ResponseWriter, r *http.Request) {
	h, err := strconv.ParseUint(r.URL.Query().Get("height"), 10, 64)
	if err != nil {
		http.Error(w, "height must be a whole number", http.StatusBadRequest)
		return
	}
	b, err := n.store.Block(h)
	if err != nil {
		http.Error(w, fmt.Sprintf("no block at height %d: %v", h, err), http.StatusNotFound)
		return
	}
	writeJSON(w, map[string]any{"height": h, "state_id": hex.EncodeToString(b.StateID[:])})
}

// GovernanceRequest is the admin API's body: a signed proposal or
// cancellation in its canonical encoding, hex.
type GovernanceRequest struct {
	Kind    string `json:"kind"` // proposal | cancel
	Payload string `json:"payload"`
}

func (n *Node) serveGovernance(token string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, "a valid token (Authorization: Bearer, from admin.token in the node home) is required", http.StatusUnauthorized)
			return
		}
		var req GovernanceRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		payload, err := hex.DecodeString(req.Payload)
		if err != nil {
			http.Error(w, "payload is not hex", http.StatusBadRequest)
			return
		}
		kind := map[string]chain.ItemKind{"proposal": chain.ItemProposal, "cancel": chain.ItemCancel}[req.Kind]
		if kind == 0 {
			http.Error(w, `kind must be "proposal" or "cancel"`, http.StatusBadRequest)
			return
		}
		id, err := n.SubmitGovernance(kind, payload)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		json.NewEncoder(w).Encode(map[string]string{"id": id})
	}
}
