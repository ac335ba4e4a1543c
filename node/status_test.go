package node

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

// goldenState: a STARTED stake deployment with part of two roles ready, a
// LOCKED_IN governance deployment this node cannot run, and an activated one.
func goldenState(t *testing.T) *activation.State {
	t.Helper()
	table, err := quorum.NewTable([]quorum.Identity{
		{NodeID: "c1", Role: "consensus", Stake: 300}, {NodeID: "c2", Role: "consensus", Stake: 300}, {NodeID: "c3", Role: "consensus", Stake: 400},
		{NodeID: "e1", Role: "execution", Stake: 1000}, {NodeID: "e2", Role: "execution", Stake: 500}})
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	require.NoError(t, err)
	s, err := activation.Genesis(&activation.Params{ChainID: "golden", EpochViews: 100, SafetyViews: 10, Identities: sched},
		map[string]string{"protocol": "1.0.0", "cadence": "1.0.0", "execution": "3.2.0"})
	require.NoError(t, err)
	blocks := []activation.Block{
		{Height: 0, View: 1, Proposals: []activation.Proposal{{Name: "exec-3.3", Component: "execution", Version: "3.3.0", Mode: activation.Governance, ActivationView: 50}}},
		{Height: 1, View: 50},
		{Height: 2, View: 120, Proposals: []activation.Proposal{
			{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake, Roles: []string{"consensus", "execution"},
				Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 9},
			{Name: "cadence-1.1", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 400}}},
		{Height: 3, View: 150, Readiness: []activation.Readiness{{Deployment: "protocol-2", Epoch: 1, Node: "c1"},
			{Deployment: "protocol-2", Epoch: 1, Node: "c3"}, {Deployment: "protocol-2", Epoch: 1, Node: "e2"}}},
	}
	for _, b := range blocks {
		s, _, err = activation.Apply(s, b)
		require.NoError(t, err, "apply block %d", b.Height)
	}
	return s
}

func TestStatusGolden(t *testing.T) {
	sup, err := ParseSupported([]string{"protocol=1.0.0", "protocol=2.0", "cadence=1.0.0", "execution=3.2.0", "execution=3.3"})
	require.NoError(t, err)
	st := BuildStatus("c1", goldenState(t), sup, 1200*time.Millisecond, 4, true,
		func(signal.DeploymentID, uint64) int { return 5 })
	js, err := json.MarshalIndent(st, "", "  ")
	require.NoError(t, err)
	for name, got := range map[string][]byte{"status.golden.txt": []byte(st.Render()), "status.golden.json": append(js, '\n')} {
		path := filepath.Join("testdata", name)
		if *rewrite {
			require.NoError(t, os.MkdirAll("testdata", 0o755))
			require.NoError(t, os.WriteFile(path, got, 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "go test ./node -run Golden -rewrite creates it")
		require.Equal(t, string(want), string(got), "%s differs", name)
	}
}

func TestBar(t *testing.T) {
	assert.Equal(t, "[##########...|......]", Bar(0.5, 2.0/3))
	assert.Equal(t, "[#############|######]", Bar(1, 2.0/3))
}

// Status says which `supported` entry covers each component's active
// version and each pending deployment's version, or that none does.
func TestStatusSaysWhichEntryCovers(t *testing.T) {
	_, apply := testState(t) // protocol 1.0.0, cadence 1.0.0
	state := apply(1,
		activation.Proposal{Name: "p201", Component: "protocol", Version: "2.0.1", Mode: activation.Stake, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5},
		activation.Proposal{Name: "exec-1", Component: "execution", Version: "1.0.2", Mode: activation.Governance, ActivationView: 500})
	sup, err := ParseSupported([]string{"protocol=1.0.0", "protocol=2.0", "execution=1.0", "execution=1.0.2"})
	require.NoError(t, err)
	st := BuildStatus("a", state, sup, time.Second, 0, true, nil)

	assert.Equal(t, []string{"execution=1.0", "execution=1.0.2", "protocol=1.0.0", "protocol=2.0"}, st.Supported)
	covered := map[string]string{}
	for _, d := range st.Deployments {
		covered[d.Name] = d.CoveredBy
		assert.Equal(t, d.CoveredBy != "", d.ThisNodeSupports, d.Name)
	}
	assert.Equal(t, map[string]string{"p201": "protocol=2.0", "exec-1": "execution=1.0.2"}, covered, "the exact entry is the one named")
	active := map[string]string{}
	for _, c := range st.Versions {
		active[c.Component+" "+c.Active] = c.CoveredBy
	}
	assert.Equal(t, map[string]string{"cadence 1.0.0": "", "protocol 1.0.0": "protocol=1.0.0"}, active)

	text := st.Render()
	for _, want := range []string{
		"versions (this node supports execution=1.0, execution=1.0.2, protocol=1.0.0, protocol=2.0)\n",
		"  cadence      1.0.0  — no supported entry covers it\n",
		"  protocol     1.0.0  — covered by supported protocol=1.0.0\n  protocol     2.0.1  pending: p201, STARTED  — covered by supported protocol=2.0\n",
		// A component that has no version yet has its pending one.
		"  execution    1.0.2  pending: exec-1, LOCKED_IN  — covered by supported execution=1.0.2\n",
	} {
		assert.Contains(t, text, want)
	}

	js, err := json.Marshal(st)
	require.NoError(t, err)
	var back Status
	require.NoError(t, json.Unmarshal(js, &back))
	assert.Equal(t, st, back, "the JSON carries it all")

	// A node-plugin older than component versions sends neither supported
	// nor covered_by: its status says nothing of coverage rather than
	// "none covers it".
	var old Status
	require.NoError(t, json.Unmarshal([]byte(`{"node_id":"a","deployments":[{"name":"p201","component":"protocol","version":"2.0.1","state":"STARTED","this_node_supports":true}],`+
		`"versions":[{"component":"protocol","active":"1.0.0"}]}`), &old))
	text = old.Render()
	assert.Contains(t, text, "\nversions\n  protocol     1.0.0\n  protocol     2.0.1  pending: p201, STARTED\n")
	assert.NotContains(t, text, "covers")

	none := BuildStatus("a", state, Supported{}, time.Second, 0, true, nil)
	assert.Equal(t, []string{}, none.Supported)
	assert.Contains(t, none.Render(), "versions (this node supports nothing)\n")
}
