package p2p

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/signal"
)

// forgedSignature returns a well-formed signature that is not signer's on
// dep's readiness message: another signer's signature of another message.
func (f *fixture) forgedSignature(t testing.TB, j, k int) []byte {
	t.Helper()
	sig, err := signal.Sign(f.keys[j%len(f.keys)], []byte(fmt.Sprintf("not the readiness message %d", k)))
	require.NoError(t, err)
	return sig
}

// cancellingPair returns attestations of signers a and b whose signatures
// are s_a+Δ and s_b−Δ: each invalid, their plain sum valid.
func (f *fixture) cancellingPair(t testing.TB, a, b int, epoch uint64) (signal.Attestation, signal.Attestation) {
	t.Helper()
	return testutil.CancellingPair(t, f.att(t, a, epoch), f.att(t, b, epoch), f.att(t, (a+b+1)%len(f.keys), epoch).Signature)
}

// floodResult is what a forged flood cost the honest nodes.
type floodResult struct {
	sent     int // forged messages the forger published
	verified int // of them, signature checks the honest nodes ran
	accepted int // forged messages any honest node accepted (must be 0)
}

// forgedFlood runs the attack: a forger (an unstaked peer that skips its own
// validation) first sends forged attestations naming honest signers and a
// cancelling pair, then floods forged ones, while the honest nodes publish
// their genuine readiness. It asserts what must hold and returns the figures.
func forgedFlood(t testing.TB, flood int) floodResult {
	const honest, signers = 6, 24
	tn := startNetwork(t, honest, signers)
	defer tn.close()
	forger := tn.startNodeWith(t, honest, true)
	tn.waitMesh(t)
	ctx := context.Background()

	// Forgeries first, so they reach the forger's neighbours before the
	// genuine attestations they name: they must not shadow them.
	for i := range 6 {
		a := tn.f.att(t, i, 1)
		a.Signature = tn.f.forgedSignature(t, i+1, i)
		require.NoError(t, forger.PublishAttestation(ctx, a))
	}
	pa, pb := tn.f.cancellingPair(t, 6, 7, 1)
	require.NoError(t, forger.PublishAttestation(ctx, pa))
	require.NoError(t, forger.PublishAttestation(ctx, pb))
	sent := 8
	for k := range flood {
		a := tn.f.att(t, k%signers, 1)
		a.Signature = tn.f.forgedSignature(t, k+3, 1000+k)
		if forger.PublishAttestation(ctx, a) == nil {
			sent++
		}
	}
	for i := range signers {
		require.NoError(t, tn.nodes[i%honest].PublishAttestation(ctx, tn.f.att(t, i, 1)))
	}
	testutil.Eventually(t, 30*time.Second, "every honest node counts every genuine readiness", func() bool {
		for _, n := range tn.nodes[:honest] {
			if c, _ := n.LiveTally(dep, 1); c != signers {
				return false
			}
		}
		return true
	})
	testutil.Eventually(t, 10*time.Second, "the forger's neighbours graylist it (score below -80)", func() bool {
		for i, n := range tn.nodes[:honest] {
			if n.host.Network().Connectedness(forger.ID()) != 0 {
				if s, ok := tn.scores[i].Load(forger.ID()); !ok || s.(float64) >= -80 {
					return false
				}
			}
		}
		return true
	})
	res := floodResult{sent: sent}
	for i, n := range tn.nodes[:honest] {
		st := n.PeerStats(forger.ID())
		res.verified += st.Verified + st.Bad
		res.accepted += st.Verified
		// No honest relay is penalised: honest nodes forwarded nothing invalid.
		for j, m := range tn.nodes[:honest] {
			if s, ok := tn.scores[i].Load(m.ID()); ok && j != i {
				assert.GreaterOrEqual(t, s.(float64), 0.0, "node %d scores honest node %d", i, j)
			}
		}
	}
	assert.Zero(t, res.accepted, "a forged attestation verified")
	return res
}

func TestForgedFloodCostsTheForgerOnly(t *testing.T) {
	defer leakCheck(t)()
	res := forgedFlood(t, 2000)
	t.Logf("forger sent %d forged attestations; honest nodes checked %d signatures of them before cutting it off", res.sent, res.verified)
	assert.Less(t, res.verified, res.sent/4, "the forger was not cut off early")
}

