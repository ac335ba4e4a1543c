package testnet

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/browsertest"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
)

var dashboardURL = regexp.MustCompile(`dashboard: (http://127\.0\.0\.1:\d+/)`)

// renderedRow is one node's row of the matrix, read from the page.
const readRows = `[...document.querySelectorAll("#matrix-table tbody tr")].map(r => ({
  node: r.dataset.node, process: r.dataset.process,
  version: r.querySelector('[data-col="version"]').textContent,
  runs: r.querySelector('[data-col="runs"]').textContent,
  states: Object.fromEntries([...r.querySelectorAll("[data-dep]")].map(c => [c.dataset.dep, c.dataset.state]))}))`

type renderedRow struct {
	Node    string            `json:"node"`
	Process string            `json:"process"`
	Version string            `json:"version"`
	Runs    string            `json:"runs"`
	States  map[string]string `json:"states"`
}

func barOf(b *browsertest.Browser, deployment, role string) map[string]string {
	return browsertest.Eval[map[string]string](b, `({...document.querySelector('#deployments [data-deployment="`+deployment+`"] .bar[data-role="`+role+`"]').dataset})`)
}

// TestTestnetDashboardInBrowser plays a protocol engineer with the testnet's
// page open: up prints its URL; the page shows every node; a proposal, an
// upgrade and a stopped node show up without a reload; dashboard prints the
// same URL again; down stops the page's process.
func TestTestnetDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	c := &tnCLI{t: t, bin: buildBinary(t), dir: filepath.Join(t.TempDir(), "tn"), pids: map[int]string{}}
	defer c.downAndCheck()
	out := c.ok("up", "--nodes", "4", "--view-interval", "50ms", "--epoch-views", "40")
	m := dashboardURL.FindStringSubmatch(out)
	require.NotNil(t, m, "up prints the dashboard's URL:\n%s", out)
	url := m[1]
	tn, err := Open(c.dir)
	require.NoError(t, err)
	require.NotNil(t, tn.M.Dashboard)
	dashPID := tn.M.Dashboard.PID
	require.True(t, tn.dashboardRunning(), "the dashboard runs as its own process")

	b := browsertest.New(t, 1500, 1000)
	b.Open(url + "?every=300")
	b.WaitFor("four running nodes", `document.querySelectorAll('#matrix-table tr[data-process="running"]').length == 4`, 20*time.Second)
	rows := browsertest.Eval[[]renderedRow](b, readRows)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.Node)
		assert.Equal(t, "protocol 1.0.0", r.Version, r.Node)
		assert.Equal(t, "protocol=1.0.0", r.Runs, r.Node)
	}
	assert.Equal(t, []string{"seq", "c2", "c3", "e1"}, ids)

	c.ok("propose", "--name", "protocol-2", "--version", "2.0.0", "--role", "consensus", "--role", "execution")
	b.WaitFor("every node shows protocol-2 STARTED", `document.querySelectorAll('td[data-dep="protocol-2"][data-state="STARTED"]').length == 4`, 30*time.Second)
	assert.Equal(t, "0.0000", barOf(b, "protocol-2", "execution")["ratio"])

	// e1 holds all the execution stake (500): once it runs 2.0.0 the
	// execution bar passes the threshold, consensus stays at 0.
	c.ok("upgrade", "e1", "--supports", "protocol=2.0.0")
	b.WaitFor("the execution bar passes the threshold",
		`(document.querySelector('#deployments [data-deployment="protocol-2"] .bar[data-role="execution"]') || {dataset: {}}).dataset.passed == "true"`, 30*time.Second)
	assert.Equal(t, map[string]string{"role": "execution", "ratio": "1.0000", "threshold": "0.6667", "passed": "true"}, barOf(b, "protocol-2", "execution"))
	assert.Equal(t, "false", barOf(b, "protocol-2", "consensus")["passed"])
	c.ok("stop", "c3")
	b.WaitFor("c3 shows stopped", `!!document.querySelector('#matrix-table tr[data-node="c3"][data-process="stopped"]')`, 15*time.Second)
	rows = browsertest.Eval[[]renderedRow](b, readRows)
	i := slices.IndexFunc(rows, func(r renderedRow) bool { return r.Node == "e1" })
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "protocol=1.0.0, protocol=2.0.0", rows[i].Runs)
	b.Screenshot("testnet-dashboard.png")
	assert.Empty(t, b.Errors(), "the page logged errors")

	assert.Equal(t, url, c.status().Dashboard, "status names the page while it runs")
	again := c.ok("dashboard")
	assert.Equal(t, "dashboard: "+url+"\n", again, "dashboard prints the same URL")
	_, errOut, code := c.run("dashboard", "--foreground")
	assert.Equal(t, 2, code, "a second server on the same address is refused")
	assert.Contains(t, errOut, "already runs at "+url)
	c.ok("down")
	assert.False(t, processAlive(dashPID, c.dir), "down stops the dashboard")
}

