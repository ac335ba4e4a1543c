package activation_test

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

var v1 = map[string]string{"protocol": "1.0.0"}

// Each transition of the stake-mode machine, one at a time.
func TestStakeTransitions(t *testing.T) {
	t.Run("proposal enters DEFINED, then STARTED at start_epoch", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		expectEvents(t, c.apply(5, propose(stake("p2", "protocol", "2.0.0", 1, 3))), "5 p2 NONE>DEFINED")
		expectEvents(t, c.run(6, 100), "100 p2 DEFINED>STARTED")
	})
	t.Run("STARTED at once when start_epoch has come", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		expectEvents(t, c.apply(150, propose(stake("p2", "protocol", "2.0.0", 0, 3))),
			"150 p2 NONE>DEFINED", "150 p2 DEFINED>STARTED")
	})
	t.Run("DEFINED straight to FAILED when the chain skips past the timeout", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(5, propose(stake("p2", "protocol", "2.0.0", 2, 3)))
		expectEvents(t, c.apply(310, nil), "310 p2 DEFINED>FAILED")
	})
	t.Run("STARTED to FAILED at timeout_epoch", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(5, propose(stake("p2", "protocol", "2.0.0", 0, 2)))
		expectEvents(t, c.run(6, 250), "200 p2 STARTED>FAILED")
	})
	t.Run("lock-in at the next epoch boundary, then ACTIVE with history", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(5, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
		expectEvents(t, c.apply(20, attest("p2", 0, "c1", "c2", "c3")), "20 p2 STARTED>LOCKED_IN @100")
		expectEvents(t, c.run(21, 120), "100 p2 LOCKED_IN>ACTIVE")
		v, ok := c.state.ActiveVersion("protocol")
		assert.True(t, ok)
		assert.Equal(t, "2.0.0", v, "active version")
		assert.Equal(t, []activation.VersionRecord{{Version: "1.0.0"}, {Version: "2.0.0", ActivationView: 100, FirstView: 100}},
			c.state.History("protocol"))
	})
	t.Run("activation waits for the first block at or after the activation view", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(5, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
		c.apply(20, attest("p2", 0, "c1", "c2", "c3"))
		expectEvents(t, c.apply(99, nil))
		expectEvents(t, c.apply(103, nil), "103 p2 LOCKED_IN>ACTIVE")
		assert.Equal(t, []activation.VersionRecord{{Version: "1.0.0"}, {Version: "2.0.0", ActivationView: 100, FirstView: 103}},
			c.state.History("protocol"))
		for view, want := range map[uint64]string{0: "1.0.0", 99: "1.0.0", 100: "2.0.0", 5000: "2.0.0"} {
			got, ok := c.state.VersionAt("protocol", view)
			assert.True(t, ok, "VersionAt(%d)", view)
			assert.Equal(t, want, got, "VersionAt(%d)", view)
		}
		_, ok := c.state.VersionAt("no-such-component", 100)
		assert.False(t, ok, "VersionAt of a component with no history")
	})
	t.Run("delay_epochs postpones activation", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		p := stake("p2", "protocol", "2.0.0", 0, 3)
		p.DelayEpochs = 2
		c.apply(5, propose(p))
		expectEvents(t, c.apply(20, attest("p2", 0, "c1", "c2", "c3")), "20 p2 STARTED>LOCKED_IN @300")
	})
	t.Run("min_activation_epoch wins over an earlier boundary", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		p := stake("p2", "protocol", "2.0.0", 0, 3)
		p.MinActivationEpoch, p.DelayEpochs = 5, 1
		c.apply(5, propose(p))
		expectEvents(t, c.apply(20, attest("p2", 0, "c1", "c2", "c3")), "20 p2 STARTED>LOCKED_IN @500")
	})
	t.Run("lock-in in the last signaling epoch beats the timeout (Speedy Trial)", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(5, propose(stake("p2", "protocol", "2.0.0", 0, 1)))
		expectEvents(t, c.apply(90, attest("p2", 0, "c1", "c2", "c3")), "90 p2 STARTED>LOCKED_IN @100")
		expectEvents(t, c.apply(100, nil), "100 p2 LOCKED_IN>ACTIVE")
	})
}

