package main

import (
	"encoding/json"
	"fmt"
	"net/http"
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

	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
)

// asNodePlugin makes the test binary act as node-plugin itself when this
// variable is set, so a test can run `node-plugin run` as a real process and
// send it signals.
const asNodePlugin = "QUORUMGATE_TEST_AS_NODE_PLUGIN"

func TestMain(m *testing.M) {
	if os.Getenv(asNodePlugin) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// SIGTERM ends `node-plugin run` promptly, with exit 0, while its upgrade
// hook hangs with a child holding the hook's output; the hook's processes
// die with it.
func TestSIGTERMWithAHungHook(t *testing.T) {
	home := soloHome(t)
	pidFile := filepath.Join(home, "hook.pids")
	cfgPath := filepath.Join(home, node.ConfigFile)
	cfg, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	// The PID is written aside and renamed, so the file, once there, is whole.
	hook := fmt.Sprintf(`hook = ["sh", "-c", "sleep 1000 & echo $! > %[1]s.tmp && mv %[1]s.tmp %[1]s; wait"]`, pidFile)
	require.Contains(t, string(cfg), "hook = []")
	require.NoError(t, os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), "hook = []", hook, 1)), 0o644))

	cmd := exec.Command(os.Args[0], "run", "--home", home, "--view-interval", "5ms", "--hook-timeout", "1h",
		"--supported", "protocol=1.0.0,protocol=2.0.0", "--api-listen", "127.0.0.1:0", "--api-admin", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), asNodePlugin+"=1")
	logPath := filepath.Join(t.TempDir(), "stderr")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	defer logFile.Close()
	cmd.Stderr = logFile
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	}()

	waitForAPI(t, home, 20*time.Second)
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	code, stdout, errOut := runCLI("status", "--home", home, "--output", "json")
	require.Equal(t, exitOK, code, errOut)
	var st node.Status
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	code, _, errOut = runCLI("propose", "--home", home, "--name", "g2", "--version", "2.0.0", "--mode", "governance",
		"--activation-view", strconv.FormatUint(st.Head.View+40, 10), "--committee-key", filepath.Join(home, node.StakingKeyFile), "--member", "0")
	require.Equal(t, exitOK, code, errOut)
	testutil.Eventually(t, 20*time.Second, "the hook runs (and hangs)", func() bool {
		_, err := os.Stat(pidFile)
		select {
		case <-done:
			require.FailNow(t, "node-plugin run exited", "%v; stderr:\n%s", waitErr, readFile(t, logPath))
		default:
		}
		return err == nil
	})
	var pids []int
	for _, f := range strings.Fields(readFile(t, pidFile)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, pid)
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
		assert.NoError(t, waitErr, "exit status after SIGTERM; stderr:\n%s", readFile(t, logPath))
	case <-time.After(20 * time.Second):
		require.FailNow(t, "node-plugin run did not stop within 20 s of SIGTERM", "stderr:\n%s", readFile(t, logPath))
	}
	for _, pid := range pids {
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("the hook's child %d ends", pid), func() bool { return testutil.ProcessGone(pid) })
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}
