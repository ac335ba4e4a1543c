package pool

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

type fixture struct {
	t    *testing.T
	g    *chain.Genesis
	keys *chain.Keys
	v    *activation.Verifier
}

const epochViews = 50

func newFixture(t *testing.T) *fixture {
	var specs []chain.NodeSpec
	for i := range 4 {
		specs = append(specs, chain.NodeSpec{ID: fmt.Sprintf("v%d", i), Role: "consensus", Stake: 100})
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "pool", EpochViews: epochViews, SafetyViews: 5,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: specs, GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("pool")})
	require.NoError(t, err)
	return &fixture{t: t, g: g, keys: keys, v: &activation.Verifier{Params: g.Params(), Committee: g.Committee()}}
}

func (f *fixture) pool(b Bounds) *Pool { return New(f.v, b, nil) }

// proposal is a signed stake-mode proposal of component, signaling from
// start, as a governance message.
func (f *fixture) proposal(name, component string, start uint64) []byte {
	p := activation.Proposal{Name: name, Component: component, Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: start, TimeoutEpoch: start + 5}
	a, err := f.g.Committee().Approve(activation.ProposalMessage(f.g.ChainID, p), []int{0}, f.keys.Governance)
	require.NoError(f.t, err)
	return canon.MustEncode(chain.GovernanceMessage{Proposal: &activation.SignedProposal{Proposal: p, Approval: a}})
}

func (f *fixture) cancel(name string) []byte {
	a, err := f.g.Committee().Approve(activation.CancelMessage(f.g.ChainID, name), []int{0}, f.keys.Governance)
	require.NoError(f.t, err)
	return canon.MustEncode(chain.GovernanceMessage{Cancel: &activation.SignedCancel{Deployment: name, Approval: a}})
}

// forged is a proposal whose approval signs another proposal: it never verifies.
func (f *fixture) forged(name string) []byte {
	var good, other chain.GovernanceMessage
	require.NoError(f.t, canon.Decode(f.proposal(name, "protocol", 0), &good))
	require.NoError(f.t, canon.Decode(f.proposal(name+"-other", "protocol", 0), &other))
	good.Proposal.Approval = other.Proposal.Approval
	return canon.MustEncode(good)
}

func (f *fixture) att(node string, d signal.DeploymentID, epoch uint64) signal.Attestation {
	a, err := signal.SignReadiness(f.keys.Staking[node], f.g.ChainID, d, epoch, node)
	require.NoError(f.t, err)
	return a
}

// head applies a block at view 1 carrying the proposals; they signal at once.
func (f *fixture) head(proposals ...[]byte) *activation.State {
	wire := activation.WireBlock{ChainID: f.g.ChainID, Height: 0, View: 1}
	for _, raw := range proposals {
		m, err := chain.DecodeGovernance(raw)
		require.NoError(f.t, err)
		wire.Proposals = append(wire.Proposals, *m.Proposal)
	}
	b, rej, err := f.v.Verify(f.g.State(), wire)
	require.NoError(f.t, err)
	require.Empty(f.t, rej)
	s, _, err := activation.Apply(f.g.State(), b)
	require.NoError(f.t, err)
	return s
}

func (f *fixture) id(s *activation.State, name string) signal.DeploymentID {
	d, ok := s.Deployment(name)
	require.True(f.t, ok, name)
	return d.ID
}

func signers(t *testing.T, f *fixture, c quorum.Certificate) []string {
	table := f.g.Params().Identities.TableAt(c.Epoch)
	idx, err := c.Verify(table)
	require.NoError(t, err, "a certificate Build made verifies")
	var out []string
	for _, i := range idx {
		out = append(out, table.At(i).NodeID)
	}
	return out
}

