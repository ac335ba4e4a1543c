package proof_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/testutil"
	"github.com/quorumgate/quorumgate/proof"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// fixture is a devchain node home whose store holds a stake upgrade
// (protocol 2.0.0, consensus and execution roles, c3 never ready) and a
// governance parameter change, both ACTIVE: built once, by a real
// sequencer (no network), then stopped.
type fixture struct {
	home    string
	genesis *chain.Genesis
	keys    *chain.Keys
	// lockView and activation of p2, as the node saw them.
	p2LockView, p2ActivatesAt uint64
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
	fixDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	os.Exit(code)
}

func u64(v uint64) *uint64 { return &v }

func testGenesis(t testing.TB, chainID string) (*chain.Genesis, *chain.Keys) {
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{
		ChainID: chainID, EpochViews: 40, SafetyViews: 5, Versions: map[string]string{"protocol": "1.0.0", "cadence": "0.9.0"},
		ParamDecls: []activation.ParamDecl{{Name: "timeout", Type: activation.ParamUint, Min: u64(10), Max: u64(5000), Value: "1000", MinLeadViews: 1}},
		Nodes: []chain.NodeSpec{{ID: "seq", Role: "consensus", Stake: 400}, {ID: "c2", Role: "consensus", Stake: 300},
			{ID: "c3", Role: "consensus", Stake: 200}, {ID: "e1", Role: "execution", Stake: 500}, {ID: "e2", Role: "execution", Stake: 300}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte(chainID),
	})
	require.NoError(t, err)
	return g, keys
}

var p2 = activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
	Roles: []string{"consensus", "execution"}, Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 30}

func getFixture(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		fixDir, fixErr = os.MkdirTemp("", "proof-fixture-")
		if fixErr != nil {
			return
		}
		fix, fixErr = buildFixture(t, fixDir)
	})
	require.NoError(t, fixErr)
	return fix
}

func buildFixture(t testing.TB, home string) (fixture, error) {
	g, keys := testGenesis(t, "proof-test")
	f := fixture{home: home, genesis: g, keys: keys}
	store, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(),
		Genesis: g.State(), Small: true, SnapshotInterval: 16})
	if err != nil {
		return f, err
	}
	defer store.Close()
	seq, err := devchain.New(devchain.Options{Genesis: g, Store: store, NodeID: "seq", StakingKey: keys.Staking["seq"],
		Interval: 2 * time.Millisecond})
	if err != nil {
		return f, err
	}
	defer seq.Close()
	if err := seq.Start(nil); err != nil {
		return f, err
	}
	govern := func(p activation.Proposal) {
		approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, keys.Governance)
		require.NoError(t, err)
		seq.HandleGovernance(canon.MustEncode(chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: approval}}))
	}
	govern(p2)
	testutil.Eventually(t, 20*time.Second, "p2 ACTIVE", func() bool {
		d, ok := seq.Head().Deployment("p2")
		if ok && d.Status == activation.Started {
			e := g.Params().Epoch(seq.CurrentView())
			for _, n := range []string{"seq", "c2", "e1", "e2"} {
				a, err := signal.SignReadiness(keys.Staking[n], g.ChainID, p2.ID(), e, n)
				require.NoError(t, err)
				seq.HandleAttestation(a)
			}
		}
		return ok && d.Status == activation.Active
	})
	_, view, _ := seq.Head().Head()
	govern(activation.Proposal{Name: "timeout-2000", Param: "timeout", Value: "2000", Mode: activation.Governance, ActivationView: view + 30})
	testutil.Eventually(t, 20*time.Second, "timeout-2000 ACTIVE", func() bool {
		d, ok := seq.Head().Deployment("timeout-2000")
		return ok && d.Status == activation.Active
	})
	seq.Close()
	if err := seq.Err(); err != nil {
		return f, err
	}
	d, _ := seq.Head().Deployment("p2")
	f.p2ActivatesAt = d.ActivatesAt
	return f, nil
}

// export writes a proof from the fixture's store, with finality evidence.
func export(t testing.TB, f fixture, build func(proof.Options) (*proof.File, error)) []byte {
	t.Helper()
	store, err := storage.Open(filepath.Join(f.home, "store"), storage.Options{ChainID: f.genesis.ChainID,
		GenesisHash: f.genesis.Hash(), Genesis: f.genesis.State(), ReadOnly: true})
	require.NoError(t, err)
	file, err := build(proof.Options{Store: store, Genesis: f.genesis, Engine: "devchain", Payload: devchain.Payload})
	require.NoError(t, store.Close())
	require.NoError(t, err)
	require.NoError(t, proof.AttachFinality(file, f.home, f.genesis))
	return file.Encode()
}

func deploymentProof(t testing.TB, f fixture, name string) []byte {
	return export(t, f, func(o proof.Options) (*proof.File, error) { return proof.Export(o, name) })
}

func TestStakeDeploymentProofVerifies(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := getFixture(t)
	data := deploymentProof(t, f, "p2")
	sum, err := proof.Verify(f.genesis, data)
	require.NoError(t, err)
	assert.Equal(t, "p2", sum.Deployment)
	assert.Equal(t, "protocol", sum.Component)
	assert.Equal(t, "2.0.0", sum.Version)
	assert.Equal(t, f.p2ActivatesAt, sum.ActivationView)
	assert.Equal(t, []proof.RoleStake{{Role: "consensus", Ready: 700, Total: 900}, {Role: "execution", Ready: 800, Total: 800}}, sum.Stake)
	assert.Equal(t, sum.LockInEpoch, f.genesis.Params().Epoch(sum.LockInView))
	assert.Less(t, sum.LockInView, sum.ActivationView)
	line := sum.String()
	assert.Contains(t, line, "deployment p2: protocol 2.0.0 active from view")
	assert.Contains(t, line, "consensus 700/900 (78%), execution 800/800 (100%)")
	t.Logf("%d bytes: %s", len(data), line)
}

