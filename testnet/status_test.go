package testnet

import (
	"bytes"
	"strings"
	"testing"

	"github.com/quorumgate/quorumgate/node"
)

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
	}, LockIns: []LockIn{{AsSeenBy: "seq", ReadinessReport: node.ReadinessReport{Deployment: "p2", Height: 148, View: 149, Epoch: 1,
		State: "LOCKED_IN", Threshold: "2/3", Roles: []node.RoleStatus{
			{Role: "consensus", TotalStake: 900, ReadyStake: 700, ReadyRatio: 0.7778},
			{Role: "execution", TotalStake: 500, ReadyStake: 500, ReadyRatio: 1}},
		Ready: []node.ReadySigner{{NodeID: "seq"}, {NodeID: "c2"}, {NodeID: "e1"}}}}},
	}
	var b bytes.Buffer
	WriteStatus(&b, s)
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
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "x1 exited") || strings.Contains(out, "not ready: c3, x1") {
		t.Errorf("x1 was stopped by a command, and its role is not counted:\n%s", out)
	}

	// A node that cannot say who carried the lock-in says why.
	s.LockIns = []LockIn{{AsSeenBy: "seq", ReadinessReport: node.ReadinessReport{Deployment: "p2"}, Error: "/readiness: 500 Internal Server Error: disk"}}
	b.Reset()
	WriteStatus(&b, s)
	if want := "p2 locked in; seq cannot say who carried it: /readiness: 500 Internal Server Error: disk"; !strings.Contains(b.String(), want) {
		t.Errorf("status lacks %q:\n%s", want, b.String())
	}
}
