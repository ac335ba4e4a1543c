//go:build scale

package testnet

// The 100-node testnets of issue 23, one per engine: too slow for make test
// (a few minutes each on two cores), so behind the build tag scale:
//
//	go test -tags scale -run TestTestnetAtScale -v -timeout 60m ./testnet
//	make testnet100
//
// QUORUMGATE_SCALE_NODES changes the size (default 100) and
// QUORUMGATE_SCALE_ENGINES the engines (default devchain,cometbft).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTestnetAtScale: N nodes up and synced, then a parameter change
// proposed in stake mode reaches ACTIVE on every node, at the same view, and
// every node has the same state ID at a common height; along the way it
// prints what a node costs (memory, idle CPU, start-up, open files). The
// targets (PSS <= 30 MB a node, the testnet idle under one core) are
// reported, not enforced: it fails only on grossly wrong figures.
func TestTestnetAtScale(t *testing.T) {
	nodes, engines := scaleShape(t)
	bin := buildNodePlugin(t)
	for _, eng := range engines {
		t.Run(eng, func(t *testing.T) { scaleRun(t, bin, eng, nodes) })
	}
}

// scaleShape is the size and the engines of the scale tests: 100 nodes on
// both engines unless QUORUMGATE_SCALE_NODES and QUORUMGATE_SCALE_ENGINES
// say otherwise.
func scaleShape(t *testing.T) (int, []string) {
	nodes := 100
	if v := os.Getenv("QUORUMGATE_SCALE_NODES"); v != "" {
		var err error
		nodes, err = strconv.Atoi(v)
		require.NoError(t, err, "QUORUMGATE_SCALE_NODES")
	}
	engines := []string{engineDevchain, engineCometBFT}
	if v := os.Getenv("QUORUMGATE_SCALE_ENGINES"); v != "" {
		engines = strings.Split(v, ",")
	}
	return nodes, engines
}

func scaleRun(t *testing.T, bin, engine string, nodes int) {
	const epochViews = 20
	dir := filepath.Join(t.TempDir(), "tn")
	tn, startup := upTestnet(t, bin, dir, nodes, engine, epochViews, false)
	var pids []int
	for _, n := range tn.M.Nodes {
		pids = append(pids, n.PID)
	}
	defer func() {
		require.NoError(t, tn.Down())
		for i, pid := range pids {
			assert.False(t, processAlive(pid, tn.Home(&tn.M.Nodes[i])), "%s outlived down", tn.M.Nodes[i].ID)
		}
	}()
	interval, err := time.ParseDuration(tn.M.ViewInterval)
	require.NoError(t, err)

	f := measureIdle(t, tn, 5*time.Second, 20*time.Second)
	f.startup = startup
	fmt.Printf("scale %s: view interval %s; %s\n", engine, interval, f)
	t.Logf("%s", f)
	// Grossly wrong, not the targets: a node ten times the target, a
	// testnet that keeps both cores busy doing nothing.
	assert.Less(t, f.pss, 300.0, "PSS per node (MB)")
	assert.Less(t, f.idleCores, 2.0, "the whole testnet's idle CPU (cores)")
	assert.Less(t, f.fdsMax, fdsPerNode(expectedPeers(nodes), engine), "open files of a node: more than checkFileLimit allows for")

	// A parameter change in stake mode: every node signals for it by itself.
	out, err := exec.Command(bin, "testnet", "propose", "--dir", dir, "--name", "scale-timeout",
		"--param", "consensus_timeout_ms", "--value", "2000").CombinedOutput()
	require.NoError(t, err, "propose:\n%s", out)
	proposed := time.Now()
	limit := 20 * epochViews * interval // a few epochs suffice; the machine is shared
	var s NetStatus
	for deadline := time.Now().Add(limit); ; time.Sleep(2 * time.Second) {
		s = tn.Status()
		if allIn(s, "scale-timeout", "ACTIVE") {
			break
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			WriteStatus(&b, s)
			require.FailNow(t, fmt.Sprintf("scale-timeout is not ACTIVE on every node within %s", limit), b.String())
		}
	}
	fmt.Printf("scale %s: proposal to ACTIVE on all %d nodes in %s\n", engine, nodes, time.Since(proposed).Round(time.Second))

	// The same activation view everywhere, and the same state at a common height.
	var view *uint64
	low := s.Nodes[0].Status.Head.Height
	for _, n := range s.Nodes {
		d := find(*n.Status, "scale-timeout")
		require.NotNil(t, d.ActivationView, n.ID)
		if view == nil {
			view = d.ActivationView
		}
		assert.Equal(t, *view, *d.ActivationView, "%s's activation view", n.ID)
		low = min(low, n.Status.Head.Height)
	}
	ids := map[string][]string{}
	for _, n := range s.Nodes {
		id, err := nodeAPI(n.API).StateID(context.Background(), low)
		require.NoError(t, err, "%s's state ID at height %d", n.ID, low)
		ids[id] = append(ids[id], n.ID)
	}
	assert.Len(t, ids, 1, "state IDs at height %d: %v", low, ids)
	fmt.Printf("scale %s: every node activated at view %d and has the same state ID at height %d\n", engine, *view, low)
}

// TestDemoAtScale runs `testnet demo --nodes N` (default 100) on each
// engine in stake mode: past 9 nodes the operators upgrade in rounds of
// several side by side, and on CometBFT a validator is SIGKILLed during
// signaling. Every node must report the deployment ACTIVE at one view with
// one state ID, the demo's own checks (Demo fails otherwise), and the
// checks repeated here on its result.
//
//	go test -tags scale -run TestDemoAtScale -v -timeout 90m ./testnet
//	make demo100
func TestDemoAtScale(t *testing.T) {
	nodes, engines := scaleShape(t)
	bin := buildNodePlugin(t)
	for _, eng := range engines {
		t.Run(eng, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
			defer cancel()
			var out strings.Builder
			start := time.Now()
			res, err := Demo(ctx, DemoOptions{Nodes: nodes, Engine: eng, Dir: filepath.Join(t.TempDir(), "demo"),
				Binary: bin, Dashboard: "off", Out: &out})
			require.NoError(t, err, "demo:\n%s", out.String())
			require.Len(t, res.Nodes, nodes)
			rounds := strings.Count(out.String(), "operators of ")
			for _, n := range res.Nodes {
				require.Equal(t, "ACTIVE", n.FinalState, "node %s", n.ID)
				require.Equal(t, res.ActivationView, n.ActivationView, "node %s", n.ID)
				require.Equal(t, res.Nodes[0].StateIDAtCommon, n.StateIDAtCommon, "node %s", n.ID)
			}
			assert.Greater(t, rounds, 0, "no round upgraded operators side by side:\n%s", out.String())
			fmt.Printf("demo %s: %d nodes, activated at view %d on every node, one state ID; %d rounds of operators; %s in all\n",
				eng, nodes, res.ActivationView, rounds, time.Since(start).Round(time.Second))
		})
	}
}
