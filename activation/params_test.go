package activation_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

func u64(v uint64) *uint64 { return &v }

// timeout: uint in [100, 5000], lead 30; fast: bool, lead 1; motd: string, lead 200.
func paramDecls() []activation.ParamDecl {
	return []activation.ParamDecl{
		{Name: "timeout", Type: activation.ParamUint, Min: u64(100), Max: u64(5000), Value: "1000", MinLeadViews: 30},
		{Name: "fast", Type: activation.ParamBool, Value: "false", MinLeadViews: 1},
		{Name: "motd", Type: activation.ParamString, Value: "hello", MinLeadViews: 200},
	}
}

// newParamChain is newChain with parameters: L=100, Δ=10, four nodes.
func newParamChain(t testing.TB, decls []activation.ParamDecl) *chain {
	t.Helper()
	table, err := quorum.NewTable(four())
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{FromEpoch: 0, Table: table}})
	require.NoError(t, err)
	params := &activation.Params{ChainID: "test", EpochViews: 100, SafetyViews: 10, Identities: sched,
		Declared: activation.SortParamDecls(decls)}
	s, err := activation.Genesis(params, map[string]string{"protocol": "1.0.0"})
	require.NoError(t, err)
	return &chain{t: t, state: s}
}

func paramGov(name, param, value string, at uint64) activation.Proposal {
	return activation.Proposal{Name: name, Param: param, Value: value, Mode: activation.Governance, ActivationView: at}
}

func paramStake(name, param, value string, start, timeout uint64) activation.Proposal {
	return activation.Proposal{Name: name, Param: param, Value: value, Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: start, TimeoutEpoch: timeout}
}

func TestParamDeclChecks(t *testing.T) {
	ok := activation.ParamDecl{Name: "k", Type: activation.ParamUint, Min: u64(1), Max: u64(9), Value: "5", MinLeadViews: 1}
	require.NoError(t, ok.Check())
	for _, tc := range []struct {
		edit func(*activation.ParamDecl)
		want string
	}{
		{func(d *activation.ParamDecl) { d.Name = "../k" }, "the name must be"},
		{func(d *activation.ParamDecl) { d.Type = 9 }, "must be uint, bool or string"},
		{func(d *activation.ParamDecl) { d.Type, d.Value = activation.ParamBool, "true" }, "min applies only to uint"},
		{func(d *activation.ParamDecl) { d.Min, d.Max = u64(9), u64(1) }, "min 9 is greater than max 1"},
		{func(d *activation.ParamDecl) { d.MinLeadViews = 0 }, "min_lead_views must be at least 1"},
		{func(d *activation.ParamDecl) { d.Value = "05" }, `value "05" is not a uint`},
		{func(d *activation.ParamDecl) { d.Value = "10" }, "value 10 is out of its bounds [1, 9]"},
	} {
		d := ok
		tc.edit(&d)
		assert.ErrorContains(t, d.Check(), tc.want)
	}
	table, err := quorum.NewTable(four())
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{FromEpoch: 0, Table: table}})
	require.NoError(t, err)
	twice := &activation.Params{ChainID: "t", EpochViews: 10, SafetyViews: 1, Identities: sched, Declared: []activation.ParamDecl{ok, ok}}
	_, err = activation.Genesis(twice, nil)
	assert.ErrorContains(t, err, "declared twice")
}

