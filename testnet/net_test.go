package testnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tnCLI runs the node-plugin binary's testnet commands on one folder.
type tnCLI struct {
	t    *testing.T
	bin  string
	dir  string
	pids map[int]string // every node process seen, pid -> home
}

func (c *tnCLI) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append(append([]string{"testnet"}, args...), "--dir", c.dir)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("testnet %v: %v", args, err)
	}
	c.remember()
	return out.String(), errb.String(), code
}

// downAndCheck stops the testnet (whatever state the test left it in) and
// fails the test if any node process it saw outlives it.
func (c *tnCLI) downAndCheck() {
	c.run("down")
	for pid, home := range c.pids {
		if processAlive(pid, home) {
			c.t.Errorf("node process %d (%s) outlived the testnet", pid, home)
		}
	}
}

// ok runs a command that must succeed.
func (c *tnCLI) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("testnet %v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// remember records the node processes the manifest names.
func (c *tnCLI) remember() {
	tn, err := Open(c.dir)
	if err != nil {
		return
	}
	for _, n := range tn.M.Nodes {
		if n.PID != 0 {
			c.pids[n.PID] = tn.Home(&n)
		}
	}
}

func (c *tnCLI) status() NetStatus {
	c.t.Helper()
	var s NetStatus
	if err := json.Unmarshal([]byte(c.ok("status", "--output", "json")), &s); err != nil {
		c.t.Fatal(err)
	}
	return s
}

// waitStatus polls the status until cond holds.
func (c *tnCLI) waitStatus(what string, cond func(NetStatus) bool) NetStatus {
	c.t.Helper()
	var s NetStatus
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if s = c.status(); cond(s) {
			return s
		}
	}
	out, _, _ := c.run("status")
	c.t.Fatalf("not within 60s: %s\n%s", what, out)
	return s
}

func depState(n NodeState, name string) string {
	if n.Status == nil {
		return ""
	}
	if d := find(*n.Status, name); d != nil {
		return d.State
	}
	return ""
}

func allIn(s NetStatus, name, state string) bool {
	for _, n := range s.Nodes {
		if depState(n, name) != state {
			return false
		}
	}
	return true
}

