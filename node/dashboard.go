package node

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
)

// The node's dashboard: a read-only page at / on the public API, made of
// static files embedded in the binary (no CDN, no build step). The page
// polls /status and /ui/node.json; it has no state of its own.

//go:embed web
var webFiles embed.FS

// DashboardAssets are the page's files (index.html, node.js, and the
// common.js and style.css the testnet's page shares).
func DashboardAssets() fs.FS {
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return static
}

// registerDashboard adds the page and what only it needs to the public API.
func (n *Node) registerDashboard(mux *http.ServeMux) {
	static := DashboardAssets()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/node.json", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, n.DashboardInfo()) })
}

// DashboardInfo is what the dashboard shows about this node beyond /status:
// who it is in the identity table, what it runs, and whether its readiness
// went out and was counted this epoch.
type DashboardInfo struct {
	NodeID string `json:"node_id"`
	// Role and Stake are this node's in the current epoch's identity table
	// (empty and 0 for a node without stake).
	Role  string `json:"role"`
	Stake uint64 `json:"stake"`
	// ViewIntervalSeconds turns views into an estimated wall time.
	ViewIntervalSeconds float64  `json:"view_interval_seconds"`
	Supported           []string `json:"supported"`
	MeshPeers           int      `json:"mesh_peers"`
	// BlocksByGossip and BlocksBySync count the blocks applied since the
	// node started by how each first arrived (quorumgate_blocks_received_total).
	BlocksByGossip uint64 `json:"blocks_by_gossip"`
	BlocksBySync   uint64 `json:"blocks_by_sync"`
	// Readiness has one entry per signaling stake deployment.
	Readiness []OwnReadiness `json:"readiness"`
}

// OwnReadiness is this node's readiness for one signaling deployment in the
// current epoch.
type OwnReadiness struct {
	Deployment string `json:"deployment"`
	Epoch      uint64 `json:"epoch"`
	// Supports: this binary runs the deployment's version, or it is a
	// parameter change (no new software), so it signals.
	Supports bool `json:"supports"`
	// RoleCounted: the deployment counts this node's role.
	RoleCounted bool `json:"role_counted"`
	// Signaled: this node sent its attestation for the epoch.
	Signaled bool `json:"signaled"`
	// Counted: the finalized tally of the epoch holds it.
	Counted bool `json:"counted"`
}

// DashboardInfo assembles the dashboard's view of this node.
func (n *Node) DashboardInfo() DashboardInfo {
	head := n.chain.Head()
	_, view, _ := head.Head()
	epoch := head.Params().Epoch(view)
	table := head.Params().Identities.TableAt(epoch)
	info := DashboardInfo{NodeID: n.cfg.NodeID, ViewIntervalSeconds: n.cfg.ViewInterval.Seconds(), MeshPeers: n.net.MeshPeers(),
		BlocksByGossip: n.Received(chain.ViaGossip), BlocksBySync: n.Received(chain.ViaSync),
		Supported: n.cfg.Supported.Entries(), Readiness: []OwnReadiness{}}
	index, inTable := table.Lookup(n.cfg.NodeID)
	if inTable {
		id := table.At(index)
		info.Role, info.Stake = id.Role, id.Stake
	}
	for _, d := range head.Deployments() {
		if d.Mode != activation.Stake || d.Status != activation.Started {
			continue
		}
		r := OwnReadiness{Deployment: d.Name, Epoch: epoch, Supports: n.cfg.Supported.Runs(d),
			RoleCounted: inTable && (len(d.Roles) == 0 || d.RequiresRole(info.Role))}
		n.mu.Lock()
		r.Signaled = n.attested[attestKey{d.ID, epoch}]
		n.mu.Unlock()
		if tally := d.Tally(epoch); tally != nil && inTable {
			r.Counted = tally.Has(index)
		}
		info.Readiness = append(info.Readiness, r)
	}
	return info
}
