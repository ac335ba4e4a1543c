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
// its output appended to HOME/node.log after a line that marks the run.
func launch(bin, id, home string, supported []string) (*exec.Cmd, error) {
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
	cmd.Env = append(os.Environ(), "QUORUMGATE_LOG_LEVEL=info")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	return cmd, nil
}

// runMarker starts the line launch writes into node.log before each run.
const runMarker = "=== testnet: starting"