func TestLockInThresholdAndCutoff(t *testing.T) {
	t.Run("exactly at the threshold does not lock in", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, node("a", "x", 1), node("b", "x", 1), node("c", "x", 1))
		c.apply(1, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
		expectEvents(t, c.apply(2, attest("p2", 0, "a", "b"))) // 2/3 is not more than 2/3
		expectEvents(t, c.apply(3, attest("p2", 0, "c")), "3 p2 STARTED>LOCKED_IN @100")
	})
	t.Run("at the cutoff view locks in", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(1, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
		expectEvents(t, c.apply(90, attest("p2", 0, "c1", "c2", "c3")), "90 p2 STARTED>LOCKED_IN @100")
		expectEvents(t, c.run(91, 100), "100 p2 LOCKED_IN>ACTIVE")
	})
	t.Run("one view after the cutoff the readiness counts but does not lock in", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(1, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
		expectEvents(t, c.apply(91, attest("p2", 0, "c1", "c2", "c3")))
		d, ok := c.state.Deployment("p2")
		require.True(t, ok)
		assert.Equal(t, activation.Started, d.Status, "still signaling after the cutoff")
		if tally := d.Tally(0); assert.NotNil(t, tally, "the readiness was counted") {
			assert.Equal(t, 3, tally.Count(), "signers counted in epoch 0")
		}
		expectEvents(t, c.run(92, 150)) // no lock-in at the boundary either
	})
	t.Run("a tally crossing after the cutoff does not carry into the next epoch", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(1, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
		expectEvents(t, c.apply(95, attest("p2", 0, "c1", "c2", "c3")))
		expectEvents(t, c.apply(105, attest("p2", 1, "c1", "c2")))
		expectEvents(t, c.apply(106, attest("p2", 1, "c3")), "106 p2 STARTED>LOCKED_IN @200")
	})
	t.Run("every required role must pass, a role with no stake never does", func(t *testing.T) {
		nodes := []quorum.Identity{node("c1", "consensus", 10), node("e1", "execution", 90), node("e2", "execution", 10)}
		c := newChain(t, 100, 10, v1, nodes...)
		p := stake("p2", "protocol", "2.0.0", 0, 3)
		p.Roles = []string{"consensus", "execution"}
		q := stake("q", "other", "1.0.0", 0, 3)
		q.Roles = []string{"verification"}
		c.apply(1, propose(p, q))
		expectEvents(t, c.apply(2, attest("p2", 0, "e1")))
		expectEvents(t, c.apply(3, attest("p2", 0, "c1")), "3 p2 STARTED>LOCKED_IN @100")
		expectEvents(t, c.apply(4, attest("q", 0, "c1")), "4 reject attestation q c1: role not required")
	})
	t.Run("no roles named: all stake counts as one group", func(t *testing.T) {
		nodes := []quorum.Identity{node("c1", "consensus", 10), node("e1", "execution", 90)}
		c := newChain(t, 100, 10, v1, nodes...)
		c.apply(1, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
		expectEvents(t, c.apply(2, attest("p2", 0, "e1")), "2 p2 STARTED>LOCKED_IN @100")
	})
	t.Run("stakes near 2^64 compare exactly", func(t *testing.T) {
		big := uint64(math.MaxUint64 / 3)
		nodes := []quorum.Identity{node("a", "x", big), node("b", "x", big), node("c", "x", big)}
		c := newChain(t, 100, 10, v1, nodes...)
		p := stake("p2", "protocol", "2.0.0", 0, 3)
		p.Threshold = quorum.Threshold{Num: math.MaxUint64 - 1, Den: math.MaxUint64}
		c.apply(1, propose(p))
		expectEvents(t, c.apply(2, attest("p2", 0, "a", "b")))
		expectEvents(t, c.apply(3, attest("p2", 0, "c")), "3 p2 STARTED>LOCKED_IN @100")
	})
	t.Run("a custom threshold", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		p := stake("p2", "protocol", "2.0.0", 0, 3)
		p.Threshold = quorum.Threshold{Num: 1, Den: 2}
		c.apply(1, propose(p))
		expectEvents(t, c.apply(2, attest("p2", 0, "c1", "c2")))
		expectEvents(t, c.apply(3, attest("p2", 0, "c3")), "3 p2 STARTED>LOCKED_IN @100")
	})
}

func TestGovernanceMode(t *testing.T) {
	c := newChain(t, 100, 10, map[string]string{"cadence": "1.0.0"}, four()...)
	expectEvents(t, c.apply(20, propose(gov("too-soon", "cadence", "1.1.0", 30), gov("c11", "cadence", "1.1.0", 31))),
		"20 reject proposal too-soon: activation too soon", "20 c11 NONE>DEFINED", "20 c11 DEFINED>LOCKED_IN @31")
	expectEvents(t, c.run(21, 40), "31 c11 LOCKED_IN>ACTIVE")
	// A component with no version yet accepts any version.
	expectEvents(t, c.apply(41, propose(gov("new", "brand-new", "0.0.1", 200))),
		"41 new NONE>DEFINED", "41 new DEFINED>LOCKED_IN @200")
}

