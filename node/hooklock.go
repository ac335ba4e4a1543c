package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// HookLockName is the file in the node's home that names the process group
// of the hook running now. It exists only while a hook runs: a node that
// finds it at start was killed mid-hook, and what is left of that hook's
// group (Pdeathsig killed the hook, not its children) is killed before any
// hook runs again (reclaimHook). Linux only: see hookproc_other.go.
const HookLockName = "hook.lock"

// hookLock is hook.lock's content. PGID is the hook's PID (it leads its
// group); Start and Boot tell that process from a later one given the same
// PID, so a lock left from before a reboot, or naming a group that ended
// and whose ID now leads another, is recognised as stale.
type hookLock struct {
	PGID       int       `json:"pgid"`
	Start      uint64    `json:"start"` // clock ticks after boot, /proc/PID/stat field 22
	Boot       string    `json:"boot_id"`
	Deployment string    `json:"deployment"`
	Hook       string    `json:"hook"`
	Since      time.Time `json:"since"`
}

// errNoProcIdentity: processes cannot be told apart here (not Linux).
var errNoProcIdentity = errors.New("process identity is read on Linux only")

// procID is what identifies a process beyond its PID.
type procID struct {
	Start uint64
	Boot  string
}

func (u *Upgrader) hookLockPath() string { return filepath.Join(u.Home, HookLockName) }

func (u *Upgrader) logger() *slog.Logger {
	if u.Log != nil {
		return u.Log
	}
	return slog.New(slog.DiscardHandler)
}

// writeHookLock records the group of the hook just started as pid. Where
// processes cannot be told apart (not Linux) it writes nothing.
func (u *Upgrader) writeHookLock(pid int, deployment string) error {
	id, err := procIdentity(pid)
	if errors.Is(err, errNoProcIdentity) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write %s: hook %d: %w", HookLockName, pid, err)
	}
	data, err := json.Marshal(hookLock{PGID: pid, Start: id.Start, Boot: id.Boot, Deployment: deployment,
		Hook: u.Hook[0], Since: time.Now().UTC()})
	if err != nil {
		return err
	}
	return WriteFileAtomic(u.hookLockPath(), append(data, '\n'), 0o644)
}

func (u *Upgrader) removeHookLock() error {
	if err := os.Remove(u.hookLockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", HookLockName, err)
	}
	return nil
}

// survivors are the live processes of the locked group: none when the
// group ended, or when its ID now belongs to another process (another
// boot, or a leader started at another time).
func (l hookLock) survivors() ([]int, error) {
	boot, err := bootID()
	if errors.Is(err, errNoProcIdentity) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if boot != l.Boot {
		return nil, nil
	}
	members, err := groupMembers(l.PGID)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, m := range members {
		// While any process is in the group its ID is not reused, so a
		// leader of another start time means the hook's group ended.
		if m.pid == l.PGID && m.start != l.Start {
			return nil, nil
		}
		pids = append(pids, m.pid)
	}
	return pids, nil
}

// reclaimHook makes sure no hook from before the node (re)started still
// runs: if hook.lock names a group with live processes, the group gets
// SIGTERM and, if it is still alive after KillGrace, SIGKILL. The lock goes
// once the group is gone. If the group survives SIGKILL too, or the lock
// cannot be read, it is an error and no hook runs (the runner retries).
// The node kills rather than waits: the hook itself died with the node
// (Pdeathsig), so its result is lost either way, and what is left runs
// outside any timeout.
func (u *Upgrader) reclaimHook(ctx context.Context) error {
	data, err := os.ReadFile(u.hookLockPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", u.hookLockPath(), err)
	}
	var l hookLock
	if err := json.Unmarshal(data, &l); err != nil || l.PGID <= 1 {
		return fmt.Errorf("%s is unreadable (%q): remove it once no hook from before the restart runs", u.hookLockPath(), data)
	}
	pids, err := l.survivors()
	if err != nil {
		return fmt.Errorf("hook process group %d from %s: %w", l.PGID, HookLockName, err)
	}
	log := u.logger().With("pgid", l.PGID, "deployment", l.Deployment, "hook", l.Hook, "since", l.Since)
	if len(pids) == 0 {
		return u.removeHookLock()
	}
	log.Warn("a hook from before the node restarted still runs: killing its process group before any hook runs again", "pids", pids)
	grace := u.KillGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := syscall.Kill(-l.PGID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("hook process group %d: %s: %w", l.PGID, sig, err)
		}
		for deadline := time.Now().Add(grace); ; {
			pids, err = l.survivors()
			if err != nil {
				return fmt.Errorf("hook process group %d: %w", l.PGID, err)
			}
			if len(pids) == 0 {
				log.Warn("the hook's process group from before the restart is gone", "signal", sig.String())
				return u.removeHookLock()
			}
			if time.Now().After(deadline) {
				break
			}
			if !sleepCtx(ctx, 20*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return fmt.Errorf("hook process group %d from before the restart (%s) survives SIGKILL (pids %v): no hook runs while it does",
		l.PGID, l.Deployment, pids)
}
