package testnet

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/node/client"
)

// An interactive testnet lives in a folder: one home per node, the
// committee's keys, and ManifestFile, which records what the testnet is made
// of and which process runs each node. The node processes are detached (own
// process group, output to HOME/node.log), so they outlive the command that
// started them; every command finds them again through the manifest.

// ManifestFile is the testnet's record, in its folder.
const ManifestFile = "testnet.json"

const manifestVersion = 1

// Manifest is the content of ManifestFile.
type Manifest struct {
	Version      int    `json:"version"`
	ChainID      string `json:"chain_id"`
	Host         string `json:"host"`
	ViewInterval string `json:"view_interval"`
	EpochViews   uint64 `json:"epoch_views"`
	// Engine is devchain (also when empty, as in older manifests) or cometbft.
	Engine string `json:"engine,omitempty"`
	// GovernanceKeys are the committee members' private key files (relative
	// to the folder), in member order; the genesis threshold is 2.
	GovernanceKeys []string       `json:"governance_keys"`
	Nodes          []ManifestNode `json:"nodes"`
	// Dashboard is the testnet's page (dashboard.go).
	Dashboard *ManifestDashboard `json:"dashboard,omitempty"`
}

// ManifestNode is one node of the testnet.
type ManifestNode struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	Stake     uint64 `json:"stake"`
	Sequencer bool   `json:"sequencer,omitempty"`
	// Home is relative to the testnet folder.
	Home string `json:"home"`
	// P2P is the node's libp2p address with its peer ID: what another
	// node passes to --bootstrap.
	P2P   string `json:"p2p"`
	API   string `json:"api"`
	Admin string `json:"admin"`
	// Supported is what the node's binary runs (component=version).
	Supported []string `json:"supported"`
	// PID is the node's process while the testnet believes it runs; 0 once
	// stopped by a command.
	PID int `json:"pid,omitempty"`
}

// UpOptions configure Up.
type UpOptions struct {
	Dir string
	// Nodes (4, or 5 on CometBFT, to MaxNodes; default 7), Host, ViewInterval and EpochViews shape a
	// new testnet; for an existing one each must be zero or match it.
	Nodes int
	// Host is the address the nodes' libp2p listens on and announces
	// (default 127.0.0.1). Their HTTP APIs always stay on loopback.
	Host         string
	Seed         uint64
	ViewInterval time.Duration // default 100ms (more past 9 nodes: viewIntervalFor)
	EpochViews   uint64        // default 100
	// Engine is devchain (default) or cometbft, for a new testnet.
	Engine string
	// Binary is the node-plugin executable to run (default: this process's).
	Binary string
	Out    io.Writer
	// SyncTimeout bounds the wait for every node to be synced (default 60s,
	// and a second more a node past 60 nodes).
	SyncTimeout time.Duration
}

// OptionError is a bad option or a folder that cannot hold a testnet: the
// command line's fault, not the testnet's (node-plugin exits 2).
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func badOption(format string, args ...any) error {
	return &OptionError{fmt.Errorf(format, args...)}
}

// Testnet is an interactive testnet, opened from its folder.
type Testnet struct {
	Dir    string
	M      Manifest
	Binary string
	Out    io.Writer
}

// DefaultDir is where the interactive commands look without --dir.
func DefaultDir() string {
	if d := os.Getenv("QUORUMGATE_TESTNET_DIR"); d != "" {
		return d
	}
	return "quorumgate-testnet"
}

