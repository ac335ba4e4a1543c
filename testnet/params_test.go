package testnet

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/node"
)

// testGenesis is a one-node testnet genesis with epochs of epochViews and
// Δ = epochViews/10, as writeHomes makes them, declaring decls.
func testGenesis(t *testing.T, epochViews uint64, decls []activation.ParamDecl) *chain.Genesis {
	t.Helper()
	g, _, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "demo", EpochViews: epochViews, SafetyViews: epochViews / 10,
		Versions: map[string]string{"protocol": "1.0.0"}, ParamDecls: decls, Nodes: []chain.NodeSpec{{ID: "seq", Role: "consensus", Stake: 1}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("params-test")})
	require.NoError(t, err)
	return g
}

// Every pace a testnet takes gets a valid genesis with the demonstration
// parameters, each with a lead that is a fraction of an epoch: a change
// activates within an epoch or two.
func TestParamDeclsFitEveryPace(t *testing.T) {
	for _, epochViews := range []uint64{10, 11, 40, 100, 1000} {
		g := testGenesis(t, epochViews, paramDecls(epochViews))
		require.Len(t, g.ParamDecls, 4, "epochs of %d views", epochViews)
		for _, d := range g.ParamDecls {
			lead := d.Lead(g.SafetyViews)
			assert.Less(t, lead, epochViews, "%s's lead, epochs of %d views", d.Name, epochViews)
			assert.Less(t, governanceLead(g, activation.Proposal{Param: d.Name, Value: d.Value}), epochViews, "%s, epochs of %d views", d.Name, epochViews)
		}
	}
}

// testnet propose refuses, before signing, what the chain would reject for
// all to see, and says why; what the chain would take passes.
func TestCheckProposal(t *testing.T) {
	g := testGenesis(t, 40, paramDecls(40)) // Δ = 4; leads: block_size_limit 20, consensus_timeout_ms 10
	st := node.Status{NodeID: "c2", Head: node.HeadStatus{View: 100, Epoch: 2}, Params: []node.ParamStatus{
		{Name: "block_size_limit", Type: "uint", Active: "1048576",
			Pending: []node.PendingParamChange{{Deployment: "bsl-2m", Value: "2097152", Mode: "stake", State: "STARTED"}}},
		{Name: "consensus_timeout_ms", Type: "uint", Active: "1000", Pending: []node.PendingParamChange{}},
		{Name: "execution_pipelining", Type: "bool", Active: "false", Pending: []node.PendingParamChange{}},
	}}
	gov := func(param, value string, at uint64) activation.Proposal {
		return activation.Proposal{Name: "x", Param: param, Value: value, Mode: activation.Governance, ActivationView: at}
	}
	stake := func(param, value string) activation.Proposal {
		return activation.Proposal{Name: "x", Param: param, Value: value, Mode: activation.Stake, StartEpoch: 3, TimeoutEpoch: 43}
	}
	for _, tc := range []struct {
		p    activation.Proposal
		want string // "" passes
	}{
		{stake("consensus_timeout_ms", "2000"), ""},
		{stake("execution_pipelining", "true"), ""},
		{gov("consensus_timeout_ms", "2000", 111), ""},
		{gov("consensus_timeout_ms", "2000", 110), "--activation-view 110: the chain would reject it (activation too soon): it must come more than consensus_timeout_ms's min_lead_views = 10 after"},
		{gov("operator_notice", "maintenance at noon", 105), ""},
		{gov("operator_notice", "maintenance at noon", 104), "more than Δ = 4 views after the block that carries the proposal, and the head is at view 100"},
		{activation.Proposal{Name: "x", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: 104}, "more than Δ = 4 views"},
		{activation.Proposal{Name: "x", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: 105}, ""},
		{stake("timeout", "2000"), "--param timeout: the testnet's genesis declares no such parameter; it declares block_size_limit (uint), consensus_timeout_ms (uint), execution_pipelining (bool), operator_notice (string)"},
		{stake("consensus_timeout_ms", "02000"), `--value "02000": consensus_timeout_ms is a uint parameter, so its value is a whole number in decimal (no sign, no leading zeros) from 100 to 60000`},
		{stake("consensus_timeout_ms", "99"), "--value 99: out of consensus_timeout_ms's bounds, a whole number in decimal (no sign, no leading zeros) from 100 to 60000"},
		{stake("execution_pipelining", "yes"), `--value "yes": execution_pipelining is a bool parameter, so its value is "true" or "false"`},
		{stake("operator_notice", "ok\n{\"forged\":1}"), `--value "ok\n{\"forged\":1}": operator_notice is a string parameter, so its value is text of at most 1024 bytes of UTF-8, with no control character`},
		{stake("consensus_timeout_ms", "1000"), "--value 1000: consensus_timeout_ms is 1000 already (as c2 sees it at view 100); the chain would reject the change (not an upgrade)"},
		{stake("block_size_limit", "4194304"), "--param block_size_limit: bsl-2m, STARTED, already sets it to 2097152"},
	} {
		err := CheckProposal(g, st, tc.p)
		if tc.want == "" {
			assert.NoError(t, err, "%+v", tc.p)
			continue
		}
		var oe *OptionError
		require.ErrorAs(t, err, &oe, "%+v: a bad option (exit 2)", tc.p)
		assert.Contains(t, err.Error(), tc.want, "%+v", tc.p)
	}

	// A testnet made before testnets declared parameters says so.
	old := testGenesis(t, 40, nil)
	err := CheckProposal(old, st, stake("consensus_timeout_ms", "2000"))
	assert.ErrorContains(t, err, "this testnet's genesis declares no protocol parameters")
}

