package testnet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/node"
)

// paramChange is a change the end-to-end tests make, and its outcome.
type paramChange struct {
	deployment, param, from, to string
	activationView              uint64
}

var activatesAt = regexp.MustCompile(`activates at view (\d+)`)

// changeParams has a running testnet change two parameters through the
// real binary, consensus_timeout_ms by governance (at the default
// activation view) and block_size_limit by stake (every node signals by
// itself), and checks that every node reports the same value from the
// same view: the view before each activation has the old value, the
// activation view the new one, from every node's /params?at=, params.json
// and hook. It returns the two changes.
func changeParams(t *testing.T, c *tnCLI) []paramChange {
	tn, err := Open(c.dir)
	require.NoError(t, err)
	gov := paramChange{deployment: "timeout-2000", param: "consensus_timeout_ms", from: "1000", to: "2000"}
	stake := paramChange{deployment: "bsl-2m", param: "block_size_limit", from: "1048576", to: "2097152"}

	// The stake change first: it takes two epochs or more, the governance
	// one three.
	out := c.ok("propose", "--name", stake.deployment, "--param", stake.param, "--value", stake.to)
	lead := tn.M.EpochViews / 2 // block_size_limit's min_lead_views; more than Δ + 1
	assert.Contains(t, out, fmt.Sprintf("activates at the first epoch boundary at least %d views later", lead))
	out = c.ok("propose", "--name", gov.deployment, "--param", gov.param, "--value", gov.to, "--mode", "governance")
	m := activatesAt.FindStringSubmatch(out)
	require.NotNil(t, m, "propose says when it activates:\n%s", out)
	proposedAt, err := strconv.ParseUint(m[1], 10, 64)
	require.NoError(t, err)

	// testnet status shows the governance change pending, then the nodes agreeing.
	s := c.waitStatus("timeout-2000 LOCKED_IN everywhere", func(s NetStatus) bool { return allIn(s, gov.deployment, "LOCKED_IN") })
	var b strings.Builder
	require.NoError(t, WriteStatus(&b, s))
	assert.Regexp(t, `pending: timeout-2000 sets consensus_timeout_ms to 2000 \(governance, LOCKED_IN\): activates at view \d+, in \d+ views`, b.String())
	s = c.waitStatus("both changes ACTIVE everywhere", func(s NetStatus) bool {
		return allIn(s, gov.deployment, "ACTIVE") && allIn(s, stake.deployment, "ACTIVE")
	})
	for _, ch := range []*paramChange{&gov, &stake} {
		ch.activationView = *find(*s.Nodes[0].Status, ch.deployment).ActivationView
		for _, n := range s.Nodes {
			assert.Equal(t, ch.activationView, *find(*n.Status, ch.deployment).ActivationView, "%s: %s activates where %s does", n.ID, ch.deployment, s.Nodes[0].ID)
		}
	}
	assert.Equal(t, proposedAt, gov.activationView, "governance: the view propose gave")
	// Stake: at an epoch boundary, at least the parameter's lead after the
	// block that locked it in.
	assert.Zero(t, stake.activationView%tn.M.EpochViews, "stake: activates at an epoch boundary")
	var lockIn *LockIn
	for i := range s.LockIns {
		if s.LockIns[i].Deployment == stake.deployment {
			lockIn = &s.LockIns[i]
		}
	}
	require.NotNil(t, lockIn, "status says who locked %s in: %+v", stake.deployment, s.LockIns)
	assert.GreaterOrEqual(t, stake.activationView, lockIn.View+lead, "stake: the lead after the lock-in at view %d", lockIn.View)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, ch := range []paramChange{gov, stake} {
		for _, view := range []uint64{ch.activationView - 1, ch.activationView} {
			want := ch.to
			if view < ch.activationView {
				want = ch.from
			}
			var first node.ParamsAt
			for i, n := range tn.M.Nodes {
				got, err := nodeAPI(n.API).ParamsAt(ctx, view)
				require.NoError(t, err, "%s: /params?at=%d", n.ID, view)
				assert.Equal(t, want, got.Params[ch.param].Value, "%s: %s at view %d", n.ID, ch.param, view)
				if i == 0 {
					first = got
					continue
				}
				assert.Equal(t, first, got, "%s's /params?at=%d against %s's", n.ID, view, tn.M.Nodes[0].ID)
			}
		}
	}

	// params.json: every node's holds both new values, from their views,
	// once its node has written it; the hook ran once per change, the same
	// on every node (the same deployment, value, view and block).
	want := map[string]node.ParamValue{
		gov.param:              {Type: "uint", Value: gov.to, ActivationView: gov.activationView},
		stake.param:            {Type: "uint", Value: stake.to, ActivationView: stake.activationView},
		"execution_pipelining": {Type: "bool", Value: "false"},
		"operator_notice":      {Type: "string", Value: "welcome"},
	}
	hookLines := map[string]string{}
	for _, n := range tn.M.Nodes {
		home := tn.Home(&n)
		var file node.ParamsFile
		var hook []byte
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			file = node.ParamsFile{}
			data, _ := os.ReadFile(filepath.Join(home, node.ParamsFileName))
			hook, _ = os.ReadFile(filepath.Join(home, "hook.log"))
			if json.Unmarshal(data, &file) == nil && assert.ObjectsAreEqual(want, file.Params) &&
				strings.Contains(string(hook), gov.deployment) && strings.Contains(string(hook), stake.deployment) {
				break
			}
		}
		assert.Equal(t, want, file.Params, "%s's params.json", n.ID)
		assert.GreaterOrEqual(t, file.View, stake.activationView, "%s's params.json is of a head after both activations", n.ID)
		for _, ch := range []paramChange{gov, stake} {
			line := regexp.MustCompile(fmt.Sprintf(`(?m)^activated %s %s=%s from view %d at height \d+$`,
				ch.deployment, ch.param, ch.to, ch.activationView)).FindAllString(string(hook), -1)
			if assert.Len(t, line, 1, "%s's hook ran once for %s: %q", n.ID, ch.deployment, hook) {
				if first, seen := hookLines[ch.deployment]; seen {
					assert.Equal(t, first, line[0], "%s's hook for %s against %s's", n.ID, ch.deployment, tn.M.Nodes[0].ID)
				} else {
					hookLines[ch.deployment] = line[0]
				}
			}
		}
	}
	text := c.ok("status")
	assert.Regexp(t, `(?m)^consensus_timeout_ms\s+uint(\s+2000){`+strconv.Itoa(len(tn.M.Nodes))+`}\s+yes$`, text, "status: every node has the new value")
	assert.Regexp(t, `(?m)^block_size_limit\s+uint(\s+2097152){`+strconv.Itoa(len(tn.M.Nodes))+`}\s+yes$`, text)
	assert.NotContains(t, text, "pending:")
	return []paramChange{gov, stake}
}

// activeParam is a parameter's active value as node n reports it.
func activeParam(n NodeState, name string) string {
	p, _ := paramOf(n, name)
	return p.Active
}
