// Package testnet runs local multi-node testnets as real node-plugin
// processes on 127.0.0.1, and walks an upgrade through them (Demo).
package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/node/client"
	"github.com/quorumgate/quorumgate/quorum"
)

// DemoOptions configure Demo.
type DemoOptions struct {
	Nodes int    // default 7
	Mode  string // stake (default) or governance
	// Dir keeps every node's home and log; default a new temp folder.
	Dir string
	// Binary is the node-plugin executable to run (default: this process's).
	Binary       string
	Seed         uint64
	ViewInterval time.Duration // default 20ms (more past 9 nodes: viewIntervalFor)
	EpochViews   uint64        // default 50
	// Engine is devchain (default) or cometbft.
	Engine string
	Out    io.Writer
	// Dashboard is where the live page is served while the demo runs
	// (host:port; default 127.0.0.1:0, a free port; "off": none).
	Dashboard string
}

// NodeResult is one row of the summary.
type NodeResult struct {
	ID, Role       string
	Stake          uint64
	UpgradedAtView uint64 // 0: never
	// ReadyAtLockIn: its readiness counted in the block that locked the
	// deployment in (stake mode).
	ReadyAtLockIn bool
	// RoleRequired: the deployment counts this node's role (stake mode).
	RoleRequired    bool
	Halted          bool // exited 3 before upgrading (governance mode)
	FinalState      string
	ActivationView  uint64
	StateIDAtCommon string
	// ActivationHeight is the height of the block that activated the
	// deployment on this node (its upgrade-info.json).
	ActivationHeight uint64
	// Killed: the CometBFT demo SIGKILLed this validator during signaling;
	// it rejoined after the activation.
	Killed bool
}

// Result is what the demo shows at the end.
type Result struct {
	Dir            string
	Mode           string
	Engine         string
	ActivationView uint64
	Nodes          []NodeResult
	StakeHalted    uint64
	StakeTotal     uint64
}

type proc struct {
	id, role string
	stake    uint64
	home     string
	api      string
	admin    string
	cmd      *exec.Cmd
	exited   chan int
	upgraded uint64
	halted   bool
	killed   bool // SIGKILLed by the CometBFT demo
}

// Demo generates a genesis and keys, starts the nodes, proposes an upgrade
// and plays the operators, then verifies from every node's own API that it
// activated at the same view with the same state. Every process is stopped
// when it returns, whatever happened; the folder stays for inspection.
func Demo(ctx context.Context, o DemoOptions) (*Result, error) {
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
	if o.Mode == "" {
		o.Mode = "stake"
	}
	if o.Mode != "stake" && o.Mode != "governance" {
		return nil, badOption("--mode %q: stake or governance", o.Mode)
	}
	if o.ViewInterval, o.EpochViews, err = pace(o.ViewInterval, o.EpochViews, viewIntervalFor(o.Nodes, 20*time.Millisecond), 50); err != nil {
		return nil, err
	}
	if o.Dir != "" {
		// A new chain in an old demo's folder would meet its stores; refuse
		// before starting anything, and keep what is there.
		if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
			return nil, badOption("--dir %s is not empty: the demo makes a new testnet, so give it a new or empty folder", o.Dir)
		}
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		o.Binary = exe
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "quorumgate-demo-")
		if err != nil {
			return nil, err
		}
		o.Dir = dir
	}
	d := &demo{o: o, rng: mrand.New(mrand.NewPCG(o.Seed, 7))}
	defer d.teardown()
	res, err := d.run(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("interrupted (%v): every node is stopped; homes and logs stay in %s", ctx.Err(), o.Dir)
	case err != nil:
		return nil, fmt.Errorf("%w\nevery node is stopped; homes and logs stay in %s", err, o.Dir)
	}
	return res, nil
}

type demo struct {
	o     DemoOptions
	rng   *mrand.Rand
	g     *chain.Genesis
	keys  *chain.Keys
	procs []*proc
	// dashboard serves the live page while the demo runs.
	dashboard *Dashboard
	// seenHeight is the highest head a node reported to anyStatus.
	seenHeight uint64
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.o.Out, format+"\n", args...) }

func (d *demo) run(ctx context.Context) (*Result, error) {
	if err := d.setup(); err != nil {
		return nil, err
	}
	d.say("testnet in %s: %d nodes, epochs of %d views at %s a view", d.o.Dir, d.o.Nodes, d.o.EpochViews, d.o.ViewInterval)
	if err := d.serveDashboard(); err != nil { // dashboard.go
		return nil, err
	}
	for _, p := range d.procs {
		if err := d.start(p, false); err != nil {
			return nil, err
		}
	}
	if err := d.waitAll(ctx, 60*time.Second, "every node synced", func(p *proc) bool { return p.client().Ready(ctx) == nil }); err != nil {
		return nil, err
	}
	st, err := d.status(ctx, d.procs[0])
	if err != nil {
		return nil, err
	}
	p := activation.Proposal{Name: "protocol-2", Component: "protocol", Version: "2.0.0"}
	if d.o.Mode == "stake" {
		p.Mode, p.Threshold = activation.Stake, quorum.TwoThirds
		p.Roles = []string{"consensus", "execution"}
		p.StartEpoch, p.TimeoutEpoch = st.Head.Epoch+1, st.Head.Epoch+40
	} else {
		p.Mode, p.ActivationView = activation.Governance, st.Head.View+4*d.o.EpochViews
	}
	if err := d.propose(ctx, p); err != nil {
		return nil, err
	}
	d.say("proposed %s: %s %s by %s", p.Name, p.Component, p.Version, map[activation.Mode]string{
		activation.Stake: "stake (more than 2/3 of consensus and of execution stake)", activation.Governance: fmt.Sprintf("governance at view %d", p.ActivationView)}[p.Mode])
	if err := d.operators(ctx, p); err != nil {
		return nil, err
	}
	return d.finish(ctx)
}

