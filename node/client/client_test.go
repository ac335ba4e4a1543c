package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/node"
)

// server serves mux over TCP and returns its host:port.
func server(t *testing.T, mux http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func writeJSON(t *testing.T, w http.ResponseWriter, v any) {
	t.Helper()
	w.Header().Set("Content-Type", "application/json")
	assert.NoError(t, json.NewEncoder(w).Encode(v))
}

func TestStatusOverTCPAndBaseURL(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, node.Status{NodeID: "c1", Head: node.HeadStatus{Height: 7, View: 8, Epoch: 1}})
	})
	addr := server(t, mux)
	for _, a := range []string{addr, "http://" + addr, "http://" + addr + "/"} {
		c := New(a)
		st, err := c.Status(context.Background())
		require.NoError(t, err, a)
		assert.Equal(t, "c1", st.NodeID, a)
		assert.Equal(t, uint64(7), st.Head.Height, a)
		assert.Equal(t, a, c.Addr())
		assert.Equal(t, "http://"+addr+"/x", c.URL("/x"), a)
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /deployments", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, []node.DeploymentStatus{{Name: "p2", State: "STARTED"}})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)

	c := New("unix:" + sock)
	deps, err := c.Deployments(context.Background())
	require.NoError(t, err)
	require.Len(t, deps, 1)
	assert.Equal(t, "p2", deps[0].Name)
	assert.Equal(t, "http://unix/submissions/x", c.URL("/submissions/x"))
}

func TestErrorNamesEndpointStatusAndBody(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes, two to a rune
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not synced to the chain head", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, long, http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	c := New(server(t, mux))
	ctx := context.Background()

	err := c.Ready(ctx)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "GET /readyz", e.Endpoint)
	assert.Equal(t, http.StatusServiceUnavailable, e.StatusCode)
	assert.Equal(t, "not synced to the chain head", e.Body)
	assert.EqualError(t, err, "GET /readyz: 503 Service Unavailable: not synced to the chain head")

	_, err = c.Status(ctx)
	require.ErrorAs(t, err, &e)
	assert.True(t, strings.HasSuffix(e.Body, "…"), "a long body is cut: %q", e.Body)
	cut := strings.TrimSuffix(e.Body, "…")
	assert.LessOrEqual(t, len(cut), maxErrorBody)
	assert.True(t, strings.HasPrefix(long, cut), "cut on a rune boundary")

	assert.EqualError(t, c.Get(ctx, "/livez", nil), "GET /livez: 418 I'm a teapot", "no body, no colon")
}

func TestNotJSON(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	_, err := New(server(t, mux)).Status(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /status: the answer is not the JSON expected")
}

func TestNoAnswerTimeoutAndCancel(t *testing.T) {
	// Nothing listens on a closed server's address.
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	_, err := New(addr).Status(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GET /status: the node at "+addr+" does not answer: ")
	assert.NotContains(t, err.Error(), "http://", "the URL is not said twice")

	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	slow := server(t, mux)
	defer close(release)

	start := time.Now()
	_, err = New(slow, WithTimeout(50*time.Millisecond)).Status(context.Background())
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "the timeout bounds the call")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = New(slow).Status(ctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestReadinessAndStateIDQueries(t *testing.T) {
	var queries []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readiness", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		writeJSON(t, w, node.ReadinessReport{Deployment: r.URL.Query().Get("deployment"), View: 149})
	})
	mux.HandleFunc("GET /state-id", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, map[string]any{"height": r.URL.Query().Get("height"), "state_id": "ab" + r.URL.Query().Get("height")})
	})
	c := New(server(t, mux))
	ctx := context.Background()

	r, err := c.Readiness(ctx, "p 2")
	require.NoError(t, err)
	assert.Equal(t, "p 2", r.Deployment)
	_, err = c.ReadinessAtLockIn(ctx, "p2")
	require.NoError(t, err)
	r, err = c.ReadinessAtHeight(ctx, "p2", 40)
	require.NoError(t, err)
	assert.Equal(t, uint64(149), r.View)
	assert.Equal(t, []string{"deployment=p+2", "at=lock-in&deployment=p2", "deployment=p2&height=40"}, queries)

	id, err := c.StateID(ctx, 12)
	require.NoError(t, err)
	assert.Equal(t, "ab12", id)
}

