package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// cluster is an in-process quorumgate network on CometBFT: four validators
// of equal stake (each a quarter of the voting power) and an execution node
// that follows as a full node, on 127.0.0.1.
type cluster struct {
	t        *testing.T
	g        *chain.Genesis
	keys     *chain.Keys
	ids      []string
	homes    map[string]string
	ports    map[string]int
	logs     map[string]*testutil.SyncBuffer
	nodes    map[string]*node.Node
	interval time.Duration
	// byzantine, if set for a node ID, rewrites that node's proposals.
	byzantine map[string]func(*activation.WireBlock)
	// edit, if set for a node ID, changes its CometBFT settings; engines
	// are the nodes' engines as last started.
	edit    map[string]func(*cometbft.Settings)
	engines map[string]*cometbft.Engine
}

var validators = []string{"c1", "c2", "c3", "c4"}

func newCluster(t *testing.T, epochViews uint64) *cluster {
	return newClusterWith(t, epochViews, nil)
}

// newClusterWith lets edit change the genesis (in its file form) first.
func newClusterWith(t *testing.T, epochViews uint64, edit func(g *chain.Genesis)) *cluster {
	t.Helper()
	specs := []chain.NodeSpec{}
	for _, id := range validators {
		specs = append(specs, chain.NodeSpec{ID: id, Role: "consensus", Stake: 100})
	}
	specs = append(specs, chain.NodeSpec{ID: "e1", Role: "execution", Stake: 100})
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "cmt-test", EpochViews: epochViews, SafetyViews: epochViews / 5,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: specs, GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte(t.Name())})
	require.NoError(t, err)
	if edit != nil {
		edit(g)
		data, err := g.MarshalJSON()
		require.NoError(t, err)
		g, err = chain.ParseGenesis(data)
		require.NoError(t, err)
	}
	c := &cluster{t: t, g: g, keys: keys, ids: append(append([]string{}, validators...), "e1"), homes: map[string]string{},
		ports: map[string]int{}, logs: map[string]*testutil.SyncBuffer{}, nodes: map[string]*node.Node{}, interval: 20 * time.Millisecond,
		byzantine: map[string]func(*activation.WireBlock){}, edit: map[string]func(*cometbft.Settings){},
		engines: map[string]*cometbft.Engine{}}
	for _, id := range c.ids {
		c.homes[id] = t.TempDir()
		c.ports[id] = freePort(t)
		c.logs[id] = &testutil.SyncBuffer{}
	}
	return c
}

// freePort asks the kernel for a free 127.0.0.1 port.
func freePort(t *testing.T) int {
	t.Helper()
	return testutil.FreePort(t)
}

func (c *cluster) settings(id string) cometbft.Settings {
	s := cometbft.Settings{P2PListen: fmt.Sprintf("tcp://127.0.0.1:%d", c.ports[id])}
	for _, other := range c.ids {
		if other == id {
			continue
		}
		nid, err := cometbft.NodeID(c.keys.P2P[other])
		require.NoError(c.t, err)
		s.PersistentPeers = append(s.PersistentPeers, fmt.Sprintf("%s@127.0.0.1:%d", nid, c.ports[other]))
	}
	return s
}

// start (re)starts a node; it returns the error of a start that fails.
func (c *cluster) tryStart(id string, supported ...string) error {
	c.t.Helper()
	sup, err := node.ParseSupported(append([]string{"protocol=1.0.0"}, supported...))
	require.NoError(c.t, err)
	var peers []peer.AddrInfo
	for other, n := range c.nodes {
		if other != id {
			peers = append(peers, n.AddrInfo())
		}
	}
	settings := c.settings(id)
	if edit := c.edit[id]; edit != nil {
		edit(&settings)
	}
	newEngine := func(env node.EngineEnv) (node.Engine, error) {
		e, err := cometbft.New(cometbft.Options{Genesis: env.Genesis, Store: env.Store, Home: env.Home, NodeID: env.NodeID,
			Key: env.P2PKey, Interval: env.ViewInterval, Guard: env.Guard, Settings: settings, Logger: env.Logger})
		if err != nil {
			return nil, err // not a nil *Engine in the interface
		}
		c.engines[id] = e
		if b := c.byzantine[id]; b != nil {
			cometbft.SetByzantine(e.App(), b)
		}
		return e, nil
	}
	n, err := node.Start(context.Background(), node.Config{Home: c.homes[id], Genesis: c.g, NodeID: id, StakingKey: c.keys.Staking[id],
		P2PKey: c.keys.P2P[id], Peers: peers, Supported: sup, ViewInterval: c.interval, Engine: newEngine,
		Logger: slog.New(slog.NewTextHandler(c.logs[id], nil))})
	if err != nil {
		return err
	}
	c.nodes[id] = n
	return nil
}

func (c *cluster) start(id string, supported ...string) {
	c.t.Helper()
	require.NoError(c.t, c.tryStart(id, supported...), id)
}

func (c *cluster) stop(id string) {
	c.nodes[id].Close()
	delete(c.nodes, id)
}

func (c *cluster) closeAll() {
	for id := range c.nodes {
		c.stop(id)
	}
}

func (c *cluster) height(id string) uint64 {
	h, _, _ := c.nodes[id].Head().Head()
	return h
}

// storeHead reads the head of a stopped node's store.
func (c *cluster) storeHead(id string) *activation.State {
	c.t.Helper()
	s, err := storage.Open(filepath.Join(c.homes[id], "store"), storage.Options{ChainID: c.g.ChainID, GenesisHash: c.g.Hash(), Genesis: c.g.State()})
	require.NoError(c.t, err)
	defer s.Close()
	head, _ := s.Head()
	return head
}

func (c *cluster) status(id, dep string) activation.Status {
	if d, ok := c.nodes[id].Head().Deployment(dep); ok {
		return d.Status
	}
	return activation.None
}

func (c *cluster) propose(via string, p activation.Proposal) {
	c.t.Helper()
	a, err := c.g.Committee().Approve(activation.ProposalMessage(c.g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{c.keys.Governance[0], c.keys.Governance[1]})
	require.NoError(c.t, err)
	_, err = c.nodes[via].SubmitGovernance(chain.ItemProposal, canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a}))
	require.NoError(c.t, err)
}

// agree checks that every running node stores the same state ID at the
// highest height all of them have, and returns that height.
func (c *cluster) agree() uint64 {
	c.t.Helper()
	common := uint64(1 << 62)
	for id := range c.nodes {
		common = min(common, c.height(id))
	}
	var want [32]byte
	first := true
	for id, n := range c.nodes {
		b, err := n.Store().Block(common)
		require.NoError(c.t, err, id)
		if first {
			want, first = b.StateID, false
			continue
		}
		require.Equal(c.t, want, b.StateID, "%s: state ID at height %d", id, common)
	}
	return common
}
