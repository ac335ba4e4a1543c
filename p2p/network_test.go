package p2p

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/signal"
)

// testNetwork starts n nodes on 127.0.0.1 in a ring with chords (static
// peers), all sharing one keyed identity table of n signers.
type testNetwork struct {
	f      *fixture
	view   testView
	nodes  []*Node
	scores []sync.Map // per node: peer.ID -> score
}

func startNetwork(t testing.TB, n, signers int) *testNetwork {
	t.Helper()
	f := newFixture(t, signers)
	tn := &testNetwork{f: f, view: testView{epoch: 1, table: f.table, signaling: map[signal.DeploymentID]bool{dep: true}},
		scores: make([]sync.Map, n+8)} // room for nodes that join later
	for i := range n {
		tn.startNode(t, i)
	}
	return tn
}

func (tn *testNetwork) startNode(t testing.TB, i int) *Node { return tn.startNodeWith(t, i, false) }

func (tn *testNetwork) startNodeWith(t testing.TB, i int, misbehave bool) *Node {
	t.Helper()
	key := newHostKey(t)
	var peers []peer.AddrInfo
	if len(tn.nodes) > 0 {
		peers = append(peers, tn.nodes[len(tn.nodes)-1].AddrInfo())
		if len(tn.nodes) > 3 {
			peers = append(peers, tn.nodes[(i*7)%len(tn.nodes)].AddrInfo())
		}
	}
	scores := &tn.scores[i]
	node, err := Start(context.Background(), Config{
		ChainID: "ingest", Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, View: tn.view,
		BatchWindow: 2 * time.Millisecond, ScoreInterval: 100 * time.Millisecond, Unchecked: misbehave,
		ScoreInspect: func(m map[peer.ID]float64) {
			for p, s := range m {
				scores.Store(p, s)
			}
		},
	})
	require.NoError(t, err)
	tn.nodes = append(tn.nodes, node)
	return node
}

// newHostKey is a fresh libp2p identity.
func newHostKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	require.NoError(t, err)
	return key
}

// newPeerID is the peer ID of a fresh libp2p identity.
func newPeerID(t testing.TB) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(newHostKey(t))
	require.NoError(t, err)
	return id
}

// waitMesh waits (bounded) until every node has gossip mesh peers.
func (tn *testNetwork) waitMesh(t testing.TB) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, "every node has gossip mesh peers", func() bool {
		for _, node := range tn.nodes {
			if node.MeshPeers() == 0 {
				return false
			}
		}
		return true
	})
}

func (tn *testNetwork) close() {
	for _, n := range tn.nodes {
		n.Close()
	}
}

// leakCheck snapshots the goroutines running now; the returned function,
// deferred, fails the test if any goroutine started since is still running
// (after a grace period goleak allows for goroutines that are exiting).
func leakCheck(t *testing.T) func() {
	before := goleak.IgnoreCurrent()
	return func() { goleak.VerifyNone(t, before) }
}

func TestGossipTalliesConverge(t *testing.T) {
	defer leakCheck(t)()
	const n = 21
	tn := startNetwork(t, n-1, n)
	defer tn.close()
	// The last node signs with the wrong key and skips its own validation.
	liar := tn.startNodeWith(t, n-1, true)
	// Let the meshes form before publishing (bounded).
	tn.waitMesh(t)
	ctx := context.Background()
	for i, node := range tn.nodes[:n-1] {
		require.NoError(t, node.PublishAttestation(ctx, tn.f.att(t, i, 1)))
	}
	// The liar's attestation: rejected everywhere, the liar penalized.
	bad := tn.f.att(t, n-1, 1)
	bad.Signature = tn.f.att(t, 0, 1).Signature
	require.NoError(t, liar.PublishAttestation(ctx, bad))
	testutil.Eventually(t, 20*time.Second, "every honest node counts the 20 valid attestations", func() bool {
		for _, node := range tn.nodes[:n-1] {
			if c, _ := node.LiveTally(dep, 1); c != n-1 {
				return false
			}
		}
		return true
	})
	// The liar's direct peers saw an invalid message from it: its score is negative.
	testutil.Eventually(t, 10*time.Second, "a neighbour graylists the liar (score below -80)", func() bool {
		for i := range tn.nodes[:n-1] {
			if s, ok := tn.scores[i].Load(liar.ID()); ok && s.(float64) < -80 {
				return true
			}
		}
		return false
	})
	for i, node := range tn.nodes[:n-1] {
		c, stake := node.LiveTally(dep, 1)
		assert.Equal(t, n-1, c, "node %d: signers", i)
		assert.Equal(t, uint64(10*(n-1)), stake, "node %d: stake", i)
	}
}