// TestDemoDashboardInBrowser watches the demo's page while the demo runs:
// it names every node, and the sequencer's cell follows protocol-2 from
// STARTED on to its lock-in or activation without a reload.
func TestDemoDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	bin := buildBinary(t)
	out := &testutil.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		// Views of 80 ms: STARTED lasts at least a few seconds, long enough
		// for a page polled every 200 ms to show it on a loaded machine
		// (at 40 ms it was sometimes gone before the page saw it).
		_, err := Demo(ctx, DemoOptions{Nodes: 4, Dir: t.TempDir(), Binary: bin, Seed: 2, ViewInterval: 80 * time.Millisecond,
			EpochViews: 40, Out: out, Dashboard: "127.0.0.1:0"})
		done <- err
	}()
	var url string
	for deadline := time.Now().Add(time.Minute); url == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := dashboardURL.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
	}
	require.NotEmpty(t, url, "the demo prints its dashboard's URL:\n%s", out.String())

	b := browsertest.New(t, 1500, 1000)
	b.Open(url + "?every=200")
	b.WaitFor("the matrix names the four nodes", `document.querySelectorAll('#matrix-table tbody tr').length == 4`, 30*time.Second)
	seen := []string{}
	var errs []string
	finished := false
	for !finished {
		select {
		case err := <-done:
			require.NoError(t, err, out.String())
			finished = true
		case <-time.After(100 * time.Millisecond):
		}
		state := browsertest.Eval[string](b, `(document.querySelector('tr[data-node="seq"] td[data-dep="protocol-2"]') || {dataset: {}}).dataset.state || ""`)
		if state != "" && (len(seen) == 0 || seen[len(seen)-1] != state) {
			seen = append(seen, state)
			if state == "LOCKED_IN" {
				b.Screenshot("demo-dashboard.png")
			}
		}
		if !finished {
			errs = b.Errors() // after the demo, its server is gone and polling fails, as it should
		}
	}
	t.Logf("protocol-2 on the sequencer, as the page showed it: %v", seen)
	assert.Contains(t, seen, "STARTED", "states the page showed: %v", seen)
	assert.True(t, slices.Contains(seen, "LOCKED_IN") || slices.Contains(seen, "ACTIVE"), "states the page showed: %v", seen)
	assert.Empty(t, errs, "the page logged errors while the demo ran")
	assert.True(t, strings.Contains(out.String(), "protocol 2.0.0 is active on every node"), out.String())
}

// TestDashboardPageShowsAHalt renders a fixed status: a running node that
// sees protocol-2 LOCKED_IN, one that halted for it, one stopped by a
// command. The halted node gets a banner with its last words.
func TestDashboardPageShowsAHalt(t *testing.T) {
	av, eta := uint64(200), 12.5
	running := &node.Status{NodeID: "seq", Head: node.HeadStatus{Height: 150, View: 151, Epoch: 3}, Peers: 2, Synced: true,
		Deployments: []node.DeploymentStatus{{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: "governance",
			State: "LOCKED_IN", SinceView: 20, ActivationView: &av, ETASeconds: &eta, ThisNodeSupports: true}},
		Versions: []node.ComponentStatus{{Component: "protocol", Active: "1.0.0"}}}
	halt := (&node.HaltError{Deployment: "protocol-2", Component: "protocol", Version: "2.0.0", ActivationView: 200}).Error()
	status := NetStatus{ChainID: "fixed", EpochViews: 40, ViewInterval: "50ms", Nodes: []NodeState{
		{ID: "seq", Role: "consensus", Stake: 400, Sequencer: true, API: "127.0.0.1:1", Process: "running", Supported: []string{"protocol=1.0.0", "protocol=2.0.0"}, Status: running},
		{ID: "c2", Role: "consensus", Stake: 300, API: "127.0.0.1:2", Process: "exited", Exit: halt, Supported: []string{"protocol=1.0.0"}},
		{ID: "c3", Role: "consensus", Stake: 200, API: "127.0.0.1:3", Process: "stopped", Supported: []string{"protocol=1.0.0"}},
	}}
	srv := httptest.NewServer(DashboardHandler(func() NetStatus { return status }))
	defer srv.Close()
	b := browsertest.New(t, 1400, 800)
	b.Open(srv.URL + "/")
	b.WaitFor("three rows", `document.querySelectorAll('#matrix-table tbody tr').length == 3`, 10*time.Second)
	rows := browsertest.Eval[[]map[string]string](b, `[...document.querySelectorAll("#matrix-table tbody tr")].map(r => ({...r.dataset}))`)
	assert.Equal(t, []map[string]string{{"node": "seq", "process": "running", "halted": "false"},
		{"node": "c2", "process": "exited", "halted": "true"}, {"node": "c3", "process": "stopped", "halted": "false"}}, rows)
	banner := browsertest.Eval[string](b, `document.querySelector('[data-halted="c2"]').textContent`)
	assert.Equal(t, "c2 halted: "+halt+"Its operator upgrades it with node-plugin testnet upgrade c2 --supports protocol=2.0.0", banner)
	card := browsertest.Eval[string](b, `document.querySelector('#deployments [data-deployment="protocol-2"]').textContent`)
	assert.Contains(t, card, "Activates at view 200, in 49 views (about 13s).")
	assert.Contains(t, card, "1 LOCKED_IN")
	b.Screenshot("testnet-dashboard-halt.png")
	assert.Empty(t, b.Errors())
}

