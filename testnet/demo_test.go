package testnet

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildBinary builds node-plugin once for the end-to-end tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "node-plugin")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/quorumgate/quorumgate/cmd/node-plugin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build node-plugin: %v\n%s", err, out)
	}
	return bin
}

// TestDemoEndToEnd runs both demos as real processes and checks the outcome
// the nodes themselves report.
func TestDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real node processes; skipped with -short")
	}
	bin := buildBinary(t)
	for _, mode := range []string{"stake", "governance"} {
		t.Run(mode, func(t *testing.T) {
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			dir := t.TempDir()
			res, err := Demo(ctx, DemoOptions{Nodes: 5, Mode: mode, Dir: dir, Binary: bin, Seed: 3,
				ViewInterval: 20 * time.Millisecond, EpochViews: 40, Out: &out})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			for _, n := range res.Nodes {
				if n.FinalState != "ACTIVE" || n.ActivationView != res.ActivationView || n.StateIDAtCommon != res.Nodes[0].StateIDAtCommon {
					t.Fatalf("node %s: %+v\n%s", n.ID, n, out.String())
				}
				// Each node ran its hook exactly once.
				log, err := os.ReadFile(filepath.Join(dir, n.ID, "hook.log"))
				if err != nil || strings.Count(string(log), "activated protocol-2 2.0.0") != 1 {
					t.Fatalf("node %s hook.log: %q %v", n.ID, log, err)
				}
			}
			if mode == "stake" {
				// The nodes ready at lock-in carry more than 2/3 of each
				// required role's stake, and each had upgraded by then.
				ready, total := map[string]uint64{}, map[string]uint64{}
				for _, n := range res.Nodes {
					total[n.Role] += n.Stake
					if n.ReadyAtLockIn {
						ready[n.Role] += n.Stake
						if n.UpgradedAtView == 0 || n.UpgradedAtView >= res.ActivationView {
							t.Fatalf("%s ready at lock-in, but upgraded at view %d (activation %d)", n.ID, n.UpgradedAtView, res.ActivationView)
						}
					}
				}
				for _, role := range []string{"consensus", "execution"} {
					if 3*ready[role] <= 2*total[role] {
						t.Fatalf("%s: %d of %d stake ready at lock-in\n%s", role, ready[role], total[role], out.String())
					}
				}
			}
			if mode == "governance" && res.StakeHalted == 0 {
				t.Fatalf("no node halted in governance mode:\n%s", out.String())
			}
			if !strings.Contains(out.String(), "is active on every node") {
				t.Fatalf("output:\n%s", out.String())
			}
			t.Logf("\n%s", out.String())
		})
	}
}
