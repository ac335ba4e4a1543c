package testnet

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/node"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

// statusText is what WriteStatus prints for s.
func statusText(t *testing.T, s NetStatus) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WriteStatus(&b, s))
	return b.String()
}

// p2LockIn is seq's answer on who carried p2's lock-in: seq, c2 and e1.
func p2LockIn() LockIn {
	return LockIn{AsSeenBy: "seq", ReadinessReport: node.ReadinessReport{Deployment: "p2", Height: 148, View: 149, Epoch: 1,
		State: "LOCKED_IN", Threshold: "2/3", Roles: []node.RoleStatus{
			{Role: "consensus", TotalStake: 900, ReadyStake: 700, ReadyRatio: 0.7778},
			{Role: "execution", TotalStake: 500, ReadyStake: 500, ReadyRatio: 1}},
		Ready: []node.ReadySigner{{NodeID: "seq"}, {NodeID: "c2"}, {NodeID: "e1"}}}}
}

// TestWriteStatus checks what `testnet status` prints for people from a
// status put together by hand: every node's row, every deployment side by
// side, signaling progress, who carried a lock-in, and what a halted node's
// operator has to do.
func TestWriteStatus(t *testing.T) {
	av := uint64(200)
	running := func(id string, dep node.DeploymentStatus) *node.Status {
		return &node.Status{NodeID: id, Head: node.HeadStatus{Height: 180, View: 181, Epoch: 1}, Peers: 2, Synced: true,
			Deployments: []node.DeploymentStatus{dep}, Versions: []node.ComponentStatus{{Component: "protocol", Active: "1.0.0"}}}
	}
	locked := node.DeploymentStatus{Name: "p2", Mode: "stake", State: "LOCKED_IN", ActivationView: &av, ThisNodeSupports: true}
	s := NetStatus{Dir: "/tmp/tn", ChainID: "demo", EpochViews: 100, ViewInterval: "100ms", Nodes: []NodeState{
		{ID: "seq", Role: "consensus", Stake: 400, Sequencer: true, Process: "running", PID: 10, Status: running("seq", locked)},
		{ID: "c2", Role: "consensus", Stake: 300, Process: "running", PID: 11, Status: running("c2", locked)},
		{ID: "c3", Role: "consensus", Stake: 200, Process: "exited", PID: 12,
			Exit: "halted before view 200: deployment p2 makes protocol 2.0.0 active from view 200, and this node-plugin does not support it; install a node-plugin that supports protocol=2.0.0 and start it again"},
		{ID: "e1", Role: "execution", Stake: 500, Process: "running", PID: 13, Error: "/status: context deadline exceeded"},
		{ID: "x1", Role: "collection", Stake: 100, Process: "stopped"},
	}, LockIns: []LockIn{p2LockIn()},
	}
	out := statusText(t, s)
	for _, want := range []string{
		"chain demo, 5 nodes, epochs of 100 views at 100ms a view",
		"consensus (sequencer)",
		"p2          LOCKED_IN@200  LOCKED_IN@200  -   -   -",
		"c3 exited: halted before view 200",
		"its operator has to upgrade it: node-plugin testnet upgrade c3 --supports protocol=2.0.0",
		"e1 runs but its API does not answer: /status: context deadline exceeded",
		"p2 locked in at view 149 (epoch 1), as seq sees it:  consensus [#############|##....] 78% (700 of 900)  execution [#############|######] 100% (500 of 500); ready: seq, c2, e1; not ready: c3",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "x1 exited", "x1 was stopped by a command")
	assert.NotContains(t, out, "not ready: c3, x1", "x1's role is not counted")

	// A node that cannot say who carried the lock-in says why.
	s.LockIns = []LockIn{{AsSeenBy: "seq", ReadinessReport: node.ReadinessReport{Deployment: "p2"}, Error: "/readiness: 500 Internal Server Error: disk"}}
	assert.Contains(t, statusText(t, s), "p2 locked in; seq cannot say who carried it: /readiness: 500 Internal Server Error: disk")
}