// Up creates a testnet in o.Dir and starts it, or, if o.Dir already holds
// one, starts every node that is not running, where it was: the nodes keep
// their stores, keys, ports and supported versions. It returns once every
// node is synced.
func Up(ctx context.Context, o UpOptions) (*Testnet, error) {
	if o.Dir == "" {
		o.Dir = DefaultDir()
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	t, err := openOrCreate(dir, o)
	if err != nil {
		return nil, err
	}
	if o.SyncTimeout == 0 {
		// A hundred processes take a while to start on a small machine.
		o.SyncTimeout = max(60*time.Second, time.Duration(len(t.M.Nodes))*time.Second)
	}
	t.Out = o.Out
	if o.Binary != "" {
		t.Binary = o.Binary
	}
	if err := checkFileLimit(len(t.M.Nodes), cmp.Or(t.M.Engine, engineDevchain)); err != nil {
		return nil, err
	}
	started, err := t.startStopped()
	if err == nil {
		err = t.WaitSynced(ctx, started, o.SyncTimeout)
	}
	if err != nil {
		// Leave nothing half up: stop what this call started.
		return nil, t.stopStarted(started, err)
	}
	// The page is a convenience: the testnet stands without it.
	if derr := t.StartDashboard(ctx); derr != nil { // dashboard.go
		fmt.Fprintf(o.Out, "the dashboard did not start: %v\n", derr)
	}
	return t, nil
}

// openOrCreate opens the testnet in dir, refusing options that would
// change its shape, or creates one there if it holds none.
func openOrCreate(dir string, o UpOptions) (*Testnet, error) {
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err != nil {
		t, err := create(dir, o)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Out, "created a testnet in %s: %d nodes, epochs of %d views at %s a view\n", dir, len(t.M.Nodes), t.M.EpochViews, t.M.ViewInterval)
		return t, nil
	}
	t, err := Open(dir)
	if err != nil {
		return nil, err
	}
	if err := t.sameShape(o); err != nil {
		return nil, err
	}
	if len(t.Running()) == len(t.M.Nodes) {
		fmt.Fprintf(o.Out, "every node of the testnet in %s already runs\n", dir)
	} else {
		fmt.Fprintf(o.Out, "restarting the testnet in %s where it was\n", dir)
	}
	return t, nil
}

// startStopped starts every node that is not running and returns the ones
// it started (also when it fails partway).
func (t *Testnet) startStopped() ([]string, error) {
	var started []string
	err := t.edit(func() error {
		for i := range t.M.Nodes {
			n := &t.M.Nodes[i]
			if t.running(n) {
				continue
			}
			if err := t.start(n); err != nil {
				return err
			}
			started = append(started, n.ID)
		}
		return nil
	})
	return started, err
}

// stopStarted stops the nodes started, after err, and returns err with
// any error of the stopping joined to it.
func (t *Testnet) stopStarted(started []string, err error) error {
	cerr := t.edit(func() error {
		var ns []*ManifestNode
		for _, id := range started {
			if n, err := t.Node(id); err == nil { // started holds the manifest's own IDs
				ns = append(ns, n)
			}
		}
		t.stopAll(ns)
		return nil
	})
	if cerr != nil {
		err = errors.Join(err, fmt.Errorf("stopping the nodes this call started (%s): %w", strings.Join(started, ", "), cerr))
	}
	return err
}

// sameShape refuses options that only a new testnet can take, when they
// differ from the existing one's: restarting would silently ignore them.
func (t *Testnet) sameShape(o UpOptions) error {
	remake := "(down --purge it to make a new one)"
	switch {
	case o.Nodes != 0 && o.Nodes != len(t.M.Nodes):
		return badOption("--nodes %d: the testnet in %s has %d nodes %s", o.Nodes, t.Dir, len(t.M.Nodes), remake)
	case o.ViewInterval != 0 && o.ViewInterval.String() != t.M.ViewInterval:
		return badOption("--view-interval %s: the testnet in %s runs at %s a view %s", o.ViewInterval, t.Dir, t.M.ViewInterval, remake)
	case o.EpochViews != 0 && o.EpochViews != t.M.EpochViews:
		return badOption("--epoch-views %d: the testnet in %s has epochs of %d views %s", o.EpochViews, t.Dir, t.M.EpochViews, remake)
	case o.Engine != "" && o.Engine != cmp.Or(t.M.Engine, engineDevchain):
		return badOption("--engine %s: the testnet in %s runs on %s %s", o.Engine, t.Dir, cmp.Or(t.M.Engine, engineDevchain), remake)
	case o.Host != "" && o.Host != t.M.Host:
		return badOption("--host %s: the nodes of the testnet in %s listen on %s %s", o.Host, t.Dir, t.M.Host, remake)
	}
	return nil
}

