package testnet

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quorumgate/quorumgate/node"
)

// The testnet's page: one page for the whole testnet, a matrix of nodes ×
// deployments, fed by GET /api/status (every node's /status, as `testnet
// status --output json` gives it). An interactive testnet runs it as a
// detached process beside its nodes (DIR/dashboard.log; `up` starts it,
// `down` stops it); the demo serves it from its own process while it runs.

//go:embed web
var webFiles embed.FS

// DashboardHandler serves the page, its assets and status() as JSON.
func DashboardHandler(status func() NetStatus) http.Handler {
	own, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // fixed at build time
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, own, "index.html")
	})
	mux.Handle("GET /tn/", http.StripPrefix("/tn/", http.FileServerFS(own)))
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", http.FileServerFS(node.DashboardAssets())))
	var mu sync.Mutex // one status round at a time: each asks every node
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s := status()
		mu.Unlock()
		body, err := json.Marshal(s)
		if err != nil {
			http.Error(w, "encode the status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(body, '\n')) // a failed write means the page went away: nobody is left to tell
	})
	return mux
}

// Dashboard is a running dashboard server; Close stops it.
type Dashboard struct {
	srv  *http.Server
	addr string
	done chan struct{}
	// served is why the server stopped serving before Close; read after done.
	served error
}

// ServeDashboard listens on addr (host:port; port 0 picks one) and serves
// the page for status until Close.
func ServeDashboard(addr string, status func() NetStatus) (*Dashboard, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d := &Dashboard{srv: node.NewHTTPServer(l, DashboardHandler(status)),
		addr: l.Addr().String(), done: make(chan struct{})}
	go func() { // owned by d: Close ends it
		defer close(d.done)
		if err := d.srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			d.served = err
		}
	}()
	return d, nil
}

// URL is where a browser finds the page.
func (d *Dashboard) URL() string { return "http://" + d.addr + "/" }

// Close stops the server and waits for it.
func (d *Dashboard) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := d.srv.Shutdown(ctx)
	<-d.done
	if d.served != nil {
		err = errors.Join(err, fmt.Errorf("dashboard: stopped serving: %w", d.served))
	}
	return err
}

// ManifestDashboard records the interactive testnet's dashboard process.
type ManifestDashboard struct {
	// Addr is host:port, kept across restarts so the URL stays the same.
	Addr string `json:"addr"`
	PID  int    `json:"pid,omitempty"`
}

// DashboardURL is the interactive testnet's page (whether it runs or not).
func (t *Testnet) DashboardURL() string {
	if t.M.Dashboard == nil {
		return ""
	}
	return "http://" + t.M.Dashboard.Addr + "/"
}

// RunningDashboardURL is the page's URL if its process runs, else "".
func (t *Testnet) RunningDashboardURL() string {
	if !t.dashboardRunning() {
		return ""
	}
	return t.DashboardURL()
}

// DashboardLog is where the dashboard process writes.
func (t *Testnet) DashboardLog() string { return filepath.Join(t.Dir, "dashboard.log") }

func (t *Testnet) dashboardRunning() bool {
	d := t.M.Dashboard
	return d != nil && d.PID > 0 && processAlive(d.PID, t.Dir)
}

// StartDashboard starts the detached dashboard process unless it runs, and
// waits until it answers. The address is picked once and kept.
func (t *Testnet) StartDashboard(ctx context.Context) error {
	// The address is recorded (saved) before the process starts: the
	// process reads it from the manifest, and one started first could read
	// no address yet and listen on a port nobody would look at.
	err := t.edit(func() error {
		if t.M.Dashboard == nil || t.M.Dashboard.Addr == "" {
			port, err := newPortPicker().free("127.0.0.1")
			if err != nil {
				return err
			}
			t.M.Dashboard = &ManifestDashboard{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = t.edit(func() error {
		if t.dashboardRunning() {
			return nil
		}
		bin, err := t.binary()
		if err != nil {
			return err
		}
		log, err := os.OpenFile(t.DashboardLog(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer log.Close()
		fmt.Fprintf(log, "%s dashboard at %s\n", runMarker, time.Now().Format(time.RFC3339))
		cmd := exec.Command(bin, "testnet", "dashboard", "--foreground", "--dir", t.Dir)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // like the nodes: Ctrl-C in the terminal does not reach it
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start the dashboard: %w", err)
		}
		t.M.Dashboard.PID = cmd.Process.Pid
		cmd.Process.Release()
		return nil
	})
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := (&http.Client{Timeout: time.Second}).Get(t.DashboardURL())
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if !t.dashboardRunning() || time.Now().After(deadline) {
			return fmt.Errorf("the dashboard does not answer at %s (log: %s): %v", t.DashboardURL(), t.DashboardLog(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopDashboard ends the dashboard process (the caller holds the lock).
func (t *Testnet) stopDashboard() {
	if !t.dashboardRunning() {
		if t.M.Dashboard != nil {
			t.M.Dashboard.PID = 0
		}
		return
	}
	// Kill fails only if the group is gone already, which the loop sees.
	syscall.Kill(-t.M.Dashboard.PID, syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); t.dashboardRunning() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if t.dashboardRunning() {
		syscall.Kill(-t.M.Dashboard.PID, syscall.SIGKILL)
	}
	fmt.Fprintln(t.Out, "dashboard stopped")
	t.M.Dashboard.PID = 0
}

// ServeDashboardHere serves the testnet's page from this process on its
// recorded address (picking one the first time) until ctx ends. Each
// status round reads the manifest afresh: nodes come and go.
func (t *Testnet) ServeDashboardHere(ctx context.Context) (*Dashboard, error) {
	addr := "127.0.0.1:0"
	if t.M.Dashboard != nil && t.M.Dashboard.Addr != "" {
		addr = t.M.Dashboard.Addr
	}
	dir := t.Dir
	return ServeDashboard(addr, func() NetStatus {
		fresh, err := Open(dir)
		if err != nil {
			return NetStatus{Dir: dir, Nodes: []NodeState{}}
		}
		return fresh.Status()
	})
}

// demoStatus is the demo's testnet as the page sees it: every node's own
// /status; a node that does not answer is down, and its log says whether it
// halted.
func (d *demo) dashboardStatus() NetStatus {
	s := NetStatus{Dir: d.o.Dir, ChainID: "demo", EpochViews: d.o.EpochViews, ViewInterval: d.o.ViewInterval.String()}
	for _, p := range d.procs { // id, role, stake, api and home never change
		ns := NodeState{ID: p.id, Role: p.role, Stake: p.stake, Sequencer: p == d.procs[0], API: p.api, Supported: []string{}}
		var info node.DashboardInfo
		st, err := p.client().Status(context.Background())
		if err != nil {
			ns.Process = "down"
			if why := lastError(filepath.Join(p.home, "node.log")); strings.Contains(why, "halted") {
				ns.Process, ns.Exit = "exited", why
			}
		} else {
			ns.Process, ns.Status = "running", &st
			if p.client().Get(context.Background(), "/ui/node.json", &info) == nil {
				ns.Supported = info.Supported
			}
		}
		s.Nodes = append(s.Nodes, ns)
	}
	return s
}

// serveDashboard starts the demo's page, unless told "off".
func (d *demo) serveDashboard() error {
	addr := d.o.Dashboard
	if addr == "off" {
		return nil
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	dash, err := ServeDashboard(addr, d.dashboardStatus)
	if err != nil {
		return badOption("--dashboard %s: %v", addr, err)
	}
	d.dashboard = dash
	d.say("dashboard: %s (live while the demo runs)", dash.URL())
	return nil
}