// BenchmarkForgerCutOff reports how many of a forger's 2,000 forged
// attestations the honest nodes check before the gossip score cuts it off.
func BenchmarkForgerCutOff(b *testing.B) {
	total := 0
	for range b.N {
		total += forgedFlood(b, 2000).verified
	}
	b.ReportMetric(float64(total)/float64(b.N), "verified-before-cutoff")
}

// mutableView is a testView whose epoch moves on.
type mutableView struct {
	testView
	cur atomic.Uint64
}

func (v *mutableView) CurrentEpoch() uint64 { return v.cur.Load() }

// Peers that come and go, each with a new identity and a junk message, and
// epochs that pass: the per-peer and per-epoch state stays bounded.
func TestChurnAndEpochsKeepStateBounded(t *testing.T) {
	defer leakCheck(t)()
	runChurn(t, 10, 3, nil)
}

// runChurn runs epochs epochs; in each, every signer attests and churn
// fresh identities connect, send junk and leave; onEpoch (if set) runs at
// the end of each. It returns the honest node's peak memory figures.
func runChurn(t testing.TB, epochs, churn int, onEpoch func(epoch uint64)) MemoryStats {
	f := newFixture(t, 16)
	view := &mutableView{testView: testView{table: f.table, signaling: map[signal.DeploymentID]bool{dep: true}}}
	view.cur.Store(1)
	key, _, err := crypto.GenerateEd25519Key(nil)
	require.NoError(t, err)
	honest, err := Start(context.Background(), Config{ChainID: "ingest", Identity: key,
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, View: view, BatchWindow: time.Millisecond})
	require.NoError(t, err)
	defer honest.Close()
	ctx := context.Background()
	var peak MemoryStats
	for e := uint64(1); e <= uint64(epochs); e++ {
		view.cur.Store(e)
		for range churn {
			k, _, err := crypto.GenerateEd25519Key(nil)
			require.NoError(t, err)
			c, err := Start(ctx, Config{ChainID: "ingest", Identity: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
				View: view, Peers: []peer.AddrInfo{honest.AddrInfo()}, Unchecked: true})
			require.NoError(t, err)
			testutil.Eventually(t, 10*time.Second, "the churning peer joins the mesh", func() bool { return c.MeshPeers() > 0 })
			// Genuine readiness first (junk gets the sender graylisted,
			// and its later messages dropped unread), then forgeries.
			for i := range f.keys {
				if i%4 != 0 {
					_ = c.PublishAttestation(ctx, f.att(t, i, e))
				}
			}
			for i := 0; i < len(f.keys); i += 4 {
				a := f.att(t, i, e)
				a.Signature = f.forgedSignature(t, i+1, int(e))
				_ = c.PublishAttestation(ctx, a)
			}
			require.NoError(t, c.Close())
		}
		testutil.Eventually(t, 10*time.Second, "the honest node saw this epoch's genuine readiness", func() bool {
			cnt, _ := honest.LiveTally(dep, e)
			return cnt > 0
		})
		m := honest.Memory()
		peak.PoolEntries, peak.Seen, peak.Tallies = max(peak.PoolEntries, m.PoolEntries), max(peak.Seen, m.Seen), max(peak.Tallies, m.Tallies)
		peak.PoolBytes = max(peak.PoolBytes, m.PoolBytes)
		if onEpoch != nil {
			onEpoch(e)
		}
	}
	testutil.Eventually(t, 10*time.Second, "per-peer state is dropped on disconnect", func() bool {
		m := honest.Memory()
		return m.Limiters == 0 && m.Sources <= 1
	})
	// Per-epoch state: the current and the next epoch at most.
	assert.LessOrEqual(t, peak.PoolEntries, 2)
	assert.LessOrEqual(t, peak.Seen, 2)
	assert.LessOrEqual(t, peak.Tallies, 2)
	return peak
}

var _ ChainView = (*mutableView)(nil)

// A sync server trims a response to the cap (keeping at least one block),
// so a client asking for many large blocks gets fewer, never a response it
// must refuse.
func TestSyncResponseIsTrimmedToTheCap(t *testing.T) {
	items := [][]byte{make([]byte, 400), make([]byte, 400), make([]byte, 400)}
	assert.Len(t, fitResponse(items, 1000), 2)
	assert.Len(t, fitResponse(items, 100), 1, "one block, even over the cap")
	assert.Len(t, fitResponse(items, 1<<20), 3)
}
