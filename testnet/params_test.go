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
		}
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
