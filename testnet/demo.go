// Package testnet runs local multi-node testnets as real node-plugin
// processes on 127.0.0.1, and walks an upgrade through them (Demo).
package testnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
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
	ViewInterval time.Duration // default 20ms
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

type nodeSpec struct {
	id, role string
	stake    uint64
}

var demoNodes = []nodeSpec{
	{"seq", "consensus", 400}, {"c2", "consensus", 300}, {"c3", "consensus", 200}, {"e1", "execution", 500},
	{"e2", "execution", 300}, {"x1", "collection", 150}, {"v1", "verification", 100}, {"c4", "consensus", 100},
	{"e3", "execution", 200},
}

// cometNodes are a CometBFT testnet's nodes: four validators first (each
// under a third of the voting power), then nodes of other roles, which run
// CometBFT as full nodes.
var cometNodes = []nodeSpec{
	{"c1", "consensus", 300}, {"c2", "consensus", 300}, {"c3", "consensus", 200}, {"c4", "consensus", 200},
	{"e1", "execution", 500}, {"e2", "execution", 300}, {"x1", "collection", 150}, {"v1", "verification", 100},
	{"e3", "execution", 200},
}

// Engines a testnet runs on.
const (
	engineDevchain = "devchain"
	engineCometBFT = "cometbft"
)

// checkEngine applies the default engine and checks it.
func checkEngine(e string) (string, error) {
	switch e {
	case "":
		return engineDevchain, nil
	case engineDevchain, engineCometBFT:
		return e, nil
	}
	return "", badOption("--engine %q: devchain or cometbft", e)
}

// nodesOf is the node list of an engine's testnets.
func nodesOf(engine string) []nodeSpec {
	if engine == engineCometBFT {
		return cometNodes
	}
	return demoNodes
}

// nodeCount applies the default node count (7) and checks the range: a
// CometBFT testnet has its four validators and at least one other node.
func nodeCount(n int, engine string) (int, error) {
	if n == 0 {
		n = 7
	}
	least := 4
	if engine == engineCometBFT {
		least = 5
	}
	if n < least || n > len(nodesOf(engine)) {
		return 0, badOption("--nodes %d: between %d and %d", n, least, len(nodesOf(engine)))
	}
	return n, nil
}

