package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
)

// Any engine's history replays to the same semantics: a node runs a stake
// upgrade (it signals itself) to ACTIVE and rejects a governance proposal;
// export writes its finalized history, replay --state-ids runs it through
// the pure engine, and gives the state ID the node's /state-id reports for
// that height, and every transition and rejection the node counted.
func TestExportReplaysToTheNodesStateDevchain(t *testing.T) {
	exportRoundTrip(t)
}

func TestExportReplaysToTheNodesStateCometBFT(t *testing.T) {
	exportRoundTrip(t, "--engine", "cometbft", "--cometbft-p2p-listen", fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)), "--view-interval", "20ms")
}

func exportRoundTrip(t *testing.T, engineArgs ...string) {
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	home := soloHome(t)
	stop := startRun(t, home, append([]string{"--api-listen", "127.0.0.1:0", "--api-admin", "127.0.0.1:0",
		"--supported", "protocol=1.0.0,protocol=2.0.0"}, engineArgs...)...)
	defer stop()
	addrs := waitForAPI(t, home, 30*time.Second)
	status := func() node.Status {
		var st node.Status
		_, out, _ := runCLI("status", "--home", home, "--output", "json")
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		return st
	}
	key := filepath.Join(home, node.StakingKeyFile)
	// Rejected by Apply: 0.9.0 is no upgrade of 1.0.0.
	code, out, errOut := runCLI("propose", "--home", home, "--name", "old", "--version", "0.9.0", "--mode", "governance",
		"--activation-view", fmt.Sprint(status().Head.View+100000), "--committee-key", key, "--member", "0")
	t.Logf("propose old: exit %d: %s %s", code, out, errOut)
	start := status().Head.View/20 + 2
	code, out, errOut = runCLI("propose", "--home", home, "--name", "p2", "--version", "2.0.0", "--mode", "stake",
		"--start-epoch", fmt.Sprint(start), "--timeout-epoch", fmt.Sprint(start+20), "--committee-key", key, "--member", "0")
	require.Equal(t, exitOK, code, "propose p2: %s %s", out, errOut)
	// The height is taken from the same status as the deployment's state
	// (one head), so the state at that height has p2 ACTIVE.
	var height uint64
	testutil.Eventually(t, 60*time.Second, "p2 is ACTIVE", func() bool {
		st := status()
		for _, d := range st.Deployments {
			if d.Name == "p2" && d.State == "ACTIVE" {
				height = st.Head.Height
				return true
			}
		}
		return false
	})
	// After the activation nothing more happens, so once the node has
	// counted it, its counts are final (they are kept as blocks are
	// delivered, which may trail the head a status reports).
	var metrics string
	testutil.Eventually(t, 10*time.Second, "the node counted the activation", func() bool {
		_, metrics = httpGet(t, "http://"+addrs.API+"/metrics")
		return strings.Contains(metrics, `quorumgate_transitions_total{to="ACTIVE"} 1`)
	})
	code, body := httpGet(t, fmt.Sprintf("http://%s/state-id?height=%d", addrs.API, height))
	require.Equal(t, http.StatusOK, code, body)
	var sid struct {
		StateID string `json:"state_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &sid))
	require.Equal(t, exitOK, stop())

	file := filepath.Join(t.TempDir(), "history.json")
	code, _, errOut = runCLI(append([]string{"export", "--home", home, "--out", file, "--to-height", fmt.Sprint(height)}, engineArgs...)...)
	require.Equal(t, exitOK, code, errOut)
	assert.Contains(t, errOut, fmt.Sprintf("exported heights 0 to %d", height))
	code, out, errOut = runCLI("replay", "--scenario", file, "--state-ids")
	require.Equal(t, exitOK, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.GreaterOrEqual(t, len(lines), 2)
	var state struct {
		Type    string `json:"type"`
		Height  uint64 `json:"height"`
		StateID string `json:"state_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-2]), &state))
	assert.Equal(t, "state", state.Type)
	assert.Equal(t, height, state.Height)
	assert.Equal(t, sid.StateID, state.StateID, "the replayed state ID is the node's /state-id?height=%d", height)

	// Every transition and rejection the node counted, and no other.
	counted := map[string]int{}
	for _, l := range lines[:len(lines)-2] {
		var e struct{ Type, Kind, Reason, To string }
		require.NoError(t, json.Unmarshal([]byte(l), &e))
		switch e.Type {
		case "transition":
			counted[fmt.Sprintf(`quorumgate_transitions_total{to=%q}`, e.To)]++
		case "rejected":
			counted[fmt.Sprintf(`quorumgate_rejections_total{kind=%q,reason=%q}`, e.Kind, e.Reason)]++
		}
	}
	reported := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^(quorumgate_(?:transitions|rejections)_total\{[^}]*\}) (\d+)$`).FindAllStringSubmatch(metrics, -1) {
		n, err := strconv.Atoi(m[2])
		require.NoError(t, err)
		reported[m[1]] = n
	}
	assert.Equal(t, reported, counted, "replay's events against the node's counts")
	assert.Equal(t, 1, counted[`quorumgate_rejections_total{kind="proposal",reason="not an upgrade"}`], "the rejected proposal")
	assert.Equal(t, 1, counted[`quorumgate_transitions_total{to="ACTIVE"}`], "the activation")

	// The node's whole history, to the head (the node made more blocks
	// before it stopped): it replays too, every view applied or not.
	code, whole, errOut := runCLI(append([]string{"export", "--home", home, "--out", "-"}, engineArgs...)...)
	require.Equal(t, exitOK, code, errOut)
	wholeFile := filepath.Join(t.TempDir(), "whole.json")
	require.NoError(t, os.WriteFile(wholeFile, []byte(whole), 0o644))
	code, out, errOut = runCLI("replay", "--scenario", wholeFile, "--state-ids", "--every-view")
	require.Equal(t, exitOK, code, errOut)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-2]), &state))
	assert.GreaterOrEqual(t, state.Height, height)
}

func TestExportBadUse(t *testing.T) {
	home := soloHome(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--home", home}, exitBadInput, "needs --home DIR and --out FILE"},
		{[]string{"export", "--home", home, "--out", "-"}, exitBadInput, "has no store yet"},
		{[]string{"export", "--home", home, "--out", "-", "--to-height", "-1"}, exitBadInput, "a height is 0 or more"},
		{[]string{"export", "--home", filepath.Join(home, "nope"), "--out", "-"}, exitBadInput, "genesis"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		assert.Empty(t, stdout, "%v", tc.args)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}
	// A running node holds its store: export says to stop it.
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	stop := startRun(t, home, "--api-listen", "127.0.0.1:0")
	defer stop()
	waitForAPI(t, home, 10*time.Second) // started: a stop now is a clean one
	code, _, stderr := runCLI("export", "--home", home, "--out", "-")
	assert.Equal(t, exitFailure, code, stderr)
	assert.Contains(t, stderr, "stop the node first")
	require.Equal(t, exitOK, stop())
	code, stdout, stderr := runCLI("export", "--home", home, "--out", "-", "--to-height", "999999999")
	assert.Equal(t, exitBadInput, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "the store's head is at height")
}