func create(dir string, o UpOptions) (*Testnet, error) {
	var err error
	if o.Engine, err = checkEngine(o.Engine); err != nil {
		return nil, err
	}
	if o.Nodes, err = nodeCount(o.Nodes, o.Engine); err != nil {
		return nil, err
	}
	if err := checkFileLimit(o.Nodes, o.Engine); err != nil {
		return nil, err
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if ip := net.ParseIP(o.Host); ip == nil || ip.To4() == nil || ip.IsUnspecified() {
		return nil, badOption("--host %q: an IPv4 address of this machine that the other nodes can reach, such as 192.168.1.10", o.Host)
	}
	if o.ViewInterval, o.EpochViews, err = pace(o.ViewInterval, o.EpochViews, viewIntervalFor(o.Nodes, 100*time.Millisecond), 100); err != nil {
		return nil, err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, badOption("%s is not empty and holds no %s: not a testnet folder", dir, ManifestFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	g, keys, procs, err := writeHomes(dir, o.Host, o.Nodes, o.Seed, o.ViewInterval, o.EpochViews, o.Engine)
	if err != nil {
		return nil, err
	}
	m := Manifest{Version: manifestVersion, ChainID: g.ChainID, Host: o.Host, ViewInterval: o.ViewInterval.String(), EpochViews: o.EpochViews}
	if o.Engine != engineDevchain {
		m.Engine = o.Engine
	}
	if m.GovernanceKeys, err = writeGovernanceKeys(dir, keys); err != nil {
		return nil, err
	}
	for _, p := range procs {
		i := slices.IndexFunc(g.Identities[0].Nodes, func(n chain.GenesisNode) bool { return n.ID == p.id })
		if i < 0 {
			return nil, fmt.Errorf("internal: node %s is not in the genesis", p.id)
		}
		id := g.Identities[0].Nodes[i]
		m.Nodes = append(m.Nodes, ManifestNode{ID: p.id, Role: p.role, Stake: p.stake, Sequencer: o.Engine == engineDevchain && p.id == g.Sequencer,
			Home: p.id, P2P: id.Address + "/p2p/" + id.PeerID, API: p.api, Admin: p.admin, Supported: []string{"protocol=1.0.0"}})
	}
	t := &Testnet{Dir: dir, M: m}
	return t, t.save()
}

// writeGovernanceKeys writes the committee members' private keys into
// DIR/governance and returns their paths relative to dir, in member order.
func writeGovernanceKeys(dir string, keys *chain.Keys) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "governance"), 0o700); err != nil {
		return nil, err
	}
	var names []string
	for i, k := range keys.Governance {
		name := filepath.Join("governance", fmt.Sprintf("member-%d.key", i))
		if err := node.WriteFileAtomic(filepath.Join(dir, name), []byte(hex.EncodeToString(k.Encode())+"\n"), 0o600); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

// Open finds the testnet in dir.
func Open(dir string) (*Testnet, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, badOption("no testnet in %s (no %s): create one with node-plugin testnet up --dir %s", dir, ManifestFile, dir)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("%s: version %d, this node-plugin reads version %d", path, m.Version, manifestVersion)
	}
	for i, n := range m.Nodes {
		if n.ID == "" || n.Home == "" || n.API == "" || filepath.IsAbs(n.Home) || strings.Contains(n.Home, "..") {
			return nil, fmt.Errorf("%s: nodes[%d]: needs an id, an api address and a home inside the folder", path, i)
		}
	}
	return &Testnet{Dir: dir, M: m, Out: io.Discard}, nil
}

func (t *Testnet) save() error {
	data, err := json.MarshalIndent(t.M, "", "  ")
	if err != nil {
		return err
	}
	return node.WriteFileAtomic(filepath.Join(t.Dir, ManifestFile), append(data, '\n'), 0o600)
}

// lock serializes the commands that start and stop processes.
func (t *Testnet) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(t.Dir, "testnet.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another testnet command holds %s: %v", f.Name(), err)
		}
	}
}

// Node returns the node called id.
func (t *Testnet) Node(id string) (*ManifestNode, error) {
	for i := range t.M.Nodes {
		if t.M.Nodes[i].ID == id {
			return &t.M.Nodes[i], nil
		}
	}
	var ids []string
	for _, n := range t.M.Nodes {
		ids = append(ids, n.ID)
	}
	return nil, badOption("no node %q in the testnet; its nodes are %s", id, strings.Join(ids, ", "))
}

