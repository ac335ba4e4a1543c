package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// APIAddrFile in the home records where a running node's APIs listen, so
// `node-plugin status --home` finds them.
const APIAddrFile = "api.json"

// APIAddrs are the addresses a running node's APIs listen on.
type APIAddrs struct {
	API   string `json:"api"`
	Admin string `json:"admin"`
}

// startAPI serves the read-only API on cfg.APIListen and the admin API on
// cfg.AdminListen (admin.go), and records where they listen in the home.
func (n *Node) startAPI() error {
	if n.cfg.APIListen == "" {
		return nil
	}
	pub := n.publicRoutes()
	pl, err := listen(n.cfg.APIListen)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	addrs := APIAddrs{API: pl.Addr().String()}
	n.serve(pl, pub)
	if addrs.Admin, err = n.startAdminAPI(); err != nil {
		return err
	}
	data, err := json.Marshal(addrs)
	if err != nil {
		return fmt.Errorf("record the API addresses: %w", err)
	}
	return WriteFileAtomic(filepath.Join(n.cfg.Home, APIAddrFile), data, 0o644)
}

// publicRoutes are the read-only API's: status, history, metrics, health
// and the dashboard.
func (n *Node) publicRoutes() *http.ServeMux {
	pub := http.NewServeMux()
	pub.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.Status()) })
	pub.HandleFunc("GET /deployments", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.Status().Deployments) })
	pub.HandleFunc("GET /versions", n.serveVersions)
	pub.HandleFunc("GET /params", n.serveParams) // params.go
	pub.HandleFunc("GET /state-id", n.serveStateID)
	pub.HandleFunc("GET /readiness", n.serveReadiness)
	pub.HandleFunc("GET /submissions/{id}", func(w http.ResponseWriter, r *http.Request) {
		it, ok := n.Submission(r.PathValue("id"))
		if !ok {
			http.Error(w, "no submission "+quoteValue(r.PathValue("id"))+" was made through this node", http.StatusNotFound)
			return
		}
		writeJSON(w, it)
	})
	pub.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	n.registerDashboard(pub) // the page at /: dashboard.go
	pub.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { writeOK(w) })
	pub.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !n.chain.Synced() {
			http.Error(w, "not synced to the chain head", http.StatusServiceUnavailable)
			return
		}
		writeOK(w)
	})
	return pub
}

// writeJSON answers v as indented JSON. It encodes before it writes, so a
// value that cannot be encoded is a 500 with the reason, never a 200 with
// half a body.
func writeJSON(w http.ResponseWriter, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode the answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	// A write fails only when the client has gone: there is no one to tell.
	_, _ = w.Write(b.Bytes())
}

// maxQuoted is how much of a request's value an error reply quotes, in
// bytes.
const maxQuoted = 64

// quoteValue quotes a value taken from a request (a query parameter, a path
// segment) for an error reply: the whole value when it is at most maxQuoted
// bytes, else its first maxQuoted bytes (cut back to a UTF-8 boundary), an
// ellipsis and the value's whole length. A client that sends 900 KB gets a
// short reply that says how much it sent, not its 900 KB back.
func quoteValue(v string) string {
	if len(v) <= maxQuoted {
		return strconv.Quote(v)
	}
	cut := maxQuoted
	for back := 0; back < utf8.UTFMax-1 && !utf8.RuneStart(v[cut]); back++ {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(v[:cut]), len(v))
}

// writeOK is the health checks' answer.
func writeOK(w http.ResponseWriter) {
	_, _ = io.WriteString(w, "ok\n") // fails only when the client has gone
}

func (n *Node) serveVersions(w http.ResponseWriter, r *http.Request) {
	head := n.chain.Head()
	view, given, ok := atView(w, r)
	if !ok {
		return
	}
	if !given {
		writeJSON(w, n.Status().Versions)
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
