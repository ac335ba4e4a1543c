package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

func testState(t *testing.T) (*activation.State, func(view uint64, ps ...activation.Proposal) *activation.State) {
	t.Helper()
	table, err := quorum.NewTable([]quorum.Identity{{NodeID: "a", Role: "r", Stake: 1}})
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	require.NoError(t, err)
	s, err := activation.Genesis(&activation.Params{ChainID: "n", EpochViews: 100, SafetyViews: 10, Identities: sched,
		Declared: []activation.ParamDecl{{Name: "motd", Type: activation.ParamString, Value: "hello", MinLeadViews: 20},
			{Name: "timeout", Type: activation.ParamUint, Value: "1000", MinLeadViews: 1}}},
		map[string]string{"protocol": "1.0.0", "cadence": "1.0.0"})
	require.NoError(t, err)
	height := uint64(0)
	apply := func(view uint64, ps ...activation.Proposal) *activation.State {
		next, _, err := activation.Apply(s, activation.Block{Height: height, View: view, Proposals: ps})
		require.NoError(t, err, "apply block %d", height)
		height++
		s = next
		return s
	}
	return s, apply
}

func TestToAttestAndWarnings(t *testing.T) {
	_, apply := testState(t)
	state := apply(1,
		activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5},
		activation.Proposal{Name: "c11", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 500})
	sup, err := ParseSupported([]string{"protocol=1.0.0", "protocol=2.0.0", "cadence=1.0.0"})
	require.NoError(t, err)
	got := ToAttest(state, sup)
	require.Len(t, got, 1)
	assert.Equal(t, "p2", got[0].Name)
	assert.Empty(t, ToAttest(state, Supported{}), "attested for an unsupported version")
	w := Warnings(state, sup, 100, 2*time.Second)
	require.Len(t, w, 1)
	assert.Equal(t, "c11", w[0].Deployment)
	assert.Equal(t, uint64(400), w[0].ViewsLeft)
	assert.Equal(t, 800*time.Second, w[0].ETA)
	assert.Contains(t, w[0].String(), "upgrade before view 500, about 13m20s from now")
}

// Parameter changes need no new software: a node signals readiness for
// every STARTED one, whatever it supports, and never warns or halts for one.
func TestDecisionsOnParameterChanges(t *testing.T) {
	_, apply := testState(t)
	state := apply(1,
		activation.Proposal{Name: "timeout-2000", Param: "timeout", Value: "2000", Mode: activation.Stake, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5},
		activation.Proposal{Name: "motd-hi", Param: "motd", Value: "hi", Mode: activation.Governance, ActivationView: 300},
		activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5},
		activation.Proposal{Name: "c11", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 500})
	require.Equal(t, activation.Started, status(t, state, "timeout-2000"))
	require.Equal(t, activation.LockedIn, status(t, state, "motd-hi"))
	all, err := ParseSupported([]string{"protocol=2.0.0", "cadence=1.1.0"})
	require.NoError(t, err)
	names := func(ds []*activation.Deployment) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		sup       Supported
		attest    []string
		warn      []string
		haltAt500 bool // c11 activates there
	}{
		{name: "supports nothing new", sup: Supported{}, attest: []string{"timeout-2000"}, warn: []string{"c11"}, haltAt500: true},
		{name: "supports every new version", sup: all, attest: []string{"timeout-2000", "p2"}, warn: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.attest, names(ToAttest(state, tc.sup)), "attested")
			warned := []string{}
			for _, w := range Warnings(state, tc.sup, 100, time.Second) {
				warned = append(warned, w.Deployment)
			}
			assert.Equal(t, tc.warn, warned, "warned")
			assert.NoError(t, Guard(tc.sup)(state, 300), "halted for the parameter change activating at view 300")
			err := Guard(tc.sup)(state, 500)
			assert.Equal(t, tc.haltAt500, err != nil, "halt at view 500 (c11): %v", err)
		})
	}
	// The parameter change active, the version upgrade not yet: no halt.
	active := apply(300)
	require.Equal(t, activation.Active, status(t, active, "motd-hi"))
	assert.NoError(t, Guard(Supported{})(active, 301), "halted after a parameter change activated")
	w := Warnings(active, Supported{}, 301, time.Second)
	require.Len(t, w, 1, "only c11 is warned about")
	assert.Equal(t, "c11", w[0].Deployment)
}