// Home is the absolute home folder of n.
func (t *Testnet) Home(n *ManifestNode) string { return filepath.Join(t.Dir, n.Home) }

// LogPath is where n's process writes its log.
func (t *Testnet) LogPath(n *ManifestNode) string { return filepath.Join(t.Home(n), "node.log") }

// running reports whether n's recorded process is alive and is n's node.
func (t *Testnet) running(n *ManifestNode) bool {
	return n.PID > 0 && processAlive(n.PID, t.Home(n))
}

// processAlive reports whether pid runs node-plugin for home. It reaps the
// process if it is this process's exited child, treats a zombie as dead, and
// checks the command line where /proc has it, so a reused pid does not count.
func processAlive(pid int, home string) bool {
	var ws syscall.WaitStatus
	if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got == pid && err == nil {
		return false
	}
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	if _, err := os.Stat("/proc/self"); err != nil {
		return true // no /proc here: the signal check is all there is
	}
	if zombie(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && slices.Contains(strings.Split(string(cmdline), "\x00"), home)
}

// zombie reports whether /proc says pid has exited but is not reaped yet.
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')') // the command name may hold anything
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func (t *Testnet) binary() (string, error) {
	if t.Binary != "" {
		return t.Binary, nil
	}
	return os.Executable()
}

// start runs n's process, detached, and records its pid in the manifest
// (the caller holds the lock).
func (t *Testnet) start(n *ManifestNode) error {
	bin, err := t.binary()
	if err != nil {
		return err
	}
	cmd, err := launch(bin, n.ID, t.Home(n), n.Supported, nodeEnv(len(t.M.Nodes)))
	if err != nil {
		return err
	}
	n.PID = cmd.Process.Pid
	cmd.Process.Release()
	// Record it at once: whatever happens to this command next, the next
	// one must find the process.
	if err := t.save(); err != nil {
		return err
	}
	fmt.Fprintf(t.Out, "%s started (pid %d), supporting %s\n", n.ID, n.PID, strings.Join(n.Supported, ", "))
	return nil
}

// stop ends n's process: SIGTERM to its group, SIGKILL after 10s.
func (t *Testnet) stop(n *ManifestNode) bool {
	if !t.running(n) {
		n.PID = 0
		return false
	}
	// Kill fails only if the group is gone already, which the loop sees.
	syscall.Kill(-n.PID, syscall.SIGTERM)
	return t.awaitStop(n)
}

// stopAll stops the nodes ns together: SIGTERM to every one first, then
// the wait for each, so that a hundred nodes shut down side by side rather
// than one after the other.
func (t *Testnet) stopAll(ns []*ManifestNode) {
	var signalled []*ManifestNode
	for _, n := range ns {
		if !t.running(n) {
			n.PID = 0
			continue
		}
		syscall.Kill(-n.PID, syscall.SIGTERM)
		signalled = append(signalled, n)
	}
	for _, n := range signalled {
		t.awaitStop(n)
	}
}

