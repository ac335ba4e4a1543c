package testnet

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/node"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")

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
	var b bytes.Buffer
	require.NoError(t, WriteStatus(&b, s))
	out := b.String()
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
	b.Reset()
	require.NoError(t, WriteStatus(&b, s))
	assert.Contains(t, b.String(), "p2 locked in; seq cannot say who carried it: /readiness: 500 Internal Server Error: disk")
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
	return NetStatus{Dir: "/tmp/tn", ChainID: "demo", EpochViews: 100, ViewInterval: "100ms", Nodes: []NodeState{
		{ID: "seq", Role: "consensus", Stake: 400, Sequencer: true, Process: "running", PID: 10, Supported: []string{"protocol=1.0.0", "protocol=2.0.0"},
			Status: running("seq", locked, signaling, gov)},
		{ID: "c2", Role: "consensus", Stake: 300, Process: "running", PID: 11, Status: running("c2", locked, failed)},
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