func (d *demo) setup() error {
	g, keys, procs, err := writeHomes(d.o.Dir, "127.0.0.1", d.o.Nodes, d.o.Seed, d.o.ViewInterval, d.o.EpochViews, d.o.Engine)
	if err != nil {
		return err
	}
	d.g, d.keys, d.procs = g, keys, procs
	return nil
}

// start runs (or reruns) a node's process; upgraded adds protocol 2.0.0 support.
func (d *demo) start(p *proc, upgraded bool) error {
	supported := []string{"protocol=1.0.0"}
	if upgraded {
		supported = append(supported, "protocol=2.0.0")
	}
	cmd, err := launch(d.o.Binary, p.id, p.home, supported, nodeEnv(d.o.Nodes))
	if err != nil {
		return err
	}
	p.cmd, p.exited = cmd, make(chan int, 1)
	go func() { // owned by the demo: it ends when the process does, and teardown kills every process
		cmd.Wait()
		p.exited <- cmd.ProcessState.ExitCode()
	}()
	return nil
}

// lastWords is the last error in the node's log in its latest run, and
// where that log is.
func (p *proc) lastWords() string {
	log := filepath.Join(p.home, "node.log")
	return fmt.Sprintf("%s (log: %s)", lastError(log), log)
}

// stop ends a node's process (SIGTERM, then SIGKILL) and waits for it. It
// returns how the process ended, or nil if it was not running.
func (d *demo) stop(p *proc) *os.ProcessState {
	if p.cmd == nil {
		return nil
	}
	// Kill fails only if the group is gone already: exited is closed then.
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(d.stopGrace()):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	state := p.cmd.ProcessState
	p.cmd = nil
	return state
}

// stopGrace is how long a node has to stop on SIGTERM before SIGKILL: ten
// seconds, or a minute past largeTestnet nodes, where a node shares two
// cores with a hundred others (a CometBFT node alone waits out its peer
// routines for about ten seconds at 500 ms views: chain/cometbft's
// process.stop).
func (d *demo) stopGrace() time.Duration {
	if len(d.procs) > largeTestnet {
		return time.Minute
	}
	return 10 * time.Second
}

// stopForUpgrade stops a node its operator is about to upgrade. A node stops
// on SIGTERM with exit 0, or had halted (exit 3) for want of the version now
// active; any other end (a crash, a kill, a node that needed SIGKILL) is a
// failure.
func (d *demo) stopForUpgrade(p *proc) error {
	state := d.stop(p)
	switch {
	case state == nil || state.ExitCode() == 0:
	case state.ExitCode() == node.ExitHalted:
		p.halted = true
		d.say("%s had halted (exit %d): it did not run protocol 2.0.0", p.id, node.ExitHalted)
	default:
		return fmt.Errorf("%s did not stop cleanly for its upgrade (%s): %s", p.id, state, p.lastWords())
	}
	return nil
}

func (d *demo) teardown() {
	// Past largeTestnet nodes, SIGTERM to every node first, so that a
	// hundred stop side by side; a small demo stops them one by one, which
	// leaves the last ones a moment for a hook started by a late upgrade
	// (hooks run beside the node, and its shutdown does not wait for them).
	if len(d.procs) > largeTestnet {
		for _, p := range d.procs {
			if p.cmd != nil {
				syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
			}
		}
	}
	for _, p := range d.procs {
		d.stop(p) // a second SIGTERM is caught like the first until run returns
	}
	if d.dashboard != nil {
		if err := d.dashboard.Close(); err != nil {
			d.say("the live page did not stop cleanly: %v", err)
		}
	}
}

// client is a client for p's public API.
func (p *proc) client() *client.Client { return nodeAPI(p.api) }

// named says which node an error of asking its API is about.
func (p *proc) named(err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", p.id, err)
	}
	return nil
}

func (d *demo) status(ctx context.Context, p *proc) (node.Status, error) {
	st, err := p.client().Status(ctx)
	return st, p.named(err)
}

// anyStatus asks the running nodes in the testnet's order (the sequencer or
// first validator first) and returns the first answer: while one node's
// operator restarts it, another reports, so a short state such as
// signaling on a fast chain is not missed for want of an answer. An answer
// behind the highest head seen so far (a node catching up after its
// restart) is passed over for the next node's, up to three more.
func (d *demo) anyStatus(ctx context.Context) (node.Status, error) {
	err := errors.New("no node is running")
	var best *node.Status
	asked := 0
	for _, p := range d.procs {
		if p.cmd == nil {
			continue
		}
		st, e := d.status(ctx, p)
		if e != nil {
			err = e
			continue
		}
		if best == nil || st.Head.Height > best.Head.Height {
			best = &st
		}
		if asked++; best.Head.Height >= d.seenHeight || asked > 3 {
			break
		}
	}
	if best == nil {
		return node.Status{}, err
	}
	d.seenHeight = max(d.seenHeight, best.Head.Height)
	return *best, nil
}

func (d *demo) waitAll(ctx context.Context, limit time.Duration, what string, cond func(*proc) bool) error {
	deadline := time.Now().Add(limit)
	for {
		var waiting []string
		for _, p := range d.procs {
			if p.cmd != nil {
				select {
				case code := <-p.exited:
					p.exited <- code
					return fmt.Errorf("waiting until %s, %s exited (code %d): %s", what, p.id, code, p.lastWords())
				default:
				}
			}
			if !cond(p) {
				waiting = append(waiting, p.id)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %s; still waiting for %s (node logs in %s)", limit, what, strings.Join(waiting, ", "), d.o.Dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
