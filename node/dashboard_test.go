package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/browsertest"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// soloNode is a running sequencer with its public API on loopback, in a
// chain whose genesis also names an execution node that never runs: so a
// deployment that needs consensus and execution stake stays STARTED with
// known bars (consensus 100%, execution 0%).
type soloNode struct {
	*Node
	g    *devchain.Genesis
	keys *devchain.Keys
	api  string // host:port
}

func startSoloNode(t *testing.T, supported ...string) *soloNode {
	t.Helper()
	g, keys, err := devchain.Generate(devchain.GenerateOptions{ChainID: "dash", EpochViews: 20, SafetyViews: 2,
		Versions: map[string]string{"protocol": "1.0.0", "cadence": "1.0.0"},
		// A uint parameter (quorumgate_param_value exists) and a bool.
		ParamDecls: []activation.ParamDecl{{Name: "timeout", Type: activation.ParamUint, Value: "1000", MinLeadViews: 5},
			{Name: "fast", Type: activation.ParamBool, Value: "false", MinLeadViews: 1}},
		Nodes:             []devchain.NodeSpec{{ID: "seq", Role: "consensus", Stake: 300}, {ID: "e1", Role: "execution", Stake: 200}},
		GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte("dash")})
	require.NoError(t, err)
	sup, err := ParseSupported(append([]string{"protocol=1.0.0", "cadence=1.0.0"}, supported...))
	require.NoError(t, err)
	home := t.TempDir()
	n, err := Start(context.Background(), Config{Home: home, Genesis: g, NodeID: "seq", StakingKey: keys.Staking["seq"],
		P2PKey: keys.P2P["seq"], Supported: sup, ViewInterval: 50 * time.Millisecond, APIListen: "127.0.0.1:0", Engine: devchainEngine,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, n.Close()) })
	var addrs APIAddrs
	data, err := os.ReadFile(filepath.Join(home, APIAddrFile))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &addrs))
	s := &soloNode{Node: n, g: g, keys: keys, api: addrs.API}
	testutil.Eventually(t, 10*time.Second, "the node makes blocks", func() bool { h, _, ok := n.Head().Head(); return ok && h > 2 })
	return s
}

func (s *soloNode) propose(t *testing.T, p activation.Proposal) {
	t.Helper()
	a, err := s.g.Committee().Approve(activation.ProposalMessage(s.g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{s.keys.Governance[0], s.keys.Governance[1]})
	require.NoError(t, err)
	_, err = s.SubmitGovernance(chain.ItemProposal, canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a}))
	require.NoError(t, err)
}

func (s *soloNode) headEpochView() (uint64, uint64) {
	_, view, _ := s.Head().Head()
	return s.Head().Params().Epoch(view), view
}

// renderedDeployment is what the page shows of one deployment, read from
// the DOM (not from the JSON it fetched).
type renderedDeployment struct {
	Name     string         `json:"name"`
	State    string         `json:"state"`
	Badge    string         `json:"badge"`
	Supports string         `json:"supports"`
	Bars     []renderedBar  `json:"bars"`
	Timer    string         `json:"timer"`
	Text     string         `json:"text"`
	Extra    map[string]any `json:"extra"`
}

type renderedBar struct {
	Role      string `json:"role"`
	Ratio     string `json:"ratio"`
	Threshold string `json:"threshold"`
	Passed    string `json:"passed"`
	Width     string `json:"width"`
}

const readDeployments = `[...document.querySelectorAll("#deployments [data-deployment]")].map(c => ({
  name: c.dataset.deployment, state: c.dataset.state,
  badge: (c.querySelector("[data-badge]") || {}).textContent || "",
  supports: (c.querySelector("[data-supports]") || {dataset: {}}).dataset.supports || "",
  bars: [...c.querySelectorAll(".bar")].map(b => ({role: b.dataset.role, ratio: b.dataset.ratio,
    threshold: b.dataset.threshold, passed: b.dataset.passed, width: b.querySelector(".fill").style.width})),
  timer: (c.querySelector(".timer") || {}).textContent || "",
  text: c.innerText}))`

// renderedPage is one reading of the whole page.
type renderedPage struct {
	Deployments []renderedDeployment `json:"deployments"`
	Own         map[string]string    `json:"own"`
	Synced      string               `json:"synced"`
	Lanes       []map[string]string  `json:"lanes"`
}

var readPage = `({deployments: ` + readDeployments + `,
  own: {...(document.querySelector('[data-own="protocol-2"]') || {dataset: {}}).dataset},
  synced: (document.getElementById("synced") || {dataset: {}}).dataset.synced || "",
  lanes: [...document.querySelectorAll(".lane")].map(l => ({...l.dataset}))})`