func TestProposalRejections(t *testing.T) {
	base := func(t *testing.T) *chain {
		c := newChain(t, 100, 10, map[string]string{"protocol": "1.0.0", "cadence": "1.0.0"}, four()...)
		c.apply(5, propose(stake("p2", "protocol", "2.0.0", 1, 3)))
		return c
	}
	badThreshold := stake("bt", "cadence", "2.0.0", 1, 3)
	badThreshold.Threshold = quorum.Threshold{Num: 3, Den: 3}
	zeroThreshold := stake("zt", "cadence", "2.0.0", 1, 3)
	zeroThreshold.Threshold = quorum.Threshold{Num: 0, Den: 3}
	for _, tc := range []struct {
		name string
		p    activation.Proposal
		want string
	}{
		{"bad name: a path", stake("../x", "cadence", "2.0.0", 1, 3), "bad name"},
		{"bad name: empty", stake("", "cadence", "2.0.0", 1, 3), "bad name"},
		{"bad name: too long", stake(strings.Repeat("x", 65), "cadence", "2.0.0", 1, 3), "bad name"},
		{"duplicate name", stake("p2", "cadence", "2.0.0", 1, 3), "duplicate name"},
		{"bad version", stake("x", "cadence", "v2", 1, 3), "bad version"},
		{"not an upgrade: equal", gov("x", "cadence", "1.0.0", 500), "not an upgrade"},
		{"not an upgrade: build metadata only", gov("x", "cadence", "1.0.0+build.7", 500), "not an upgrade"},
		{"not an upgrade: pre-release of same", gov("x", "cadence", "1.0.0-rc.1", 500), "not an upgrade"},
		{"component busy", gov("x", "protocol", "3.0.0", 500), "component busy"},
		{"activation too soon", gov("x", "cadence", "2.0.0", 16), "activation too soon"},
		{"bad threshold num=den", badThreshold, "bad threshold"},
		{"bad threshold num=0", zeroThreshold, "bad threshold"},
		{"bad window: timeout before start", stake("x", "cadence", "2.0.0", 3, 3), "bad window"},
		{"bad window: timeout already past", stake("x", "cadence", "2.0.0", 0, 0), "bad window"},
		// Checked in order: a duplicate with a bad version is a duplicate.
		{"order: bad name before bad version", stake("a b", "cadence", "nope", 1, 3), "bad name"},
		{"order: duplicate before bad version", stake("p2", "cadence", "nope", 1, 3), "duplicate name"},
		{"order: bad version before busy", stake("y", "protocol", "nope", 1, 3), "bad version"},
		{"order: not an upgrade before busy", stake("y", "protocol", "0.1.0", 1, 3), "not an upgrade"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base(t)
			expectEvents(t, c.apply(6, propose(tc.p)), "6 reject proposal "+tc.p.Name+": "+tc.want)
		})
	}
}

func TestCancellations(t *testing.T) {
	t.Run("DEFINED, STARTED and far LOCKED_IN cancel", func(t *testing.T) {
		c := newChain(t, 100, 10, map[string]string{"a": "1.0.0", "b": "1.0.0", "c": "1.0.0"}, four()...)
		c.apply(1, propose(stake("d", "a", "2.0.0", 1, 3), stake("s", "b", "2.0.0", 0, 3), gov("l", "c", "2.0.0", 50)))
		expectEvents(t, c.apply(39, cancel("d", "s", "l")), "39 d DEFINED>CANCELED", "39 s STARTED>CANCELED", "39 l LOCKED_IN>CANCELED")
		// The component is free again.
		expectEvents(t, c.apply(40, propose(gov("l2", "c", "2.0.0", 60))), "40 l2 NONE>DEFINED", "40 l2 DEFINED>LOCKED_IN @60")
	})
	t.Run("LOCKED_IN within Δ of activation is too late", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(1, propose(gov("l", "protocol", "2.0.0", 50)))
		expectEvents(t, c.apply(40, cancel("l")), "40 reject cancel l: too late")
	})
	t.Run("terminal deployments and unknown names", func(t *testing.T) {
		c := newChain(t, 100, 10, v1, four()...)
		c.apply(1, propose(gov("l", "protocol", "2.0.0", 50)))
		c.apply(50, nil)
		expectEvents(t, c.apply(51, cancel("l", "ghost")), "51 reject cancel l: too late", "51 reject cancel ghost: unknown deployment")
	})
}

