package node

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/internal/testutil"
)

const hookHelperEnv = "QUORUMGATE_TEST_HOOK_HELPER_HOME"

// TestHookHelperProcess is not a test: TestHookDiesWithAKilledNode runs the
// test binary again as a node that runs a hook, and kills it with SIGKILL.
func TestHookHelperProcess(t *testing.T) {
	home := os.Getenv(hookHelperEnv)
	if home == "" {
		t.Skip("a helper process for TestHookDiesWithAKilledNode")
	}
	// The hook says it started, records its PID and its child's, and waits
	// for the child: an hour, far beyond the test.
	u := &Upgrader{Home: home, HookTimeout: time.Hour, Hook: []string{"sh", "-c", `echo started >> hook.log
sleep 3600 & echo "$$ $!" > pids.tmp && mv pids.tmp pids; wait`}}
	t.Fatalf("OnActive returned (%v): the helper should have been killed mid-hook", u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"}))
}

// readLock reads home's hook.lock.
func readLock(t *testing.T, home string) hookLock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(home, HookLockName))
	require.NoError(t, err)
	var l hookLock
	require.NoError(t, json.Unmarshal(data, &l))
	return l
}

// assertNoLock fails if home still has a hook.lock.
func assertNoLock(t *testing.T, home string) {
	t.Helper()
	_, err := os.Stat(filepath.Join(home, HookLockName))
	assert.ErrorIs(t, err, os.ErrNotExist, "hook.lock outlived its hook")
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// aliveOrAlone is a hook that appends to home/hook.log whether any of pids
// still runs when it does ("overlap": two hooks at once) or not. A zombie
// does not run: it waits for init to reap it.
func aliveOrAlone(home string, pids ...int) []string {
	list := strings.Trim(fmt.Sprint(pids), "[]")
	return []string{"sh", "-c", `alive=; for p in ` + list + `; do
  s=$(sed 's/.*) \(.\).*/\1/' /proc/$p/stat 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ] && alive=1
done
if [ -n "$alive" ]; then echo "overlap retry=$QUORUMGATE_HOOK_RETRY"; else echo "alone retry=$QUORUMGATE_HOOK_RETRY"; fi >> ` +
		filepath.Join(home, "hook.log")}
}

// A node killed with SIGKILL mid-hook takes its hook along (Pdeathsig); the
// hook's child, which Pdeathsig does not reach, is killed by the restarted
// node (hook.lock) before it runs the hook again, and says so in its log.
func TestHookDiesWithAKilledNode(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	home := t.TempDir()
	helper := exec.Command(os.Args[0], "-test.run=^TestHookHelperProcess$")
	helper.Env = append(os.Environ(), hookHelperEnv+"="+home)
	helper.Dir = home // the hook's files land in home
	helperOut := &testutil.SyncBuffer{}
	helper.Stdout, helper.Stderr = helperOut, helperOut
	require.NoError(t, helper.Start())
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() }) // cleanup: killed already if the test got there

	pidFile := filepath.Join(home, "pids")
	testutil.Eventually(t, 30*time.Second, "the helper's hook and its child running", func() bool { return exists(pidFile) })
	pids := pidsIn(t, pidFile)
	require.Len(t, pids, 2, "the hook's PID and its child's")
	hook, child := pids[0], pids[1]
	t.Cleanup(func() { killAll(pids) })
	testutil.Eventually(t, 10*time.Second, "hook.lock", func() bool { return exists(filepath.Join(home, HookLockName)) })
	assert.Equal(t, hook, readLock(t, home).PGID, "hook.lock names the hook's group")

	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	_ = helper.Wait() // killed: its error says so
	require.Eventually(t, func() bool { return testutil.ProcessGone(hook) }, 10*time.Second, 20*time.Millisecond,
		"the hook %d outlived its node (helper output: %s)", hook, helperOut.String())
	assert.False(t, testutil.ProcessGone(child), "the hook's child is out of Pdeathsig's reach: hook.lock is for it")

	// The restarted node runs the hook again, and only once the child is gone.
	logs := &testutil.SyncBuffer{}
	u := &Upgrader{Home: home, Hook: aliveOrAlone(home, hook, child), KillGrace: 5 * time.Second, Log: slog.New(slog.NewTextHandler(logs, nil))}
	var err error
	within(t, 30*time.Second, "OnActive after a restart", func() {
		err = u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"})
	})
	require.NoError(t, err)
	assert.True(t, testutil.ProcessGone(child), "the first hook's child still runs")
	out, err := os.ReadFile(filepath.Join(home, "hook.log"))
	require.NoError(t, err)
	assert.Equal(t, "started\nalone retry=1\n", string(out))
	assert.Contains(t, logs.String(), "a hook from before the node restarted still runs: killing its process group")
	assert.Contains(t, logs.String(), "pgid="+strconv.Itoa(hook))
	assertNoLock(t, home)
}