func findRendered(ds []renderedDeployment, name string) *renderedDeployment {
	for i := range ds {
		if ds[i].Name == name {
			return &ds[i]
		}
	}
	return nil
}

// TestDashboardInBrowser opens the node's page in headless Chromium: it
// shows a known state (one deployment signaling with one role over the
// threshold and one at zero), follows a governance deployment from
// LOCKED_IN to ACTIVE without a reload, and logs no error.
func TestDashboardInBrowser(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // runs last: after the browser and the node are closed
	s := startSoloNode(t, "protocol=2.0", "cadence=2.0.0")
	epoch, _ := s.headEpochView()
	s.propose(t, activation.Proposal{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: []string{"consensus", "execution"}, Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 1000})

	b := browsertest.New(t, 1280, 900)
	b.Open("http://" + s.api + "/?every=300")
	// An epoch lasts a second here, and each starts with an empty tally
	// until this node's attestation is in a block: read the page until it
	// shows the steady state, then check all of it from that one reading.
	want := []renderedBar{{Role: "consensus", Ratio: "1.0000", Threshold: "0.6667", Passed: "true", Width: "100%"},
		{Role: "execution", Ratio: "0.0000", Threshold: "0.6667", Passed: "false", Width: "0%"}}
	var page renderedPage
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		page = browsertest.Eval[renderedPage](b, readPage)
		if len(page.Deployments) == 1 && slices.Equal(page.Deployments[0].Bars, want) && page.Own["counted"] == "true" {
			break
		}
	}
	require.Len(t, page.Deployments, 1, "the page shows protocol-2")
	d := page.Deployments[0]
	assert.Equal(t, "protocol-2", d.Name)
	assert.Equal(t, "STARTED", d.State)
	assert.Equal(t, "STARTED", d.Badge)
	assert.Equal(t, "true", d.Supports)
	assert.Contains(t, d.Text, "✓ this node supports it (supported protocol=2.0)", "the entry that covers 2.0.0")
	assert.Equal(t, want, d.Bars)
	assert.Contains(t, d.Text, "300 / 300 stake")
	assert.Contains(t, d.Text, "0 / 200 stake")
	assert.Regexp(t, "to the cutoff|cutoffpassed", d.Timer)
	assert.Equal(t, "true", page.Own["counted"], "this node's readiness for protocol-2 shows as counted")
	assert.Equal(t, "true", page.Synced)
	assert.Contains(t, browsertest.Eval[string](b, `document.getElementById("self").innerText`),
		"cadence=1.0.0, cadence=2.0.0, protocol=1.0.0, protocol=2.0 (every 2.0.x)", "what this node runs")
	assert.Equal(t, []map[string]string{{"component": "cadence", "active": "1.0.0", "versions": "1"},
		{"component": "protocol", "active": "1.0.0", "versions": "1"}}, page.Lanes)
	b.Screenshot("node-dashboard-signaling.png")

	// A transition while the page is open: a governance deployment appears
	// LOCKED_IN with its activation countdown, then turns ACTIVE, and the
	// version history gains cadence 2.0.0.
	_, view := s.headEpochView()
	activateAt := view + 60
	s.propose(t, activation.Proposal{Name: "cadence-2", Component: "cadence", Version: "2.0.0", Mode: activation.Governance, ActivationView: activateAt})
	b.WaitFor("cadence-2 shows LOCKED_IN with its activation view",
		`!!document.querySelector('[data-deployment="cadence-2"][data-state="LOCKED_IN"] [data-activation-view]')`, 10*time.Second)
	locked := findRendered(browsertest.Eval[[]renderedDeployment](b, readDeployments), "cadence-2")
	require.NotNil(t, locked)
	assert.Contains(t, locked.Timer, "to the activation")
	assert.Contains(t, locked.Text, "cadence 1.0.0 → 2.0.0")
	b.Screenshot("node-dashboard-locked-in.png")
	b.WaitFor("cadence-2 turns ACTIVE on the page",
		`!!document.querySelector('[data-deployment="cadence-2"][data-state="ACTIVE"]')`, 15*time.Second)
	b.WaitFor("the cadence lane shows two versions",
		`document.querySelector('.lane[data-component="cadence"]').dataset.versions == "2"`, 5*time.Second)
	active := findRendered(browsertest.Eval[[]renderedDeployment](b, readDeployments), "cadence-2")
	require.NotNil(t, active)
	assert.Contains(t, active.Text, "Activated at view")
	updates := browsertest.Eval[string](b, `document.body.dataset.updates`)
	assert.NotEqual(t, "1", updates, "the page polled more than once")
	b.Screenshot("node-dashboard.png")
	assert.Empty(t, b.Errors(), "the page logged errors")
}