func TestDuplicatesAreNotForwarded(t *testing.T) {
	defer leakCheck(t)()
	tn := startNetwork(t, 6, 6)
	defer tn.close()
	tn.waitMesh(t)
	ctx := context.Background()
	a := tn.f.att(t, 2, 1)
	require.NoError(t, tn.nodes[0].PublishAttestation(ctx, a))
	testutil.Eventually(t, 10*time.Second, "every node counts it", func() bool {
		for _, node := range tn.nodes {
			if c, _ := node.LiveTally(dep, 1); c != 1 {
				return false
			}
		}
		return true
	})
	// The same payload published again, from another node: same message ID,
	// so no node validates (or forwards) it a second time.
	before := make([]int64, len(tn.nodes))
	for i, node := range tn.nodes {
		before[i], _ = node.Stats()
	}
	require.NoError(t, tn.nodes[3].PublishAttestation(ctx, a))
	// Then a new attestation from the same node, behind the duplicate on
	// every stream: once every node counts it, every node has had the
	// duplicate's turn, and must have validated exactly one message more.
	require.NoError(t, tn.nodes[3].PublishAttestation(ctx, tn.f.att(t, 3, 1)))
	testutil.Eventually(t, 10*time.Second, "every node counts the new attestation", func() bool {
		for _, node := range tn.nodes {
			if c, _ := node.LiveTally(dep, 1); c != 2 {
				return false
			}
		}
		return true
	})
	for i, node := range tn.nodes {
		v, _ := node.Stats()
		assert.Equal(t, before[i]+1, v, "node %d validated the duplicate again", i)
	}
}

func TestLateJoinerCatchesUpBySync(t *testing.T) {
	defer leakCheck(t)()
	tn := startNetwork(t, 4, 10)
	defer tn.close()
	tn.waitMesh(t)
	ctx := context.Background()
	for i := range 8 {
		require.NoError(t, tn.nodes[i%4].PublishAttestation(ctx, tn.f.att(t, i, 1)))
	}
	testutil.Eventually(t, 10*time.Second, "the first nodes count 8", func() bool {
		c, _ := tn.nodes[1].LiveTally(dep, 1)
		return c == 8
	})
	late := tn.startNode(t, 4)
	c, _ := late.LiveTally(dep, 1)
	require.Zero(t, c, "the late node starts with a tally")
	// Its static peer is the previous node started.
	got, err := late.CatchUp(ctx, tn.nodes[3].ID(), dep, 1)
	require.NoError(t, err, "catch up")
	assert.Equal(t, 8, got, "caught up")
	c, _ = late.LiveTally(dep, 1)
	assert.Equal(t, 8, c, "the late node's tally after sync")
	// A peer without a block source says so, rather than hanging.
	_, err = late.RequestBlocks(ctx, tn.nodes[3].ID(), 0, 10)
	assert.ErrorContains(t, err, "serves no blocks", "block sync from a node without blocks")
	_, err = late.RequestBlocks(ctx, tn.nodes[3].ID(), 0, MaxSyncBlocks+1)
	assert.Error(t, err, "an oversized request was sent")
}

func TestGarbageIsRejectedAndPenalized(t *testing.T) {
	defer leakCheck(t)()
	tn := startNetwork(t, 3, 3)
	defer tn.close()
	tn.waitMesh(t)
	sender := tn.nodes[2]
	for i := range 3 {
		// Locally rejected messages are not sent; publishing errors here is expected.
		_ = sender.publishRawAttestation(context.Background(), []byte(fmt.Sprintf("garbage %d", i)))
	}
	_, rejected := sender.Stats()
	assert.Equal(t, int64(3), rejected, "garbage messages the sender's own validator rejected")
}

func FuzzDecodeSyncRequest(f *testing.F) {
	f.Add(SyncRequest{Kind: syncBlocks, From: 5, Count: 10}.encode())
	f.Add(SyncRequest{Kind: syncAttestations, Deployment: dep, Epoch: 3}.encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeSyncRequest(data)
		if err != nil {
			return
		}
		if r.Kind == syncBlocks && (r.Count == 0 || r.Count > MaxSyncBlocks) {
			t.Fatalf("unbounded request accepted: %+v", r)
		}
	})
}

