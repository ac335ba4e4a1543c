package testnet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quorumgate/quorumgate/node"
)

// waitUpgradeInfo reads the activation height from the node's
// upgrade-info.json, which the node writes as it hands the activation to
// its hook.
func (d *demo) waitUpgradeInfo(ctx context.Context, p *proc, r *NodeResult) error {
	path := filepath.Join(p.home, "upgrade-info.json")
	for deadline := time.Now().Add(30 * time.Second); ; {
		var info node.UpgradeInfo
		data, err := os.ReadFile(path)
		if err == nil && json.Unmarshal(data, &info) == nil && info.Deployment == "protocol-2" {
			r.ActivationHeight = info.Height
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s wrote no upgrade-info.json for protocol-2 (%v): %s", p.id, err, p.lastWords())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// finish waits until every node runs the new version, checks they agree,
// and prints the summary.
func (d *demo) finish(ctx context.Context) (*Result, error) {
	res, common, err := d.collectResults(ctx)
	if err != nil {
		return nil, err
	}
	lockIn := "-" // governance deployments lock in when proposed, not by readiness
	if d.o.Mode == "stake" {
		if lockIn, err = d.markLockIn(ctx, res); err != nil {
			return nil, err
		}
	}
	if err := checkAgreement(res, common); err != nil {
		return nil, err
	}
	d.printSummary(res, common, lockIn)
	return res, nil
}

// collectResults waits until every node reports protocol-2 ACTIVE, then
// reads each node's result: its activation, its state ID at the lowest
// head height any node reports (returned too) and its upgrade-info.json.
func (d *demo) collectResults(ctx context.Context) (*Result, uint64, error) {
	res := &Result{Dir: d.o.Dir, Mode: d.o.Mode, Engine: d.o.Engine}
	err := d.waitAll(ctx, 60*time.Second, "every node reports protocol-2 ACTIVE", func(p *proc) bool {
		st, err := d.status(ctx, p)
		dep := find(st, "protocol-2")
		return err == nil && dep != nil && dep.State == "ACTIVE"
	})
	if err != nil {
		return nil, 0, err
	}
	// One status per node, taken after all report ACTIVE (which they keep
	// reporting): an error or a deployment without its activation view is
	// reported, never read as zeros or dereferenced.
	statuses := make([]node.Status, len(d.procs))
	var common uint64 = 1 << 62
	for i, p := range d.procs {
		st, err := d.status(ctx, p)
		if err != nil {
			return nil, 0, fmt.Errorf("status of %s after the activation: %w", p.id, err)
		}
		statuses[i] = st
		common = min(common, st.Head.Height)
	}
	for i, p := range d.procs {
		dep := find(statuses[i], "protocol-2")
		if dep == nil || dep.ActivationView == nil {
			return nil, 0, fmt.Errorf("%s reported protocol-2 ACTIVE, then no activation view for it", p.id)
		}
		sid, err := p.client().StateID(ctx, common)
		if err != nil {
			return nil, 0, p.named(err)
		}
		r := NodeResult{ID: p.id, Role: p.role, Stake: p.stake, UpgradedAtView: p.upgraded, Halted: p.halted,
			FinalState: dep.State, ActivationView: *dep.ActivationView, StateIDAtCommon: sid, Killed: p.killed}
		if err := d.waitUpgradeInfo(ctx, p, &r); err != nil {
			return nil, 0, err
		}
		res.Nodes = append(res.Nodes, r)
		res.StakeTotal += p.stake
		if p.halted {
			res.StakeHalted += p.stake
		}
	}
	res.ActivationView = res.Nodes[0].ActivationView
	return res, common, nil
}

// markLockIn asks the first node who was ready in the block that locked
// protocol-2 in, marks each node's result, and returns the lock-in in words.
func (d *demo) markLockIn(ctx context.Context, res *Result) (string, error) {
	lock, err := d.procs[0].client().ReadinessAtLockIn(ctx, "protocol-2")
	if err != nil {
		return "", d.procs[0].named(err)
	}
	for i := range res.Nodes {
		n := &res.Nodes[i]
		for _, r := range lock.Ready {
			n.ReadyAtLockIn = n.ReadyAtLockIn || r.NodeID == n.ID
		}
		for _, r := range lock.Roles {
			n.RoleRequired = n.RoleRequired || r.Role == n.Role || r.Role == node.AllRoles
		}
	}
	var parts []string
	for _, r := range lock.Roles {
		parts = append(parts, fmt.Sprintf("%s %d of %d (%.0f%%)", r.Role, r.ReadyStake, r.TotalStake, 100*r.ReadyRatio))
	}
	return fmt.Sprintf("locked in at view %d (epoch %d) with %s ready", lock.View, lock.Epoch, strings.Join(parts, ", ")), nil
}

// checkAgreement: every node activated at the same view, by a block at the
// same height, and has the same state at height common.
func checkAgreement(res *Result, common uint64) error {
	for _, r := range res.Nodes {
		if r.ActivationView != res.ActivationView || r.StateIDAtCommon != res.Nodes[0].StateIDAtCommon || r.ActivationHeight != res.Nodes[0].ActivationHeight {
			return fmt.Errorf("%s disagrees: activation view %d, state %s at height %d; %s: %d, %s", r.ID, r.ActivationView,
				r.StateIDAtCommon[:12], common, res.Nodes[0].ID, res.ActivationView, res.Nodes[0].StateIDAtCommon[:12])
		}
	}
	return nil
}

// printSummary says that the upgrade is done, with a row per node and how
// it locked in (stake) or what stake it left behind (governance).
func (d *demo) printSummary(res *Result, common uint64, lockIn string) {
	comet := d.o.Engine == engineCometBFT
	if comet {
		d.say("\nprotocol 2.0.0 is active on every node from view %d, activated by the block at height %d on every node; all nodes have state %s… at height %d",
			res.ActivationView, res.Nodes[0].ActivationHeight, res.Nodes[0].StateIDAtCommon[:16], common)
		for _, r := range res.Nodes {
			if r.Killed {
				d.say("%s, SIGKILLed during signaling, rejoined and agrees on that state ID", r.ID)
			}
		}
		d.say("")
	} else {
		d.say("\nprotocol 2.0.0 is active on every node from view %d; all nodes have state %s… at height %d\n",
			res.ActivationView, res.Nodes[0].StateIDAtCommon[:16], common)
	}
	w := tabwriter.NewWriter(d.o.Out, 2, 4, 2, ' ', 0)
	if comet {
		fmt.Fprintln(w, "node\trole\tstake\tvalidator\tupgraded at view\tready at lock-in\thalted first\tSIGKILLed\tactivation height\tstate")
	} else {
		fmt.Fprintln(w, "node\trole\tstake\tupgraded at view\tready at lock-in\thalted first\tstate")
	}
	for _, r := range res.Nodes {
		fmt.Fprintln(w, d.summaryRow(r, comet))
	}
	w.Flush()
	if d.o.Mode == "stake" {
		d.say("\n%s", lockIn)
	}
	if d.o.Mode == "governance" {
		d.say("\nstake left behind at activation: %d of %d (%.0f%%); those nodes halted instead of forking, and resumed once upgraded",
			res.StakeHalted, res.StakeTotal, 100*float64(res.StakeHalted)/float64(res.StakeTotal))
	}
	d.say("\nnode homes and logs: %s", d.o.Dir)
}

// summaryRow is a node's row of the summary table (tab-separated).
func (d *demo) summaryRow(r NodeResult, comet bool) string {
	halted := "no"
	if r.Halted {
		halted = "yes (exit 3), resumed after upgrading"
	}
	ready := "-"
	switch {
	case d.o.Mode != "stake":
	case !r.RoleRequired:
		ready = "- (role not counted)"
	case r.ReadyAtLockIn:
		ready = "yes"
	default:
		ready = "no"
	}
	if !comet {
		return fmt.Sprintf("%s\t%s\t%d\t%d\t%s\t%s\t%s", r.ID, r.Role, r.Stake, r.UpgradedAtView, ready, halted, r.FinalState)
	}
	validator, killed := "no (full node)", "no"
	if r.Role == "consensus" {
		validator = fmt.Sprintf("power %d", r.Stake)
	}
	if r.Killed {
		killed = "yes, during signaling; rejoined after activation"
	}
	return fmt.Sprintf("%s\t%s\t%d\t%s\t%d\t%s\t%s\t%s\t%d\t%s", r.ID, r.Role, r.Stake, validator, r.UpgradedAtView, ready, halted,
		killed, r.ActivationHeight, r.FinalState)
}
