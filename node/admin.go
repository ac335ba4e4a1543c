package node

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The admin API: governance submissions, with the bearer token in the node
// home, on loopback or a unix socket only.

// startAdminAPI serves the admin API on cfg.AdminListen, if set, and returns
// the address it listens on ("unix:PATH" for a socket, "" for none).
func (n *Node) startAdminAPI() (string, error) {
	if n.cfg.AdminListen == "" {
		return "", nil
	}
	if err := checkLoopback(n.cfg.AdminListen); err != nil {
		return "", err
	}
	token, err := ReadAdminToken(n.cfg.Home)
	if err != nil {
		return "", fmt.Errorf("admin api: %w", err)
	}
	adm := http.NewServeMux()
	adm.HandleFunc("POST /governance", n.serveGovernance(token))
	al, err := listen(n.cfg.AdminListen)
	if err != nil {
		return "", fmt.Errorf("admin api: %w", err)
	}
	addr := al.Addr().String()
	if al.Addr().Network() == "unix" {
		addr = "unix:" + addr
	}
	n.serve(al, adm)
	return addr, nil
}

// MinAdminTokenLen is the shortest admin token a node accepts, in bytes
// (after surrounding white space is trimmed). An empty token would leave an
// admin API nobody can use, or one that a request with an empty bearer
// token opens; a short one is guessed. node-plugin init writes 64 hex
// digits (32 random bytes).
const MinAdminTokenLen = 16

// ReadAdminToken reads the admin API's token from HOME/admin.token,
// without its surrounding white space, and refuses one shorter than
// MinAdminTokenLen, naming the file and what to write into it.
func ReadAdminToken(home string) (string, error) {
	path := filepath.Join(home, AdminTokenFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	token := strings.TrimSpace(string(data))
	if len(token) < MinAdminTokenLen {
		return "", fmt.Errorf("%s holds a token of %d bytes; the admin API needs one of at least %d "+
			"(node-plugin init writes one; or write 32 random bytes in hex: openssl rand -hex 32 > %s)",
			path, len(token), MinAdminTokenLen, path)
	}
	return token, nil
}

// checkLoopback refuses an admin address that is neither loopback nor a
// unix socket: the admin API is never reachable from the network.
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
		kind, ok := itemKinds[req.Kind]
		if !ok {
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
		// A map of strings always encodes; the write fails only when the
		// client has gone, and the submission stands either way.
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
	}
}