func TestAddIsBoundedInCountAndBytes(t *testing.T) {
	f := newFixture(t)
	var d signal.DeploymentID
	a0, a1, a2 := f.att("v0", d, 0), f.att("v1", d, 0), f.att("v2", d, 0)

	p := f.pool(Bounds{Attestations: 2, AttestationBytes: 1 << 20, Governance: 1, GovernanceBytes: 1 << 20})
	assert.Equal(t, Added, p.AddAttestation(a0))
	assert.Equal(t, Added, p.AddAttestation(a1))
	assert.Equal(t, Full, p.AddAttestation(a2), "over the count: the new one is dropped")
	assert.Equal(t, Added, p.AddGovernance(f.proposal("p2", "protocol", 0)))
	assert.Equal(t, Full, p.AddGovernance(f.cancel("p2")))
	s := p.Stats()
	assert.Equal(t, 2, s.Attestations)
	assert.Equal(t, 1, s.Proposals)
	assert.Zero(t, s.Cancels)
	assert.Equal(t, uint64(1), s.DroppedAttestations)
	assert.Equal(t, uint64(1), s.DroppedGovernance)

	prop := f.proposal("p2", "protocol", 0)
	p = f.pool(Bounds{Attestations: 100, AttestationBytes: 2*attSize(a0) - 1, Governance: 100, GovernanceBytes: len(prop)})
	assert.Equal(t, Added, p.AddAttestation(a0))
	assert.Equal(t, Full, p.AddAttestation(a1), "over the bytes")
	assert.Equal(t, Added, p.AddGovernance(prop))
	assert.Equal(t, Full, p.AddGovernance(f.cancel("p2")), "over the bytes")
	assert.Equal(t, attSize(a0), p.Stats().AttestationBytes)
	assert.Equal(t, len(prop), p.Stats().GovernanceBytes)
}

func TestAddDeduplicates(t *testing.T) {
	f := newFixture(t)
	p := f.pool(DefaultBounds)
	var d signal.DeploymentID
	a := f.att("v0", d, 0)
	assert.Equal(t, Added, p.AddAttestation(a))
	assert.Equal(t, Duplicate, p.AddAttestation(a))
	assert.Equal(t, Added, p.AddAttestation(f.att("v0", d, 1)), "another epoch is another item")
	assert.Equal(t, Added, p.AddAttestation(f.att("v0", signal.DeploymentID{1}, 0)), "another deployment too")
	other := a
	other.ChainID = "other"
	assert.Equal(t, Invalid, p.AddAttestation(other))
	assert.Equal(t, 3, p.Stats().Attestations)

	raw := f.proposal("p2", "protocol", 0)
	assert.False(t, p.HasGovernance(raw))
	assert.Equal(t, Added, p.AddGovernance(raw))
	assert.True(t, p.HasGovernance(raw))
	assert.Equal(t, Duplicate, p.AddGovernance(raw))
	assert.Equal(t, Invalid, p.AddGovernance([]byte("not a governance message")))
	assert.Equal(t, Invalid, p.AddGovernance(canon.MustEncode(chain.GovernanceMessage{})), "no item")
	assert.Equal(t, 1, p.Stats().Proposals)
}

func TestAttestationsOfPastEpochsArePruned(t *testing.T) {
	f := newFixture(t)
	head := f.head(f.proposal("p2", "protocol", 0))
	d := f.id(head, "p2")
	p := f.pool(DefaultBounds)
	for e := range uint64(3) {
		require.Equal(t, Added, p.AddAttestation(f.att("v0", d, e)))
	}
	p.Build(head, 1, epochViews+1, Limits{}) // a block of epoch 1
	assert.Equal(t, 2, p.Stats().Attestations, "epoch 0 went")
	assert.Equal(t, Stale, p.AddAttestation(f.att("v1", d, 0)), "an epoch already pruned")
	p.Included(activation.WireBlock{ChainID: f.g.ChainID, Height: 2, View: 2 * epochViews})
	assert.Equal(t, 1, p.Stats().Attestations, "a committed block of epoch 2 prunes epoch 1")
}

