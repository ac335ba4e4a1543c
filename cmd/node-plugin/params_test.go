package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
)

// propose --param takes a parameter and its value, never with a component
// or a version: the usage errors come before anything is signed or sent.
func TestProposeParamUsageErrors(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--param", "timeout", "--value", "2000", "--version", "2.0.0"}, "give one or the other"},
		{[]string{"--param", "timeout", "--value", "2000", "--component", "protocol"}, "give one or the other"},
		{[]string{"--param", "timeout"}, "--param timeout needs --value"},
		{[]string{"--param", "", "--value", "1"}, "needs the parameter's name"},
		{[]string{"--value", "2000", "--version", "2.0.0"}, "--value goes with --param"},
	} {
		args := append([]string{"propose", "--home", home, "--name", "t2", "--mode", "governance", "--activation-view", "100",
			"--committee-key", filepath.Join(home, node.StakingKeyFile), "--member", "0"}, tc.args...)
		code, stdout, stderr := runCLI(args...)
		assert.Equal(t, exitBadInput, code, "%v: %q %q", tc.args, stdout, stderr)
		assert.Contains(t, stderr, tc.want, "%v", tc.args)
	}
	for _, at := range []string{"-1", "soon"} {
		code, _, stderr := runCLI("params", "--home", home, "--at", at)
		assert.Equal(t, exitBadInput, code, "params --at %s: %q", at, stderr)
	}
}

// params and propose --param against a running node whose genesis declares
// parameters: a governance change activates, params shows the new value and
// (--at) the one before; a stake change is proposed and reaches the chain.
func TestParamsAndProposeParamAgainstARunningNode(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	home := soloHomeWithParams(t, map[string]any{
		"timeout": map[string]any{"type": "uint", "value": "1000", "min_lead_views": 5},
		"fast":    map[string]any{"type": "bool", "value": "false", "min_lead_views": 1}})
	stop := startRun(t, home, "--api-listen", "127.0.0.1:0", "--api-admin", "127.0.0.1:0")
	defer stop()
	waitForAPI(t, home, 10*time.Second)

	code, stdout, stderr := runCLI("params", "--home", home)
	require.Equal(t, exitOK, code, "params: %q %q", stdout, stderr)
	var ps []node.ParamStatus
	require.NoError(t, json.Unmarshal([]byte(stdout), &ps), stdout)
	require.Len(t, ps, 2)
	assert.Equal(t, node.ParamStatus{Name: "timeout", Type: "uint", Active: "1000", History: ps[1].History,
		Pending: []node.PendingParamChange{}}, ps[1])

	var st node.Status
	_, stdout, _ = runCLI("status", "--home", home, "--output", "json")
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	before := st.Head.View
	at := before + 60
	key := filepath.Join(home, node.StakingKeyFile)
	code, stdout, stderr = runCLI("propose", "--home", home, "--name", "timeout-2000", "--param", "timeout", "--value", "2000",
		"--mode", "governance", "--activation-view", fmt.Sprint(at), "--committee-key", key, "--member", "0")
	require.Equal(t, exitOK, code, "propose --param: %q %q", stdout, stderr)
	require.Contains(t, stdout, "proposal submitted and included in the finalized block at height")
	code, stdout, _ = runCLI("deployments", "--home", home)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, `"param": "timeout"`)
	assert.Contains(t, stdout, `"value": "2000"`)
	testutil.Eventually(t, 20*time.Second, "timeout-2000 activates", func() bool {
		_, out, _ := runCLI("params", "--home", home)
		return json.Unmarshal([]byte(out), &ps) == nil && len(ps) == 2 && ps[1].Active == "2000"
	})
	var old node.ParamsAt
	code, stdout, stderr = runCLI("params", "--home", home, "--at", fmt.Sprint(before))
	require.Equal(t, exitOK, code, "params --at: %q", stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &old), stdout)
	assert.Equal(t, node.ParamsAt{View: before, Params: map[string]node.ParamValue{"timeout": {Type: "uint", Value: "1000"},
		"fast": {Type: "bool", Value: "false"}}}, old)
	code, _, stderr = runCLI("params", "--home", home, "--at", "999999999")
	assert.Equal(t, exitFailure, code, "params --at a view after the head: %q", stderr)
	assert.Contains(t, stderr, "after the head")
	code, stdout, _ = runCLI("status", "--home", home)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "timeout-2000: param timeout = 2000 (governance)  ACTIVE")
	assert.Contains(t, stdout, "\nparams\n")

	_, stdout, _ = runCLI("status", "--home", home, "--output", "json")
	require.NoError(t, json.Unmarshal([]byte(stdout), &st))
	code, stdout, stderr = runCLI("propose", "--home", home, "--name", "fast-on", "--param", "fast", "--value", "true",
		"--mode", "stake", "--start-epoch", fmt.Sprint(st.Head.Epoch+1), "--timeout-epoch", fmt.Sprint(st.Head.Epoch+100),
		"--committee-key", key, "--member", "0")
	require.Equal(t, exitOK, code, "propose --param in stake mode: %q %q", stdout, stderr)
	// The node holds all the stake and signals for a parameter change by
	// itself: the change goes all the way.
	testutil.Eventually(t, 20*time.Second, "fast-on activates", func() bool {
		_, out, _ := runCLI("params", "--home", home)
		return strings.Contains(out, `"active": "true"`)
	})
	assert.Equal(t, exitOK, stop())
}
