package node

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

func testState(t *testing.T) (*activation.State, func(view uint64, ps ...activation.Proposal) *activation.State) {
	t.Helper()
	table, _ := quorum.NewTable([]quorum.Identity{{NodeID: "a", Role: "r", Stake: 1}})
	sched, _ := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	s, err := activation.Genesis(&activation.Params{ChainID: "n", EpochViews: 100, SafetyViews: 10, Identities: sched},
		map[string]string{"protocol": "1.0.0", "cadence": "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	height := uint64(0)
	apply := func(view uint64, ps ...activation.Proposal) *activation.State {
		next, _, err := activation.Apply(s, activation.Block{Height: height, View: view, Proposals: ps})
		if err != nil {
			t.Fatal(err)
		}
		height++
		s = next
		return s
	}
	return s, apply
}

func TestParseSupported(t *testing.T) {
	s, err := ParseSupported([]string{"protocol=1.0.0", "protocol=2.0.0", "cadence=1.1.0", "protocol=2.0.0"})
	if err != nil || !s.Has("protocol", "2.0.0") || s.Has("protocol", "3.0.0") || len(s["protocol"]) != 2 {
		t.Fatalf("%v %v", s, err)
	}
	for _, bad := range []string{"protocol", "=1.0.0", "protocol=v2"} {
		if _, err := ParseSupported([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestToAttestAndWarnings(t *testing.T) {
	_, apply := testState(t)
	state := apply(1,
		activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake, Threshold: quorum.TwoThirds, StartEpoch: 0, TimeoutEpoch: 5},
		activation.Proposal{Name: "c11", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 500})
	sup, _ := ParseSupported([]string{"protocol=1.0.0", "protocol=2.0.0", "cadence=1.0.0"})
	got := ToAttest(state, sup)
	if len(got) != 1 || got[0].Name != "p2" {
		t.Fatalf("attest %v", got)
	}
	if got := ToAttest(state, Supported{}); len(got) != 0 {
		t.Fatal("attested for an unsupported version")
	}
	w := Warnings(state, sup, 100, 2*time.Second)
	if len(w) != 1 || w[0].Deployment != "c11" || w[0].ViewsLeft != 400 || w[0].ETA != 800*time.Second {
		t.Fatalf("warnings %+v", w)
	}
	if !strings.Contains(w[0].String(), "upgrade before view 500, about 13m20s from now") {
		t.Fatalf("warning text %q", w[0])
	}
}

func TestGuard(t *testing.T) {
	_, apply := testState(t)
	state := apply(1, activation.Proposal{Name: "c11", Component: "cadence", Version: "1.1.0", Mode: activation.Governance, ActivationView: 50})
	old, _ := ParseSupported([]string{"protocol=1.0.0", "cadence=1.0.0"})
	upgraded, _ := ParseSupported([]string{"protocol=1.0.0", "cadence=1.0.0", "cadence=1.1.0"})
	if err := Guard(old)(state, 49); err != nil {
		t.Fatalf("halted before the activation: %v", err)
	}
	var he *HaltError
	if err := Guard(old)(state, 50); !errors.As(err, &he) || he.Version != "1.1.0" || !strings.Contains(err.Error(), "supports cadence=1.1.0") {
		t.Fatalf("at the activation view: %v", err)
	}
	if err := Guard(old)(state, 57); err == nil {
		t.Fatal("past the activation view (skipped views)")
	}
	if err := Guard(upgraded)(state, 50); err != nil {
		t.Fatalf("an upgraded node halted: %v", err)
	}
	active := apply(50)
	if err := Guard(old)(active, 51); err == nil {
		t.Fatal("an old binary went on after the activation")
	}
	if err := Guard(upgraded)(active, 51); err != nil {
		t.Fatal(err)
	}
}

func TestUpgraderRunsTheHookOnce(t *testing.T) {
	home := t.TempDir()
	log := filepath.Join(home, "hook.log")
	hook := []string{"sh", "-c", `echo "$QUORUMGATE_DEPLOYMENT $QUORUMGATE_VERSION $QUORUMGATE_HEIGHT retry=$QUORUMGATE_HOOK_RETRY" >> ` + log}
	info := UpgradeInfo{Deployment: "p2", Component: "protocol", Version: "2.0.0", ActivationView: 200, Height: 198}
	u := &Upgrader{Home: home, Hook: hook}
	ctx := context.Background()
	for range 2 {
		if err := u.OnActive(ctx, info); err != nil {
			t.Fatal(err)
		}
	}
	// A restarted node (a new Upgrader on the same home) does not run it again.
	if err := (&Upgrader{Home: home, Hook: hook}).OnActive(ctx, info); err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(log)
	if string(out) != "p2 2.0.0 198 retry=\n" {
		t.Fatalf("hook log %q", out)
	}
	var written UpgradeInfo
	data, _ := os.ReadFile(filepath.Join(home, "upgrade-info.json"))
	if err := json.Unmarshal(data, &written); err != nil || written != info {
		t.Fatalf("upgrade-info.json: %s %v", data, err)
	}
	// A crash mid-hook (started, not done): the hook runs again, told so.
	os.Remove(u.marker("p3", "done"))
	WriteFileAtomic(u.marker("p3", "started"), nil, 0o644)
	if err := u.OnActive(ctx, UpgradeInfo{Deployment: "p3", Component: "protocol", Version: "3.0.0"}); err != nil {
		t.Fatal(err)
	}
	out, _ = os.ReadFile(log)
	if !strings.HasSuffix(string(out), "p3 3.0.0 0 retry=1\n") {
		t.Fatalf("hook log after a crash %q", out)
	}
	// A failing hook leaves the deployment unhandled, so it is retried, not skipped.
	bad := &Upgrader{Home: home, Hook: []string{"sh", "-c", "exit 7"}}
	if err := bad.OnActive(ctx, UpgradeInfo{Deployment: "p4"}); err == nil || bad.Handled("p4") {
		t.Fatalf("failing hook: %v", err)
	}
}