func TestGovernanceParamProofVerifies(t *testing.T) {
	f := getFixture(t)
	data := deploymentProof(t, f, "timeout-2000")
	sum, err := proof.Verify(f.genesis, data)
	require.NoError(t, err)
	assert.Equal(t, activation.Governance, sum.Mode)
	assert.Equal(t, "timeout", sum.Param)
	assert.Equal(t, "2000", sum.Value)
	assert.Empty(t, sum.Stake)
	assert.Contains(t, sum.String(), "timeout=2000 active from view")
	assert.Contains(t, sum.String(), "governance, accepted at view")
	t.Log(sum.String())
}

func TestViewProof(t *testing.T) {
	f := getFixture(t)
	for _, tc := range []struct {
		view     uint64
		protocol string
	}{{0, "1.0.0"}, {f.p2ActivatesAt - 1, "1.0.0"}, {f.p2ActivatesAt, "2.0.0"}} {
		data := export(t, f, func(o proof.Options) (*proof.File, error) { return proof.ExportView(o, tc.view) })
		sum, err := proof.Verify(f.genesis, data)
		require.NoError(t, err, "view %d", tc.view)
		assert.Equal(t, tc.view, sum.View)
		assert.GreaterOrEqual(t, sum.AtView, tc.view)
		require.Len(t, sum.Versions, 2)
		assert.Equal(t, proof.Governing{Name: "cadence", Value: "0.9.0"}, sum.Versions[0])
		assert.Equal(t, "protocol", sum.Versions[1].Name)
		assert.Equal(t, tc.protocol, sum.Versions[1].Value, "view %d", tc.view)
		require.Len(t, sum.Params, 1)
		assert.Equal(t, "1000", sum.Params[0].Value, "view %d", tc.view)
		assert.Contains(t, sum.String(), "protocol "+tc.protocol)
		t.Log(sum.String())
	}
}

func TestExportRefusals(t *testing.T) {
	f := getFixture(t)
	store, err := storage.Open(filepath.Join(f.home, "store"), storage.Options{ChainID: f.genesis.ChainID,
		GenesisHash: f.genesis.Hash(), Genesis: f.genesis.State(), ReadOnly: true})
	require.NoError(t, err)
	defer store.Close()
	o := proof.Options{Store: store, Genesis: f.genesis, Engine: "devchain", Payload: devchain.Payload}
	_, err = proof.Export(o, "nope")
	assert.ErrorContains(t, err, `no deployment "nope"`)
	_, err = proof.ExportView(o, 1<<40)
	assert.ErrorContains(t, err, "after the node's head")
}

// A proof of another chain fails as such, however alike the chains are;
// so does a proof naming an engine this build has no scheme for.
func TestProofFromAnotherChainFails(t *testing.T) {
	f := getFixture(t)
	data := deploymentProof(t, f, "p2")
	other, _ := testGenesis(t, "proof-test-other")
	_, err := proof.Verify(other, data)
	require.ErrorIs(t, err, proof.ErrOtherChain)
	assert.ErrorContains(t, err, "proof from another chain")

	// The same chain ID with another genesis (another key set).
	g2, _, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "proof-test", EpochViews: 40, SafetyViews: 5,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: []chain.NodeSpec{{ID: "seq", Role: "consensus", Stake: 1}},
		GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("else")})
	require.NoError(t, err)
	_, err = proof.Verify(g2, data)
	require.ErrorIs(t, err, proof.ErrOtherChain)

	file, err := proof.Decode(data)
	require.NoError(t, err)
	file.Engine = "tendermint"
	_, err = proof.VerifyFile(f.genesis, file)
	assert.ErrorContains(t, err, `engine: no finality scheme for engine "tendermint"`)
}

// Every byte of a proof, flipped in turn, makes Verify fail: the proof
// holds nothing that is not checked. (A flip that leaves the file
// decodable must be caught by a check; the rest fail to decode.)
func TestEveryByteFlippedFails(t *testing.T) {
	f := getFixture(t)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"stake deployment", deploymentProof(t, f, "p2")},
		{"governance parameter", deploymentProof(t, f, "timeout-2000")},
		{"view", export(t, f, func(o proof.Options) (*proof.File, error) { return proof.ExportView(o, f.p2ActivatesAt) })},
	} {
		_, err := proof.Verify(f.genesis, tc.data)
		require.NoError(t, err, tc.name)
		decodable, flips := 0, 0
		for i := range tc.data {
			// The low bit of every byte; the high bit too of every fifth
			// (each flip of a signature costs a BLS check).
			masks := []byte{0x01}
			if i%5 == 0 {
				masks = append(masks, 0x80)
			}
			for _, mask := range masks {
				flips++
				bad := append([]byte(nil), tc.data...)
				bad[i] ^= mask
				if _, err := proof.Decode(bad); err == nil {
					decodable++
				}
				_, err := proof.Verify(f.genesis, bad)
				if err == nil {
					t.Errorf("%s: byte %d of %d flipped with %#x still verifies", tc.name, i, len(tc.data), mask)
				}
			}
		}
		// Most flips land in hashes, keys and signatures, which decode:
		// the checks, not the decoder, caught them.
		assert.Greater(t, decodable, len(tc.data)/2, "%s: flips that still decode", tc.name)
		t.Logf("%s: %d bytes, %d flips, %d of them decodable, all refused", tc.name, len(tc.data), flips, decodable)
	}
}