// goldenStatus is a status with a little of everything: a sequencer, an
// unsynced node, a halted and a killed node, a node whose API does not
// answer, a stopped one, deployments that only some nodes know, one
// signaling, a lock-in and a lock-in nobody could explain.
func goldenStatus() NetStatus {
	av := uint64(200)
	running := func(id string, deps ...node.DeploymentStatus) *node.Status {
		return &node.Status{NodeID: id, Head: node.HeadStatus{Height: 180, View: 181, Epoch: 1}, Peers: 2, Synced: id != "c2",
			Deployments: deps, Versions: []node.ComponentStatus{{Component: "protocol", Active: "1.0.0"}, {Component: "x", Active: "3.0.0"}}}
	}
	locked := node.DeploymentStatus{Name: "p2", Mode: "stake", State: "LOCKED_IN", ActivationView: &av, ThisNodeSupports: true}
	failed := node.DeploymentStatus{Name: "p3", Mode: "stake", State: "FAILED", ActivationView: &av}
	signaling := node.DeploymentStatus{Name: "p4", Mode: "stake", State: "STARTED", Signaling: &node.SignalingStatus{Epoch: 3, Threshold: "2/3", CutoffIn: 12, LiveSigners: 2,
		Roles: []node.RoleStatus{{Role: "consensus", TotalStake: 900, ReadyStake: 300, ReadyRatio: 0.3333}}}}
	gov := node.DeploymentStatus{Name: "g1", Mode: "governance", State: "STARTED", ActivationView: &av}
	// Parameters: seq has activated t2 (consensus_timeout_ms 2000) and c2,
	// catching up, has not yet; seq sees two more changes pending; the
	// notice is too long for a cell.
	tav, left := uint64(250), uint64(69)
	t2 := node.DeploymentStatus{Name: "t2", Param: "consensus_timeout_ms", Value: "2000", Mode: "governance", State: "ACTIVE",
		ActivationView: &av, ThisNodeSupports: true}
	t3 := node.DeploymentStatus{Name: "t3", Param: "block_size_limit", Value: "2097152", Mode: "governance", State: "LOCKED_IN",
		ActivationView: &tav, ThisNodeSupports: true}
	pipe := node.DeploymentStatus{Name: "pipe-on", Param: "execution_pipelining", Value: "true", Mode: "stake", State: "STARTED", ThisNodeSupports: true}
	params := func(timeout string, pending ...node.PendingParamChange) []node.ParamStatus {
		ps := []node.ParamStatus{{Name: "block_size_limit", Type: "uint", Active: "1048576"}, {Name: "consensus_timeout_ms", Type: "uint", Active: timeout},
			{Name: "execution_pipelining", Type: "bool", Active: "false"}, {Name: "operator_notice", Type: "string", Active: "welcome to the quorumgate testnet, all of you"}}
		for _, c := range pending {
			i := slices.IndexFunc(ps, func(p node.ParamStatus) bool {
				return p.Name == map[string]string{"t3": "block_size_limit", "pipe-on": "execution_pipelining"}[c.Deployment]
			})
			ps[i].Pending = append(ps[i].Pending, c)
		}
		return ps
	}
	seq := running("seq", locked, signaling, gov, t2, t3, pipe)
	seq.Params = params("2000", node.PendingParamChange{Deployment: "t3", Value: "2097152", Mode: "governance", State: "LOCKED_IN", ActivationView: &tav, ViewsToActivation: &left},
		node.PendingParamChange{Deployment: "pipe-on", Value: "true", Mode: "stake", State: "STARTED"})
	c2 := running("c2", locked, failed)
	c2.Params = params("1000")
	return NetStatus{Dir: "/tmp/tn", ChainID: "demo", EpochViews: 100, ViewInterval: "100ms", Nodes: []NodeState{
		{ID: "seq", Role: "consensus", Stake: 400, Sequencer: true, Process: "running", PID: 10, Supported: []string{"protocol=1.0.0", "protocol=2.0.0"},
			Status: seq},
		{ID: "c2", Role: "consensus", Stake: 300, Process: "running", PID: 11, Status: c2},
		{ID: "c3", Role: "consensus", Stake: 200, Process: "exited", PID: 12,
			Exit: "halted before view 200: deployment p2 makes protocol 2.0.0 active from view 200, and this node-plugin does not support it; install a node-plugin that supports protocol=2.0.0 and start it again"},
		{ID: "c4", Role: "consensus", Stake: 200, Process: "exited", PID: 14, Exit: "killed"},
		{ID: "e1", Role: "execution", Stake: 500, Process: "running", PID: 13, Error: "/status: context deadline exceeded"},
		{ID: "x1", Role: "collection", Stake: 100, Process: "stopped"},
	}, LockIns: []LockIn{p2LockIn(), {AsSeenBy: "seq", ReadinessReport: node.ReadinessReport{Deployment: "p9"}, Error: "boom"}},
	}
}

