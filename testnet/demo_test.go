package testnet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildBinary builds node-plugin once for the end-to-end tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "node-plugin")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/quorumgate/quorumgate/cmd/node-plugin")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build node-plugin:\n%s", out)
	return bin
}

// TestDemoEndToEnd runs both demos as real processes and checks the outcome
// the nodes themselves report.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	bin := buildBinary(t)
	for _, mode := range []string{"stake", "governance"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			dir := t.TempDir()
			nodes := 5
			if mode == "stake" {
				nodes = 7 // with collection and verification nodes, whose stake the deployment does not count
			}
			res, err := Demo(ctx, DemoOptions{Nodes: nodes, Mode: mode, Dir: dir, Binary: bin, Seed: 3,
				ViewInterval: 20 * time.Millisecond, EpochViews: 40, Out: &out})
			require.NoError(t, err, "demo:\n%s", out.String())
			for _, n := range res.Nodes {
				require.Equal(t, "ACTIVE", n.FinalState, "node %s: %+v\n%s", n.ID, n, out.String())
				require.Equal(t, res.ActivationView, n.ActivationView, "node %s: %+v\n%s", n.ID, n, out.String())
				require.Equal(t, res.Nodes[0].StateIDAtCommon, n.StateIDAtCommon, "node %s: %+v\n%s", n.ID, n, out.String())
				// Each node ran its hook exactly once.
				log, err := os.ReadFile(filepath.Join(dir, n.ID, "hook.log"))
				require.NoError(t, err, "node %s hook.log", n.ID)
				assert.Equal(t, 1, strings.Count(string(log), "activated protocol-2 2.0.0"), "node %s hook.log: %q", n.ID, log)
			}
			if mode == "stake" {
				// The nodes ready at lock-in carry more than 2/3 of each
				// required role's stake, and each had upgraded by then.
				ready, total := map[string]uint64{}, map[string]uint64{}
				for _, n := range res.Nodes {
					total[n.Role] += n.Stake
					assert.Equal(t, n.Role == "consensus" || n.Role == "execution", n.RoleRequired, "%s (%s): is its role counted", n.ID, n.Role)
					if n.ReadyAtLockIn {
						ready[n.Role] += n.Stake
						assert.True(t, n.UpgradedAtView != 0 && n.UpgradedAtView < res.ActivationView,
							"%s ready at lock-in, but upgraded at view %d (activation %d)", n.ID, n.UpgradedAtView, res.ActivationView)
					}
				}
				for _, role := range []string{"consensus", "execution"} {
					assert.Greater(t, 3*ready[role], 2*total[role], "%s: %d of %d stake ready at lock-in\n%s", role, ready[role], total[role], out.String())
				}
			}
			if mode == "governance" {
				assert.NotZero(t, res.StakeHalted, "no node halted in governance mode:\n%s", out.String())
			}
			assert.Contains(t, out.String(), "is active on every node")
			t.Logf("\n%s", out.String())
		})
	}
}

// TestDemoInterruptTearsDown sends the demo SIGINT (Ctrl-C) mid-upgrade: it
// must stop every node process, free their ports and keep the folder.
func TestDemoInterruptTearsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	d := startDemo(t, buildBinary(t))
	require.NoError(t, d.cmd.Process.Signal(os.Interrupt))
	d.wantTornDown(t, "interrupted", "every node is stopped")
}

// TestDemoNodeCrashTearsDown kills one node's process mid-upgrade, as a
// crash would: the demo must fail at once, say which node, and leave no
// process or port behind.
func TestDemoNodeCrashTearsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	d := startDemo(t, buildBinary(t))
	victim := 0
	for _, pid := range nodeProcesses(t, d.dir) {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if strings.Contains(string(cmdline), filepath.Join(d.dir, "c2")+"\x00") {
			victim = pid
		}
	}
	require.NotZero(t, victim, "no process runs node c2\n%s", d.out.String())
	require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
	// Killed while running, or while its operator was stopping it for the
	// upgrade: either way the demo names it and how it ended.
	d.wantTornDown(t, "c2 ", "(signal: killed)", "every node is stopped")
}

// runningDemo is a `testnet demo` process of 4 nodes, read up to its
// proposal: every node runs.
type runningDemo struct {
	cmd    *exec.Cmd
	dir    string
	stdout io.Reader
	out    strings.Builder
	stderr bytes.Buffer
	homes  []string // each node's config.toml
}