func TestParamValues(t *testing.T) {
	uint := activation.ParamDecl{Name: "u", Type: activation.ParamUint, MinLeadViews: 1}
	bounded := activation.ParamDecl{Name: "b", Type: activation.ParamUint, Min: u64(3), Max: u64(7), MinLeadViews: 1}
	boolean := activation.ParamDecl{Name: "f", Type: activation.ParamBool, MinLeadViews: 1}
	str := activation.ParamDecl{Name: "s", Type: activation.ParamString, MinLeadViews: 1}
	for _, tc := range []struct {
		d    activation.ParamDecl
		v    string
		want activation.Reason
	}{
		{uint, "0", ""}, {uint, "18446744073709551615", ""}, {uint, "18446744073709551616", activation.BadValue},
		{uint, "007", activation.BadValue}, {uint, "+7", activation.BadValue}, {uint, "-1", activation.BadValue},
		{uint, "", activation.BadValue}, {uint, "1e3", activation.BadValue}, {uint, "true", activation.BadValue},
		{bounded, "3", ""}, {bounded, "7", ""}, {bounded, "2", activation.OutOfBounds}, {bounded, "8", activation.OutOfBounds},
		{boolean, "true", ""}, {boolean, "false", ""}, {boolean, "True", activation.BadValue}, {boolean, "1", activation.BadValue},
		{str, "", ""}, {str, "any text", ""}, {str, strings.Repeat("x", activation.MaxParamStringLen), ""},
		{str, strings.Repeat("x", activation.MaxParamStringLen+1), activation.BadValue}, {str, "\xff", activation.BadValue},
		// No control character: a newline or carriage return would forge a log line.
		{str, "héllo, wörld ~", ""}, {str, "a\nb", activation.BadValue}, {str, "a\rb", activation.BadValue},
		{str, "\x00", activation.BadValue}, {str, "tab\there", activation.BadValue}, {str, "\x1b[31m", activation.BadValue},
		{str, "del\x7f", activation.BadValue}, {str, "c1\u0085", activation.BadValue}, {str, "c1\u009f", activation.BadValue},
	} {
		assert.Equal(t, tc.want, tc.d.CheckValue(tc.v), "%s %q", tc.d.Type, tc.v)
	}
	assert.Equal(t, uint64(11), activation.ParamDecl{MinLeadViews: 1}.Lead(10), "never less than Δ + 1")
	assert.Equal(t, uint64(30), activation.ParamDecl{MinLeadViews: 30}.Lead(10))
	assert.Equal(t, uint64(math.MaxUint64), activation.ParamDecl{MinLeadViews: 1}.Lead(math.MaxUint64))
}

// Rule 2 for a parameter change, in the order the reasons are checked.
func TestParamProposalRejections(t *testing.T) {
	c := newParamChain(t, paramDecls())
	expectEvents(t, c.apply(5, propose(
		paramGov("", "timeout", "2000", 100),       // bad name
		paramGov("nope", "retries", "3", 100),      // unknown parameter
		paramGov("t-typ", "timeout", "fast", 100),  // bad value
		paramGov("m-nl", "motd", "a\nb", 100),      // bad value: a control character
		paramGov("t-low", "timeout", "99", 100),    // out of bounds
		paramGov("t-same", "timeout", "1000", 100), // not an upgrade
		paramGov("t-soon", "timeout", "2000", 35),  // v + max(Δ, 30) = 35: too soon
		paramGov("t-ok", "timeout", "2000", 36),    // accepted
		paramGov("t-ok", "fast", "true", 100),      // duplicate name
		paramGov("t-busy", "timeout", "3000", 500), // component busy, per key
		paramGov("f-ok", "fast", "true", 16),       // another key is free; lead max(Δ, 1) = 10
		paramStake("m-thr", "motd", "hi", 1, 3),    // accepted (stake)
		activation.Proposal{Name: "mixed", Component: "protocol", Version: "2.0.0", Param: "fast", Value: "true", Mode: activation.Governance, ActivationView: 100},
		gov("p2", "protocol", "2.0.0", 100), // versions are not busy with parameters
	)),
		"5 reject proposal : bad name",
		"5 reject proposal nope: unknown parameter",
		"5 reject proposal t-typ: bad value",
		"5 reject proposal m-nl: bad value",
		"5 reject proposal t-low: out of bounds",
		"5 reject proposal t-same: not an upgrade",
		"5 reject proposal t-soon: activation too soon",
		"5 t-ok NONE>DEFINED", "5 t-ok DEFINED>LOCKED_IN @36",
		"5 reject proposal t-ok: duplicate name",
		"5 reject proposal t-busy: component busy",
		"5 f-ok NONE>DEFINED", "5 f-ok DEFINED>LOCKED_IN @16",
		"5 m-thr NONE>DEFINED",
		"5 reject proposal mixed: malformed",
		"5 p2 NONE>DEFINED", "5 p2 DEFINED>LOCKED_IN @100",
	)
	expectEvents(t, c.run(6, 36), "16 f-ok LOCKED_IN>ACTIVE", "36 t-ok LOCKED_IN>ACTIVE")
	v, _ := c.state.ParamValue("timeout")
	assert.Equal(t, "2000", v)
	assert.Equal(t, []activation.ParamRecord{{Value: "1000"}, {Value: "2000", ActivationView: 36, FirstView: 36}}, c.state.ParamHistory("timeout"))
	at, _ := c.state.ParamAt("timeout", 35)
	assert.Equal(t, "1000", at)
	at, _ = c.state.ParamAt("timeout", 36)
	assert.Equal(t, "2000", at)
	assert.Equal(t, []string{"fast", "motd", "timeout"}, c.state.ParamNames())
	// After activation the key is free again, and a change back is an upgrade.
	expectEvents(t, c.apply(40, propose(paramGov("t-back", "timeout", "1000", 80))), "40 t-back NONE>DEFINED", "40 t-back DEFINED>LOCKED_IN @80")
}

