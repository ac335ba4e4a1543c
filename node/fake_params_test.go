package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/chaintest"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// paramsHook records each run's variables, and copies the params.json it
// is pointed at, so the test sees what the hook saw.
const paramsHook = `echo "$QUORUMGATE_DEPLOYMENT $QUORUMGATE_PARAM=$QUORUMGATE_VALUE view=$QUORUMGATE_ACTIVATION_VIEW ` +
	`height=$QUORUMGATE_HEIGHT component=${QUORUMGATE_COMPONENT-unset} version=${QUORUMGATE_VERSION-unset} ` +
	`upgrade_info=${QUORUMGATE_UPGRADE_INFO-unset}" >> "$HOOK_DIR/hook.log" && cp "$QUORUMGATE_PARAMS_FILE" "$HOOK_DIR/seen-$QUORUMGATE_DEPLOYMENT.json"`

// paramNode is a node on a scripted chain whose genesis declares
// parameters: a uint (timeout), a bool (fast) and a string (motd).
type paramNode struct {
	*Node
	fake *chaintest.Fake
	home string
}

func paramGenesis(t *testing.T) (*chain.Genesis, *chain.Keys) {
	t.Helper()
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "fake-params", EpochViews: 10, SafetyViews: 2,
		Versions: map[string]string{"protocol": "1.0.0"},
		ParamDecls: []activation.ParamDecl{
			{Name: "timeout", Type: activation.ParamUint, Value: "1000", MinLeadViews: 3},
			{Name: "fast", Type: activation.ParamBool, Value: "false", MinLeadViews: 1},
			{Name: "motd", Type: activation.ParamString, Value: "hello", MinLeadViews: 1}},
		Nodes: []chain.NodeSpec{{ID: "a", Role: "consensus", Stake: 100}, {ID: "b", Role: "consensus", Stake: 100},
			{ID: "c", Role: "consensus", Stake: 100}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("fake-params")})
	require.NoError(t, err)
	return g, keys
}

// startParamNode starts node a in home on a new scripted chain over the
// home's store. It supports only protocol 1.0.0: parameter changes need
// nothing more.
func startParamNode(t *testing.T, g *chain.Genesis, keys *chain.Keys, home string) *paramNode {
	t.Helper()
	sup, err := ParseSupported([]string{"protocol=1.0.0"})
	require.NoError(t, err)
	t.Setenv("HOOK_DIR", home)
	pn := &paramNode{home: home}
	pn.Node, err = Start(context.Background(), Config{Home: home, Genesis: g, NodeID: "a", StakingKey: keys.Staking["a"],
		P2PKey: keys.P2P["a"], Supported: sup, ViewInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		APIListen: "127.0.0.1:0", Hook: []string{"sh", "-c", paramsHook},
		Engine: func(env EngineEnv) (Engine, error) {
			pn.fake = chaintest.New(env.Genesis, env.Store, env.Guard)
			return pn.fake, nil
		}})
	require.NoError(t, err)
	return pn
}

func (pn *paramNode) propose(t *testing.T, g *chain.Genesis, keys *chain.Keys, view uint64, p activation.Proposal) {
	t.Helper()
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, []signal.PrivateKey{keys.Governance[0]})
	require.NoError(t, err)
	_, err = pn.fake.Append(view, activation.WireBlock{Proposals: []activation.SignedProposal{{Proposal: p, Approval: approval}}})
	require.NoError(t, err)
}

// caughtUp waits until the node has handled the scripted chain's head.
func (pn *paramNode) caughtUp(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, "the node's head follows the scripted chain", func() bool {
		_, v, _ := pn.Head().Head()
		_, fv, _ := pn.fake.Head().Head()
		return v == fv
	})
}

func readParamsFile(t *testing.T, path string) ParamsFile {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var f ParamsFile
	require.NoError(t, json.Unmarshal(data, &f), "%s: %s", path, data)
	return f
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v), url)
	}
	return resp.StatusCode
}