func FuzzDecodeSyncResponse(f *testing.F) {
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = DecodeSyncResponse(data) })
}

type blocks [][]byte

func (b blocks) EncodedBlocks(from, count uint64) ([][]byte, error) {
	if from >= uint64(len(b)) {
		return nil, fmt.Errorf("no block %d", from)
	}
	return b[from:min(uint64(len(b)), from+count)], nil
}

func TestBlockSync(t *testing.T) {
	defer leakCheck(t)()
	f := newFixture(t, 2)
	view := testView{epoch: 1, table: f.table}
	server, err := Start(context.Background(), Config{ChainID: "ingest", Identity: newHostKey(t), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		View: view, Handlers: Handlers{Sync: blocks{[]byte("b0"), []byte("b1"), []byte("b2")}}})
	require.NoError(t, err)
	defer server.Close()
	client, err := Start(context.Background(), Config{ChainID: "ingest", Identity: newHostKey(t), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		View: view, Peers: []peer.AddrInfo{server.AddrInfo()}})
	require.NoError(t, err)
	defer client.Close()
	got, err := client.RequestBlocks(context.Background(), server.ID(), 1, 5)
	require.NoError(t, err, "blocks")
	assert.Equal(t, [][]byte{[]byte("b1"), []byte("b2")}, got, "blocks")
	_, err = client.RequestBlocks(context.Background(), server.ID(), 9, 1)
	assert.ErrorContains(t, err, "no block 9", "missing block")
}

func TestPeerRateLimit(t *testing.T) {
	defer leakCheck(t)()
	f := newFixture(t, 2)
	n, err := Start(context.Background(), Config{ChainID: "ingest", Identity: newHostKey(t), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		View: testView{epoch: 1, table: f.table}, PeerRate: 10})
	require.NoError(t, err)
	defer n.Close()
	pid := newPeerID(t)
	allowed := 0
	for range 50 {
		if n.allow(pid) {
			allowed++
		}
	}
	// The burst of 10, with room for a refill or two on a slow machine.
	assert.GreaterOrEqual(t, allowed, 10, "a peer limited to 10/s (burst 10): messages through at once, of 50")
	assert.LessOrEqual(t, allowed, 12, "a peer limited to 10/s (burst 10): messages through at once, of 50")
	assert.True(t, n.allow(n.ID()), "the node's own messages are rate limited")
}

// TestStaticPeerThatNeverAnswersHoldsUpNoOther: a static peer whose address
// accepts TCP and then says nothing (like a machine that drops packets, the
// dial waits out its timeout) must not delay the dial to the others. The
// other peer is connected while the silent dial still hangs.
func TestStaticPeerThatNeverAnswersHoldsUpNoOther(t *testing.T) {
	defer leakCheck(t)()
	tn := startNetwork(t, 1, 4)
	defer tn.close()

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() { // owned by the test: ends when silent closes
		if c, err := silent.Accept(); err == nil {
			accepted <- c
		}
	}()
	silentID := newPeerID(t)
	key := newHostKey(t)

	started := make(chan *Node, 1)
	go func() { // owned by the test: Start returns once both dials end
		n, err := Start(context.Background(), Config{ChainID: "ingest", Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			View: tn.view, Peers: []peer.AddrInfo{
				{ID: silentID, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/" + strconv.Itoa(silent.Addr().(*net.TCPAddr).Port))}},
				tn.nodes[0].AddrInfo()}})
		assert.NoError(t, err) // not require: this is not the test's goroutine
		started <- n
	}()
	var hanging net.Conn
	select {
	case hanging = <-accepted:
	case <-time.After(15 * time.Second):
		t.Fatal("the silent peer was never dialled")
	}
	testutil.Eventually(t, 8*time.Second, "the other peer connects while the silent dial hangs", func() bool { return tn.nodes[0].Peers() == 1 })
	select {
	case <-started:
		t.Fatal("Start returned while the silent dial should still hang")
	default: // the silent dial is still waiting
	}
	hanging.Close() // the silent dial fails now, and Start returns
	n := <-started
	if n != nil {
		n.Close()
	}
}