func TestBuildLimitsAndOrder(t *testing.T) {
	f := newFixture(t)
	head := f.head(f.proposal("p2", "protocol", 0), f.proposal("c2", "cadence", 0), f.proposal("e2", "execution", 0))
	deps := []signal.DeploymentID{f.id(head, "p2"), f.id(head, "c2"), f.id(head, "e2")}
	gov := [][]byte{f.proposal("x2", "x", 0), f.proposal("y2", "y", 0), f.cancel("p2"), f.cancel("c2")}
	fill := func(p *Pool, reverse bool) {
		for _, raw := range gov {
			require.Equal(t, Added, p.AddGovernance(raw))
		}
		var atts []signal.Attestation
		for _, d := range deps {
			for i := range 4 {
				atts = append(atts, f.att(fmt.Sprintf("v%d", i), d, 0))
			}
		}
		for i := range atts {
			if reverse {
				i = len(atts) - 1 - i
			}
			require.Equal(t, Added, p.AddAttestation(atts[i]))
		}
	}
	p := f.pool(DefaultBounds)
	fill(p, false)

	full := p.Build(head, 1, 2, Limits{})
	assert.Equal(t, f.g.ChainID, full.ChainID)
	assert.Equal(t, uint64(1), full.Height)
	assert.Equal(t, uint64(2), full.View)
	assert.Len(t, full.Proposals, 2)
	assert.Len(t, full.Cancels, 2)
	require.Len(t, full.Certificates, 3, "one certificate per signaling deployment")
	for i, c := range full.Certificates {
		assert.Equal(t, []string{"v0", "v1", "v2", "v3"}, signers(t, f, c))
		if i > 0 {
			assert.Less(t, string(full.Certificates[i-1].Deployment[:]), string(c.Deployment[:]), "in deployment ID order")
		}
	}
	_, rej, err := f.v.Verify(head, full)
	require.NoError(t, err)
	assert.Empty(t, rej, "everything Build puts in verifies")

	limited := p.Build(head, 1, 2, Limits{Proposals: 1, Cancels: 1, Certificates: 2})
	require.Len(t, limited.Proposals, 1)
	assert.Equal(t, "x2", limited.Proposals[0].Proposal.Name, "the first to arrive")
	require.Len(t, limited.Cancels, 1)
	assert.Equal(t, "p2", limited.Cancels[0].Deployment)
	assert.Equal(t, full.Certificates[:2], limited.Certificates)

	size := len(full.Encode())
	trimmed := p.Build(head, 1, 2, Limits{Bytes: size - 1})
	assert.Equal(t, full.Certificates[:2], trimmed.Certificates, "the byte bound leaves the last certificate out")
	assert.LessOrEqual(t, len(trimmed.Encode()), size-1)
	assert.Equal(t, full.Proposals, trimmed.Proposals)

	assert.Equal(t, full.Encode(), p.Build(head, 1, 2, Limits{}).Encode(), "building takes nothing out; the same pool gives the same block")
	other := f.pool(DefaultBounds)
	fill(other, true)
	assert.Equal(t, full.Encode(), other.Build(head, 1, 2, Limits{}).Encode(), "attestations' arrival order does not matter")
}

func TestBuildLeavesNonSignalingReadinessPooled(t *testing.T) {
	f := newFixture(t)
	head := f.head(f.proposal("p2", "protocol", 1)) // DEFINED until epoch 1
	d := f.id(head, "p2")
	p := f.pool(DefaultBounds)
	require.Equal(t, Added, p.AddAttestation(f.att("v0", d, 0)))
	require.Equal(t, Added, p.AddAttestation(f.att("v0", signal.DeploymentID{7}, 0)))
	w := p.Build(head, 1, 2, Limits{})
	assert.Empty(t, w.Certificates)
	assert.Equal(t, 2, p.Stats().Attestations, "it waits: the deployment may start within the epoch")
}

func TestIncludedRemovesExactlyWhatTheBlockCarried(t *testing.T) {
	f := newFixture(t)
	head := f.head(f.proposal("p2", "protocol", 0), f.proposal("c2", "cadence", 0))
	d, c := f.id(head, "p2"), f.id(head, "c2")
	p := f.pool(DefaultBounds)
	var atts []signal.Attestation
	for i := range 4 {
		a := f.att(fmt.Sprintf("v%d", i), d, 0)
		atts = append(atts, a)
		require.Equal(t, Added, p.AddAttestation(a))
	}
	require.Equal(t, Added, p.AddAttestation(f.att("v0", c, 0)))
	x, y := f.proposal("x2", "x", 0), f.proposal("y2", "y", 0)
	require.Equal(t, Added, p.AddGovernance(x))
	require.Equal(t, Added, p.AddGovernance(y))

	// A block, built by another proposer, carrying three of p2's signers,
	// one single attestation of c2 and the proposal x2.
	table := f.g.Params().Identities.TableAt(0)
	cert, err := quorum.BuildCertificate(table, atts[:3])
	require.NoError(t, err)
	var mx chain.GovernanceMessage
	require.NoError(t, canon.Decode(x, &mx))
	p.Included(activation.WireBlock{ChainID: f.g.ChainID, Height: 1, View: 2, Certificates: []quorum.Certificate{cert},
		Attestations: []signal.Attestation{f.att("v0", c, 0)}, Proposals: []activation.SignedProposal{*mx.Proposal}})

	s := p.Stats()
	assert.Equal(t, 1, s.Attestations)
	assert.Equal(t, attSize(atts[3]), s.AttestationBytes)
	assert.Equal(t, 1, s.Proposals)
	assert.False(t, p.HasGovernance(x))
	assert.True(t, p.HasGovernance(y))
	w := p.Build(head, 2, 3, Limits{})
	require.Len(t, w.Certificates, 1)
	assert.Equal(t, []string{"v3"}, signers(t, f, w.Certificates[0]), "the signer the block did not carry is sent again")
	require.Len(t, w.Proposals, 1)
	assert.Equal(t, "y2", w.Proposals[0].Proposal.Name)

	assert.Equal(t, Added, p.AddGovernance(x), "once carried, the same bytes are a new item")
}