// TestDashboardShowsParameterChanges: the page lists the protocol
// parameters, shows a governance parameter change LOCKED_IN as needing no
// new software (no upgrade banner) with the views to its activation, and
// the new value once it is ACTIVE.
func TestDashboardShowsParameterChanges(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	s := startSoloNode(t)
	b := browsertest.New(t, 1280, 900)
	b.Open("http://" + s.api + "/?every=200")
	b.WaitFor("the page lists the parameters", `document.querySelectorAll("#params tr[data-param]").length == 2`, 10*time.Second)
	rows := browsertest.Eval[[]map[string]string](b, `[...document.querySelectorAll("#params tr[data-param]")].map(r => ({...r.dataset}))`)
	assert.Equal(t, []map[string]string{{"param": "fast", "active": "false", "pending": ""},
		{"param": "timeout", "active": "1000", "pending": ""}}, rows)

	_, view := s.headEpochView()
	activateAt := view + 60
	s.propose(t, activation.Proposal{Name: "timeout-2000", Param: "timeout", Value: "2000", Mode: activation.Governance, ActivationView: activateAt})
	b.WaitFor("timeout-2000 shows LOCKED_IN", `!!document.querySelector('[data-deployment="timeout-2000"][data-state="LOCKED_IN"]')`, 10*time.Second)
	locked := findRendered(browsertest.Eval[[]renderedDeployment](b, readDeployments), "timeout-2000")
	require.NotNil(t, locked)
	assert.Equal(t, "true", locked.Supports)
	assert.Contains(t, locked.Text, "param timeout 1000 → 2000")
	assert.Contains(t, locked.Text, "no new software needed")
	assert.Contains(t, locked.Timer, "to the activation")
	assert.Zero(t, browsertest.Eval[int](b, `document.querySelectorAll("[data-upgrade-needed]").length`), "an upgrade banner for a parameter change")
	pending := browsertest.Eval[string](b, `document.querySelector('#params [data-pending="timeout-2000"]').textContent`)
	assert.Contains(t, pending, fmt.Sprintf("timeout-2000 sets 2000 · governance · LOCKED IN · activates at view %d, in ", activateAt))
	b.Screenshot("node-dashboard-params.png")

	b.WaitFor("timeout-2000 turns ACTIVE", `!!document.querySelector('[data-deployment="timeout-2000"][data-state="ACTIVE"]')`, 15*time.Second)
	b.WaitFor("the timeout row shows 2000", `document.querySelector('#params tr[data-param="timeout"]').dataset.active == "2000"`, 5*time.Second)
	row := browsertest.Eval[string](b, `document.querySelector('#params tr[data-param="timeout"]').textContent`)
	assert.Contains(t, row, fmt.Sprintf("since view %d", activateAt))
	assert.Contains(t, row, "no change pending")
	assert.Empty(t, b.Errors(), "the page logged errors")
}

// TestDashboardServesEmbeddedFiles checks the page and its assets come from
// the binary with the right types, and that the API keeps its JSON routes.
func TestDashboardServesEmbeddedFiles(t *testing.T) {
	s := startSoloNode(t)
	for path, want := range map[string]string{"/": "text/html", "/ui/style.css": "text/css", "/ui/node.js": "text/javascript",
		"/ui/common.js": "text/javascript", "/ui/node.json": "application/json", "/status": "application/json"} {
		resp, err := http.Get("http://" + s.api + path)
		require.NoError(t, err, path)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err, path)
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), want), "%s: %s", path, resp.Header.Get("Content-Type"))
		assert.NotEmpty(t, body, path)
		assert.NotContains(t, string(body), "https://", "%s loads nothing from the internet", path)
	}
	resp, err := http.Get("http://" + s.api + "/no-such-page")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "only / itself is the page")
	var info DashboardInfo
	resp, err = http.Get("http://" + s.api + "/ui/node.json")
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	resp.Body.Close()
	assert.Equal(t, DashboardInfo{NodeID: "seq", Role: "consensus", Stake: 300, ViewIntervalSeconds: 0.05,
		Supported: []string{"cadence=1.0.0", "protocol=1.0.0"}, Readiness: []OwnReadiness{}}, info)
}