// The default activation view leaves three epochs, or a long-lead
// parameter's lead and an epoch more; either way the chain would take it
// from a block well after the head.
func TestDefaultActivationView(t *testing.T) {
	slow := activation.ParamDecl{Name: "slow", Type: activation.ParamUint, Value: "1", MinLeadViews: 500}
	g := testGenesis(t, 40, append(paramDecls(40), slow))
	version := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance}
	timeout := activation.Proposal{Name: "t2", Param: "consensus_timeout_ms", Value: "2000", Mode: activation.Governance}
	long := activation.Proposal{Name: "s2", Param: "slow", Value: "2", Mode: activation.Governance}
	assert.Equal(t, uint64(100+120), DefaultActivationView(g, 100, version))
	assert.Equal(t, uint64(100+120), DefaultActivationView(g, 100, timeout))
	assert.Equal(t, uint64(100+540), DefaultActivationView(g, 100, long))
	st := node.Status{Head: node.HeadStatus{View: 100}}
	for _, p := range []activation.Proposal{version, timeout, long} {
		p.ActivationView = DefaultActivationView(g, 100, p)
		// The proposal may travel an epoch's worth of views and still be in time.
		st.Head.View = 100 + g.EpochViews - 1
		assert.NoError(t, CheckProposal(g, st, p), p.Name)
	}
}

// The nodes' hook writes one line per activation: the version, or the
// parameter and its new value (a string value as it is, spaces and all).
func TestHookScriptNamesWhatActivated(t *testing.T) {
	dir := t.TempDir()
	run := func(env ...string) {
		cmd := exec.Command("sh", "-c", hookScript)
		cmd.Dir, cmd.Env = dir, append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	run("QUORUMGATE_DEPLOYMENT=protocol-2", "QUORUMGATE_VERSION=2.0.0", "QUORUMGATE_ACTIVATION_VIEW=120", "QUORUMGATE_HEIGHT=119")
	run("QUORUMGATE_DEPLOYMENT=notice", "QUORUMGATE_PARAM=operator_notice", "QUORUMGATE_VALUE=down at * noon", "QUORUMGATE_ACTIVATION_VIEW=200", "QUORUMGATE_HEIGHT=198")
	log, err := os.ReadFile(filepath.Join(dir, "hook.log"))
	require.NoError(t, err)
	assert.Equal(t, "activated protocol-2 2.0.0 from view 120 at height 119\n"+
		"activated notice operator_notice=down at * noon from view 200 at height 198\n", string(log))
}