func TestGuard(t *testing.T) {
	_, apply := testState(t)
	state := apply(1, activation.Proposal{Name: "c11", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 50})
	old, err := ParseSupported([]string{"protocol=1.0.0", "cadence=1.0.0"})
	require.NoError(t, err)
	upgraded, err := ParseSupported([]string{"protocol=1.0.0", "cadence=1.0.0", "cadence=1.1.0"})
	require.NoError(t, err)
	assert.NoError(t, Guard(old)(state, 49), "halted before the activation")
	var he *HaltError
	err = Guard(old)(state, 50)
	if assert.ErrorAs(t, err, &he, "at the activation view") {
		assert.Equal(t, "1.1.0", he.Version)
		assert.ErrorContains(t, err, "supports cadence=1.1.0")
	}
	assert.Error(t, Guard(old)(state, 57), "past the activation view (skipped views)")
	assert.NoError(t, Guard(upgraded)(state, 50), "an upgraded node halted")
	active := apply(50)
	assert.Error(t, Guard(old)(active, 51), "an old binary went on after the activation")
	assert.NoError(t, Guard(upgraded)(active, 51))
}

func TestUpgraderRunsTheHookOnce(t *testing.T) {
	home := t.TempDir()
	log := filepath.Join(home, "hook.log")
	hook := []string{"sh", "-c", `echo "$QUORUMGATE_DEPLOYMENT $QUORUMGATE_VERSION $QUORUMGATE_HEIGHT retry=$QUORUMGATE_HOOK_RETRY" >> ` + log}
	info := UpgradeInfo{Deployment: "p2", Component: "protocol", Version: "2.0.0", ActivationView: 200, Height: 198}
	u := &Upgrader{Home: home, Hook: hook}
	ctx := context.Background()
	for range 2 {
		require.NoError(t, u.OnActive(ctx, info))
	}
	// A restarted node (a new Upgrader on the same home) does not run it again.
	require.NoError(t, (&Upgrader{Home: home, Hook: hook}).OnActive(ctx, info))
	out, err := os.ReadFile(log)
	require.NoError(t, err)
	assert.Equal(t, "p2 2.0.0 198 retry=\n", string(out), "hook log")
	var written UpgradeInfo
	data, err := os.ReadFile(filepath.Join(home, "upgrade-info.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &written), "upgrade-info.json: %s", data)
	assert.Equal(t, info, written)
	// A crash mid-hook (started, not done): the hook runs again, told so.
	require.NoFileExists(t, u.marker("p3", "done"))
	require.NoError(t, WriteFileAtomic(u.marker("p3", "started"), nil, 0o644))
	require.NoError(t, u.OnActive(ctx, UpgradeInfo{Deployment: "p3", Component: "protocol", Version: "3.0.0"}))
	out, err = os.ReadFile(log)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(out), "p3 3.0.0 0 retry=1\n"), "hook log after a crash %q", out)
	// A failing hook leaves the deployment unhandled, so it is retried, not skipped.
	bad := &Upgrader{Home: home, Hook: []string{"sh", "-c", "exit 7"}}
	assert.Error(t, bad.OnActive(ctx, UpgradeInfo{Deployment: "p4"}), "failing hook")
	assert.False(t, bad.Handled("p4"), "a failed hook marked its deployment handled")
}