// A stake-signalled change locks in like a version upgrade and activates at
// the epoch boundary the rules give, if that is at least the parameter's
// lead after the lock-in block; otherwise at the first boundary that is.
func TestParamStakeLeadTime(t *testing.T) {
	for _, tc := range []struct {
		name         string
		lead         uint64
		lockInView   uint64
		wantActivate uint64
	}{
		{"boundary far enough", 30, 150, 200},                // 200 - 150 = 50 >= 30
		{"one epoch later", 60, 150, 300},                    // 50 < 60: the next boundary
		{"several epochs later", 250, 150, 400},              // needs view 400 or later
		{"a lead below Δ+1 counts as Δ+1", 1, 189, 200},      // cutoff 190; 200 - 189 = 11 = Δ + 1
		{"at the cutoff Δ+1 is one view short", 1, 190, 300}, // 200 - 190 = 10 < 11
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newParamChain(t, []activation.ParamDecl{{Name: "k", Type: activation.ParamUint, Value: "1", MinLeadViews: tc.lead}})
			expectEvents(t, c.apply(5, propose(paramStake("k2", "k", "2", 1, 9))), "5 k2 NONE>DEFINED")
			expectEvents(t, c.run(6, tc.lockInView-1), "100 k2 DEFINED>STARTED")
			expectEvents(t, c.apply(tc.lockInView, attest("k2", 1, "c1", "c2", "c3")),
				fmt.Sprintf("%d k2 STARTED>LOCKED_IN @%d", tc.lockInView, tc.wantActivate))
			expectEvents(t, c.run(tc.lockInView+1, tc.wantActivate), fmt.Sprintf("%d k2 LOCKED_IN>ACTIVE", tc.wantActivate))
			assert.Equal(t, []activation.ParamRecord{{Value: "1"}, {Value: "2", ActivationView: tc.wantActivate, FirstView: tc.wantActivate}},
				c.state.ParamHistory("k"))
		})
	}
}

// The state keeps each key's history in its ID and its encoding, and
// decodes back; a chain without parameters encodes as it always did.
func TestParamsInTheStateID(t *testing.T) {
	c := newParamChain(t, paramDecls())
	before := c.state.ID()
	c.apply(5, propose(paramGov("f-ok", "fast", "true", 16)))
	c.run(6, 16)
	after := c.state
	assert.NotEqual(t, before, after.ID())
	back, err := activation.DecodeState(after.Params(), after.Encode())
	require.NoError(t, err)
	assert.Equal(t, after.ID(), back.ID())
	assert.Equal(t, after.ParamHistory("fast"), back.ParamHistory("fast"))

	// Another value history, another ID.
	d := newParamChain(t, paramDecls())
	d.apply(5, propose(paramGov("f-ok", "fast", "true", 17)))
	d.run(6, 16)
	assert.NotEqual(t, after.ID(), d.state.ID())

	// A state of a chain without parameters decodes under params that
	// declare some only if its parameters are there.
	plain := newChain(t, 100, 10, map[string]string{"protocol": "1.0.0"}, four()...)
	_, err = activation.DecodeState(after.Params(), plain.state.Encode())
	assert.Error(t, err)
}
