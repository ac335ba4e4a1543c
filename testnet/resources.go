package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// What a testnet costs the machine, read from /proc (Linux only): each
// node process's memory, CPU over a window, and open files.
//
// Memory comes in three figures, because the usual one misleads here:
// VmRSS counts every page the process maps, including the node-plugin
// executable's pages, which the kernel holds once for all the nodes (about
// 60 MB of a 90 MB binary); RssAnon is the process's own memory (its heap,
// stacks, pebble's buffers); PSS shares each shared page among the
// processes that map it, so the PSS of all nodes adds up to what the
// testnet takes from the machine.

// ProcStats is one process's footprint, as /proc says it.
type ProcStats struct {
	// RSS, Anon and PSS are bytes (VmRSS, RssAnon, Pss).
	RSS  uint64 `json:"rss_bytes"`
	Anon uint64 `json:"anon_bytes"`
	PSS  uint64 `json:"pss_bytes"`
	// CPU is user+system CPU time since the process started.
	CPU     time.Duration `json:"cpu_ns"`
	FDs     int           `json:"fds"`
	Threads int           `json:"threads"`
}

// clockTick is the unit of /proc/PID/stat's CPU times: USER_HZ, 100 on
// every Linux the kernel's ABI promises it to user space.
const clockTick = 10 * time.Millisecond

// ReadProc reads pid's footprint from /proc.
func ReadProc(pid int) (ProcStats, error) {
	var p ProcStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			p.RSS = kB(v)
		case "RssAnon":
			p.Anon = kB(v)
		case "Threads":
			p.Threads, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	// Pss needs smaps_rollup (Linux 4.14+); without it PSS stays 0.
	if rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		for _, line := range strings.Split(string(rollup), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				p.PSS = kB(v)
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, fmt.Errorf("process %d: %w", pid, err)
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return p, fmt.Errorf("process %d: /proc/%d/stat is not as expected", pid, pid)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64) // field 14 of stat
	stime, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return p, fmt.Errorf("process %d: /proc/%d/stat: %w", pid, pid, err)
	}
	p.CPU = time.Duration(utime+stime) * clockTick
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		p.FDs = len(fds)
	}
	return p, nil
}

// kB parses "  1234 kB" into bytes (0 if it is not that).
func kB(v string) uint64 {
	n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n << 10
}

// NodeResources is one running node's footprint, its CPU averaged over
// Resources' window.
type NodeResources struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	PID  int    `json:"pid"`
	ProcStats
	// Cores is CPU time over wall time across the window: 0.05 is 5% of a core.
	Cores float64 `json:"cores"`
}

// Resources is every running node's footprint.
type Resources struct {
	Window time.Duration   `json:"window_ns"`
	Nodes  []NodeResources `json:"nodes"`
	// Stopped counts the nodes not running (not measured).
	Stopped int `json:"stopped"`
}

// Total adds up the nodes' figures (Cores too: the testnet's CPU).
func (r Resources) Total() NodeResources {
	var t NodeResources
	for _, n := range r.Nodes {
		t.RSS += n.RSS
		t.Anon += n.Anon
		t.PSS += n.PSS
		t.FDs += n.FDs
		t.Threads += n.Threads
		t.Cores += n.Cores
	}
	return t
}

// Resources measures every running node: memory and open files at the
// end, CPU as CPU time per wall time over window (robust on a shared
// machine, unlike an instant's %CPU). A node that stops during the window
// is left out.
func (t *Testnet) Resources(ctx context.Context, window time.Duration) (Resources, error) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return Resources{}, errors.New("testnet stats reads /proc, which this system does not have (Linux only)")
	}
	r := Resources{Window: window}
	type first struct {
		n   *ManifestNode
		cpu time.Duration
	}
	var running []first
	start := time.Now()
	for _, n := range t.Running() {
		p, err := ReadProc(n.PID)
		if err != nil {
			continue // it just ended
		}
		running = append(running, first{n, p.CPU})
	}
	r.Stopped = len(t.M.Nodes) - len(running)
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(window):
	}
	wall := time.Since(start)
	for _, f := range running {
		p, err := ReadProc(f.n.PID)
		if err != nil {
			r.Stopped++
			continue
		}
		r.Nodes = append(r.Nodes, NodeResources{ID: f.n.ID, Role: f.n.Role, PID: f.n.PID, ProcStats: p,
			Cores: (p.CPU - f.cpu).Seconds() / wall.Seconds()})
	}
	return r, nil
}

// Targets for a node's footprint (issue 23): what WriteResources compares with.
const (
	TargetMemoryPerNode = 30 << 20 // bytes
	TargetIdleCores     = 1.0      // the whole testnet, idle
)

