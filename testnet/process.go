package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// launch starts `node-plugin run` on home in its own process group (Ctrl-C
// in the terminal does not reach it; stopping signals the whole group), with
// its output appended to HOME/node.log after a line that marks the run, and
// env (nodeEnv) added to this process's environment.
func launch(bin, id, home string, supported, env []string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(home, "node.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	sup := strings.Join(supported, ",")
	fmt.Fprintf(log, "%s %s at %s, supporting %s\n", runMarker, id, time.Now().Format(time.RFC3339), sup)
	cmd := exec.Command(bin, "run", "--home", home, "--supported", sup)
	cmd.Dir = home // the hook's relative paths land in the node's home
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(append(os.Environ(), "QUORUMGATE_LOG_LEVEL=info"), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	return cmd, nil
}

// runMarker starts the line launch writes into node.log before each run.
const runMarker = "=== testnet: starting"

// nodeEnv is the Go runtime's settings for the nodes of a testnet of n
// nodes. Past largeTestnet nodes:
//   - GOMAXPROCS=1: a hundred processes outnumber any laptop's cores, and
//     with more than one P the scheduler of every node spins up idle
//     threads at each timer and packet;
//   - GOGC=50: the heap grows to 1.5 times what is live before a
//     collection, not twice. Measured on 100 CometBFT nodes, it took a
//     node's own memory from 35 to 24 MB at no CPU cost that showed.
//
// An environment that sets either itself keeps its value.
func nodeEnv(n int) []string {
	if n <= largeTestnet {
		return nil
	}
	var env []string
	for _, kv := range []string{"GOMAXPROCS=1", "GOGC=50"} {
		if k, _, _ := strings.Cut(kv, "="); os.Getenv(k) == "" {
			env = append(env, kv)
		}
	}
	return env
}
