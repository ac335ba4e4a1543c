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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	default:
		require.NoError(c.t, err, "testnet %v", args)
	}
	c.remember()
	return out.String(), errb.String(), code
}

// downAndCheck stops the testnet (whatever state the test left it in) and
// fails the test if any node process it saw outlives it.
func (c *tnCLI) downAndCheck() {
	c.run("down")
	for pid, home := range c.pids {
		assert.False(c.t, processAlive(pid, home), "node process %d (%s) outlived the testnet", pid, home)
	}
}

// ok runs a command that must succeed.
func (c *tnCLI) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	require.Zero(c.t, code, "testnet %v: exit %d\n%s%s", args, code, out, errOut)
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
	require.NoError(c.t, json.Unmarshal([]byte(c.ok("status", "--output", "json")), &s))
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
	require.FailNow(c.t, "not within 60s: "+what, out)
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
// parameter changes by governance and by stake, down, up again where it
// was, and down --purge. No node process outlives it.
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
		require.NoError(t, err)
		require.NoError(t, up.Start())
		require.NoError(t, pipe.Close())
		require.NoError(t, up.Wait(), "up into a closed pipe")
		c.remember()
		out := c.ok("up") // again, with every node running
		assert.Contains(t, out, "every node is synced")
		assert.Contains(t, out, "/p2p/")
		assert.Contains(t, out, "already runs")
		assert.NotContains(t, out, " started ")
		// Every process runs right after up. Synced is a moment's reading (a
		// node on a loaded machine may be applying a burst of blocks), so it is
		// waited for, within waitStatus's bound.
		for _, n := range c.status().Nodes {
			require.Equal(t, "running", n.Process, "after up: %s (%s)", n.ID, n.Exit)
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
		require.NoError(t, err)
		obs := filepath.Join(t.TempDir(), "obs")
		out, err := exec.Command(c.bin, "init", "--home", obs, "--node-id", "obs").CombinedOutput()
		require.NoError(t, err, "init:\n%s", out)
		genesis, err := os.ReadFile(filepath.Join(tn.Home(&tn.M.Nodes[0]), "genesis.json"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(obs, "genesis.json"), genesis, 0o644))
		// It bootstraps from c3 alone.
		join := exec.Command(c.bin, "run", "--home", obs, "--listen", "/ip4/127.0.0.1/tcp/0", "--bootstrap", tn.M.Nodes[2].P2P)
		var joinLog bytes.Buffer
		join.Stdout, join.Stderr = &joinLog, &joinLog
		require.NoError(t, join.Start())
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
			require.FailNow(t, "a node joining with --bootstrap: not within 30s: "+what,
				"height %d, %d peers, synced %v\n%s", h, p, s, joinLog.String())
		}
		// Given one address, it meets all four nodes: the genesis lists them.
		waitObs("synced, with all four nodes as peers", func(h uint64, p int, s bool) bool { return s && p == 4 && h > 5 })
		// Its bootstrap peer stops; it follows on through the others.
		c.ok("stop", "c3")
		stoppedAt, _, _ := obsStatus()
		waitObs("following on without c3", func(h uint64, p int, s bool) bool { return s && p == 3 && h > stoppedAt+10 })
		c.ok("start", "c3")
		require.NoError(t, join.Process.Signal(os.Interrupt))
		require.NoError(t, join.Wait(), "the joined node, interrupted:\n%s", joinLog.String())
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
			_, errOut, code := c.run(tc.args...)
			assert.Equal(t, 2, code, "testnet %v: stderr %q", tc.args, errOut)
			assert.Contains(t, errOut, tc.want, "testnet %v", tc.args)
		}
		other := &tnCLI{t: t, bin: c.bin, dir: t.TempDir(), pids: map[int]string{}}
		_, errOut, code := other.run("status")
		assert.Equal(t, 2, code, "status of an empty folder: %q", errOut)
		assert.Contains(t, errOut, "no testnet in", "status of an empty folder")
		_, errOut, code = other.run("up", "--host", "0.0.0.0")
		assert.Equal(t, 2, code, "up --host 0.0.0.0: %q", errOut)
		assert.Contains(t, errOut, "--host", "up --host 0.0.0.0")
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
		c3 := s.Nodes[2]
		require.Equal(t, "c3", c3.ID)
		assert.Contains(t, c3.Exit, "halted")
		assert.Contains(t, c3.Exit, "protocol=2.0.0")
		text := c.ok("status")
		assert.Contains(t, text, "testnet upgrade c3 --supports protocol=2.0.0", "status tells c3's operator what to do")
		assert.Contains(t, text, "ACTIVE@")
		c.ok("upgrade", "c3", "--supports", "protocol=2.0.0")
		s = c.waitStatus("p2 ACTIVE everywhere", func(s NetStatus) bool { return allIn(s, "p2", "ACTIVE") })
		av := *find(*s.Nodes[0].Status, "p2").ActivationView
		for _, n := range s.Nodes {
			assert.Equal(t, av, *find(*n.Status, "p2").ActivationView, "%s activates where seq does", n.ID)
		}
	})

	phase("who carried the lock-in", func(t *testing.T) {
		// Who carried it: seq and c2 were both needed for consensus, e1 for
		// execution; c3 never signaled.
		out, err := exec.Command(c.bin, "readiness", "--home", tn.Home(&tn.M.Nodes[0]), "--deployment", "p2", "--lock-in").Output()
		require.NoError(t, err, "readiness --lock-in")
		var lock struct {
			State string
			Ready []struct {
				NodeID string `json:"node_id"`
			}
		}
		require.NoError(t, json.Unmarshal(out, &lock))
		var ready []string
		for _, r := range lock.Ready {
			ready = append(ready, r.NodeID)
		}
		slices.Sort(ready)
		assert.Equal(t, "LOCKED_IN", lock.State, "%s", out)
		assert.Equal(t, []string{"c2", "e1", "seq"}, ready, "ready at lock-in")
		// testnet status says the same, in JSON and for people.
		l := c.status().LockIns
		require.Len(t, l, 1, "status lock_ins: %+v", l)
		assert.Equal(t, "p2", l[0].Deployment)
		assert.Equal(t, "seq", l[0].AsSeenBy)
		assert.Len(t, l[0].Ready, 3)
		assert.Empty(t, l[0].Error)
		assert.Contains(t, c.ok("status"), "ready: seq, c2, e1; not ready: c3", "status says who carried p2")
	})

	phase("stop and start", func(t *testing.T) {
		// stop and start, and the log tells what happened.
		c.ok("stop", "c2")
		s := c.status()
		require.Equal(t, "stopped", s.Nodes[1].Process, "after stop: %+v", s.Nodes[1])
		c.ok("start", "c2")
		s = c.status()
		require.Equal(t, "running", s.Nodes[1].Process, "after start: %+v", s.Nodes[1])
		logs := c.ok("logs", "c2", "-n", "0")
		assert.Equal(t, 3, strings.Count(logs, runMarker+" c2"), "c2 started three times (up, upgrade, start); its log says:\n%s", logs)
	})

	phase("governance propose and cancel", func(t *testing.T) {
		// Governance: a proposal far enough ahead, then cancelled.
		c.ok("propose", "--name", "p3", "--version", "3.0.0", "--mode", "governance",
			"--activation-view", "100000")
		c.waitStatus("p3 LOCKED_IN everywhere", func(s NetStatus) bool { return allIn(s, "p3", "LOCKED_IN") })
		c.ok("cancel", "--name", "p3", "--via", "e1")
		c.waitStatus("p3 CANCELED everywhere", func(s NetStatus) bool { return allIn(s, "p3", "CANCELED") })
	})

	var changes []paramChange
	phase("parameter changes, by governance and by stake", func(t *testing.T) {
		// What the chain would reject for all to see is refused before
		// anything is signed: exit 2, saying why.
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--param", "timeout", "--value", "2000"}, "the testnet's genesis declares no such parameter; it declares block_size_limit (uint)"},
			{[]string{"--param", "consensus_timeout_ms", "--value", "2s"}, "consensus_timeout_ms is a uint parameter"},
			{[]string{"--param", "consensus_timeout_ms", "--value", "99"}, "out of consensus_timeout_ms's bounds"},
			{[]string{"--param", "execution_pipelining", "--value", "false"}, "execution_pipelining is false already"},
			{[]string{"--param", "consensus_timeout_ms", "--value", "2000", "--mode", "governance", "--activation-view", "1"}, "activation too soon"},
		} {
			_, errOut, code := c.run(append([]string{"propose", "--name", "refused"}, tc.args...)...)
			assert.Equal(t, 2, code, "propose %v: stderr %q", tc.args, errOut)
			assert.Contains(t, errOut, tc.want, "propose %v", tc.args)
		}
		changes = changeParams(t, c)
		assert.Empty(t, depState(c.status().Nodes[0], "refused"), "a refused proposal never reaches the chain")
	})

	phase("down, then up where it was", func(t *testing.T) {
		// down, then up where it was: same chain, heads further on, versions kept.
		before := c.waitStatus("every node answers before down", func(s NetStatus) bool {
			return !slices.ContainsFunc(s.Nodes, func(n NodeState) bool { return n.Status == nil })
		})
		c.ok("down")
		for _, n := range c.status().Nodes {
			require.Equal(t, "stopped", n.Process, "after down: %+v", n)
		}
		for pid, home := range c.pids {
			require.False(t, processAlive(pid, home), "after down, node process %d (%s) still runs", pid, home)
		}
		assert.Contains(t, c.ok("up"), "where it was", "up on an existing testnet")
		after := c.status()
		for i, n := range after.Nodes {
			require.Equal(t, "running", n.Process, "after up again, %s: %+v", n.ID, n)
			require.NotNil(t, n.Status, "after up again, %s answers", n.ID)
			assert.GreaterOrEqual(t, n.Status.Head.Height, before.Nodes[i].Status.Head.Height, "after up again, %s's head", n.ID)
			assert.Equal(t, "ACTIVE", depState(n, "p2"), "after up again, %s", n.ID)
			for _, ch := range changes {
				assert.Equal(t, ch.to, activeParam(n, ch.param), "after up again, %s's %s", n.ID, ch.param)
			}
			assert.Contains(t, strings.Join(n.Supported, ","), "protocol=2.0.0", "after up again, %s", n.ID)
		}
	})

	phase("down --purge", func(t *testing.T) {
		c.ok("down", "--purge")
		_, err := os.Stat(c.dir)
		assert.ErrorIs(t, err, os.ErrNotExist, "down --purge left %s", c.dir)
	})
}
