package activation_test

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// keyedNet is a small signed network: 7 staked nodes and a 3-member
// governance committee with threshold 2.
type keyedNet struct {
	nodeKeys []signal.PrivateKey
	govKeys  []signal.PrivateKey
	params   *activation.Params
	comm     *activation.Committee
	verifier *activation.Verifier
}

var (
	netOnce sync.Once
	netVal  *keyedNet
	netErr  error
)

func seed(tag string, i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("%s-%02d|", tag, i)), 8)
}

func testNet(t testing.TB) *keyedNet {
	t.Helper()
	netOnce.Do(func() { netVal, netErr = buildNet() })
	require.NoError(t, netErr, "building the signed test network")
	return netVal
}

// keyWithPoP is the i-th deterministic key of a kind and its proof of possession.
func keyWithPoP(kind string, i int) (signal.PrivateKey, []byte, error) {
	sk, err := signal.GenerateKey(seed(kind, i))
	if err != nil {
		return signal.PrivateKey{}, nil, err
	}
	pop, err := signal.ProvePossession(sk)
	return sk, pop, err
}

func buildNet() (*keyedNet, error) {
	n := &keyedNet{}
	var ids []quorum.Identity
	for i := range 7 {
		sk, pop, err := keyWithPoP("node", i)
		if err != nil {
			return nil, err
		}
		n.nodeKeys = append(n.nodeKeys, sk)
		ids = append(ids, quorum.Identity{NodeID: fmt.Sprintf("n%d", i), Role: "consensus", Stake: 100,
			StakingKey: sk.PublicKey().Encode(), PoP: pop})
	}
	table, err := quorum.NewTable(ids)
	if err != nil {
		return nil, err
	}
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	if err != nil {
		return nil, err
	}
	n.params = &activation.Params{ChainID: "signed", EpochViews: 100, SafetyViews: 10, Identities: sched}
	var members []activation.CommitteeMember
	for i := range 3 {
		sk, pop, err := keyWithPoP("gov", i)
		if err != nil {
			return nil, err
		}
		n.govKeys = append(n.govKeys, sk)
		members = append(members, activation.CommitteeMember{Key: sk.PublicKey().Encode(), PoP: pop})
	}
	if n.comm, err = activation.NewCommittee(members, 2); err != nil {
		return nil, err
	}
	n.verifier = &activation.Verifier{Params: n.params, Committee: n.comm}
	return n, nil
}

// genesis is the signed network's genesis state.
func (n *keyedNet) genesis(t testing.TB) *activation.State {
	t.Helper()
	s, err := activation.Genesis(n.params, map[string]string{"protocol": "1.0.0"})
	require.NoError(t, err)
	return s
}

func (n *keyedNet) approveProposal(t testing.TB, p activation.Proposal, members ...int) activation.SignedProposal {
	t.Helper()
	keys := make([]signal.PrivateKey, len(members))
	for i, m := range members {
		keys[i] = n.govKeys[m]
	}
	a, err := n.comm.Approve(activation.ProposalMessage(n.params.ChainID, p), members, keys)
	require.NoError(t, err)
	return activation.SignedProposal{Proposal: p, Approval: a}
}

func (n *keyedNet) attest(t testing.TB, id signal.DeploymentID, epoch uint64, node int) signal.Attestation {
	t.Helper()
	a, err := signal.SignReadiness(n.nodeKeys[node], n.params.ChainID, id, epoch, fmt.Sprintf("n%d", node))
	require.NoError(t, err)
	return a
}

func reasons(rs []activation.Rejection) []string {
	var out []string
	for _, r := range rs {
		s := fmt.Sprintf("%s %s", r.Kind, r.Deployment)
		if r.Node != "" {
			s += " " + r.Node
		}
		out = append(out, s+": "+string(r.Reason))
	}
	return out
}