// TestInteractiveTestnet plays a protocol engineer at the keyboard, through
// the real binary: up, propose, upgrade node by node, a node that halts and
// is upgraded back, stop and start, logs, governance propose and cancel,
// down, up again where it was, and down --purge. No node process outlives it.
func TestInteractiveTestnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	c := &tnCLI{t: t, bin: buildBinary(t), dir: filepath.Join(t.TempDir(), "tn"), pids: map[int]string{}}
	defer c.downAndCheck()

	// phase runs one step of the session as a named subtest, with c's
	// helpers reporting to it; a failed phase ends the session, since every
	// later one builds on it.
	phase := func(name string, f func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, func(t *testing.T) {
			parent := c.t
			c.t = t
			defer func() { c.t = parent }()
			f(t)
		}) {
			t.FailNow()
		}
	}
	var tn *Testnet // opened by the join phase, used by the later ones

	phase("up", func(t *testing.T) {
		// up with its output piped into a reader that went away (up | head -1):
		// the closed pipe must not stop it halfway, orphaning the nodes it
		// started before the manifest knew them.
		up := exec.Command(c.bin, "testnet", "up", "--nodes", "4", "--view-interval", "20ms", "--epoch-views", "40", "--dir", c.dir)
		pipe, err := up.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Start(); err != nil {
			t.Fatal(err)
		}
		pipe.Close()
		if err := up.Wait(); err != nil {
			t.Fatalf("up into a closed pipe: %v", err)
		}
		c.remember()
		if out := c.ok("up"); !strings.Contains(out, "every node is synced") || !strings.Contains(out, "/p2p/") || strings.Contains(out, " started ") ||
			!strings.Contains(out, "already runs") {
			t.Fatalf("up again, with every node running:\n%s", out)
		}
		// Every process runs right after up. Synced is a moment's reading (a
		// node on a loaded machine may be applying a burst of blocks), so it is
		// waited for, within waitStatus's bound.
		for _, n := range c.status().Nodes {
			if n.Process != "running" {
				t.Fatalf("after up: %s is %s (%s)", n.ID, n.Process, n.Exit)
			}
		}
		c.waitStatus("every node synced after up", func(s NetStatus) bool {
			for _, n := range s.Nodes {
				if n.Process != "running" || n.Status == nil || !n.Status.Synced {
					return false
				}
			}
			return true
		})
	})

	phase("a node joins with --bootstrap", func(t *testing.T) {
		var err error
		// The README's join: a node outside the testnet, given the genesis and
		// one --bootstrap address, follows the chain.
		tn, err = Open(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		obs := filepath.Join(t.TempDir(), "obs")
		if out, err := exec.Command(c.bin, "init", "--home", obs, "--node-id", "obs").CombinedOutput(); err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
		genesis, _ := os.ReadFile(filepath.Join(tn.Home(&tn.M.Nodes[0]), "genesis.json"))
		if err := os.WriteFile(filepath.Join(obs, "genesis.json"), genesis, 0o644); err != nil {
			t.Fatal(err)
		}
		// It bootstraps from c3 alone.
		join := exec.Command(c.bin, "run", "--home", obs, "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", tn.M.Nodes[2].P2P)
		var joinLog bytes.Buffer
		join.Stdout, join.Stderr = &joinLog, &joinLog
		if err := join.Start(); err != nil {
			t.Fatal(err)
		}
		defer join.Process.Kill()
		obsStatus := func() (height uint64, peers int, synced bool) {
			out, err := exec.Command(c.bin, "status", "--home", obs, "--output", "json").Output()
			var st struct {
				Head   struct{ Height uint64 }
				Peers  int
				Synced bool
			}
			if err != nil || json.Unmarshal(out, &st) != nil {
				return 0, 0, false
			}
			return st.Head.Height, st.Peers, st.Synced
		}
		waitObs := func(what string, cond func(height uint64, peers int, synced bool) bool) {
			t.Helper()
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if cond(obsStatus()) {
					return
				}
			}
			h, p, s := obsStatus()
			t.Fatalf("a node joining with --bootstrap: not within 30s: %s (height %d, %d peers, synced %v)\n%s", what, h, p, s, joinLog.String())
		}
		// Given one address, it meets all four nodes: the genesis lists them.
		waitObs("synced, with all four nodes as peers", func(h uint64, p int, s bool) bool { return s && p == 4 && h > 5 })
		// Its bootstrap peer stops; it follows on through the others.
		c.ok("stop", "c3")
		stoppedAt, _, _ := obsStatus()
		waitObs("following on without c3", func(h uint64, p int, s bool) bool { return s && p == 3 && h > stoppedAt+10 })
		c.ok("start", "c3")
		join.Process.Signal(os.Interrupt)
		if err := join.Wait(); err != nil {
			t.Fatalf("the joined node, interrupted: %v\n%s", err, joinLog.String())
		}
	})

	phase("bad usage exits 2", func(t *testing.T) {
		// Bad usage exits 2 and says what is wrong.
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"up", "--nodes", "5"}, "has 4 nodes"},
			{[]string{"up", "--epoch-views", "30"}, "has epochs of 40 views"},
			{[]string{"up", "--view-interval", "50ms"}, "runs at 20ms a view"},
			{[]string{"up", "--view-interval", "0s"}, "a positive duration"},
			{[]string{"upgrade", "nobody", "--supports", "protocol=2.0.0"}, `no node "nobody"`},
			{[]string{"upgrade", "c2", "--supports", "protocol"}, "--supports"},
			{[]string{"stop"}, "needs the nodes"},
			{[]string{"logs", "nobody"}, `no node "nobody"`},
		} {
			if _, errOut, code := c.run(tc.args...); code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("testnet %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
			}
		}
		other := &tnCLI{t: t, bin: c.bin, dir: t.TempDir(), pids: map[int]string{}}
		if _, errOut, code := other.run("status"); code != 2 || !strings.Contains(errOut, "no testnet in") {
			t.Errorf("status of an empty folder: exit %d, %q", code, errOut)
		}
		if _, errOut, code := other.run("up", "--host", "0.0.0.0"); code != 2 || !strings.Contains(errOut, "--host") {
			t.Errorf("up --host 0.0.0.0: exit %d, %q", code, errOut)
		}
	})

	phase("stake upgrade, c3 halts and is upgraded back", func(t *testing.T) {
		// A stake upgrade: seq and c2 (700 of 900 consensus stake) and e1 (all
		// execution stake) upgrade; c3 does not, and halts at the activation.
		c.ok("propose", "--name", "p2", "--version", "2.0.0", "--role", "consensus", "--role", "execution")
		c.waitStatus("p2 STARTED everywhere", func(s NetStatus) bool { return allIn(s, "p2", "STARTED") })
		for _, id := range []string{"seq", "c2", "e1"} {
			c.ok("upgrade", id, "--supports", "protocol=2.0.0")
		}
		s := c.waitStatus("p2 ACTIVE on the upgraded nodes, c3 halted", func(s NetStatus) bool {
			for _, n := range s.Nodes {
				if n.ID == "c3" {
					if n.Process != "exited" {
						return false
					}
				} else if depState(n, "p2") != "ACTIVE" {
					return false
				}
			}
			return true
		})
		if c3 := s.Nodes[2]; c3.ID != "c3" || !strings.Contains(c3.Exit, "halted") || !strings.Contains(c3.Exit, "protocol=2.0.0") {
			t.Fatalf("c3: %+v", c3)
		}
		if text := c.ok("status"); !strings.Contains(text, "testnet upgrade c3 --supports protocol=2.0.0") || !strings.Contains(text, "ACTIVE@") {
			t.Fatalf("status does not tell c3's operator what to do:\n%s", text)
		}
		c.ok("upgrade", "c3", "--supports", "protocol=2.0.0")
		s = c.waitStatus("p2 ACTIVE everywhere", func(s NetStatus) bool { return allIn(s, "p2", "ACTIVE") })
		av := *find(*s.Nodes[0].Status, "p2").ActivationView
		for _, n := range s.Nodes {
			if got := *find(*n.Status, "p2").ActivationView; got != av {
				t.Fatalf("%s activated at %d, seq at %d", n.ID, got, av)
			}
		}
	})

	phase("who carried the lock-in", func(t *testing.T) {
		// Who carried it: seq and c2 were both needed for consensus, e1 for
		// execution; c3 never signaled.
		out, err := exec.Command(c.bin, "readiness", "--home", tn.Home(&tn.M.Nodes[0]), "--deployment", "p2", "--lock-in").Output()
		if err != nil {
			t.Fatalf("readiness --lock-in: %v", err)
		}
		var lock struct {
			State string
			Ready []struct {
				NodeID string `json:"node_id"`
			}
		}
		if err := json.Unmarshal(out, &lock); err != nil {
			t.Fatal(err)
		}
		var ready []string
		for _, r := range lock.Ready {
			ready = append(ready, r.NodeID)
		}
		slices.Sort(ready)
		if lock.State != "LOCKED_IN" || strings.Join(ready, ",") != "c2,e1,seq" {
			t.Fatalf("ready at lock-in: %s", out)
		}
		// testnet status says the same, in JSON and for people.
		if l := c.status().LockIns; len(l) != 1 || l[0].Deployment != "p2" || l[0].AsSeenBy != "seq" || len(l[0].Ready) != 3 || l[0].Error != "" {
			t.Fatalf("status lock_ins: %+v", l)
		}
		if text := c.ok("status"); !strings.Contains(text, "ready: seq, c2, e1; not ready: c3") {
			t.Fatalf("status does not say who carried p2:\n%s", text)
		}
	})

	phase("stop and start", func(t *testing.T) {
		// stop and start, and the log tells what happened.
		c.ok("stop", "c2")
		if s := c.status(); s.Nodes[1].Process != "stopped" {
			t.Fatalf("after stop: %+v", s.Nodes[1])
		}
		c.ok("start", "c2")
		if s := c.status(); s.Nodes[1].Process != "running" {
			t.Fatalf("after start: %+v", s.Nodes[1])
		}
		if logs := c.ok("logs", "c2", "-n", "0"); strings.Count(logs, runMarker+" c2") != 3 {
			t.Fatalf("c2 started three times (up, upgrade, start); its log says:\n%s", logs)
		}
	})

	phase("governance propose and cancel", func(t *testing.T) {
		// Governance: a proposal far enough ahead, then cancelled.
		c.ok("propose", "--name", "p3", "--version", "3.0.0", "--mode", "governance",
			"--activation-view", "100000")
		c.waitStatus("p3 LOCKED_IN everywhere", func(s NetStatus) bool { return allIn(s, "p3", "LOCKED_IN") })
		c.ok("cancel", "--name", "p3", "--via", "e1")
		c.waitStatus("p3 CANCELED everywhere", func(s NetStatus) bool { return allIn(s, "p3", "CANCELED") })
	})

	phase("down, then up where it was", func(t *testing.T) {
		// down, then up where it was: same chain, heads further on, versions kept.
		before := c.waitStatus("every node answers before down", func(s NetStatus) bool {
			return !slices.ContainsFunc(s.Nodes, func(n NodeState) bool { return n.Status == nil })
		})
		c.ok("down")
		for _, n := range c.status().Nodes {
			if n.Process != "stopped" {
				t.Fatalf("after down: %+v", n)
			}
		}
		for pid, home := range c.pids {
			if processAlive(pid, home) {
				t.Fatalf("after down, node process %d (%s) still runs", pid, home)
			}
		}
		if out := c.ok("up"); !strings.Contains(out, "where it was") {
			t.Fatalf("up on an existing testnet:\n%s", out)
		}
		after := c.status()
		for i, n := range after.Nodes {
			if n.Process != "running" || n.Status == nil || n.Status.Head.Height < before.Nodes[i].Status.Head.Height ||
				depState(n, "p2") != "ACTIVE" || !strings.Contains(strings.Join(n.Supported, ","), "protocol=2.0.0") {
				t.Fatalf("after up again, %s: %+v (before: head %+v)", n.ID, n, before.Nodes[i].Status.Head)
			}
		}
	})

	phase("down --purge", func(t *testing.T) {
		c.ok("down", "--purge")
		if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
			t.Fatalf("down --purge left %s (%v)", c.dir, err)
		}
	})
}