// WriteResources prints r: a row per node (all, or up to SummarizeAbove
// nodes), then per role and in total, with the targets.
func WriteResources(w io.Writer, r Resources, all bool) error {
	ew := &errWriter{w: w}
	mb := func(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
	if all || len(r.Nodes) <= SummarizeAbove {
		tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "node\trole\tpid\tRSS MB\town MB\tPSS MB\tCPU %\tfds\tthreads\t")
		for _, n := range r.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%.1f\t%d\t%d\t\n", n.ID, n.Role, n.PID, mb(n.RSS), mb(n.Anon), mb(n.PSS), 100*n.Cores, n.FDs, n.Threads)
		}
		ew.flush(tw)
		fmt.Fprintln(ew)
	}
	var roles []string
	for _, n := range r.Nodes {
		if !slices.Contains(roles, n.Role) {
			roles = append(roles, n.Role)
		}
	}
	tw := tabwriter.NewWriter(ew, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "role\tnodes\tRSS MB/node\town MB/node\tPSS MB/node\tPSS MB max\tCPU %/node\tfds max\t")
	for _, role := range append(roles, "all") {
		var sel Resources
		for _, n := range r.Nodes {
			if role == "all" || n.Role == role {
				sel.Nodes = append(sel.Nodes, n)
			}
		}
		if len(sel.Nodes) == 0 {
			continue
		}
		t, k := sel.Total(), uint64(len(sel.Nodes))
		var pssMax uint64
		var fdsMax int
		for _, n := range sel.Nodes {
			pssMax, fdsMax = max(pssMax, n.PSS), max(fdsMax, n.FDs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%.2f\t%d\t\n", role, k, mb(t.RSS/k), mb(t.Anon/k), mb(t.PSS/k), mb(pssMax), 100*t.Cores/float64(k), fdsMax)
	}
	ew.flush(tw)
	t := r.Total()
	fmt.Fprintf(ew, "\n%d nodes measured over %s", len(r.Nodes), r.Window)
	if r.Stopped > 0 {
		fmt.Fprintf(ew, " (%d not running)", r.Stopped)
	}
	fmt.Fprintf(ew, ": memory %s MB in all (PSS; VmRSS adds up to %s MB, counting the shared executable once a node), CPU %.2f cores\n",
		mb(t.PSS), mb(t.RSS), t.Cores)
	if k := uint64(len(r.Nodes)); k > 0 {
		fmt.Fprintf(ew, "target: memory <= %s MB a node: PSS %s MB (%s), VmRSS %s MB (%s; it counts the shared executable's pages in every node)\n",
			mb(TargetMemoryPerNode), mb(t.PSS/k), meets(t.PSS/k <= TargetMemoryPerNode), mb(t.RSS/k), meets(t.RSS/k <= TargetMemoryPerNode))
		fmt.Fprintf(ew, "target: CPU <= %.0f core for the whole testnet when idle: %.2f (%s)\n", TargetIdleCores, t.Cores, meets(t.Cores <= TargetIdleCores))
	}
	return ew.err
}

func meets(ok bool) string {
	if ok {
		return "meets it"
	}
	return "MISSES it"
}

// fdsPerNode estimates the open files a node process needs: its listeners
// and API, two sockets a peer (libp2p, and CometBFT's p2p on that engine),
// pebble's files, its log, and the Go runtime's own; peers is how many
// it connects to (those it dials and those that dial it).
func fdsPerNode(peers int, engine string) int {
	perPeer := 1
	if engine == engineCometBFT {
		perPeer = 2
	}
	return 64 + perPeer*peers
}

// expectedPeers is how many peers a node of a testnet of n nodes ends up
// with: every other one, or, dialling genesisDials, those plus the ones that
// dial it, which rendezvous hashing spreads to about as many again (three
// times is a bound the tests check).
func expectedPeers(n int) int {
	if d := dialsFor(n); d > 0 {
		return min(n-1, 4*d)
	}
	return n - 1
}

// checkFileLimit makes sure a process started from here can open the files
// a node of a testnet of n nodes needs, and this process those it needs to
// watch n nodes (the live page asks each node's API). It raises the soft
// limit towards the hard one when that suffices (the nodes inherit it), and
// otherwise says which `ulimit -n` the testnet needs.
func checkFileLimit(n int, engine string) error {
	need := filesNeeded(n, engine)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil // nothing to check against: let the nodes find out
	}
	raise, err := fileLimit(n, need, lim.Cur, lim.Max)
	if err != nil || raise == 0 {
		return err
	}
	lim.Cur = raise
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return badOption("--nodes %d: each node needs about %d open files; raising the soft limit to %d failed (%v): run ulimit -n %d first", n, need, need, err, need)
	}
	return nil
}

// filesNeeded is the open-file limit a testnet of n nodes needs, in each
// node and in the command that watches them.
func filesNeeded(n int, engine string) int {
	return max(fdsPerNode(expectedPeers(n), engine), 64+3*n)
}

// fileLimit judges the soft and hard limits against need: the soft limit
// to raise to (0: it suffices), or the error saying which ulimit to set.
func fileLimit(n, need int, soft, hard uint64) (uint64, error) {
	switch {
	case soft >= uint64(need):
		return 0, nil
	case hard < uint64(need):
		return 0, badOption("--nodes %d: each node needs about %d open files, and this shell allows %d (hard limit %d): raise it with ulimit -n %d (or more) and try again",
			n, need, soft, hard, need)
	}
	return uint64(need), nil
}
