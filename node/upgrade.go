package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/atomicfile"
)

// UpgradeInfo is an activation as the node hands it to the operator's
// tooling: for a version upgrade, what it writes to upgrade-info.json (the
// handshake, as Cosmovisor's); for a parameter change (Param set, Component
// and Version empty), what the hook learns, upgrade-info.json being left
// alone.
type UpgradeInfo struct {
	Deployment     string `json:"deployment"`
	Component      string `json:"component"`
	Version        string `json:"version"`
	Param          string `json:"param,omitempty"`
	Value          string `json:"value,omitempty"`
	ActivationView uint64 `json:"activation_view"`
	Height         uint64 `json:"height"`
}

// activationOf is deployment d's activation in the block at height.
func activationOf(d *activation.Deployment, height uint64) UpgradeInfo {
	return UpgradeInfo{Deployment: d.Name, Component: d.Component, Version: d.Version, Param: d.Param, Value: d.Value,
		ActivationView: d.ActivatesAt, Height: height}
}

// logAttrs name what activates, for the log.
func (info UpgradeInfo) logAttrs() []any {
	if info.Param != "" {
		return []any{"deployment", info.Deployment, "param", info.Param, "value", info.Value}
	}
	return []any{"deployment", info.Deployment, "component", info.Component, "version", info.Version}
}

// Upgrader writes upgrade-info.json (a version upgrade) or params.json (a
// parameter change) and runs the operator's hook, once per deployment,
// across restarts.
//
// Markers in Home/upgrades/ make it restart-safe: "<deployment>.started" is
// written (synced) before the hook runs and "<deployment>.done" after it
// returns. A deployment with a done marker is never handled again. One with
// only a started marker crashed mid-hook: the hook runs again with
// QUORUMGATE_HOOK_RETRY=1, so a hook that is not idempotent can tell. So,
// without a crash the hook runs exactly once; after a crash mid-hook, at
// least once and never skipped. And never twice at once: HOME/hook.lock
// names the running hook's process group, and what is left of it after a
// crash is killed before a hook runs again (reclaimHook; Linux only).
type Upgrader struct {
	Home string
	// Hook is the command and its arguments; empty: no hook.
	Hook []string
	// HookTimeout bounds the hook (default 10 minutes); at the timeout the
	// hook is killed with its whole process group.
	HookTimeout time.Duration
	// WaitDelay bounds the wait for the hook's output pipes once it has
	// exited or been killed (default 5 s): see runHook.
	WaitDelay time.Duration
	// KillGrace is how long a hook's process group left from before a
	// restart (hook.lock) has after SIGTERM, then after SIGKILL, to be gone
	// (default 5 s): see reclaimHook.
	KillGrace time.Duration
	// Log, if set, is told about such a group.
	Log *slog.Logger
	// WriteParams, if set, rewrites Home/params.json before a parameter
	// change's hook runs; an error is the activation's, retried.
	WriteParams func() error
}

// Handled reports whether a deployment's activation was fully handled.
func (u *Upgrader) Handled(deployment string) bool {
	_, err := os.Stat(u.marker(deployment, "done"))
	return err == nil
}

func (u *Upgrader) marker(deployment, phase string) string {
	return filepath.Join(u.Home, "upgrades", markerName(deployment)+"."+phase)
}

// markerName is a deployment's name as a file name. Apply refuses unsafe
// names (activation.ValidName), so this is belt and braces for a state from
// before that rule: such a name is hashed, never joined into a path, and the
// leading '_' (which no valid name has) keeps it from meeting a valid one.
func markerName(deployment string) string {
	if activation.ValidName(deployment) {
		return deployment
	}
	sum := sha256.Sum256([]byte(deployment))
	return "_" + hex.EncodeToString(sum[:])
}

