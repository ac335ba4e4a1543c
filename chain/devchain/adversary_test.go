package devchain

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/p2p"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// attackerView is what the attacker's own pipeline believes (it checks
// nothing of its own messages anyway).
type attackerView struct{ g *Genesis }

func (v attackerView) CurrentEpoch() uint64               { return 0 }
func (v attackerView) Table(e uint64) *quorum.Table       { return v.g.Params().Identities.TableAt(e) }
func (v attackerView) Signaling(signal.DeploymentID) bool { return true }

// TestAdversary runs the attacks of issue 13 against four honest devchain
// nodes over 127.0.0.1: an unstaked libp2p peer floods junk governance,
// invalid and replayed blocks, forged and cancelling attestations, and
// garbage on every topic, while the honest nodes signal a stake upgrade. The
// honest nodes must keep finalizing at the sequencer's pace, agree on state
// IDs, keep their pools bounded, count every genuine readiness, and have
// graylisted the attacker. Each attack's figures are logged (-v).
func TestAdversary(t *testing.T) {
	checkLeaks(t)
	g, keys, err := Generate(GenerateOptions{
		ChainID: "dev-adversary", EpochViews: 3000, SafetyViews: 5, Versions: map[string]string{"protocol": "1.0.0"},
		Nodes: []NodeSpec{{ID: "seq", Role: "consensus", Stake: 100}, {ID: "c2", Role: "consensus", Stake: 100},
			{ID: "c3", Role: "consensus", Stake: 100}, {ID: "e1", Role: "execution", Stake: 100}},
		GovernanceMembers: 3, GovernanceThreshold: 2, Seed: []byte("devchain-adversary"),
	})
	require.NoError(t, err)
	nodes, closeAll := startMesh(t, g, keys, "seq", "c2", "c3", "e1")
	t.Cleanup(closeAll)
	// A genuine stake proposal, submitted at a follower.
	ctx := context.Background()
	epoch := netView{nodes[1].chain}.CurrentEpoch()
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: epoch, TimeoutEpoch: epoch + 50}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0, 2},
		[]signal.PrivateKey{keys.Governance[0], keys.Governance[2]})
	require.NoError(t, err)
	require.NoError(t, nodes[1].chain.SubmitGovernance(ctx, chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: approval}}))
	testutil.Eventually(t, 15*time.Second, "p2 is STARTED everywhere", func() bool {
		for _, n := range nodes {
			if status(n, "p2") != activation.Started {
				return false
			}
		}
		return true
	})
	startHead, _, _ := nodes[0].chain.Head().Head()
	e := netView{nodes[0].chain}.CurrentEpoch()

	// Each attack comes from a fresh identity (the attacker churns them):
	// the first invalid message graylists an identity, so one identity
	// could not show the next defence.
	type row struct {
		attack                        string
		sent                          int
		sigChecked, rejected, ignored int64
		score                         float64
	}
	var rows []row
	snapshot := func(a *p2p.Node) (sig, rej, ign int64) {
		for _, n := range nodes {
			st, v := n.net.PeerStats(a.ID()), n.net.Verdicts(a.ID())
			sig += int64(st.Bad + st.Verified)
			rej += v.Rejected
			ign += v.Ignored
		}
		return
	}
	attack := func(name string, penalised bool, send func(a *p2p.Node) int) {
		k, _, err := crypto.GenerateEd25519Key(nil)
		require.NoError(t, err)
		a, err := p2p.Start(context.Background(), p2p.Config{ChainID: g.ChainID, Identity: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			Peers: []peer.AddrInfo{nodes[1].net.AddrInfo(), nodes[2].net.AddrInfo()}, View: attackerView{g}, Unchecked: true,
			ScoreInterval: 100 * time.Millisecond})
		require.NoError(t, err)
		defer a.Close()
		testutil.Eventually(t, 10*time.Second, name+": the attacker joins the gossip mesh", func() bool { return a.MeshPeers() > 0 })
		sig0, rej0, ign0 := snapshot(a)
		r := row{attack: name, sent: send(a)}
		if penalised {
			testutil.Eventually(t, 10*time.Second, name+": a neighbour graylists the attacker", func() bool {
				s, ok := nodes[1].net.Score(a.ID())
				s3, ok3 := nodes[2].net.Score(a.ID())
				return (ok && s < -80) || (ok3 && s3 < -80)
			})
		} else {
			time.Sleep(500 * time.Millisecond) // a bounded moment for the honest nodes to judge it
		}
		sig1, rej1, ign1 := snapshot(a)
		r.sigChecked, r.rejected, r.ignored = sig1-sig0, rej1-rej0, ign1-ign0
		s2, _ := nodes[1].net.Score(a.ID())
		s3, _ := nodes[2].net.Score(a.ID())
		r.score = min(s2, s3)
		for _, n := range nodes {
			assert.Zero(t, n.net.PeerStats(a.ID()).Verified, "%s: %s verified an attacker's attestation", name, n.id)
		}
		rows = append(rows, r)
	}
	count := func(errs ...error) int {
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		return ok
	}
	attack("forged attestations", true, func(a *p2p.Node) int {
		var errs []error
		for _, n := range nodes {
			at, err := signal.SignReadiness(keys.Staking[n.id], g.ChainID, p.ID(), e, n.id)
			require.NoError(t, err)
			at.Signature, err = signal.Sign(keys.Staking[n.id], []byte("something else"))
			require.NoError(t, err)
			errs = append(errs, a.PublishAttestation(ctx, at))
		}
		return count(errs...)
	})
	attack("cancelling pair", true, func(a *p2p.Node) int {
		pa, pb := cancellingPair(t, g, keys, p.ID(), e, "c2", "c3")
		return count(a.PublishAttestation(ctx, pa), a.PublishAttestation(ctx, pb))
	})
	attack("junk governance", true, func(a *p2p.Node) int {
		bad := p
		bad.Name, bad.Version = "evil", "9.0.0"
		few, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, bad), []int{0}, []signal.PrivateKey{keys.Governance[0]})
		require.NoError(t, err)
		errs := []error{a.PublishGovernance(ctx, canon.MustEncode(GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: bad, Approval: few}}))}
		for i := range 50 {
			errs = append(errs, a.PublishGovernance(ctx, []byte(fmt.Sprintf("junk %d", i))))
		}
		return count(errs...)
	})
	attack("invalid blocks", true, func(a *p2p.Node) int {
		head := nodes[0].chain.Head()
		hh, hv, _ := head.Head()
		fb, err := DecodeSignedBlock(sequencerBlock(t, g, keys, head, hh+1, hv+1))
		require.NoError(t, err)
		fb.Signature, err = signal.Sign(keys.Staking["c3"], fb.signingBytes())
		require.NoError(t, err)
		errs := []error{a.PublishBlock(ctx, canon.MustEncode(fb))}
		for i := range 20 {
			errs = append(errs, a.PublishBlock(ctx, []byte(fmt.Sprintf("garbage block %d", i))))
		}
		return count(errs...)
	})
	attack("replayed blocks", false, func(a *p2p.Node) int {
		var errs []error
		for h := uint64(1); h <= 3; h++ {
			old, err := nodes[0].store.Block(h)
			require.NoError(t, err)
			errs = append(errs, a.PublishBlock(ctx, old.Wire))
		}
		return count(errs...)
	})
	attack("garbage attestations", true, func(a *p2p.Node) int {
		var errs []error
		for i := range 20 {
			errs = append(errs, a.PublishAttestationBytes(ctx, []byte(fmt.Sprintf("garbage %d", i))))
		}
		return count(errs...)
	})

	// The honest nodes attest (the plugin's job, by hand here).
	for _, n := range nodes {
		a, err := signal.SignReadiness(keys.Staking[n.id], g.ChainID, p.ID(), e, n.id)
		require.NoError(t, err)
		require.NoError(t, n.chain.SubmitAttestation(ctx, a))
	}
	testutil.Eventually(t, 20*time.Second, "every honest node counts all four genuine readinesses", func() bool {
		for _, n := range nodes {
			if c, _ := n.net.LiveTally(p.ID(), e); c != 4 {
				return false
			}
		}
		return true
	})
	testutil.Eventually(t, 20*time.Second, "p2 locks in everywhere", func() bool {
		for _, n := range nodes {
			if s := status(n, "p2"); s != activation.LockedIn && s != activation.Active {
				return false
			}
		}
		return true
	})

	// Pace and agreement: every follower reaches the sequencer's head of
	// now within a second (100 views), no chain stopped, the same state at
	// a common height.
	seqHead, _, _ := nodes[0].chain.Head().Head()
	var lag uint64
	for _, n := range nodes[1:] {
		h, _, _ := n.chain.Head().Head()
		lag = max(lag, seqHead-min(seqHead, h))
	}
	testutil.Eventually(t, time.Second, "every follower reaches the sequencer's head", func() bool {
		for _, n := range nodes[1:] {
			if h, _, _ := n.chain.Head().Head(); h < seqHead {
				return false
			}
		}
		return true
	})
	var common uint64 = 1 << 62
	for _, n := range nodes {
		require.NoError(t, n.chain.Err(), n.id)
		h, _, _ := n.chain.Head().Head()
		common = min(common, h)
	}
	want, err := nodes[0].store.StateAt(common)
	require.NoError(t, err)
	for _, n := range nodes[1:] {
		got, err := n.store.StateAt(common)
		require.NoError(t, err)
		assert.Equal(t, want.ID(), got.ID(), "%s: state at height %d", n.id, common)
	}
	// Nothing of the attackers' was pooled; memory bounded.
	for _, n := range nodes {
		m := n.net.Memory()
		assert.LessOrEqual(t, m.PoolEntries, 2, n.id)
		_, known := n.chain.Head().Deployment("evil")
		assert.False(t, known, "%s: the junk proposal reached the chain", n.id)
	}
	for _, r := range rows {
		t.Logf("attack %-21s sent %2d | honest nodes checked %2d of its signatures, rejected %2d and ignored %2d of its messages | its score %.0f (graylist threshold -80)",
			r.attack, r.sent, r.sigChecked, r.rejected, r.ignored, r.score)
	}
	t.Logf("blocks finalized during the attack: %d (sequencer head %d); followers at most %d behind when read, caught up within 1 s",
		seqHead-startHead, seqHead, lag)
}

// cancellingPair returns attestations of signers a and b whose signatures
// are s_a+Δ and s_b−Δ: each invalid, their plain sum valid.
func cancellingPair(t *testing.T, g *Genesis, keys *Keys, d signal.DeploymentID, epoch uint64, a, b string) (signal.Attestation, signal.Attestation) {
	t.Helper()
	sign := func(node string) signal.Attestation {
		att, err := signal.SignReadiness(keys.Staking[node], g.ChainID, d, epoch, node)
		require.NoError(t, err)
		return att
	}
	return testutil.CancellingPair(t, sign(a), sign(b), sign("seq").Signature)
}