// TestWriteStatusGolden holds `testnet status`'s whole text to
// testdata/write_status.golden: the golden status, then it on CometBFT with
// a live page, then with no deployments, then an empty one.
func TestWriteStatusGolden(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteStatus(&b, goldenStatus()))
	s := goldenStatus()
	s.Engine, s.Dashboard = engineCometBFT, "http://127.0.0.1:1/"
	require.NoError(t, WriteStatus(&b, s))
	s = goldenStatus()
	for i := range s.Nodes {
		if s.Nodes[i].Status != nil {
			s.Nodes[i].Status.Deployments = nil
		}
	}
	s.LockIns = nil
	require.NoError(t, WriteStatus(&b, s))
	require.NoError(t, WriteStatus(&b, NetStatus{}))

	path := filepath.Join("testdata", "write_status.golden")
	if *rewrite {
		require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "go test ./testnet -run Golden -rewrite creates it")
	assert.Equal(t, string(want), b.String())
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct{ limit int }

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n := f.limit
		f.limit = 0
		return n, errDiskFull
	}
	f.limit -= len(p)
	return len(p), nil
}

// TestWriteStatusReportsAWriteError: a failed write is returned, wherever
// it happens (in the header, a table or the lines after them).
func TestWriteStatusReportsAWriteError(t *testing.T) {
	var whole bytes.Buffer
	require.NoError(t, WriteStatus(&whole, goldenStatus()))
	for _, limit := range []int{0, 10, whole.Len() / 2, whole.Len() - 1} {
		assert.ErrorIs(t, WriteStatus(&failingWriter{limit: limit}, goldenStatus()), errDiskFull, "failing after %d bytes", limit)
	}
	assert.NoError(t, WriteStatus(&failingWriter{limit: whole.Len()}, goldenStatus()))
}

// The params section: each node's value side by side, whether they agree,
// and the pending changes as the node furthest along sees them; a value
// that would break the table is quoted; a chain without parameters gets
// no section.
func TestWriteStatusParams(t *testing.T) {
	at, behind, ahead := uint64(150), uint64(50), uint64(30)
	withParams := func(view uint64, notice string, left *uint64) *node.Status {
		return &node.Status{Head: node.HeadStatus{View: view}, Params: []node.ParamStatus{
			{Name: "consensus_timeout_ms", Type: "uint", Active: "1000", Pending: []node.PendingParamChange{
				{Deployment: "t2", Value: "2000", Mode: "governance", State: "LOCKED_IN", ActivationView: &at, ViewsToActivation: left}}},
			{Name: "operator_notice", Type: "string", Active: notice}}}
	}
	s := NetStatus{Nodes: []NodeState{
		{ID: "n1", Process: "running", Status: withParams(100, "hello", &behind)},
		{ID: "n2", Process: "running", Status: withParams(120, "two\nlines", &ahead)},
		{ID: "n3", Process: "running", Status: &node.Status{Head: node.HeadStatus{View: 110}}},
		{ID: "n4", Process: "stopped"},
	}}
	out := statusText(t, s)
	for _, want := range []string{
		"param                 type    n1     n2            n3       n4  agree\n",
		"consensus_timeout_ms  uint    1000   1000          unknown  -   yes\n",
		`operator_notice       string  hello  "two\nlines"  unknown  -   NO` + "\n",
		"pending: t2 sets consensus_timeout_ms to 2000 (governance, LOCKED_IN): activates at view 150, in 30 views, as n2 sees it at view 120\n",
	} {
		assert.Contains(t, out, want)
	}
	assert.Equal(t, 1, strings.Count(out, "pending:"), "one node's view of the pending changes:\n%s", out)

	for i := range s.Nodes {
		if s.Nodes[i].Status != nil {
			s.Nodes[i].Status.Params = nil
		}
	}
	assert.NotContains(t, statusText(t, s), "params", "a chain without parameters")
}

