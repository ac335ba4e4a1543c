package cometbft

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtp2p "github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// benchNet is a 4-validator CometBFT network in this process, on 127.0.0.1,
// each validator running the application newApp makes.
type benchNet struct {
	procs []*process
	apps  []abcitypes.Application
}

// benchInterval is the block interval (timeout_commit) of the benchmark
// networks: short, so the figure shows what consensus and the application
// cost rather than a configured pause.
const benchInterval = 5 * time.Millisecond

func benchGenesis(b *testing.B, signers int) (*chain.Genesis, *chain.Keys) {
	specs := []chain.NodeSpec{}
	for i := range 4 {
		specs = append(specs, chain.NodeSpec{ID: fmt.Sprintf("v%d", i), Role: "consensus", Stake: 100})
	}
	for i := range signers {
		specs = append(specs, chain.NodeSpec{ID: fmt.Sprintf("s%03d", i), Role: "execution", Stake: 1})
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "bench", EpochViews: 100000, SafetyViews: 100,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: specs, GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("bench")})
	require.NoError(b, err)
	return g, keys
}

func startBenchNet(b *testing.B, g *chain.Genesis, keys *chain.Keys, doc *types.GenesisDoc, newApp func(i int) abcitypes.Application) *benchNet {
	dir := b.TempDir()
	ports := make([]int, 4)
	ids := make([]string, 4)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		ids[i], err = NodeID(keys.P2P[fmt.Sprintf("v%d", i)])
		require.NoError(b, err)
	}
	n := &benchNet{}
	for i := range 4 {
		s := Settings{P2PListen: fmt.Sprintf("tcp://127.0.0.1:%d", ports[i])}
		for j := range 4 {
			if j != i {
				s.PersistentPeers = append(s.PersistentPeers, fmt.Sprintf("%s@127.0.0.1:%d", ids[j], ports[j]))
			}
		}
		cfg, err := Config(filepath.Join(dir, fmt.Sprint(i)), benchInterval, s)
		require.NoError(b, err)
		key, err := consensusKey(keys.P2P[fmt.Sprintf("v%d", i)])
		require.NoError(b, err)
		require.NoError(b, ensureDirs(cfg))
		pv := privval.NewFilePV(key, cfg.PrivValidatorKeyFile(), cfg.PrivValidatorStateFile())
		app := newApp(i)
		p, err := startProcess(context.Background(), cfg, pv, &cmtp2p.NodeKey{PrivKey: key}, app, doc, cmtlog.NewNopLogger())
		require.NoError(b, err)
		n.procs = append(n.procs, p)
		n.apps = append(n.apps, app)
	}
	return n
}

func (n *benchNet) stop() {
	var wg sync.WaitGroup
	for _, p := range n.procs {
		wg.Go(p.stop)
	}
	wg.Wait()
}

func (n *benchNet) height() int64 { return n.procs[0].node.BlockStore().Height() }

// blocksPerSecond lets the network warm up, then counts the blocks it
// finalizes in d.
func (n *benchNet) blocksPerSecond(b *testing.B, d time.Duration) float64 {
	testutil.Eventually(b, 30*time.Second, "the network starts finalizing", func() bool { return n.height() >= 5 })
	h0, t0 := n.height(), time.Now()
	time.Sleep(d)
	return float64(n.height()-h0) / time.Since(t0).Seconds()
}

func quorumgateApp(b *testing.B, g *chain.Genesis, dir string) (*App, *storage.Store) {
	store, err := storage.Open(dir, storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), Small: true})
	require.NoError(b, err)
	return NewApp(g, store, nil, nil), store
}

// BenchmarkBlocks: blocks finalized per second by four in-process
// validators running the quorumgate application, and the same network
// running CometBFT's own kvstore example application, in the same run
// (target: quorumgate at least 80% of kvstore). Each iteration runs each
// network twice for 4 s, alternating which goes first, so a change in the
// machine's load falls on both alike.
func BenchmarkBlocks(b *testing.B) {
	g, keys := benchGenesis(b, 0)
	doc, err := GenesisDoc(g)
	require.NoError(b, err)
	kvDoc := *doc
	kvDoc.AppHash = nil
	kvstore := func() float64 {
		net := startBenchNet(b, g, keys, &kvDoc, func(int) abcitypes.Application { return abci.NewInMemoryApplication() })
		defer net.stop()
		return net.blocksPerSecond(b, 4*time.Second)
	}
	quorumgate := func() float64 {
		var stores []*storage.Store
		var apps []*App
		net := startBenchNet(b, g, keys, doc, func(i int) abcitypes.Application {
			app, store := quorumgateApp(b, g, b.TempDir())
			stores, apps = append(stores, store), append(apps, app)
			return app
		})
		rate := net.blocksPerSecond(b, 4*time.Second)
		net.stop()
		for i, s := range stores {
			apps[i].Close()
			s.Close()
		}
		return rate
	}
	var kv, qg float64
	for range b.N {
		kv += kvstore()
		qg += quorumgate()
		qg += quorumgate()
		kv += kvstore()
	}
	b.ReportMetric(qg/float64(2*b.N), "blocks/s")
	b.ReportMetric(kv/float64(2*b.N), "kvstore-blocks/s")
	b.ReportMetric(100*qg/kv, "pct-of-kvstore")
}

