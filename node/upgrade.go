package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// UpgradeInfo is what the node writes to upgrade-info.json when a deployment
// activates: the handshake with the operator's tooling (as Cosmovisor's).
type UpgradeInfo struct {
	Deployment     string `json:"deployment"`
	Component      string `json:"component"`
	Version        string `json:"version"`
	ActivationView uint64 `json:"activation_view"`
	Height         uint64 `json:"height"`
}

// Upgrader writes upgrade-info.json and runs the operator's hook, once per
// deployment, across restarts.
//
// Markers in Home/upgrades/ make it restart-safe: "<deployment>.started" is
// written (synced) before the hook runs and "<deployment>.done" after it
// returns. A deployment with a done marker is never handled again. One with
// only a started marker crashed mid-hook: the hook runs again with
// QUORUMGATE_HOOK_RETRY=1, so a hook that is not idempotent can tell. So,
// without a crash the hook runs exactly once; after a crash mid-hook, at
// least once and never skipped.
type Upgrader struct {
	Home string
	// Hook is the command and its arguments; empty: no hook.
	Hook []string
	// HookTimeout bounds the hook (default 10 minutes).
	HookTimeout time.Duration
}

// Handled reports whether a deployment's activation was fully handled.
func (u *Upgrader) Handled(deployment string) bool {
	_, err := os.Stat(u.marker(deployment, "done"))
	return err == nil
}

func (u *Upgrader) marker(deployment, phase string) string {
	return filepath.Join(u.Home, "upgrades", deployment+"."+phase)
}

// OnActive handles an activation: upgrade-info.json, then the hook. Calling
// it again for a handled deployment does nothing.
func (u *Upgrader) OnActive(ctx context.Context, info UpgradeInfo) error {
	if u.Handled(info.Deployment) {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(u.Home, "upgrades"), 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(info, "", "  ")
	path := filepath.Join(u.Home, "upgrade-info.json")
	if err := WriteFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	retry := false
	if _, err := os.Stat(u.marker(info.Deployment, "started")); err == nil {
		retry = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := WriteFileAtomic(u.marker(info.Deployment, "started"), nil, 0o644); err != nil {
		return err
	}
	if len(u.Hook) > 0 {
		if err := u.runHook(ctx, info, path, retry); err != nil {
			return err
		}
	}
	return WriteFileAtomic(u.marker(info.Deployment, "done"), nil, 0o644)
}

func (u *Upgrader) runHook(ctx context.Context, info UpgradeInfo, path string, retry bool) error {
	timeout := u.HookTimeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, u.Hook[0], u.Hook[1:]...)
	// The hook gets its own process group, killed whole at the timeout or
	// shutdown: killing only the hook would leave its children running, and
	// one holding the output pipe would keep the wait from returning.
	// WaitDelay bounds that wait in any case.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	cmd.Env = append(os.Environ(),
		"QUORUMGATE_DEPLOYMENT="+info.Deployment,
		"QUORUMGATE_COMPONENT="+info.Component,
		"QUORUMGATE_VERSION="+info.Version,
		"QUORUMGATE_ACTIVATION_VIEW="+strconv.FormatUint(info.ActivationView, 10),
		"QUORUMGATE_HEIGHT="+strconv.FormatUint(info.Height, 10),
		"QUORUMGATE_UPGRADE_INFO="+path,
	)
	if retry {
		cmd.Env = append(cmd.Env, "QUORUMGATE_HOOK_RETRY=1")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("upgrade hook %q for %s: %w (output: %.500s)", u.Hook[0], info.Deployment, err, out)
	}
	return nil
}

// WriteFileAtomic writes through a temporary file in the same folder, syncs
// it, renames it into place and syncs the folder: readers see the old file
// or the new one, never half of one, even after a crash.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