// pace applies the defaults to a testnet's view interval and epoch length
// (zero means the default) and checks them.
func pace(interval time.Duration, epochViews uint64, defInterval time.Duration, defEpochViews uint64) (time.Duration, uint64, error) {
	if interval < 0 {
		return 0, 0, badOption("--view-interval %s: a positive duration such as %s", interval, defInterval)
	}
	if interval == 0 {
		interval = defInterval
	}
	if epochViews == 0 {
		epochViews = defEpochViews
	}
	if epochViews < 10 {
		return 0, 0, badOption("--epoch-views %d: at least 10", epochViews)
	}
	return interval, epochViews, nil
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
	if o.Mode == "" {
		o.Mode = "stake"
	}
	if o.Mode != "stake" && o.Mode != "governance" {
		return nil, badOption("--mode %q: stake or governance", o.Mode)
	}
	if o.ViewInterval, o.EpochViews, err = pace(o.ViewInterval, o.EpochViews, 20*time.Millisecond, 50); err != nil {
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
	if err := d.waitAll(ctx, 60*time.Second, "every node synced", func(p *proc) bool { return d.get(p, "/readyz", nil) == nil }); err != nil {
		return nil, err
	}
	st, err := d.status(d.procs[0])
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
	if err := d.propose(p); err != nil {
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

// writeHomes generates a genesis and keys for n nodes and writes each
// node's home (keys, admin token, config, genesis). The nodes' libp2p
// addresses use host; their HTTP APIs stay on loopback. Ports are free ones.
//
// On the cometbft engine each node also gets a CometBFT p2p port on host,
// and every other node as a persistent peer.
func writeHomes(dir, host string, nodes int, seed uint64, viewInterval time.Duration, epochViews uint64, engine string) (*chain.Genesis, *chain.Keys, []*proc, error) {
	list := nodesOf(engine)[:nodes]
	ports, err := pickPorts(host, list)
	if err != nil {
		return nil, nil, nil, err
	}
	var specs []chain.NodeSpec
	for _, n := range list {
		specs = append(specs, chain.NodeSpec{ID: n.id, Role: n.role, Stake: n.stake, Address: fmt.Sprintf("/ip4/%s/tcp/%d", host, ports[n.id].p2p)})
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "demo", EpochViews: epochViews, SafetyViews: epochViews / 10,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: specs, GovernanceMembers: 3, GovernanceThreshold: 2,
		Seed: []byte(fmt.Sprint("demo", seed))})
	if err != nil {
		return nil, nil, nil, err
	}
	genesis, err := g.MarshalJSON()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode the genesis: %w", err)
	}
	var procs []*proc
	for _, n := range list {
		home := filepath.Join(dir, n.id)
		if err := os.MkdirAll(home, 0o700); err != nil {
			return nil, nil, nil, err
		}
		p2pKey, err := crypto.MarshalPrivateKey(keys.P2P[n.id])
		if err != nil {
			return nil, nil, nil, fmt.Errorf("encode %s's libp2p key: %w", n.id, err)
		}
		cfg, err := nodeConfig(n.id, host, list, ports, g, keys, viewInterval, engine)
		if err != nil {
			return nil, nil, nil, err
		}
		files := map[string][]byte{
			node.StakingKeyFile: []byte(hex.EncodeToString(keys.Staking[n.id].Encode()) + "\n"),
			node.P2PKeyFile:     p2pKey,
			node.AdminTokenFile: []byte(rand.Text() + "\n"),
			node.ConfigFile:     []byte(cfg),
			"genesis.json":      genesis,
		}
		for name, data := range files {
			if err := node.WriteFileAtomic(filepath.Join(home, name), data, 0o600); err != nil {
				return nil, nil, nil, err
			}
		}
		pp := ports[n.id]
		procs = append(procs, &proc{id: n.id, role: n.role, stake: n.stake, home: home,
			api: fmt.Sprintf("127.0.0.1:%d", pp.api), admin: fmt.Sprintf("127.0.0.1:%d", pp.admin)})
	}
	return g, keys, procs, nil
}

// nodePorts are a node's ports: libp2p and CometBFT's p2p on the testnet's
// host, the public and admin APIs on loopback.
type nodePorts struct {
	p2p, api, admin, comet int
}

// pickPorts picks free ports for every node.
func pickPorts(host string, list []nodeSpec) (map[string]nodePorts, error) {
	ports, pick := map[string]nodePorts{}, newPortPicker()
	for _, n := range list {
		var pp [4]int // in nodePorts' order
		for i := range pp {
			h := "127.0.0.1"
			if i == 0 || i == 3 {
				h = host
			}
			port, err := pick.free(h)
			if err != nil {
				return nil, err
			}
			pp[i] = port
		}
		ports[n.id] = nodePorts{p2p: pp[0], api: pp[1], admin: pp[2], comet: pp[3]}
	}
	return ports, nil
}

// nodeConfig is node id's config file: every other node as a static peer,
// and on CometBFT its p2p port and every other node as a persistent peer.
func nodeConfig(id, host string, list []nodeSpec, ports map[string]nodePorts, g *chain.Genesis, keys *chain.Keys,
	viewInterval time.Duration, engine string) (string, error) {
	var peers []string
	for _, m := range g.Identities[0].Nodes {
		if m.ID != id {
			peers = append(peers, fmt.Sprintf("%q", m.Address+"/p2p/"+m.PeerID))
		}
	}
	pp := ports[id]
	cfg := fmt.Sprintf(`node_id = %q
genesis = "genesis.json"
listen = ["/ip4/%s/tcp/%d"]
peers = [%s]
supported = ["protocol=1.0.0"]
view_interval = %q
hook = ["sh", "-c", "echo activated $QUORUMGATE_DEPLOYMENT $QUORUMGATE_VERSION at height $QUORUMGATE_HEIGHT >> hook.log"]
[api]
listen = "127.0.0.1:%d"
admin = "127.0.0.1:%d"
`, id, host, pp.p2p, strings.Join(peers, ", "), viewInterval.String(), pp.api, pp.admin)
	if engine != engineCometBFT {
		return cfg, nil
	}
	var cpeers []string
	for _, m := range list {
		if m.id == id {
			continue
		}
		nid, err := cometbft.NodeID(keys.P2P[m.id])
		if err != nil {
			return "", err
		}
		cpeers = append(cpeers, fmt.Sprintf("%q", fmt.Sprintf("%s@%s:%d", nid, host, ports[m.id].comet)))
	}
	return "engine = \"cometbft\"\n" + cfg + fmt.Sprintf("[cometbft]\np2p_listen = \"tcp://%s:%d\"\npersistent_peers = [%s]\n",
		host, pp.comet, strings.Join(cpeers, ", ")), nil
}

// launch starts `node-plugin run` on home in its own process group (Ctrl-C
// in the terminal does not reach it; stopping signals the whole group), with
// its output appended to HOME/node.log after a line that marks the run.
func launch(bin, id, home string, supported []string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(home, "node.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	sup := strings.Join(supported, ",")
	fmt.Fprintf(log, "%s %s at %s, supporting %s\n", runMarker, id, time.Now().Format(time.RFC3339), sup)
	cmd := exec.Command(bin, "run", "--home", home, "--supported", sup)
	cmd.Dir = home // the hook's relative paths land in the node's home
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "QUORUMGATE_LOG_LEVEL=info")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	return cmd, nil
}

// runMarker starts the line launch writes into node.log before each run.
const runMarker = "=== testnet: starting"

// start runs (or reruns) a node's process; upgraded adds protocol 2.0.0 support.
func (d *demo) start(p *proc, upgraded bool) error {
	supported := []string{"protocol=1.0.0"}
	if upgraded {
		supported = append(supported, "protocol=2.0.0")
	}
	cmd, err := launch(d.o.Binary, p.id, p.home, supported)
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
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	state := p.cmd.ProcessState
	p.cmd = nil
	return state
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
	for _, p := range d.procs {
		d.stop(p)
	}
	if d.dashboard != nil {
		if err := d.dashboard.Close(); err != nil {
			d.say("the live page did not stop cleanly: %v", err)
		}
	}
}

func (d *demo) get(p *proc, path string, v any) error {
	if err := getJSON(p.api, path, v); err != nil {
		return fmt.Errorf("%s: %w", p.id, err)
	}
	return nil
}

func (d *demo) status(p *proc) (node.Status, error) {
	var st node.Status
	err := d.get(p, "/status", &st)
	return st, err
}

// anyStatus asks the running nodes in the testnet's order (the sequencer or
// first validator first) and returns the first answer: while one node's
// operator restarts it, another reports, so a short state such as
// signaling on a fast chain is not missed for want of an answer.
func (d *demo) anyStatus() (node.Status, error) {
	err := errors.New("no node is running")
	for _, p := range d.procs {
		if p.cmd == nil {
			continue
		}
		st, e := d.status(p)
		if e == nil {
			return st, nil
		}
		err = e
	}
	return node.Status{}, err
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

func (d *demo) propose(p activation.Proposal) error {
	a, err := d.g.Committee().Approve(activation.ProposalMessage(d.g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{d.keys.Governance[0], d.keys.Governance[1]})
	if err != nil {
		return err
	}
	body, err := json.Marshal(node.GovernanceRequest{Kind: "proposal", Payload: hex.EncodeToString(canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a}))})
	if err != nil {
		return fmt.Errorf("propose: encode the request: %w", err)
	}
	target := d.procs[1]
	token, err := os.ReadFile(filepath.Join(target.home, node.AdminTokenFile))
	if err != nil {
		return fmt.Errorf("propose: read %s's admin token: %w", target.id, err)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+target.admin+"/governance", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("propose: %s", resp.Status)
	}
	return nil
}

// operators restarts the nodes one at a time, at seeded random moments,
// supporting the new version, and shows progress as the first running node
// reports it (the sequencer while it runs). In
// governance mode the last two operators are late: they upgrade only after
// the activation view (their nodes halt first).
func (d *demo) operators(ctx context.Context, p activation.Proposal) error {
	u := d.planUpgrades()
	deadline := time.Now().Add(3 * time.Minute)
	u.timer = time.Now().Add(d.nextUpgradeWait())
	for time.Now().Before(deadline) {
		st, err := d.anyStatus()
		if err == nil {
			if done, err := d.watch(u, st, p.Name); done || err != nil {
				return err
			}
		}
		// Halted nodes: record them; their operators upgrade later. Any
		// other exit is a failure, and ends the demo.
		for _, pr := range d.procs {
			if err := d.exitedOnItsOwn(pr); err != nil {
				return err
			}
		}
		// An upgrade waits for a status to date it by (the node that
		// reports it may itself be restarting).
		if err == nil && u.next < len(u.order) && time.Now().After(u.timer) {
			if err := d.upgradeNext(u, st, p.Name); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the upgrade did not complete within 3 minutes (node logs in %s)", d.o.Dir)
}

// upgrades is the operators' plan and how far it has got.
type upgrades struct {
	order []int        // the procs' indexes, in the order their operators upgrade
	late  map[int]bool // operators who upgrade only once the deployment is ACTIVE
	// victim is the validator SIGKILLed during signaling (CometBFT, stake
	// mode), outside order: it restarts after the activation.
	victim           *proc
	killedAt, saidAt uint64 // heights: the kill, the last "keeps finalizing"
	last             string // the last progress line shown
	next             int    // the next operator in order
	timer            time.Time
}

// planUpgrades draws the operators' order from the seed. In governance mode
// the last two are late. On CometBFT the late operators run full nodes:
// validators with more than a third of the voting power halted would stop
// the chain. On CometBFT in stake mode, one validator under a third of the
// voting power is SIGKILLed during signaling and stays down until after the
// activation: the others go on without it.
func (d *demo) planUpgrades() *upgrades {
	u := &upgrades{order: d.rng.Perm(len(d.procs)), late: map[int]bool{}}
	if d.o.Mode == "governance" {
		var can []int
		for _, i := range u.order {
			if d.o.Engine != engineCometBFT || d.procs[i].role != "consensus" {
				can = append(can, i)
			}
		}
		u.late[can[len(can)-1]], u.late[can[len(can)-2]] = true, true
	}
	if d.o.Engine == engineCometBFT && d.o.Mode == "stake" {
		u.victim = d.procs[3]
		u.order = slices.DeleteFunc(u.order, func(i int) bool { return d.procs[i] == u.victim })
	}
	return u
}

// nextUpgradeWait is a seeded random wait of up to an epoch before the
// next operator upgrades.
func (d *demo) nextUpgradeWait() time.Duration {
	return time.Duration(d.rng.IntN(int(d.o.EpochViews))) * d.o.ViewInterval
}

// watch shows the deployment's progress in st, kills the victim once
// signaling starts, and reports done once the deployment is decided and
// every operator has upgraded (restarting the victim, if any, first).
func (d *demo) watch(u *upgrades, st node.Status, name string) (bool, error) {
	if line := progress(st, name); line != u.last {
		d.say("%s", line)
		u.last = line
	}
	victim := u.victim
	if victim != nil && victim.cmd == nil && victim.killed && st.Head.Height >= u.saidAt+d.o.EpochViews/2 {
		d.say("the chain keeps finalizing without %s: height %d", victim.id, st.Head.Height)
		u.saidAt = st.Head.Height
	}
	dep := find(st, name)
	if victim != nil && !victim.killed && dep != nil && dep.State == "STARTED" {
		if err := d.kill(victim); err != nil {
			return false, err
		}
		u.killedAt, u.saidAt = st.Head.Height, st.Head.Height
		d.say("SIGKILLed validator %s (stake %d, %.0f%% of the voting power, under a third) at height %d, during signaling; it stays down until after the activation",
			victim.id, victim.stake, 100*float64(victim.stake)/float64(d.votingPower()), u.killedAt)
	}
	if dep == nil || (dep.State != "ACTIVE" && dep.State != "FAILED") || u.next < len(u.order) {
		return false, nil
	}
	if victim != nil && victim.killed && victim.cmd == nil {
		d.say("the chain finalized heights %d to %d without %s, and activated %s at view %d (height %d)",
			u.killedAt+1, st.Head.Height, victim.id, name, *dep.ActivationView, *dep.ActivationView-1)
		if err := d.start(victim, true); err != nil {
			return false, err
		}
		victim.upgraded = st.Head.View
		d.say("restarted %s with protocol 2.0.0: it catches up from its peers through CometBFT's block sync", victim.id)
	}
	return true, nil
}

// upgradeNext plays the next operator: it restarts the node supporting the
// new version, unless the operator is late and the deployment not ACTIVE yet.
func (d *demo) upgradeNext(u *upgrades, st node.Status, name string) error {
	pr := d.procs[u.order[u.next]]
	if err := d.exitedOnItsOwn(pr); err != nil {
		return err
	}
	active := false
	if dep := find(st, name); dep != nil && dep.State == "ACTIVE" {
		active = true
	}
	if u.late[u.order[u.next]] && !active {
		return nil
	}
	if err := d.stopForUpgrade(pr); err != nil {
		return err
	}
	if err := d.start(pr, true); err != nil {
		return err
	}
	pr.upgraded = st.Head.View
	d.say("operator of %s (%s, stake %d) upgraded at view %d", pr.id, pr.role, pr.stake, st.Head.View)
	u.next++
	u.timer = time.Now().Add(d.nextUpgradeWait())
	return nil
}

// kill SIGKILLs a node's process group and waits for it to end.
func (d *demo) kill(p *proc) error {
	if p.cmd == nil {
		return fmt.Errorf("%s is not running: %s", p.id, p.lastWords())
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	p.cmd, p.killed = nil, true
	return nil
}

// votingPower is the consensus-role stake: the CometBFT validators' power.
func (d *demo) votingPower() uint64 {
	total := uint64(0)
	for _, p := range d.procs {
		if p.role == "consensus" {
			total += p.stake
		}
	}
	return total
}

// exitedOnItsOwn notices a node process that ended without being stopped.
// A halt (exit 3) is what governance mode expects of a node that does not
// run the version activating: it is recorded, and its operator upgrades it
// later. Any other exit is a failure, returned with the node's last words.
func (d *demo) exitedOnItsOwn(p *proc) error {
	if p.cmd == nil {
		return nil
	}
	select {
	case code := <-p.exited:
		if code != node.ExitHalted {
			p.exited <- code // teardown's stop still reads it
			return fmt.Errorf("%s exited (%s): %s", p.id, p.cmd.ProcessState, p.lastWords())
		}
		p.halted, p.cmd = true, nil
		d.say("%s halted (exit %d): it does not run protocol 2.0.0", p.id, code)
	default:
	}
	return nil
}

func find(st node.Status, name string) *node.DeploymentStatus {
	for i := range st.Deployments {
		if st.Deployments[i].Name == name {
			return &st.Deployments[i]
		}
	}
	return nil
}

func progress(st node.Status, name string) string {
	dep := find(st, name)
	if dep == nil {
		return fmt.Sprintf("epoch %d: waiting for the proposal to be included", st.Head.Epoch)
	}
	line := fmt.Sprintf("epoch %d: %s %s", st.Head.Epoch, dep.Name, dep.State)
	if dep.ActivationView != nil && dep.State == "LOCKED_IN" {
		line += fmt.Sprintf(", activates at view %d", *dep.ActivationView)
	}
	if sig := dep.Signaling; sig != nil {
		for _, r := range sig.Roles {
			line += fmt.Sprintf("  %s %s %3.0f%%", r.Role, node.Bar(r.ReadyRatio, sig.ThresholdRatio()), r.ReadyRatio*100)
		}
		line += fmt.Sprintf("  (need > %s at |, %d views to the cutoff)", sig.Threshold, sig.CutoffIn)
	}
	return line
}

// waitUpgradeInfo reads the activation height from the node's
// upgrade-info.json, which the node writes as it hands the activation to
// its hook.
func (d *demo) waitUpgradeInfo(ctx context.Context, p *proc, r *NodeResult) error {
	path := filepath.Join(p.home, "upgrade-info.json")
	for deadline := time.Now().Add(30 * time.Second); ; {
		var info node.UpgradeInfo
		data, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(data, &info) == nil && info.Deployment == "protocol-2" {
			r.ActivationHeight = info.Height
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s wrote no upgrade-info.json for protocol-2 (%v): %s", p.id, err, p.lastWords())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// finish waits until every node runs the new version, checks they agree,
// and prints the summary.
func (d *demo) finish(ctx context.Context) (*Result, error) {
	res, common, err := d.collectResults(ctx)
	if err != nil {
		return nil, err
	}
	lockIn := "-" // governance deployments lock in when proposed, not by readiness
	if d.o.Mode == "stake" {
		if lockIn, err = d.markLockIn(res); err != nil {
			return nil, err
		}
	}
	if err := checkAgreement(res, common); err != nil {
		return nil, err
	}
	d.printSummary(res, common, lockIn)
	return res, nil
}

// collectResults waits until every node reports protocol-2 ACTIVE, then
// reads each node's result: its activation, its state ID at the lowest
// head height any node reports (returned too) and its upgrade-info.json.
func (d *demo) collectResults(ctx context.Context) (*Result, uint64, error) {
	res := &Result{Dir: d.o.Dir, Mode: d.o.Mode, Engine: d.o.Engine}
	err := d.waitAll(ctx, 60*time.Second, "every node reports protocol-2 ACTIVE", func(p *proc) bool {
		st, err := d.status(p)
		dep := find(st, "protocol-2")
		return err == nil && dep != nil && dep.State == "ACTIVE"
	})
	if err != nil {
		return nil, 0, err
	}
	// One status per node, taken after all report ACTIVE (which they keep
	// reporting): an error or a deployment without its activation view is
	// reported, never read as zeros or dereferenced.
	statuses := make([]node.Status, len(d.procs))
	var common uint64 = 1 << 62
	for i, p := range d.procs {
		st, err := d.status(p)
		if err != nil {
			return nil, 0, fmt.Errorf("status of %s after the activation: %w", p.id, err)
		}
		statuses[i] = st
		common = min(common, st.Head.Height)
	}
	for i, p := range d.procs {
		dep := find(statuses[i], "protocol-2")
		if dep == nil || dep.ActivationView == nil {
			return nil, 0, fmt.Errorf("%s reported protocol-2 ACTIVE, then no activation view for it", p.id)
		}
		var sid struct {
			StateID string `json:"state_id"`
		}
		if err := d.get(p, fmt.Sprintf("/state-id?height=%d", common), &sid); err != nil {
			return nil, 0, err
		}
		r := NodeResult{ID: p.id, Role: p.role, Stake: p.stake, UpgradedAtView: p.upgraded, Halted: p.halted,
			FinalState: dep.State, ActivationView: *dep.ActivationView, StateIDAtCommon: sid.StateID, Killed: p.killed}
		if err := d.waitUpgradeInfo(ctx, p, &r); err != nil {
			return nil, 0, err
		}
		res.Nodes = append(res.Nodes, r)
		res.StakeTotal += p.stake
		if p.halted {
			res.StakeHalted += p.stake
		}
	}
	res.ActivationView = res.Nodes[0].ActivationView
	return res, common, nil
}

// markLockIn asks the first node who was ready in the block that locked
// protocol-2 in, marks each node's result, and returns the lock-in in words.
func (d *demo) markLockIn(res *Result) (string, error) {
	var lock node.ReadinessReport
	if err := getJSON(d.procs[0].api, "/readiness?deployment=protocol-2&at=lock-in", &lock); err != nil {
		return "", err
	}
	for i := range res.Nodes {
		n := &res.Nodes[i]
		for _, r := range lock.Ready {
			n.ReadyAtLockIn = n.ReadyAtLockIn || r.NodeID == n.ID
		}
		for _, r := range lock.Roles {
			n.RoleRequired = n.RoleRequired || r.Role == n.Role || r.Role == node.AllRoles
		}
	}
	var parts []string
	for _, r := range lock.Roles {
		parts = append(parts, fmt.Sprintf("%s %d of %d (%.0f%%)", r.Role, r.ReadyStake, r.TotalStake, 100*r.ReadyRatio))
	}
	return fmt.Sprintf("locked in at view %d (epoch %d) with %s ready", lock.View, lock.Epoch, strings.Join(parts, ", ")), nil
}

// checkAgreement: every node activated at the same view, by a block at the
// same height, and has the same state at height common.
func checkAgreement(res *Result, common uint64) error {
	for _, r := range res.Nodes {
		if r.ActivationView != res.ActivationView || r.StateIDAtCommon != res.Nodes[0].StateIDAtCommon || r.ActivationHeight != res.Nodes[0].ActivationHeight {
			return fmt.Errorf("%s disagrees: activation view %d, state %s at height %d; %s: %d, %s", r.ID, r.ActivationView,
				r.StateIDAtCommon[:12], common, res.Nodes[0].ID, res.ActivationView, res.Nodes[0].StateIDAtCommon[:12])
		}
	}
	return nil
}

// printSummary says that the upgrade is done, with a row per node and how
// it locked in (stake) or what stake it left behind (governance).
func (d *demo) printSummary(res *Result, common uint64, lockIn string) {
	comet := d.o.Engine == engineCometBFT
	if comet {
		d.say("\nprotocol 2.0.0 is active on every node from view %d, activated by the block at height %d on every node; all nodes have state %s… at height %d",
			res.ActivationView, res.Nodes[0].ActivationHeight, res.Nodes[0].StateIDAtCommon[:16], common)
		for _, r := range res.Nodes {
			if r.Killed {
				d.say("%s, SIGKILLed during signaling, rejoined and agrees on that state ID", r.ID)
			}
		}
		d.say("")
	} else {
		d.say("\nprotocol 2.0.0 is active on every node from view %d; all nodes have state %s… at height %d\n",
			res.ActivationView, res.Nodes[0].StateIDAtCommon[:16], common)
	}
	w := tabwriter.NewWriter(d.o.Out, 2, 4, 2, ' ', 0)
	if comet {
		fmt.Fprintln(w, "node\trole\tstake\tvalidator\tupgraded at view\tready at lock-in\thalted first\tSIGKILLed\tactivation height\tstate")
	} else {
		fmt.Fprintln(w, "node\trole\tstake\tupgraded at view\tready at lock-in\thalted first\tstate")
	}
	for _, r := range res.Nodes {
		fmt.Fprintln(w, d.summaryRow(r, comet))
	}
	w.Flush()
	if d.o.Mode == "stake" {
		d.say("\n%s", lockIn)
	}
	if d.o.Mode == "governance" {
		d.say("\nstake left behind at activation: %d of %d (%.0f%%); those nodes halted instead of forking, and resumed once upgraded",
			res.StakeHalted, res.StakeTotal, 100*float64(res.StakeHalted)/float64(res.StakeTotal))
	}
	d.say("\nnode homes and logs: %s", d.o.Dir)
}

// summaryRow is a node's row of the summary table (tab-separated).
func (d *demo) summaryRow(r NodeResult, comet bool) string {
	halted := "no"
	if r.Halted {
		halted = "yes (exit 3), resumed after upgrading"
	}
	ready := "-"
	switch {
	case d.o.Mode != "stake":
	case !r.RoleRequired:
		ready = "- (role not counted)"
	case r.ReadyAtLockIn:
		ready = "yes"
	default:
		ready = "no"
	}
	if !comet {
		return fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s\t%s", r.ID, r.Role, r.Stake, r.UpgradedAtView, ready, halted, r.FinalState)
	}
	validator, killed := "no (full node)", "no"
	if r.Role == "consensus" {
		validator = fmt.Sprintf("power %d", r.Stake)
	}
	if r.Killed {
		killed = "yes, during signaling; rejoined after activation"
	}
	return fmt.Sprintf("%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%d\t%s", r.ID, r.Role, r.Stake, validator, r.UpgradedAtView, ready, halted,
		killed, r.ActivationHeight, r.FinalState)
}
