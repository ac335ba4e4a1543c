package node

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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

// A stake upgrade on a scripted chain (chaintest.Fake): no sequencer clock,
// gossip or consensus, so the node's whole reaction to an upgrade runs in
// milliseconds. The node signs its readiness once the deployment is
// STARTED, the test puts it in a block with its peers', and at the
// activation the hook runs once with the deployment's activation view.
func TestStakeUpgradeOnAScriptedChain(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "fake", EpochViews: 10, SafetyViews: 2,
		Versions: map[string]string{"protocol": "1.0.0"},
		Nodes: []chain.NodeSpec{{ID: "a", Role: "consensus", Stake: 100}, {ID: "b", Role: "consensus", Stake: 100},
			{ID: "c", Role: "consensus", Stake: 100}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("fake")})
	require.NoError(t, err)
	sup, err := ParseSupported([]string{"protocol=1.0.0", "protocol=2.0.0"})
	require.NoError(t, err)
	home := t.TempDir()
	var fake *chaintest.Fake
	n, err := Start(context.Background(), Config{Home: home, Genesis: g, NodeID: "a", StakingKey: keys.Staking["a"],
		P2PKey: keys.P2P["a"], Supported: sup, ViewInterval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		Hook: []string{"sh", "-c", `echo "$QUORUMGATE_DEPLOYMENT $QUORUMGATE_VERSION $QUORUMGATE_ACTIVATION_VIEW" >> ` + filepath.Join(home, "hook.log")},
		Engine: func(env EngineEnv) (Engine, error) {
			fake = chaintest.New(env.Genesis, env.Store, env.Guard)
			return fake, nil
		}})
	require.NoError(t, err)
	defer func() { assert.NoError(t, n.Close()) }()

	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 5}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, []signal.PrivateKey{keys.Governance[0]})
	require.NoError(t, err)
	_, err = fake.Append(1, activation.WireBlock{Proposals: []activation.SignedProposal{{Proposal: p, Approval: approval}}})
	require.NoError(t, err)
	require.NoError(t, fake.Empty(2, 10)) // view 10 starts epoch 1: STARTED
	require.Equal(t, activation.Started, status(t, fake.Head(), "p2"))

	testutil.Eventually(t, 5*time.Second, "the node signs its readiness for epoch 1", func() bool {
		return len(fake.Attestations()) > 0
	})
	own := fake.Attestations()[0]
	assert.Equal(t, "a", own.Signer)
	assert.Equal(t, uint64(1), own.Epoch)
	assert.Equal(t, p.ID(), own.Deployment)
	ready := []signal.Attestation{own}
	for _, id := range []string{"b", "c"} { // two thirds is not enough: all three
		a, err := signal.SignReadiness(keys.Staking[id], g.ChainID, p.ID(), 1, id)
		require.NoError(t, err)
		ready = append(ready, a)
	}
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

func status(t *testing.T, s *activation.State, name string) activation.Status {
	t.Helper()
	if d, ok := s.Deployment(name); ok {
		return d.Status
	}
	return activation.None
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