func startDemo(t *testing.T, bin string) *runningDemo {
	t.Helper()
	d := &runningDemo{dir: t.TempDir()}
	d.cmd = exec.Command(bin, "testnet", "demo", "--nodes", "4", "--dir", d.dir, "--epoch-views", "40")
	stdout, err := d.cmd.StdoutPipe()
	require.NoError(t, err)
	d.stdout, d.cmd.Stderr = stdout, &d.stderr
	require.NoError(t, d.cmd.Start())
	t.Cleanup(func() { d.cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		d.out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "proposed ") {
			break
		}
	}
	d.homes, err = filepath.Glob(filepath.Join(d.dir, "*", "config.toml"))
	require.NoError(t, err)
	if pids := nodeProcesses(t, d.dir); len(d.homes) != 4 || len(pids) != 4 {
		require.Fail(t, "a node is missing", "after the proposal, %d node homes and %d node processes, want 4 of each\n%s", len(d.homes), len(pids), d.failure())
	}
	return d
}

// failure tells why a demo ended early: its output and error, and the end
// of every node's log.
func (d *runningDemo) failure() string {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	var b strings.Builder
	fmt.Fprintf(&b, "stdout:\n%sstderr:\n%s", d.out.String(), d.stderr.String())
	logs, _ := filepath.Glob(filepath.Join(d.dir, "*", "node.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s (last lines)\n%s\n", l, strings.Join(lines[max(0, len(lines)-8):], "\n"))
	}
	return b.String()
}

// wantTornDown waits for the demo to end: exit 1 saying each of why on stderr, no
// node process left, every node port free, every node log kept.
func (d *runningDemo) wantTornDown(t *testing.T, why ...string) {
	t.Helper()
	go io.Copy(io.Discard, d.stdout) // owned by the test: ends when the demo's stdout closes
	err := d.cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "demo: stderr %q; want exit 1", d.stderr.String())
	require.Equal(t, 1, ee.ExitCode(), "demo: stderr %q", d.stderr.String())
	for _, w := range why {
		assert.Contains(t, d.stderr.String(), w, "demo's stderr")
	}
	assert.Empty(t, nodeProcesses(t, d.dir), "node processes outlived the demo")
	for _, h := range d.homes {
		cfg, err := os.ReadFile(h)
		require.NoError(t, err)
		for _, m := range portRE.FindAllStringSubmatch(string(cfg), -1) {
			l, err := net.Listen("tcp", "127.0.0.1:"+m[1])
			if assert.NoError(t, err, "port %s of %s is still taken", m[1], h) {
				l.Close()
			}
		}
		_, err = os.Stat(filepath.Join(filepath.Dir(h), "node.log"))
		assert.NoError(t, err, "the node's log is gone")
	}
}

var portRE = regexp.MustCompile(`127\.0\.0\.1(?::|/tcp/)(\d+)`)

// nodeProcesses lists the live (not zombie) processes running a node of dir.
func nodeProcesses(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err, "this test reads /proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir+string(filepath.Separator)) || !strings.Contains(string(cmdline), "\x00run\x00") {
			continue
		}
		if !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestDemoRefusesBadOptions: every bad option is an OptionError (exit 2)
// that names it, before any file is written or process started; an old
// demo's folder is left as it was.
func TestDemoRefusesBadOptions(t *testing.T) {
	used := t.TempDir()
	marker := filepath.Join(used, "node.log")
	require.NoError(t, os.WriteFile(marker, []byte("an earlier run\n"), 0o644))
	for _, tc := range []struct {
		o    DemoOptions
		want string
	}{
		{DemoOptions{Nodes: 3}, "--nodes 3"},
		{DemoOptions{Nodes: MaxNodes + 1}, fmt.Sprintf("--nodes %d: between 4 and %d", MaxNodes+1, MaxNodes)},
		{DemoOptions{Mode: "hybrid"}, `--mode "hybrid"`},
		{DemoOptions{EpochViews: 3}, "--epoch-views 3"},
		{DemoOptions{ViewInterval: -time.Millisecond}, "--view-interval -1ms"},
		{DemoOptions{Dir: used}, "is not empty"},
	} {
		_, err := Demo(context.Background(), tc.o)
		var oe *OptionError
		if assert.ErrorAs(t, err, &oe, "Demo(%+v)", tc.o) {
			assert.Contains(t, err.Error(), tc.want, "Demo(%+v)", tc.o)
		}
	}
	got, err := os.ReadFile(marker)
	require.NoError(t, err, "the used folder was touched")
	assert.Equal(t, "an earlier run\n", string(got), "the used folder was touched")
	entries, err := os.ReadDir(used)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the used folder gained files")
}