// TestDashboardPageShowsParams renders a fixed status with parameters: seq
// has a governance change of consensus_timeout_ms locked in and sees
// execution_pipelining switched on; c2, behind, does not yet. The page shows
// each node's value, that they differ on one, the pending change with the
// views to its activation, and a card that says no new software is needed.
func TestDashboardPageShowsParams(t *testing.T) {
	av, left, eta, since := uint64(240), uint64(40), 4.0, uint64(160)
	params := func(pipelining string, pending ...node.PendingParamChange) []node.ParamStatus {
		return []node.ParamStatus{
			{Name: "consensus_timeout_ms", Type: "uint", Active: "1000", Pending: pending},
			{Name: "execution_pipelining", Type: "bool", Active: pipelining, Pending: []node.PendingParamChange{}}}
	}
	change := node.DeploymentStatus{Name: "timeout-2000", Param: "consensus_timeout_ms", Value: "2000", Mode: "governance",
		State: "LOCKED_IN", ActivationView: &av, ETASeconds: &eta, ThisNodeSupports: true}
	pipe := node.DeploymentStatus{Name: "pipe-on", Param: "execution_pipelining", Value: "true", Mode: "stake",
		State: "ACTIVE", ActivationView: &since, ThisNodeSupports: true}
	status := func(id string, view uint64, pipelining string, deps ...node.DeploymentStatus) *node.Status {
		return &node.Status{NodeID: id, Head: node.HeadStatus{Height: view - 1, View: view, Epoch: view / 40}, Peers: 1, Synced: true,
			Deployments: deps, Versions: []node.ComponentStatus{{Component: "protocol", Active: "1.0.0"}},
			Params: params(pipelining, node.PendingParamChange{Deployment: "timeout-2000", Value: "2000", Mode: "governance",
				State: "LOCKED_IN", ActivationView: &av, ViewsToActivation: &left})}
	}
	seq := status("seq", 200, "true", change, pipe)
	c2 := status("c2", 150, "false", change)
	c2.Params[0].Pending[0].ViewsToActivation = new(uint64(90))
	s := NetStatus{ChainID: "fixed", EpochViews: 40, ViewInterval: "100ms", Nodes: []NodeState{
		{ID: "c2", Role: "consensus", Stake: 300, API: "127.0.0.1:2", Process: "running", Status: c2},
		{ID: "seq", Role: "consensus", Stake: 400, Sequencer: true, API: "127.0.0.1:1", Process: "running", Status: seq},
		{ID: "c3", Role: "consensus", Stake: 200, API: "127.0.0.1:3", Process: "stopped"},
	}}
	srv := httptest.NewServer(DashboardHandler(func() NetStatus { return s }))
	defer srv.Close()
	b := browsertest.New(t, 1400, 900)
	b.Open(srv.URL + "/")
	b.WaitFor("two parameter rows", `document.querySelectorAll('#params-table tbody tr').length == 2`, 10*time.Second)
	type row struct {
		Param   string            `json:"param"`
		Agree   string            `json:"agree"`
		Values  map[string]string `json:"values"`
		Pending string            `json:"pending"`
	}
	rows := browsertest.Eval[[]row](b, `[...document.querySelectorAll("#params-table tbody tr")].map(r => ({
	  param: r.dataset.param, agree: r.dataset.agree,
	  values: Object.fromEntries([...r.querySelectorAll("td[data-node]")].map(c => [c.dataset.node, c.dataset.value ?? c.textContent])),
	  pending: r.lastElementChild.textContent}))`)
	assert.Equal(t, []row{
		{Param: "consensus_timeout_ms", Agree: "true", Values: map[string]string{"c2": "1000", "seq": "1000", "c3": "—"},
			Pending: "timeout-2000 sets 2000 · governance · LOCKED IN at view 240, in 40 views"},
		{Param: "execution_pipelining", Agree: "false", Values: map[string]string{"c2": "false", "seq": "true", "c3": "—"},
			Pending: "no change pending"},
	}, rows, "values side by side; the pending change as seq, furthest along, sees it")
	card := browsertest.Eval[string](b, `document.querySelector('#deployments [data-deployment="timeout-2000"]').textContent`)
	assert.Contains(t, card, "param consensus_timeout_ms 1000 → 2000 · governance mode · as seq sees it")
	assert.Contains(t, card, "✓ no new software needed")
	assert.Contains(t, card, "Activates at view 240, in 40 views (about 4s).")
	pipeCard := browsertest.Eval[string](b, `document.querySelector('#deployments [data-deployment="pipe-on"]').textContent`)
	assert.Contains(t, pipeCard, "param execution_pipelining true · stake mode")
	assert.NotContains(t, pipeCard, "no new software needed", "an active change needs nothing more")
	cell := browsertest.Eval[string](b, `document.querySelector('tr[data-node="c2"] td[data-dep="timeout-2000"]').textContent`)
	assert.Equal(t, "LOCKED INat view 240✓ no new software", cell)
	b.Screenshot("testnet-dashboard-params.png")
	assert.Empty(t, b.Errors())
}

