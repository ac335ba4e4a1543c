package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/chaintest"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// scripted is a node, "a", on a scripted chain (chaintest.Fake) whose
// genesis has consensus nodes a, b, … of 100 stake each and one governance
// member. Its log and its hook's (hook.log in the home) are kept.
type scripted struct {
	*Node
	fake *chaintest.Fake
	g    *chain.Genesis
	keys *chain.Keys
	home string
	logs *testutil.SyncBuffer
}

func startScripted(t *testing.T, nodes int, protocol string, supported ...string) *scripted {
	t.Helper()
	var specs []chain.NodeSpec
	for i := range nodes {
		specs = append(specs, chain.NodeSpec{ID: string(rune('a' + i)), Role: "consensus", Stake: 100})
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "fake", EpochViews: 10, SafetyViews: 2,
		Versions: map[string]string{"protocol": protocol}, Nodes: specs, GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("fake")})
	require.NoError(t, err)
	sup, err := ParseSupported(supported)
	require.NoError(t, err)
	s := &scripted{g: g, keys: keys, home: t.TempDir(), logs: &testutil.SyncBuffer{}}
	following := &followed{started: make(chan struct{})}
	s.Node, err = Start(context.Background(), Config{Home: s.home, Genesis: g, NodeID: "a", StakingKey: keys.Staking["a"],
		P2PKey: keys.P2P["a"], Supported: sup, ViewInterval: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(s.logs, nil)),
		Hook: []string{"sh", "-c", `echo "$QUORUMGATE_DEPLOYMENT $QUORUMGATE_VERSION $QUORUMGATE_ACTIVATION_VIEW" >> ` + filepath.Join(s.home, "hook.log")},
		Engine: func(env EngineEnv) (Engine, error) {
			s.fake = chaintest.New(env.Genesis, env.Store, env.Guard)
			following.Fake = s.fake
			return following, nil
		}})
	require.NoError(t, err)
	select {
	case <-following.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the node's loop does not follow the chain")
	}
	return s
}

// followed tells when the node's loop starts to follow the chain: a block
// appended from then on is new to it, and counts in its Received.
type followed struct {
	*chaintest.Fake
	once    sync.Once
	started chan struct{}
}

func (f *followed) Finalized(ctx context.Context, from uint64) (<-chan chain.FinalizedBlock, error) {
	f.once.Do(func() { close(f.started) })
	return f.Fake.Finalized(ctx, from)
}

// propose puts p, approved by the committee, in a block at view.
func (s *scripted) propose(t *testing.T, view uint64, p activation.Proposal) {
	t.Helper()
	approval, err := s.g.Committee().Approve(activation.ProposalMessage(s.g.ChainID, p), []int{0}, []signal.PrivateKey{s.keys.Governance[0]})
	require.NoError(t, err)
	_, err = s.fake.Append(view, activation.WireBlock{Proposals: []activation.SignedProposal{{Proposal: p, Approval: approval}}})
	require.NoError(t, err)
}

// ready is the readiness of the given nodes for p in epoch.
func (s *scripted) ready(t *testing.T, p activation.Proposal, epoch uint64, ids ...string) []signal.Attestation {
	t.Helper()
	var out []signal.Attestation
	for _, id := range ids {
		a, err := signal.SignReadiness(s.keys.Staking[id], s.g.ChainID, p.ID(), epoch, id)
		require.NoError(t, err)
		out = append(out, a)
	}
	return out
}

// A stake upgrade on a scripted chain (chaintest.Fake): no sequencer clock,
// gossip or consensus, so the node's whole reaction to an upgrade runs in
// milliseconds. The node signs its readiness once the deployment is
// STARTED, the test puts it in a block with its peers', and at the
// activation the hook runs once with the deployment's activation view.
func TestStakeUpgradeOnAScriptedChain(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := startScripted(t, 3, "1.0.0", "protocol=1.0.0", "protocol=2.0.0")
	n, fake, home := s.Node, s.fake, s.home
	defer func() { assert.NoError(t, n.Close()) }()

	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 5}
	s.propose(t, 1, p)
	require.NoError(t, fake.Empty(2, 10)) // view 10 starts epoch 1: STARTED
	require.Equal(t, activation.Started, status(t, fake.Head(), "p2"))

	testutil.Eventually(t, 5*time.Second, "the node signs its readiness for epoch 1", func() bool {
		return len(fake.Attestations()) > 0
	})
	own := fake.Attestations()[0]
	assert.Equal(t, "a", own.Signer)
	assert.Equal(t, uint64(1), own.Epoch)
	assert.Equal(t, p.ID(), own.Deployment)
	ready := append([]signal.Attestation{own}, s.ready(t, p, 1, "b", "c")...) // two thirds is not enough: all three
	var activatesAt uint64
	for v := uint64(11); v < 60 && status(t, fake.Head(), "p2") != activation.Active; v++ {
		var items activation.WireBlock
		if v == 11 {
			items.Attestations = ready
		}
		fb, err := fake.Append(v, items)
		require.NoError(t, err)
		for _, e := range fb.Events {
			if tr, ok := e.(activation.Transition); ok && tr.To == activation.LockedIn {
				activatesAt = tr.ActivationView
			}
		}
	}
	require.Equal(t, activation.Active, status(t, fake.Head(), "p2"))
	require.NotZero(t, activatesAt)
	testutil.Eventually(t, 10*time.Second, "the hook runs at the activation", func() bool {
		log, _ := os.ReadFile(filepath.Join(home, "hook.log"))
		return strings.Contains(string(log), "\n")
	})
	log, err := os.ReadFile(filepath.Join(home, "hook.log"))
	require.NoError(t, err)
	assert.Equal(t, "p2 2.0.0 "+itoa(activatesAt)+"\n", string(log))
	testutil.Eventually(t, 5*time.Second, "the node's head follows the scripted chain", func() bool {
		_, v, _ := n.Head().Head()
		_, fv, _ := fake.Head().Head()
		return v == fv
	})
}