// awaitStop waits for n's process, signalled, to end: SIGKILL after 10s.
func (t *Testnet) awaitStop(n *ManifestNode) bool {
	deadline, killed := time.Now().Add(10*time.Second), false
	for t.running(n) {
		if time.Now().After(deadline) {
			if killed { // unkillable (stuck in the kernel): keep its pid so a later command sees it
				fmt.Fprintf(t.Out, "%s (pid %d) survived SIGKILL for 10s; it is still recorded\n", n.ID, n.PID)
				return false
			}
			syscall.Kill(-n.PID, syscall.SIGKILL)
			deadline, killed = time.Now().Add(10*time.Second), true
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(t.Out, "%s stopped\n", n.ID)
	n.PID = 0
	return true
}

// edit runs fn with the testnet locked and its manifest freshly read, and
// saves what fn changed (also when fn fails: processes it started or
// stopped are recorded either way).
func (t *Testnet) edit(fn func() error) error {
	unlock, err := t.lock()
	if err != nil {
		return err
	}
	defer unlock()
	fresh, err := Open(t.Dir)
	if err != nil {
		return err
	}
	t.M = fresh.M
	ferr := fn()
	if err := t.save(); err != nil {
		return err
	}
	return ferr
}

// editNode is edit for the node id.
func (t *Testnet) editNode(id string, fn func(n *ManifestNode) error) error {
	return t.edit(func() error {
		n, err := t.Node(id)
		if err != nil {
			return err
		}
		return fn(n)
	})
}

// Start starts the node id if it is not running, and waits until it is synced.
func (t *Testnet) Start(ctx context.Context, id string) error {
	err := t.editNode(id, func(n *ManifestNode) error {
		if t.running(n) {
			fmt.Fprintf(t.Out, "%s is already running (pid %d)\n", n.ID, n.PID)
			return nil
		}
		return t.start(n)
	})
	if err != nil {
		return err
	}
	return t.WaitSynced(ctx, []string{id}, 60*time.Second)
}

// Stop stops the node id; stopping a stopped node is not an error.
func (t *Testnet) Stop(id string) error {
	return t.editNode(id, func(n *ManifestNode) error {
		if !t.stop(n) {
			fmt.Fprintf(t.Out, "%s was not running\n", n.ID)
		}
		return nil
	})
}

// Upgrade adds the given component=version pairs to what node id supports
// and restarts it with them, as its operator would after installing a new
// binary, then waits until it is synced.
func (t *Testnet) Upgrade(ctx context.Context, id string, supports []string) error {
	if len(supports) == 0 {
		return badOption("upgrade needs --supports component=version")
	}
	err := t.editNode(id, func(n *ManifestNode) error {
		merged := slices.Clone(n.Supported)
		for _, s := range supports {
			if !slices.Contains(merged, s) {
				merged = append(merged, s)
			}
		}
		if _, err := node.ParseSupported(merged); err != nil {
			return badOption("--supports: %w", err)
		}
		t.stop(n)
		n.Supported = merged
		return t.start(n)
	})
	if err != nil {
		return err
	}
	return t.WaitSynced(ctx, []string{id}, 60*time.Second)
}

// Down stops every node. The folder stays: up restarts it where it was.
func (t *Testnet) Down() error {
	return t.edit(func() error {
		var all []*ManifestNode
		for i := range t.M.Nodes {
			all = append(all, &t.M.Nodes[i])
		}
		t.stopAll(all)
		t.stopDashboard()
		return nil
	})
}

// Running lists the nodes whose processes run.
func (t *Testnet) Running() []*ManifestNode {
	var out []*ManifestNode
	for i := range t.M.Nodes {
		if t.running(&t.M.Nodes[i]) {
			out = append(out, &t.M.Nodes[i])
		}
	}
	return out
}

// WaitSynced waits until every node in ids answers /readyz. A node whose
// process ends meanwhile is an error that quotes its log's last words.
func (t *Testnet) WaitSynced(ctx context.Context, ids []string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, id := range ids {
		n, err := t.Node(id)
		if err != nil {
			return err
		}
		for nodeAPI(n.API).Ready(ctx) != nil {
			if !t.running(n) {
				return fmt.Errorf("%s exited: %s (log: %s)", n.ID, t.ExitReason(n), t.LogPath(n))
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s is not synced within %s (log: %s)", n.ID, limit, t.LogPath(n))
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// ExitReason is the last error node-plugin wrote to n's log in its latest
// run, or a pointer to the log when there is none (a SIGKILL, say).
func (t *Testnet) ExitReason(n *ManifestNode) string { return lastError(t.LogPath(n)) }

func lastError(logPath string) string {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return "no log"
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], runMarker) {
			break // only this run's words count
		}
		if msg, ok := strings.CutPrefix(lines[i], "node-plugin: "); ok {
			return msg
		}
	}
	return "no error in its log"
}

// apiTimeout bounds each question to a node's API: the nodes are local,
// and one that takes longer is in trouble.
const apiTimeout = 2 * time.Second

// nodeAPI is a client for the public API at addr.
func nodeAPI(addr string) *client.Client { return client.New(addr, client.WithTimeout(apiTimeout)) }