func TestVerifyGovernance(t *testing.T) {
	n := testNet(t)
	genesis := n.genesis(t)
	p := stake("p2", "protocol", "2.0.0", 0, 3)
	good := n.approveProposal(t, p, 0, 2)
	lonely := n.approveProposal(t, stake("lonely", "protocol", "2.0.0", 0, 3), 1)
	tampered := n.approveProposal(t, p, 0, 1)
	tampered.Proposal.Version = "9.0.0"
	otherChain := good
	otherChain.Approval.Signature = append([]byte(nil), good.Approval.Signature...)
	otherChain.Approval.Signature[10] ^= 1
	cancelMsg := activation.CancelMessage(n.params.ChainID, "p2")
	ca, err := n.comm.Approve(cancelMsg, []int{1, 2}, []signal.PrivateKey{n.govKeys[1], n.govKeys[2]})
	require.NoError(t, err)
	_, err = n.comm.Approve(cancelMsg, []int{0}, []signal.PrivateKey{n.govKeys[1]})
	assert.ErrorContains(t, err, "not that member's", "approving with another member's key")
	wb := activation.WireBlock{ChainID: "signed", View: 1,
		Proposals: []activation.SignedProposal{good, lonely, tampered, otherChain},
		Cancels:   []activation.SignedCancel{{Deployment: "p2", Approval: ca}, {Deployment: "other", Approval: ca}}}
	b, rej, err := n.verifier.Verify(genesis, wb)
	require.NoError(t, err)
	expectEvents(t, reasons(rej),
		"proposal lonely: not enough governance signatures",
		"proposal p2: bad signature",
		"proposal p2: bad signature",
		"cancel other: bad signature")
	assert.Equal(t, []activation.Proposal{p}, b.Proposals, "verified proposals")
	assert.Equal(t, []string{"p2"}, b.Cancels, "verified cancels")
	_, _, err = n.verifier.Verify(genesis, activation.WireBlock{ChainID: "elsewhere"})
	assert.ErrorIs(t, err, activation.ErrWrongChain, "a block of another chain")
}

// A version upgrade's component follows the deployment-name rule: the
// verifying layer refuses an empty one, or one that would forge a log line
// or run in a hook that evals it, however well it is signed, so no block
// carries it to Apply (and the gossip validator, which runs CheckProposal,
// never pools it).
func TestVerifyRefusesBadComponent(t *testing.T) {
	n := testNet(t)
	genesis := n.genesis(t)
	good := stake("ok", "protocol", "2.0.0", 0, 3)
	cases := []struct {
		p    activation.Proposal
		want activation.Reason
	}{
		{stake("empty", "", "2.0.0", 0, 3), activation.Malformed},
		{stake("forged", "x\n$(touch /tmp/pwned)", "2.0.0", 0, 3), activation.Malformed},
		{stake("spaced", "my component", "2.0.0", 0, 3), activation.Malformed},
		{good, ""},
	}
	wb := activation.WireBlock{ChainID: "signed", View: 1}
	for _, tc := range cases {
		sp := n.approveProposal(t, tc.p, 0, 1)
		assert.Equal(t, tc.want, n.comm.CheckProposal(n.params.ChainID, sp), "CheckProposal of component %q", tc.p.Component)
		wb.Proposals = append(wb.Proposals, sp)
	}
	b, rej, err := n.verifier.Verify(genesis, wb)
	require.NoError(t, err)
	expectEvents(t, reasons(rej),
		"proposal empty: malformed",
		"proposal forged: malformed",
		"proposal spaced: malformed")
	assert.Equal(t, []activation.Proposal{good}, b.Proposals, "only the valid component passes")
}

func TestVerifyReadinessAndApply(t *testing.T) {
	n := testNet(t)
	s := n.genesis(t)
	p := stake("p2", "protocol", "2.0.0", 0, 3)
	id := p.ID()
	apply := func(wb activation.WireBlock) ([]string, []string) {
		t.Helper()
		b, rej, err := n.verifier.Verify(s, wb)
		require.NoError(t, err)
		next, events, err := activation.Apply(s, b)
		require.NoError(t, err)
		s = next
		var evs []string
		for _, e := range events {
			evs = append(evs, eventString(e))
		}
		return reasons(rej), evs
	}
	// The proposal and attestations for it in the same block: IDs resolve to the new deployment.
	table := n.params.Identities.TableAt(0)
	var atts []signal.Attestation
	for i := range 3 {
		atts = append(atts, n.attest(t, id, 0, i))
	}
	cert, err := quorum.BuildCertificate(table, atts)
	require.NoError(t, err)
	rej, evs := apply(activation.WireBlock{ChainID: "signed", Height: 0, View: 1,
		Proposals: []activation.SignedProposal{n.approveProposal(t, p, 0, 1)}, Certificates: []quorum.Certificate{cert}})
	expectEvents(t, rej)
	expectEvents(t, evs, "1 p2 NONE>DEFINED", "1 p2 DEFINED>STARTED")

	// A forged certificate claims a signer who did not sign.
	forged := cert
	forged.Signers = cert.Signers.Clone()
	forged.Signers.Set(3)
	// Single attestations: one good, one with a bad signature, one from an
	// unknown signer, one for an unknown deployment, one of another chain.
	good := n.attest(t, id, 0, 4)
	bad := n.attest(t, id, 0, 5)
	bad.Signature = append([]byte(nil), n.attest(t, id, 1, 5).Signature...) // valid signature, other message
	stranger := n.attest(t, id, 0, 6)
	stranger.Signer = "n99"
	var ghostID signal.DeploymentID
	ghostID[0] = 0xab
	ghost := n.attest(t, ghostID, 0, 6)
	foreign, err := signal.SignReadiness(n.nodeKeys[6], "other-chain", id, 0, "n6")
	require.NoError(t, err)
	rej, evs = apply(activation.WireBlock{ChainID: "signed", Height: 1, View: 2,
		Certificates: []quorum.Certificate{forged},
		Attestations: []signal.Attestation{good, bad, stranger, ghost, foreign}})
	expectEvents(t, rej,
		"certificate p2: bad signature",
		"attestation p2 n5: bad signature",
		"attestation p2 n99: unknown signer",
		"attestation "+ghostID.String()+" n6: unknown deployment",
		"attestation p2 n6: wrong chain")
	expectEvents(t, evs) // 4 of 7 counted: not yet more than two thirds
	// The same certificate again is a duplicate to Apply; one more signer locks in.
	rej, evs = apply(activation.WireBlock{ChainID: "signed", Height: 2, View: 3,
		Certificates: []quorum.Certificate{cert}, Attestations: []signal.Attestation{n.attest(t, id, 0, 6)}})
	expectEvents(t, rej)
	expectEvents(t, evs, "3 reject attestation p2 n0: duplicate", "3 reject attestation p2 n1: duplicate",
		"3 reject attestation p2 n2: duplicate", "3 p2 STARTED>LOCKED_IN @100")
}