// TestWriteStatusSummary: past SummarizeAbove nodes status groups the
// nodes by role, counts the values they see, and lists only the nodes that
// stand out; --all (WriteStatusAll) keeps a row and a column per node.
func TestWriteStatusSummary(t *testing.T) {
	av := uint64(300)
	var nodes []NodeState
	for i, spec := range nodesOf(engineDevchain, 40) {
		dep := node.DeploymentStatus{Name: "p2", Mode: "stake", State: "ACTIVE", ActivationView: &av, ThisNodeSupports: true}
		st := &node.Status{NodeID: spec.id, Head: node.HeadStatus{Height: 400, View: 401, Epoch: 4}, Peers: 10 + i%7, Synced: true,
			Deployments: []node.DeploymentStatus{dep}, Versions: []node.ComponentStatus{{Component: "protocol", Active: "2.0.0"}},
			Params: []node.ParamStatus{{Name: "consensus_timeout_ms", Type: "uint", Active: "2000"}}}
		switch spec.id {
		case "e4": // behind and not synced
			st.Head.View, st.Synced = 380, false
		case "x3": // sees the deployment only locked in, with the old parameter value
			st.Deployments[0].State = "LOCKED_IN"
			st.Params[0].Active = "1000"
		}
		n := NodeState{ID: spec.id, Role: spec.role, Stake: spec.stake, Sequencer: i == 0, Process: "running", PID: 100 + i, Status: st}
		if spec.id == "v5" {
			n.Process, n.Status, n.Exit = "exited", nil, "killed"
		}
		nodes = append(nodes, n)
	}
	s := NetStatus{Dir: "/tmp/tn", ChainID: "demo", EpochViews: 100, ViewInterval: "200ms", Nodes: nodes}
	out := statusText(t, s)
	for _, want := range []string{
		"chain demo, 40 nodes",
		"role          nodes  stake  running  answering  synced  view      peers   active versions",
		"execution     11     2650   11       11         10      380..401  10..16  protocol=2.0.0 (11)",
		"all           40     ",
		"3 nodes stand out",
		"v5 exited: killed",
		"consensus_timeout_ms  uint  2000 (38), 1000 (1: x3)  NO",
		"p2          ACTIVE@300 (38), - (1: v5), LOCKED_IN@300 (1: x3)",
		"testnet status --all",
	} {
		assert.Contains(t, out, want)
	}
	// The nodes that stand out have their rows; the others do not.
	for _, id := range []string{"e4 ", "x3 ", "v5 "} {
		assert.Contains(t, out, "\n"+id, "%s stands out", id)
	}
	for _, id := range []string{"c2 ", "e1 ", "c5 "} {
		assert.NotContains(t, out, "\n"+id, "%s does not stand out", id)
	}
	assert.Less(t, strings.Count(out, "\n"), 40, "the summary is shorter than a row per node")

	var all bytes.Buffer
	require.NoError(t, WriteStatusAll(&all, s))
	for _, n := range nodes {
		assert.Contains(t, all.String(), "\n"+n.ID+" ", "--all has %s's row", n.ID)
	}
}