// TestDashboardPageSummarisesALargeTestnet renders a fixed status of 40
// nodes, as status_test's summary: a row per role, the parameter's values
// counted, the nodes that stand out in their own table, and every node's
// row folded away below.
func TestDashboardPageSummarisesALargeTestnet(t *testing.T) {
	av := uint64(300)
	var nodes []NodeState
	for i, spec := range nodesOf(engineDevchain, 40) {
		st := &node.Status{NodeID: spec.id, Head: node.HeadStatus{Height: 400, View: 401, Epoch: 4}, Peers: 10 + i%7, Synced: true,
			Deployments: []node.DeploymentStatus{{Name: "p2", Mode: "stake", State: "ACTIVE", ActivationView: &av, ThisNodeSupports: true}},
			Versions:    []node.ComponentStatus{{Component: "protocol", Active: "2.0.0"}},
			Params:      []node.ParamStatus{{Name: "consensus_timeout_ms", Type: "uint", Active: "2000"}}}
		if spec.id == "x3" {
			st.Params[0].Active = "1000"
		}
		if spec.id == "e4" {
			st.Head.View, st.Synced = 380, false
		}
		n := NodeState{ID: spec.id, Role: spec.role, Stake: spec.stake, Sequencer: i == 0, API: "127.0.0.1:1", Process: "running", Status: st}
		if spec.id == "v5" {
			n.Process, n.Status, n.Exit = "exited", nil, "killed"
		}
		nodes = append(nodes, n)
	}
	status := NetStatus{ChainID: "large", EpochViews: 100, ViewInterval: "200ms", Nodes: nodes}
	srv := httptest.NewServer(DashboardHandler(func() NetStatus { return status }))
	defer srv.Close()
	b := browsertest.New(t, 1400, 900)
	b.Open(srv.URL + "/")
	b.WaitFor("the role table", `document.querySelectorAll('#roles-table tbody tr').length == 5`, 10*time.Second)
	roles := browsertest.Eval[[]string](b, `[...document.querySelectorAll("#roles-table tbody tr")].map(r => r.dataset.role)`)
	assert.Equal(t, []string{"consensus", "execution", "collection", "verification", "all"}, roles)
	all := browsertest.Eval[string](b, `document.querySelector('#roles-table tr[data-role="all"]').textContent`)
	assert.Contains(t, all, "protocol=2.0.0 (39)")
	standouts := browsertest.Eval[[]string](b, `[...document.querySelectorAll("#standouts-table tbody tr")].map(r => r.dataset.node)`)
	assert.Equal(t, []string{"e4", "x3", "v5"}, standouts)
	values := browsertest.Eval[string](b, `document.querySelector('#params-table tr[data-param="consensus_timeout_ms"] [data-col="values"]').textContent`)
	assert.Equal(t, "2000 (38), 1000 (1: x3)", values)
	assert.Equal(t, 1, browsertest.Eval[int](b, `document.querySelectorAll('#params-table thead th').length - 3`), "no column per node")
	folded := browsertest.Eval[int](b, `document.querySelectorAll('#every-node:not([open]) #matrix-table tbody tr').length`)
	assert.Equal(t, 40, folded, "every node's row, folded away")
	b.Screenshot("testnet-dashboard-large.png")
	assert.Empty(t, b.Errors())
}