// A governance parameter change on a scripted chain: the node that runs
// only the versions it ran before neither warns nor halts; at the
// activation it rewrites params.json and runs the hook once with the
// parameter and its value; /params, /params?at= and the metric follow; a
// restart neither runs the hook again nor loses params.json. Then a stake
// parameter change, which the node signals for by itself.
func TestParamChangesOnAScriptedChain(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	g, keys := paramGenesis(t)
	home := t.TempDir()
	n := startParamNode(t, g, keys, home)
	defer func() { assert.NoError(t, n.Close()) }()
	paramsPath := filepath.Join(home, ParamsFileName)
	assert.Equal(t, ParamsFile{Params: map[string]ParamValue{"timeout": {Type: "uint", Value: "1000"},
		"fast": {Type: "bool", Value: "false"}, "motd": {Type: "string", Value: "hello"}}},
		readParamsFile(t, paramsPath), "params.json at start, on the genesis state")

	timeout := activation.Proposal{Name: "timeout-2000", Param: "timeout", Value: "2000", Mode: activation.Governance, ActivationView: 20}
	n.propose(t, g, keys, 1, timeout)
	require.Equal(t, activation.LockedIn, status(t, n.fake.Head(), "timeout-2000"))
	n.caughtUp(t)
	st := n.Status()
	require.Len(t, st.Params, 3)
	tp := st.Params[2]
	require.Equal(t, "timeout", tp.Name)
	require.Len(t, tp.Pending, 1, "the pending change shows with its parameter")
	assert.Equal(t, "timeout-2000", tp.Pending[0].Deployment)
	assert.Equal(t, "LOCKED_IN", tp.Pending[0].State)
	assert.Equal(t, uint64(20), *tp.Pending[0].ActivationView)
	assert.Equal(t, uint64(19), *tp.Pending[0].ViewsToActivation)
	require.Len(t, st.Deployments, 1)
	assert.Equal(t, DeploymentStatus{Name: "timeout-2000", Param: "timeout", Value: "2000", Mode: "governance", State: "LOCKED_IN",
		SinceView: 1, ActivationView: st.Deployments[0].ActivationView, ETASeconds: st.Deployments[0].ETASeconds, ThisNodeSupports: true},
		st.Deployments[0], "no component or version; this node runs it")
	text := st.Render()
	assert.Contains(t, text, "timeout-2000: param timeout = 2000 (governance)  LOCKED_IN since view 1\n  activates at view 20")
	assert.Contains(t, text, "  timeout      1000 (uint)\n    pending: timeout-2000 sets 2000 (governance, LOCKED_IN), activates at view 20, in 19 views\n")
	assert.NotContains(t, text, "does NOT support")
	assert.Empty(t, Warnings(n.Head(), n.cfg.Supported, 1, time.Second), "a warning for a parameter change")
	fams := scrape(t, apiAddr(t, home))
	_, ok := sample(fams, "quorumgate_upgrade_needed_seconds", map[string]string{"deployment": "timeout-2000"})
	assert.False(t, ok, "the upgrade alert's series for a parameter change")
	v, ok := sample(fams, "quorumgate_deployment_supported", map[string]string{"deployment": "timeout-2000", "component": "param:timeout", "version": "2000"})
	assert.True(t, ok)
	assert.Equal(t, 1.0, v, "a parameter change reads as supported")

	require.NoError(t, n.fake.Empty(2, 24)) // the activation at view 20, and on
	require.Equal(t, activation.Active, status(t, n.fake.Head(), "timeout-2000"))
	n.caughtUp(t)
	require.NoError(t, n.Err(), "the node stopped")
	require.NoError(t, n.fake.Err(), "the guard stopped the chain")
	hookLog := filepath.Join(home, "hook.log")
	testutil.Eventually(t, 10*time.Second, "the hook runs at the activation", func() bool {
		return (&Upgrader{Home: home}).Handled("timeout-2000")
	})
	log, err := os.ReadFile(hookLog)
	require.NoError(t, err)
	assert.Equal(t, "timeout-2000 timeout=2000 view=20 height=19 component=unset version=unset upgrade_info=unset\n", string(log))
	assert.Equal(t, "2000", readParamsFile(t, filepath.Join(home, "seen-timeout-2000.json")).Params["timeout"].Value,
		"params.json held the new value when the hook ran")
	assert.NoFileExists(t, filepath.Join(home, "upgrade-info.json"), "upgrade-info.json written for a parameter change")
	pf := readParamsFile(t, paramsPath)
	assert.Equal(t, ParamValue{Type: "uint", Value: "2000", ActivationView: 20}, pf.Params["timeout"])
	assert.Equal(t, ParamValue{Type: "bool", Value: "false"}, pf.Params["fast"])

	api := "http://" + apiAddr(t, home)
	var ps []ParamStatus
	require.Equal(t, http.StatusOK, getJSON(t, api+"/params", &ps))
	require.Len(t, ps, 3)
	assert.Equal(t, "timeout", ps[2].Name)
	assert.Equal(t, "2000", ps[2].Active)
	assert.Equal(t, []activation.ParamRecord{{Value: "1000"}, {Value: "2000", ActivationView: 20, FirstView: 20}}, ps[2].History)
	assert.Empty(t, ps[2].Pending)
	for view, want := range map[string]string{"19": "1000", "20": "2000", "24": "2000"} {
		var at ParamsAt
		require.Equal(t, http.StatusOK, getJSON(t, api+"/params?at="+view, &at), view)
		assert.Equal(t, want, at.Params["timeout"].Value, "timeout at view %s", view)
		assert.Equal(t, "hello", at.Params["motd"].Value, "motd at view %s", view)
	}
	for _, tc := range []struct {
		at   string
		code int
		want string
	}{
		{"soon", http.StatusBadRequest, `at="soon" is not a view (a whole number)`},
		{"-1", http.StatusBadRequest, "not a view"},
		{"25", http.StatusNotFound, "after the head (view 24)"},
	} {
		code, body, _ := get(t, http.DefaultClient, api+"/params?at="+tc.at, "")
		assert.Equal(t, tc.code, code, "at=%s: %s", tc.at, body)
		assert.Contains(t, body, tc.want, "at=%s", tc.at)
	}
	fams = scrape(t, strings.TrimPrefix(api, "http://"))
	v, ok = sample(fams, "quorumgate_param_value", map[string]string{"param": "timeout"})
	assert.True(t, ok, "the uint parameter's gauge")
	assert.Equal(t, 2000.0, v)
	_, ok = sample(fams, "quorumgate_param_value", map[string]string{"param": "fast"})
	assert.False(t, ok, "a bool parameter has no gauge")
	v, ok = sample(fams, "quorumgate_deployment_state", map[string]string{"deployment": "timeout-2000", "component": "param:timeout", "version": "2000"})
	assert.True(t, ok, "the parameter change's state series, labelled by parameter and value")
	assert.Equal(t, float64(activation.Active), v)

	// A restart: params.json is rewritten as of the head, the hook does not run again.
	require.NoError(t, os.Remove(paramsPath))
	require.NoError(t, n.Close())
	n = startParamNode(t, g, keys, home)
	assert.Equal(t, "2000", readParamsFile(t, paramsPath).Params["timeout"].Value, "params.json after a restart")

	// A stake parameter change: the node signals readiness for it though
	// it supports no new version, and it activates like the other.
	fast := activation.Proposal{Name: "fast-on", Param: "fast", Value: "true", Mode: activation.Stake, Threshold: quorum.TwoThirds,
		StartEpoch: 3, TimeoutEpoch: 9}
	n.propose(t, g, keys, 25, fast)
	require.NoError(t, n.fake.Empty(26, 30)) // view 30 starts epoch 3
	require.Equal(t, activation.Started, status(t, n.fake.Head(), "fast-on"))
	testutil.Eventually(t, 5*time.Second, "the node signs its readiness for fast-on", func() bool {
		return len(n.fake.Attestations()) > 0
	})
	info := n.DashboardInfo()
	require.Len(t, info.Readiness, 1)
	assert.True(t, info.Readiness[0].Supports, "the page says this node signals for fast-on")
	own := n.fake.Attestations()[0]
	assert.Equal(t, fast.ID(), own.Deployment)
	assert.Equal(t, "a", own.Signer)
	assert.Equal(t, uint64(3), own.Epoch)
	ready := []signal.Attestation{own}
	for _, id := range []string{"b", "c"} {
		a, err := signal.SignReadiness(keys.Staking[id], g.ChainID, fast.ID(), 3, id)
		require.NoError(t, err)
		ready = append(ready, a)
	}
	for v := uint64(31); v < 80 && status(t, n.fake.Head(), "fast-on") != activation.Active; v++ {
		var items activation.WireBlock
		if v == 31 {
			items.Attestations = ready
		}
		_, err := n.fake.Append(v, items)
		require.NoError(t, err)
	}
	require.Equal(t, activation.Active, status(t, n.fake.Head(), "fast-on"))
	n.caughtUp(t)
	testutil.Eventually(t, 10*time.Second, "the hook runs at fast-on's activation", func() bool {
		return (&Upgrader{Home: home}).Handled("fast-on")
	})
	require.NoError(t, n.Err())
	log, err = os.ReadFile(hookLog)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	require.Len(t, lines, 2, "the hook ran once per activation, none again after the restart: %q", log)
	assert.True(t, strings.HasPrefix(lines[1], "fast-on fast=true view="), lines[1])
	assert.Equal(t, "true", readParamsFile(t, paramsPath).Params["fast"].Value)
	assert.Equal(t, "2000", readParamsFile(t, paramsPath).Params["timeout"].Value)
}