// A component version covers a patch release the protocol state names
// exactly: a node with protocol=2.0 signs readiness for a STARTED 2.0.1
// deployment, and neither warns nor halts when one activates; a node with
// only 2.0.0 (or 2.1, or a pre-release of 2.0.1) does the opposite.
func TestComponentVersionCoversPatchReleases(t *testing.T) {
	_, apply := testState(t)
	signaling := apply(1, activation.Proposal{Name: "p201", Component: "protocol", Version: "2.0.1", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5})
	_, apply = testState(t)
	lockedIn := apply(1, activation.Proposal{Name: "g201", Component: "protocol", Version: "2.0.1", Mode: activation.Governance, ActivationView: 50})
	active := apply(50)
	for _, tc := range []struct {
		supported []string
		runs      bool
	}{
		{[]string{"protocol=1.0.0", "protocol=2.0"}, true},
		{[]string{"protocol=1.0", "protocol=2.0"}, true},
		{[]string{"protocol=1.0.0", "protocol=2.0.0", "protocol=2.0"}, true},
		{[]string{"protocol=1.0.0", "protocol=2.0.1"}, true},
		{[]string{"protocol=1.0.0", "protocol=2.0.0"}, false},
		{[]string{"protocol=1.0.0", "protocol=2.1"}, false},
		{[]string{"protocol=1.0.0", "protocol=2.0.1-rc.1"}, false},
		{[]string{"protocol=1.0.0", "cadence=2.0"}, false},
	} {
		sup, err := ParseSupported(tc.supported)
		require.NoError(t, err, "%v", tc.supported)
		if tc.runs {
			if got := ToAttest(signaling, sup); assert.Len(t, got, 1, "%v: signs readiness", tc.supported) {
				assert.Equal(t, "p201", got[0].Name)
			}
			assert.Empty(t, Warnings(lockedIn, sup, 10, time.Second), "%v: warns", tc.supported)
			assert.NoError(t, Guard(sup)(lockedIn, 50), "%v: halts at the activation", tc.supported)
			assert.NoError(t, Guard(sup)(active, 51), "%v: halts once active", tc.supported)
			continue
		}
		assert.Empty(t, ToAttest(signaling, sup), "%v: signs readiness", tc.supported)
		if w := Warnings(lockedIn, sup, 10, time.Second); assert.Len(t, w, 1, "%v: does not warn", tc.supported) {
			assert.Equal(t, "2.0.1", w[0].Version)
			assert.Contains(t, w[0].String(), "deployment g201 activates protocol 2.0.1 at view 50")
		}
		assert.NoError(t, Guard(sup)(lockedIn, 49), "%v: halts before the activation", tc.supported)
		var he *HaltError
		if assert.ErrorAs(t, Guard(sup)(lockedIn, 50), &he, "%v: goes on at the activation", tc.supported) {
			assert.Equal(t, "2.0.1", he.Version)
		}
		assert.Error(t, Guard(sup)(active, 51), "%v: goes on once active", tc.supported)
	}
}

// A parameter change's activation: params.json is rewritten (WriteParams)
// before the hook, which learns the parameter and its value and nothing of
// a version, even from the node's own environment; upgrade-info.json is
// left as it was. A failure to write params.json is retried, not skipped.
func TestUpgraderOnAParameterChange(t *testing.T) {
	home := t.TempDir()
	t.Setenv("QUORUMGATE_VERSION", "9.9.9") // inherited: must not reach the hook
	log := filepath.Join(home, "hook.log")
	hook := []string{"sh", "-c", `echo "$QUORUMGATE_DEPLOYMENT $QUORUMGATE_PARAM=$QUORUMGATE_VALUE $QUORUMGATE_ACTIVATION_VIEW $QUORUMGATE_HEIGHT ` +
		`version=${QUORUMGATE_VERSION-unset} file=$QUORUMGATE_PARAMS_FILE" >> ` + log}
	upgradeInfo := filepath.Join(home, "upgrade-info.json")
	require.NoError(t, os.WriteFile(upgradeInfo, []byte("{}\n"), 0o644))
	writes := 0
	u := &Upgrader{Home: home, Hook: hook, WriteParams: func() error { writes++; return nil }}
	info := UpgradeInfo{Deployment: "t2", Param: "timeout", Value: "2000", ActivationView: 40, Height: 38}
	require.NoError(t, u.OnActive(context.Background(), info))
	require.NoError(t, u.OnActive(context.Background(), info))
	out, err := os.ReadFile(log)
	require.NoError(t, err)
	assert.Equal(t, "t2 timeout=2000 40 38 version=unset file="+filepath.Join(home, ParamsFileName)+"\n", string(out))
	assert.Equal(t, 1, writes, "params.json written once, before the hook")
	data, err := os.ReadFile(upgradeInfo)
	require.NoError(t, err)
	assert.Equal(t, "{}\n", string(data), "upgrade-info.json rewritten for a parameter change")

	// A version upgrade's hook still gets its version, not the inherited one.
	require.NoError(t, (&Upgrader{Home: home, Hook: []string{"sh", "-c", `echo "$QUORUMGATE_VERSION param=${QUORUMGATE_PARAM-unset}" >> ` + log}}).
		OnActive(context.Background(), UpgradeInfo{Deployment: "p2", Component: "protocol", Version: "2.0.0"}))
	out, err = os.ReadFile(log)
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(string(out), "\n2.0.0 param=unset\n"), "%q", out)

	failing := &Upgrader{Home: home, WriteParams: func() error { return os.ErrPermission }}
	assert.ErrorIs(t, failing.OnActive(context.Background(), UpgradeInfo{Deployment: "t3", Param: "timeout", Value: "3000"}), os.ErrPermission)
	assert.False(t, failing.Handled("t3"), "a failed params.json write marked the change handled")
}