// OnActive handles an activation: upgrade-info.json (a version upgrade) or
// params.json (a parameter change), then the hook. Calling it again for a
// handled deployment does nothing.
func (u *Upgrader) OnActive(ctx context.Context, info UpgradeInfo) error {
	if u.Handled(info.Deployment) {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(u.Home, "upgrades"), 0o755); err != nil {
		return err
	}
	path, err := u.handOver(info)
	if err != nil {
		return err
	}
	retry := false
	if _, err := os.Stat(u.marker(info.Deployment, "started")); err == nil {
		retry = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := WriteFileAtomic(u.marker(info.Deployment, "started"), nil, 0o644); err != nil {
		return fmt.Errorf("mark %s started: %w", info.Deployment, err)
	}
	if len(u.Hook) > 0 {
		if err := u.runHook(ctx, info, path, retry); err != nil {
			return err
		}
	}
	if err := WriteFileAtomic(u.marker(info.Deployment, "done"), nil, 0o644); err != nil {
		return fmt.Errorf("mark %s done: %w", info.Deployment, err)
	}
	return nil
}

// handOver writes the file the activation's hook is pointed at, and
// returns its path: params.json for a parameter change, upgrade-info.json
// for a version upgrade.
func (u *Upgrader) handOver(info UpgradeInfo) (string, error) {
	if info.Param != "" {
		if u.WriteParams != nil {
			if err := u.WriteParams(); err != nil {
				return "", err
			}
		}
		return filepath.Join(u.Home, ParamsFileName), nil
	}
	path := filepath.Join(u.Home, "upgrade-info.json")
	data, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err := WriteFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// hookVars are the variables the node sets for its hook. Any of them in
// the node's own environment is left out of the hook's, so a variable that
// does not apply (QUORUMGATE_VERSION for a parameter change) is unset, not
// inherited.
var hookVars = []string{"QUORUMGATE_DEPLOYMENT", "QUORUMGATE_COMPONENT", "QUORUMGATE_VERSION", "QUORUMGATE_PARAM",
	"QUORUMGATE_VALUE", "QUORUMGATE_ACTIVATION_VIEW", "QUORUMGATE_HEIGHT", "QUORUMGATE_UPGRADE_INFO",
	"QUORUMGATE_PARAMS_FILE", "QUORUMGATE_HOOK_RETRY"}

// hookEnv is the hook's environment: the node's, less hookVars, plus the
// activation's. path is the file handOver wrote.
func hookEnv(info UpgradeInfo, path string, retry bool) []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !slices.Contains(hookVars, name) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"QUORUMGATE_DEPLOYMENT="+info.Deployment,
		"QUORUMGATE_ACTIVATION_VIEW="+strconv.FormatUint(info.ActivationView, 10),
		"QUORUMGATE_HEIGHT="+strconv.FormatUint(info.Height, 10),
	)
	if info.Param != "" {
		env = append(env, "QUORUMGATE_PARAM="+info.Param, "QUORUMGATE_VALUE="+info.Value, "QUORUMGATE_PARAMS_FILE="+path)
	} else {
		env = append(env, "QUORUMGATE_COMPONENT="+info.Component, "QUORUMGATE_VERSION="+info.Version, "QUORUMGATE_UPGRADE_INFO="+path)
	}
	if retry {
		env = append(env, "QUORUMGATE_HOOK_RETRY=1")
	}
	return env
}

func (u *Upgrader) runHook(ctx context.Context, info UpgradeInfo, path string, retry bool) error {
	// Never two hooks at once: what is left of one from before a restart
	// goes first.
	if err := u.reclaimHook(ctx); err != nil {
		return err
	}
	timeout := u.HookTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.Hook[0], u.Hook[1:]...)
	// The hook and everything it starts form one process group, and at the
	// timeout (or when the node stops) the whole group is killed: killing
	// only the hook would leave a child such as `sleep 1000 &` running and
	// holding the output pipe, and Wait would block on that pipe. On Linux
	// the hook also dies with the node (Pdeathsig, see hookSysProcAttr).
	cmd.SysProcAttr = hookSysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A child that left the group (setsid) can still hold the pipe: Wait
	// gives up on it after WaitDelay. A hook that exits 0 leaving a daemon
	// behind succeeds (the daemon may be the point), a moment later.
	cmd.WaitDelay = u.waitDelay()
	cmd.Env = hookEnv(info, path, retry)
	out := &headBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	err := u.startAndWait(cmd, info.Deployment)
	switch {
	case errors.Is(err, exec.ErrWaitDelay):
		return nil
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("upgrade hook %q for %s: still running after %s, killed with its process group (output: %.500s)",
			u.Hook[0], info.Deployment, timeout, out.b)
	case err != nil:
		return fmt.Errorf("upgrade hook %q for %s: %w (output: %.500s)", u.Hook[0], info.Deployment, err, out.b)
	}
	return nil
}

// startAndWait runs cmd with hook.lock naming its group while it runs.
// The goroutine stays on one OS thread from start to wait: Pdeathsig fires
// when the thread that started the hook ends, and a locked thread ends only
// with its goroutine, which is waiting for the hook.
func (u *Upgrader) startAndWait(cmd *exec.Cmd, deployment string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := u.writeHookLock(cmd.Process.Pid, deployment); err != nil {
		// Unrecorded, the group could outlive a crash unseen: it does not run.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // it may have ended already
		_ = cmd.Wait()                                      // the lock's error is the one to report
		return err
	}
	err := cmd.Wait()
	// The hook ended: a group killed with it, or a daemon it left on
	// purpose, is no longer the hook's. A lock left behind would have the
	// next hook kill that daemon, so failing to remove it fails the run,
	// whatever the hook did.
	if rerr := u.removeHookLock(); rerr != nil {
		return fmt.Errorf("the hook ended (%v), but: %w", err, rerr)
	}
	return err
}

func (u *Upgrader) waitDelay() time.Duration {
	if u.WaitDelay > 0 {
		return u.WaitDelay
	}
	return 5 * time.Second
}

// headBuffer keeps the first max bytes written to it: a hook's output is
// quoted in errors, and a chatty hook must not fill the node's memory.
type headBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// WriteFileAtomic writes through a temporary file in the same folder, syncs
// it, renames it into place and syncs the folder: readers see the old file
// or the new one, never half of one, even after a crash.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm)
}