// BenchmarkReadinessToFinalized: the time from a node signing readiness to
// its signature being in a finalized block, p50 and p99, on four in-process
// validators running quorumgate. The signatures travel as in a node: a
// fifth libp2p host publishes them on gossipsub, and each validator's
// pipeline verifies them into its pool. 95 of 100 signers sign at random
// moments, 0-40 ms apart.
func BenchmarkReadinessToFinalized(b *testing.B) { readinessLatency(b, true) }

// BenchmarkReadinessToFinalizedNoGossip is the same with the signatures put
// into the validators' pools directly: consensus and the application alone.
func BenchmarkReadinessToFinalizedNoGossip(b *testing.B) { readinessLatency(b, false) }

// appView tells a validator's gossip pipeline about its application's head.
type appView struct {
	a *App
	g *chain.Genesis
}

func (v appView) CurrentEpoch() uint64 {
	_, view, _ := v.a.consensusHead().Head()
	return v.g.Params().Epoch(view)
}

func (v appView) Table(e uint64) *quorum.Table { return v.g.Params().Identities.TableAt(e) }

func (v appView) Signaling(d signal.DeploymentID) bool {
	dep, ok := v.a.consensusHead().DeploymentByID(d)
	return ok && (dep.Status == activation.Started || dep.Status == activation.LockedIn)
}

func readinessLatency(b *testing.B, gossip bool) {
	const signers = 100
	g, keys := benchGenesis(b, signers)
	doc, err := GenesisDoc(g)
	require.NoError(b, err)
	// A deployment that keeps signaling: 99/100 of execution stake is never
	// reached, since at most 95 of the 100 signers sign.
	p := activation.Proposal{Name: "bench", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Roles: []string{"execution"}, Threshold: quorum.Threshold{Num: 99, Den: 100}, StartEpoch: 0, TimeoutEpoch: 10}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, keys.Governance[:1])
	require.NoError(b, err)
	gov := canon.MustEncode(chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: approval}})
	var latencies []time.Duration
	for range b.N {
		var mu sync.Mutex
		signed := map[string]time.Time{}
		var got []time.Duration
		var apps []*App
		var stores []*storage.Store
		net := startBenchNet(b, g, keys, doc, func(i int) abcitypes.Application {
			app, store := quorumgateApp(b, g, b.TempDir())
			apps, stores = append(apps, app), append(stores, store)
			if i == 0 {
				app.onCommit = func(w activation.WireBlock) {
					now := time.Now()
					mu.Lock()
					defer mu.Unlock()
					for _, c := range w.Certificates {
						t := g.Params().Identities.TableAt(c.Epoch)
						for j := range t.Len() {
							if at, ok := signed[t.At(j).NodeID]; ok && c.Signers.Has(j) {
								got = append(got, now.Sub(at))
								delete(signed, t.At(j).NodeID)
							}
						}
					}
				}
			}
			return app
		})
		for _, a := range apps {
			a.AddGovernance(gov)
		}
		var hosts []*p2p.Node
		var signer *p2p.Node
		if gossip {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i, a := range apps {
				var peers []peer.AddrInfo
				for _, h := range hosts {
					peers = append(peers, h.AddrInfo())
				}
				h, err := p2p.Start(ctx, p2p.Config{ChainID: g.ChainID, Identity: keys.P2P[fmt.Sprintf("v%d", i)],
					ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, View: appView{a, g}, Handlers: p2p.Handlers{OnAttestation: a.AddAttestation}})
				require.NoError(b, err)
				hosts = append(hosts, h)
			}
			var peers []peer.AddrInfo
			for _, h := range hosts {
				peers = append(peers, h.AddrInfo())
			}
			signer, err = p2p.Start(ctx, p2p.Config{ChainID: g.ChainID, Identity: keys.P2P["s000"],
				ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, View: appView{apps[0], g}})
			require.NoError(b, err)
		}
		testutil.Eventually(b, 30*time.Second, "the deployment starts", func() bool {
			d, ok := apps[0].Head().Deployment("bench")
			return ok && d.Status == activation.Started
		})
		if gossip {
			testutil.Eventually(b, 30*time.Second, "the signer's gossip mesh forms", func() bool { return signer.MeshPeers() >= len(hosts) })
		}
		id := p.ID()
		rng := rand.New(rand.NewPCG(1, 2))
		for _, i := range rng.Perm(signers)[:95] {
			node := fmt.Sprintf("s%03d", i)
			_, view, _ := apps[0].Head().Head()
			a, err := signal.SignReadiness(keys.Staking[node], g.ChainID, id, g.Params().Epoch(view), node)
			require.NoError(b, err)
			mu.Lock()
			signed[node] = time.Now()
			mu.Unlock()
			if gossip {
				require.NoError(b, signer.PublishAttestation(context.Background(), a))
			} else {
				for _, app := range apps {
					app.AddAttestation(a)
				}
			}
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			left := len(signed)
			mu.Unlock()
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d signatures never reached a finalized block", left)
			}
		}
		if signer != nil {
			signer.Close()
		}
		for _, h := range hosts {
			h.Close()
		}
		net.stop()
		for i, s := range stores {
			apps[i].Close()
			s.Close()
		}
		latencies = append(latencies, got...)
	}
	slices.Sort(latencies)
	q := func(f float64) float64 {
		return float64(latencies[int(f*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