func TestParamsQueries(t *testing.T) {
	var queries []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /params", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		if r.URL.Query().Has("at") {
			writeJSON(t, w, node.ParamsAt{View: 7, Params: map[string]node.ParamValue{"timeout": {Type: "uint", Value: "1000"}}})
			return
		}
		writeJSON(t, w, []node.ParamStatus{{Name: "timeout", Type: "uint", Active: "2000"}})
	})
	c := New(server(t, mux))
	ctx := context.Background()
	ps, err := c.Params(ctx)
	require.NoError(t, err)
	require.Len(t, ps, 1)
	assert.Equal(t, "2000", ps[0].Active)
	at, err := c.ParamsAt(ctx, 7)
	require.NoError(t, err)
	assert.Equal(t, "1000", at.Params["timeout"].Value)
	assert.Equal(t, []string{"", "at=7"}, queries)
}

func TestSubmitAndSubmission(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /governance", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "a valid token is required", http.StatusUnauthorized)
			return
		}
		var req node.GovernanceRequest
		if !assert.NoError(t, json.NewDecoder(r.Body).Decode(&req)) {
			return
		}
		payload, err := hex.DecodeString(req.Payload)
		assert.NoError(t, err)
		w.WriteHeader(http.StatusAccepted)
		switch req.Kind {
		case "proposal":
			writeJSON(t, w, map[string]string{"id": "id-" + string(payload)})
		default:
			writeJSON(t, w, map[string]string{})
		}
	})
	pub := http.NewServeMux()
	pub.HandleFunc("GET /submissions/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(t, w, node.Submission{ID: r.PathValue("id"), Included: true, Height: 9})
	})
	admin, api := server(t, mux), server(t, pub)
	ctx := context.Background()

	c := New(api, WithAdmin(admin, " s3cret\n"))
	id, err := c.Submit(ctx, "proposal", []byte("xyz"))
	require.NoError(t, err)
	assert.Equal(t, "id-xyz", id)
	it, err := c.Submission(ctx, id)
	require.NoError(t, err)
	assert.True(t, it.Included)
	assert.Equal(t, uint64(9), it.Height)

	_, err = c.Submit(ctx, "cancel", []byte("xyz"))
	assert.ErrorContains(t, err, "POST /governance: the node accepted the cancel but gave no submission ID")

	_, err = New(api, WithAdmin(admin, "wrong")).Submit(ctx, "proposal", nil)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "POST /governance", e.Endpoint)
	assert.Equal(t, http.StatusUnauthorized, e.StatusCode)

	_, err = New(api).Submit(ctx, "proposal", nil)
	assert.ErrorIs(t, err, ErrNoAdmin)
}

func TestFromHome(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(t, w, node.Status{NodeID: "e1"}) })
	api := server(t, mux)
	home := t.TempDir()

	_, err := FromHome(home)
	assert.ErrorContains(t, err, "no running node found in "+home)

	write := func(name string, v string) {
		require.NoError(t, os.WriteFile(filepath.Join(home, name), []byte(v), 0o600))
	}
	write(node.APIAddrFile, `{"api":"`+api+`","admin":""}`)
	c, err := FromHome(home)
	require.NoError(t, err)
	st, err := c.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "e1", st.NodeID)

	_, err = AdminFromHome(home)
	assert.ErrorIs(t, err, ErrNoAdmin)
	assert.ErrorContains(t, err, "set api.admin")

	write(node.APIAddrFile, `{"api":"`+api+`","admin":"127.0.0.1:1"}`)
	_, err = AdminFromHome(home)
	assert.True(t, errors.Is(err, os.ErrNotExist), "no token: %v", err)
	write(node.AdminTokenFile, "tok\n")
	c, err = AdminFromHome(home)
	require.NoError(t, err)
	assert.Equal(t, "tok", c.token)

	write(node.APIAddrFile, `{"api":`)
	_, err = FromHome(home)
	assert.ErrorContains(t, err, node.APIAddrFile)
}
