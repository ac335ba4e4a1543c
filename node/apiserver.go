package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// The node's HTTP servers: how they bind, their timeouts and Host check, and
// their lifetime. The routes are in api.go (public) and admin.go.

// apiTimeouts bound every connection to the node's HTTP servers, so idle or
// slow clients cannot hold connections (and goroutines) open for ever.
type apiTimeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

var defaultAPITimeouts = apiTimeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second, Idle: 60 * time.Second}

// NewHTTPServer is the HTTP server every quorumgate listener uses (the
// node's APIs, the testnet's dashboard): connection timeouts, and on a
// loopback listener the Host check against DNS rebinding.
func NewHTTPServer(l net.Listener, h http.Handler) *http.Server {
	return newAPIServer(l, h, defaultAPITimeouts)
}

// newAPIServer is an HTTP server with the timeouts, for handler h on l;
// a loopback listener also checks the Host header (hostGuard).
func newAPIServer(l net.Listener, h http.Handler, t apiTimeouts) *http.Server {
	if tcp, ok := l.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		h = hostGuard(h)
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read, WriteTimeout: t.Write, IdleTimeout: t.Idle}
}

// hostGuard defends a localhost listener against DNS rebinding: a web page
// from evil.example that rebinds its name to 127.0.0.1 reaches the API with
// the request's Host still evil.example. Only Host localhost, 127.0.0.1 or
// [::1] (any port) is served; anything else gets 421 Misdirected Request
// with the reason.
func hostGuard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, fmt.Sprintf("Host %s is not this node: its API listens on localhost and answers only Host localhost, 127.0.0.1 or [::1] (a defence against DNS rebinding)", quoteValue(r.Host)),
				http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine's loopback:
// localhost, 127.0.0.1 or [::1], with or without a port.
func loopbackHost(host string) bool {
	if h, port, err := net.SplitHostPort(host); err == nil {
		if port == "" {
			return false
		}
		for _, c := range port {
			if c < '0' || c > '9' {
				return false
			}
		}
		host = h
	} else if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	switch host {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return false
}

// listen binds an API address: host:port, or unix:PATH. A socket left at
// PATH by an earlier run is replaced; any other file there is an error, so
// a mistyped path never deletes the operator's file.
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		return net.Listen("tcp", addr)
	}
	switch fi, err := os.Lstat(path); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return nil, fmt.Errorf("unix socket %s: a file that is not a socket is there; choose another path", path)
	default:
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("unix socket %s: remove the one an earlier run left: %w", path, err)
		}
	}
	return net.Listen("unix", path)
}

// shutdownGrace is how long requests in flight may run on once the node
// stops, before their connections are closed.
const shutdownGrace = 5 * time.Second

// serve runs an HTTP server owned by the node: Close shuts it down.
func (n *Node) serve(l net.Listener, h http.Handler) {
	runServer(n.ctx, &n.wg, n.log, NewHTTPServer(l, h), l, shutdownGrace)
}

// runServer serves srv on l until ctx ends, in goroutines counted in wg,
// then shuts it down: requests in flight have grace to finish, then their
// connections are closed, so no handler outlives its owner for long.
func runServer(ctx context.Context, wg *sync.WaitGroup, log *slog.Logger, srv *http.Server, l net.Listener, grace time.Duration) {
	addr := l.Addr().String()
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("an API stopped serving; the node runs on without it", "addr", addr, "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		switch err := srv.Shutdown(sctx); {
		case errors.Is(err, context.DeadlineExceeded):
			log.Warn("API requests still running at shutdown; closing their connections", "addr", addr, "grace", grace)
			// Close's only error is from closing the listener a second time:
			// Shutdown closed it already.
			_ = srv.Close()
		case err != nil:
			log.Warn("shut down an API server", "addr", addr, "err", err)
		}
	}()
}