// A patch release on a scripted chain at protocol 2.0.0: a stake deployment
// of 2.0.1 (still accepted: the protocol state keeps exact versions) locks
// in with b, c and d ready. A node that runs component version 2.0 signs its
// readiness, does not warn and follows the activation; a node that runs only
// 2.0.0 signs nothing, warns once it is locked in, and halts at the
// activation. Every step waits until the node's loop has finished with the
// block before (it has taken the next one), so each check is of a decision
// the node has made, not of one it has not made yet.
func TestPatchReleaseOnAScriptedChain(t *testing.T) {
	for _, tc := range []struct {
		supported string
		runs      bool
	}{{"protocol=2.0", true}, {"protocol=2.0.0", false}} {
		t.Run(tc.supported, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := startScripted(t, 4, "2.0.0", tc.supported)
			defer func() { assert.NoError(t, s.Close()) }()
			step := func(view uint64, items activation.WireBlock) (chain.FinalizedBlock, error) {
				t.Helper()
				fb, err := s.fake.Append(view, items)
				if err == nil {
					testutil.Eventually(t, 5*time.Second, "the node takes the block at view "+itoa(view), func() bool {
						return s.Received(chain.ViaGossip) > fb.Height
					})
				}
				return fb, err
			}
			p := activation.Proposal{Name: "p201", Component: "protocol", Version: "2.0.1", Mode: activation.Stake,
				Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 5}
			s.propose(t, 1, p)
			for v := uint64(2); v <= 11; v++ { // view 10 starts epoch 1: STARTED
				_, err := step(v, activation.WireBlock{})
				require.NoError(t, err)
			}
			require.Equal(t, activation.Started, status(t, s.fake.Head(), "p201"))
			own := s.fake.Attestations()
			if tc.runs {
				require.Len(t, own, 1, "the node signed its readiness for 2.0.1")
				assert.Equal(t, "a", own[0].Signer)
				assert.Equal(t, p.ID(), own[0].Deployment)
			} else {
				assert.Empty(t, own, "the node signed readiness for a version it does not run")
			}

			var activatesAt uint64
			v := uint64(12)
			for ; activatesAt == 0 && v < 20; v++ {
				var items activation.WireBlock
				if v == 12 {
					items.Attestations = s.ready(t, p, 1, "b", "c", "d") // three quarters of the stake, without a
				}
				fb, err := step(v, items)
				require.NoError(t, err)
				for _, e := range fb.Events {
					if tr, ok := e.(activation.Transition); ok && tr.To == activation.LockedIn {
						activatesAt = tr.ActivationView
					}
				}
			}
			require.NotZero(t, activatesAt, "p201 locked in")
			require.Greater(t, activatesAt, v+1)
			_, err := step(v, activation.WireBlock{}) // the lock-in block's turn is over
			require.NoError(t, err)
			if tc.runs {
				assert.NotContains(t, s.logs.String(), "UPGRADE NEEDED")
			} else {
				assert.Contains(t, s.logs.String(), "UPGRADE NEEDED: deployment p201 activates protocol 2.0.1 at view "+itoa(activatesAt))
			}
			require.NoError(t, s.fake.Empty(v+1, activatesAt-1))

			_, err = s.fake.Append(activatesAt, activation.WireBlock{})
			if !tc.runs {
				var he *HaltError
				require.ErrorAs(t, err, &he, "the chain went on into 2.0.1")
				testutil.Eventually(t, 5*time.Second, "the node halts", func() bool {
					select {
					case <-s.Done():
						return true
					default:
						return false
					}
				})
				require.ErrorAs(t, s.Err(), &he)
				assert.Equal(t, "2.0.1", he.Version)
				return
			}
			require.NoError(t, err, "a node that runs 2.0 halted at 2.0.1")
			require.Equal(t, activation.Active, status(t, s.fake.Head(), "p201"))
			testutil.Eventually(t, 10*time.Second, "the hook runs at the activation", func() bool {
				log, _ := os.ReadFile(filepath.Join(s.home, "hook.log"))
				return strings.Contains(string(log), "\n")
			})
			log, err := os.ReadFile(filepath.Join(s.home, "hook.log"))
			require.NoError(t, err)
			assert.Equal(t, "p201 2.0.1 "+itoa(activatesAt)+"\n", string(log))
			assert.NoError(t, s.Err(), "the node stopped")
			assert.NotContains(t, s.logs.String(), "UPGRADE NEEDED")
		})
	}
}

func status(t *testing.T, s *activation.State, name string) activation.Status {
	t.Helper()
	if d, ok := s.Deployment(name); ok {
		return d.Status
	}
	return activation.None
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