func TestBuildDropsGovernanceThatNeverVerifies(t *testing.T) {
	f := newFixture(t)
	head := f.head()
	p := f.pool(DefaultBounds)
	bad, good, later := f.forged("p2"), f.proposal("x2", "x", 0), f.proposal("y2", "y", 0)
	cancelUnknown := f.cancel("z2") // no such deployment in head yet: Apply judges it, not Build
	for _, raw := range [][]byte{bad, good, later, cancelUnknown} {
		require.Equal(t, Added, p.AddGovernance(raw))
	}
	w := p.Build(head, 1, 2, Limits{Proposals: 1})
	require.Len(t, w.Proposals, 1)
	assert.Equal(t, "x2", w.Proposals[0].Proposal.Name, "the forged one is not counted against the limit")
	require.Len(t, w.Cancels, 1)
	assert.False(t, p.HasGovernance(bad), "the committee did not sign it: it never will verify, and leaves")
	assert.True(t, p.HasGovernance(good), "kept until a committed block carries it")
	assert.True(t, p.HasGovernance(later), "over the limit this time: kept for a later block")
	assert.True(t, p.HasGovernance(cancelUnknown))

	p.Included(w)
	w = p.Build(head, 2, 3, Limits{Proposals: 1})
	require.Len(t, w.Proposals, 1)
	assert.Equal(t, "y2", w.Proposals[0].Proposal.Name)
	assert.Empty(t, w.Cancels)
}

// Build never makes a block with repeats (the rule ProcessProposal and the
// devchain follower enforce with activation.WireBlock.Repeats): every item
// offered again, by gossip and by a push, is pooled once, and each
// (deployment, epoch) becomes one certificate, with no single attestation
// beside it; blocks built before and after a commit alike.
func TestBuildNeverRepeats(t *testing.T) {
	f := newFixture(t)
	head := f.head(f.proposal("p2", "protocol", 0), f.proposal("c2", "cadence", 0))
	deps := []signal.DeploymentID{f.id(head, "p2"), f.id(head, "c2")}
	p := f.pool(DefaultBounds)
	gov := [][]byte{f.proposal("x2", "x", 0), f.cancel("p2"), f.cancel("c2")}
	for range 3 {
		for _, raw := range gov {
			p.AddGovernance(raw)
		}
		for _, d := range deps {
			for i := range 4 {
				p.AddAttestation(f.att(fmt.Sprintf("v%d", i), d, 0))
				p.AddAttestation(f.att(fmt.Sprintf("v%d", i), d, 1)) // the next epoch's, pooled beside
			}
		}
	}
	check := func(w activation.WireBlock) {
		t.Helper()
		assert.NoError(t, w.Repeats(f.v.Params))
		assert.Empty(t, w.Attestations, "Build aggregates: no single attestation beside a certificate")
	}
	full := p.Build(head, 1, 2, Limits{})
	require.Len(t, full.Certificates, 2)
	require.Len(t, full.Proposals, 1)
	require.Len(t, full.Cancels, 2)
	check(full)
	check(p.Build(head, 1, 2, Limits{Proposals: 1, Cancels: 1, Certificates: 1}))

	// A commit carried only the first certificate; the next epoch's block
	// is built from what is left and what is new.
	p.Included(activation.WireBlock{ChainID: f.g.ChainID, Height: 1, View: 2, Certificates: full.Certificates[:1]})
	p.AddAttestation(f.att("v0", deps[0], 0)) // arrives again after its block: not a repeat within one block
	check(p.Build(head, 2, 3, Limits{}))
	next := p.Build(head, 2, epochViews+1, Limits{})
	require.Len(t, next.Certificates, 2, "epoch 1's readiness")
	check(next)
}
