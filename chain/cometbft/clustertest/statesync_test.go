package clustertest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/storage"
)

// A late joiner on CometBFT: the four validators serve CometBFT's RPC and a
// snapshot every 20 heights, and run past an activation; then e1, the only
// execution node, starts on an empty home with state sync, trusting a block
// hash read from a validator's RPC. It joins from a snapshot: its store
// starts at the snapshot's height and CometBFT's block store holds nothing
// below it; it knows the activated version and the pending deployment at
// once; its node signals readiness for that deployment, which only the
// execution role's readiness can lock in, and it locks in; every node
// agrees on the state ID.
func TestCometBFTLateJoinerByStateSync(t *testing.T) {
	defer noLeaks(t)
	c := newClusterWith(t, 20, func(g *chain.Genesis) {
		g.ParamDecls = append(g.ParamDecls, activation.ParamDecl{Name: "timeout", Type: activation.ParamUint, Value: "1000", MinLeadViews: 5})
	})
	start := time.Now()
	defer c.closeAll()
	rpc := map[string]string{}
	for _, id := range validators {
		rpc[id] = fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))
		c.edit[id] = func(s *cometbft.Settings) {
			s.RPCListen, s.SnapshotInterval, s.SnapshotKeep = rpc[id], 20, 20
		}
		c.start(id, "protocol=2.0.0", "protocol=3.0.0")
	}
	c.waitHeights(3, 30*time.Second)
	t.Logf("%s: the validators are at height 3", time.Since(start).Round(time.Millisecond))
	c.propose("c2", activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance,
		ActivationView: c.maxHeight() + 30})
	c.propose("c2", activation.Proposal{Name: "t2", Param: "timeout", Value: "2000", Mode: activation.Governance,
		ActivationView: c.maxHeight() + 30})
	testutil.Eventually(t, 60*time.Second, "p2 and t2 ACTIVE on c1", func() bool {
		return c.status("c1", "p2") == activation.Active && c.status("c1", "t2") == activation.Active
	})
	_, view, _ := c.nodes["c1"].Head().Head()
	epoch := c.g.Params().Epoch(view)
	c.propose("c2", activation.Proposal{Name: "p3", Component: "protocol", Version: "3.0.0", Mode: activation.Stake,
		Roles: []string{"execution"}, Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 50})
	testutil.Eventually(t, 30*time.Second, "p3 accepted on c1", func() bool { return c.status("c1", "p3") != activation.None })
	accepted := c.maxHeight()
	c.waitHeights((accepted/20+1)*20+3, 30*time.Second) // a snapshot holds p3

	// The trust root, as an operator gets it: a recent block's hash from a
	// running node's RPC.
	trustHeight := int64(c.height("c1"))
	cl, err := rpchttp.New(strings.Replace(rpc["c1"], "tcp://", "http://", 1))
	require.NoError(t, err)
	commit, err := cl.Commit(context.Background(), &trustHeight)
	require.NoError(t, err)
	trustHash := hex.EncodeToString(commit.SignedHeader.Hash())
	c.edit["e1"] = func(s *cometbft.Settings) {
		s.StateSync, s.RPCServers, s.TrustHeight, s.TrustHash = true, []string{rpc["c1"], rpc["c2"]}, trustHeight, trustHash
		s.SnapshotInterval = 20
	}
	c.start("e1", "protocol=2.0.0", "protocol=3.0.0")
	t.Logf("%s: the cluster is past p2's activation and p3's acceptance; e1 starts", time.Since(start).Round(time.Millisecond))
	e1 := c.nodes["e1"]
	testutil.Eventually(t, 60*time.Second, "e1 joins by state sync", func() bool {
		_, ok := e1.Store().Base()
		return ok
	})
	base, _ := e1.Store().Base()
	t.Logf("%s: e1 joined at height %d", time.Since(start).Round(time.Millisecond), base)
	assert.Greater(t, base, accepted, "e1 joined from a snapshot taken after p3 was accepted")
	assert.Equal(t, uint64(0), (base+1)%20, "at a snapshot height (CometBFT's height is quorumgate's + 1)")
	joined := e1.Head()
	v, _ := joined.ActiveVersion("protocol")
	assert.Equal(t, "2.0.0", v, "e1 knows the version activated before it joined")
	_, ok := joined.Deployment("p3")
	assert.True(t, ok, "and the pending deployment")
	tv, _ := joined.ParamValue("timeout")
	assert.Equal(t, "2000", tv, "and the parameter changed before it joined")

	testutil.Eventually(t, 60*time.Second, "e1 block-syncs after the snapshot", func() bool {
		b, _ := c.engines["e1"].BlockStoreRange()
		return b > 0 && c.height("e1") > base+2
	})
	bsBase, _ := c.engines["e1"].BlockStoreRange()
	assert.GreaterOrEqual(t, bsBase, int64(base+1), "CometBFT's block store holds no block before the snapshot's height")
	_, err = e1.Store().Block(0)
	assert.ErrorIs(t, err, storage.ErrPruned, "our store holds none either")
	st := e1.Status()
	if assert.NotNil(t, st.Head.Base, "e1's /status names where its history starts") {
		assert.Equal(t, base, *st.Head.Base)
	}
	assert.Contains(t, st.Render(), fmt.Sprintf("history from height %d: this node joined by state sync", base))
	assert.Nil(t, c.nodes["c1"].Status().Head.Base, "a node with every block from genesis shows no base")
	testutil.Eventually(t, 10*time.Second, "e1's params.json has the value of the snapshot's state", func() bool {
		data, err := os.ReadFile(filepath.Join(c.homes["e1"], node.ParamsFileName))
		if err != nil {
			return false
		}
		var pf node.ParamsFile
		require.NoError(t, json.Unmarshal(data, &pf))
		return pf.Params["timeout"].Value == "2000"
	})

	testutil.Eventually(t, 60*time.Second, "e1's readiness locks p3 in", func() bool {
		s := c.status("c1", "p3")
		return s == activation.LockedIn || s == activation.Active
	})
	t.Logf("%s: p3 locked in", time.Since(start).Round(time.Millisecond))
	c.waitHeights(c.maxHeight()+2, 30*time.Second)
	top := c.agree()
	assert.Greater(t, top, base, "the common height is after e1's base")
	for id, n := range c.nodes {
		require.NoError(t, n.Err(), id)
	}
}