func TestWireBlockRoundTrip(t *testing.T) {
	n := testNet(t)
	p := stake("p2", "protocol", "2.0.0", 0, 3)
	wb := activation.WireBlock{ChainID: "signed", Height: 4, View: 9,
		Proposals:    []activation.SignedProposal{n.approveProposal(t, p, 0, 1)},
		Attestations: []signal.Attestation{n.attest(t, p.ID(), 0, 1)}}
	enc := wb.Encode()
	back, err := activation.DecodeWireBlock(enc)
	require.NoError(t, err)
	assert.Equal(t, enc, back.Encode(), "re-encoding a decoded block changed it")
	_, err = activation.DecodeWireBlock(append(enc, 0))
	assert.Error(t, err, "trailing bytes accepted")
	_, err = activation.DecodeWireBlock(activation.WireBlock{Height: 1}.Encode())
	assert.ErrorContains(t, err, "no chain ID")
}

func FuzzDecodeWireBlock(f *testing.F) {
	n := testNet(f)
	p := stake("p2", "protocol", "2.0.0", 0, 3)
	f.Add(activation.WireBlock{ChainID: "signed", Height: 4, View: 9,
		Proposals:    []activation.SignedProposal{n.approveProposal(f, p, 0, 1)},
		Attestations: []signal.Attestation{n.attest(f, p.ID(), 0, 1)}}.Encode())
	f.Add(activation.WireBlock{ChainID: "x"}.Encode())
	genesis := n.genesis(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		wb, err := activation.DecodeWireBlock(data)
		if err != nil {
			return
		}
		require.True(t, bytes.Equal(wb.Encode(), data), "decoded block does not re-encode to its input")
		// Whatever decodes must verify without panicking; only another chain is an error.
		b, _, err := n.verifier.Verify(genesis, wb)
		if err != nil {
			require.ErrorIs(t, err, activation.ErrWrongChain)
			return
		}
		_, _, err = activation.Apply(genesis, b)
		require.NoError(t, err, "apply after verify")
	})
}

func FuzzDecodeState(f *testing.F) {
	c := newChain(f, 100, 10, v1, four()...)
	f.Add(c.state.Encode())
	c.apply(5, propose(stake("p2", "protocol", "2.0.0", 0, 3), gov("g", "cadence", "1.0.0", 500)))
	c.apply(6, attest("p2", 0, "c1", "c3"))
	f.Add(c.state.Encode())
	c.apply(7, attest("p2", 0, "c2"))
	c.run(8, 101)
	f.Add(c.state.Encode())
	params := c.state.Params()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := activation.DecodeState(params, data)
		if err != nil {
			return
		}
		require.True(t, bytes.Equal(s.Encode(), data), "decoded state does not re-encode to its input")
		// A decoded state must be usable: apply an empty block after its head.
		h, v, ok := s.Head()
		b := activation.Block{}
		if ok {
			if h == math.MaxUint64 || v == math.MaxUint64 {
				return
			}
			b = activation.Block{Height: h + 1, View: v + 1}
		}
		_, _, err = activation.Apply(s, b)
		require.NoError(t, err)
	})
}