// startGroup starts script in a process group of its own, as a hook from
// before a restart would have left, and returns its PID. It is reaped as
// soon as it ends, as init reaps a dead node's orphans, and killed when the
// test ends.
func startGroup(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	reaped := make(chan struct{})
	// Its exit status is no matter, and at cleanup it is gone already if the
	// test passed.
	go func() { defer close(reaped); _ = cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-reaped })
	return cmd.Process.Pid
}

// A group that ignores SIGTERM gets SIGKILL after the grace period, and the
// hook runs only once the group is gone.
func TestHookLockKillsASurvivingGroupBeforeTheHookRuns(t *testing.T) {
	home := t.TempDir()
	pidFile := filepath.Join(home, "pids")
	pgid := startGroup(t, `trap "" TERM; sleep 3600 & `+recordPID(pidFile)+`; wait`)
	testutil.Eventually(t, 10*time.Second, "the group's child", func() bool { return exists(pidFile) })
	logs := &testutil.SyncBuffer{}
	u := &Upgrader{Home: home, Hook: aliveOrAlone(home, append(pidsIn(t, pidFile), pgid)...), KillGrace: 300 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(logs, nil))}
	require.NoError(t, u.writeHookLock(pgid, "p2"))

	var err error
	within(t, 30*time.Second, "OnActive with a group left running", func() {
		err = u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"})
	})
	require.NoError(t, err)
	out, err := os.ReadFile(filepath.Join(home, "hook.log"))
	require.NoError(t, err)
	assert.Equal(t, "alone retry=\n", string(out), "the hook ran while the group was alive")
	assert.Contains(t, logs.String(), "still runs: killing its process group")
	assert.Contains(t, logs.String(), "signal=killed", "the group ignored SIGTERM: SIGKILL ended it")
	assertNoLock(t, home)
}

// A lock that names a group which is no longer the hook's (its ID now
// leads a process started at another time, or it is from another boot) is
// stale: the group is left alone and the lock removed.
func TestStaleHookLockLeavesTheGroupAlone(t *testing.T) {
	for name, stale := range map[string]func(*hookLock){
		"another start time": func(l *hookLock) { l.Start-- },
		"another boot":       func(l *hookLock) { l.Boot = "not-this-boot" },
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			other := startGroup(t, `sleep 3600`)
			u := &Upgrader{Home: home, Hook: aliveOrAlone(home, other)}
			require.NoError(t, u.writeHookLock(other, "p2"))
			l := readLock(t, home)
			stale(&l)
			data, err := json.Marshal(l)
			require.NoError(t, err)
			require.NoError(t, WriteFileAtomic(filepath.Join(home, HookLockName), data, 0o644))

			require.NoError(t, u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"}))
			assert.False(t, testutil.ProcessGone(other), "a process that is not the hook's was killed")
			assertNoLock(t, home)
		})
	}
}

// An unreadable lock stops the hook (an error, retried) rather than risk
// two hooks at once, and the error says what to do.
func TestUnreadableHookLockStopsTheHook(t *testing.T) {
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, HookLockName), []byte("{half"), 0o644))
	u := &Upgrader{Home: home, Hook: []string{"sh", "-c", "echo ran > " + filepath.Join(home, "hook.log")}}
	err := u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "remove it once no hook from before the restart runs")
	assert.False(t, u.Handled("p2"))
	assert.NoFileExists(t, filepath.Join(home, "hook.log"), "the hook ran")
}

// The hook runner kills what is left of a hook from before the node
// started as soon as it starts, even with no activation to run the hook
// again (the hook may have been taken out of the config since).
func TestHookRunnerKillsASurvivingGroupAtStart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	home := t.TempDir()
	pgid := startGroup(t, `sleep 3600`)
	logs := &testutil.SyncBuffer{}
	u := &Upgrader{Home: home, Hook: []string{"true"}}
	require.NoError(t, u.writeHookLock(pgid, "p2"))
	u.Hook = nil
	h := newHookRunner(u, slog.New(slog.NewTextHandler(logs, nil)))
	u.Log = h.log
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.run(ctx) }()
	defer func() { cancel(); <-done }()
	require.Eventually(t, func() bool { return testutil.ProcessGone(pgid) }, 20*time.Second, 20*time.Millisecond,
		"the group from before the start survived the runner's start")
	testutil.Eventually(t, 10*time.Second, "hook.lock removed", func() bool { return !exists(filepath.Join(home, HookLockName)) })
	assert.Contains(t, logs.String(), "still runs: killing its process group")
}
