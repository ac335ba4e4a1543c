package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A hook that leaves a child holding its output pipe used to block past its
// timeout (the wait needs the pipe closed) and, in the run loop, kept
// SIGTERM from ending the node. Now the hook's whole process group is
// killed at the timeout and OnActive returns.
func TestHookTimeoutKillsItsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	u := &Upgrader{Home: dir, HookTimeout: 300 * time.Millisecond,
		Hook: []string{"sh", "-c", "sleep 60 & echo $! > " + pidFile + "; sleep 60"}}
	done := make(chan error, 1)
	go func() { done <- u.OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Version: "2.0.0"}) }()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.Contains(t, err.Error(), "upgrade hook")
	case <-time.After(30 * time.Second):
		t.Fatal("the hook's timeout did not end it")
	}
	assert.False(t, u.Handled("p2"), "a failed hook is not marked done")
	raw, err := os.ReadFile(pidFile)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	eventually(t, 5*time.Second, "the hook's child is gone", func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	})
}