func TestAttestationRejections(t *testing.T) {
	nodes := []quorum.Identity{node("c1", "consensus", 100), node("e1", "execution", 100), node("e2", "execution", 100), node("e3", "execution", 100)}
	c := newChain(t, 100, 10, map[string]string{"execution": "1.0.0", "protocol": "1.0.0"}, nodes...)
	p := stake("x", "execution", "2.0.0", 1, 5)
	p.Roles = []string{"execution"}
	c.apply(1, propose(p, gov("g", "protocol", "2.0.0", 500)))
	expectEvents(t, c.apply(2, attest("ghost", 0, "e1")), "2 reject attestation ghost e1: unknown deployment")
	expectEvents(t, c.apply(3, attest("x", 0, "e1")), "3 reject attestation x e1: not signaling")
	expectEvents(t, c.apply(100, attest("x", 0, "e1")), "100 x DEFINED>STARTED", "100 reject attestation x e1: wrong epoch")
	expectEvents(t, c.apply(101, attest("x", 2, "e1")), "101 reject attestation x e1: wrong epoch")
	expectEvents(t, c.apply(102, attest("x", 1, "zz")), "102 reject attestation x zz: unknown signer")
	expectEvents(t, c.apply(103, attest("x", 1, "c1")), "103 reject attestation x c1: role not required")
	expectEvents(t, c.apply(104, attest("x", 1, "e1", "e1")), "104 reject attestation x e1: duplicate")
	expectEvents(t, c.apply(105, attest("x", 1, "e1")), "105 reject attestation x e1: duplicate")
	// A LOCKED_IN governance deployment is still signaling; readiness is counted.
	expectEvents(t, c.apply(106, attest("g", 1, "c1")))
	expectEvents(t, c.apply(107, attest("g", 1, "c1")), "107 reject attestation g c1: duplicate")
	// Tallies start empty in every epoch.
	expectEvents(t, c.apply(200, attest("x", 2, "e1", "e2", "e3")), "200 x STARTED>LOCKED_IN @300")
}

func TestApplyRejectsOutOfOrderBlocks(t *testing.T) {
	c := newChain(t, 100, 10, v1, four()...)
	c.apply(5, nil)
	for _, b := range []activation.Block{{Height: 0, View: 6}, {Height: 1, View: 5}, {Height: 2, View: 4}} {
		next, events, err := activation.Apply(c.state, b)
		var ooo *activation.OutOfOrderError
		assert.ErrorAs(t, err, &ooo, "block %+v", b)
		assert.Nil(t, next, "block %+v: no state with the error", b)
		assert.Nil(t, events, "block %+v: no events with the error", b)
	}
}

func TestApplyDoesNotModifyItsInput(t *testing.T) {
	c := newChain(t, 100, 10, v1, four()...)
	c.apply(1, propose(stake("p2", "protocol", "2.0.0", 0, 3)))
	before, beforeID := c.state, c.state.ID()
	c.apply(2, attest("p2", 0, "c1", "c2", "c3"))
	c.run(3, 120)
	assert.Equal(t, beforeID, before.ID(), "applying later blocks changed an earlier state")
	d, ok := before.Deployment("p2")
	require.True(t, ok)
	assert.Equal(t, activation.Started, d.Status, "the earlier state's deployment")
	assert.Nil(t, d.Tally(0), "the earlier state's tally")
}

func TestNextWake(t *testing.T) {
	c := newChain(t, 100, 10, v1, four()...)
	c.apply(1, nil)
	assert.Equal(t, uint64(math.MaxUint64), c.state.NextWake(), "nothing pending")
	c.apply(2, propose(gov("g", "protocol", "2.0.0", 50)))
	assert.Equal(t, uint64(50), c.state.NextWake(), "governance pending")
	c.apply(50, nil)
	assert.Equal(t, uint64(math.MaxUint64), c.state.NextWake(), "all terminal")
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"p2", "cadence-1.1", "protocol_v2", "A", "9.x", strings.Repeat("n", activation.MaxNameLen)} {
		assert.True(t, activation.ValidName(name), "%q", name)
	}
	for _, name := range []string{"", "../x", "..", ".", ".hidden", "-rf", "_x", "a/b", `a\b`, "a b", "a\x00", "a\n", "é",
		"x:y", strings.Repeat("n", activation.MaxNameLen+1)} {
		assert.False(t, activation.ValidName(name), "%q", name)
	}
}
