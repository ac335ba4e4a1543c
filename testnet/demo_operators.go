package testnet

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/node/client"
	"github.com/quorumgate/quorumgate/signal"
)

func (d *demo) propose(ctx context.Context, p activation.Proposal) error {
	a, err := d.g.Committee().Approve(activation.ProposalMessage(d.g.ChainID, p), []int{0, 1},
		[]signal.PrivateKey{d.keys.Governance[0], d.keys.Governance[1]})
	if err != nil {
		return err
	}
	target := d.procs[1]
	token, err := client.ReadToken(target.home)
	if err != nil {
		return fmt.Errorf("propose: %s: %w", target.id, err)
	}
	c := client.New(target.api, client.WithAdmin(target.admin, token))
	if _, err := c.Submit(ctx, "proposal", canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a})); err != nil {
		return fmt.Errorf("propose through %s: %w", target.id, err)
	}
	return nil
}

// operators restarts the nodes one at a time, at seeded random moments,
// supporting the new version, and shows progress as the first running node
// reports it (the sequencer while it runs). In
// governance mode the last two operators are late: they upgrade only after
// the activation view (their nodes halt first).
func (d *demo) operators(ctx context.Context, p activation.Proposal) error {
	u := d.planUpgrades()
	// Three minutes, and two seconds more a node past 9 (a restart on a
	// machine running a hundred nodes takes that).
	limit := 3*time.Minute + time.Duration(max(0, len(d.procs)-largeTestnet))*2*time.Second
	deadline := time.Now().Add(limit)
	u.timer = time.Now().Add(d.nextUpgradeWait())
	for time.Now().Before(deadline) {
		st, err := d.anyStatus(ctx)
		if err == nil {
			if done, err := d.watch(u, st, p.Name); done || err != nil {
				return err
			}
		}
		// Halted nodes: record them; their operators upgrade later. Any
		// other exit is a failure, and ends the demo.
		for _, pr := range d.procs {
			if err := d.exitedOnItsOwn(pr); err != nil {
				return err
			}
		}
		// An upgrade waits for a status to date it by (the node that
		// reports it may itself be restarting).
		if err == nil && u.next < len(u.order) && time.Now().After(u.timer) {
			if err := d.upgradeNext(u, st, p.Name); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the upgrade did not complete within %s (node logs in %s)", limit, d.o.Dir)
}

// upgrades is the operators' plan and how far it has got.
type upgrades struct {
	order []int        // the procs' indexes, in the order their operators upgrade
	late  map[int]bool // operators who upgrade only once the deployment is ACTIVE
	// victim is the validator SIGKILLed during signaling (CometBFT, stake
	// mode), outside order: it restarts after the activation.
	victim           *proc
	killedAt, saidAt uint64 // heights: the kill, the last "keeps finalizing"
	last             string // the last progress line shown
	next             int    // the next operator in order
	timer            time.Time
}

// planUpgrades draws the operators' order from the seed. In governance mode
// the last two are late. On CometBFT the late operators run full nodes:
// validators with more than a third of the voting power halted would stop
// the chain. On CometBFT in stake mode, one validator under a third of the
// voting power is SIGKILLed during signaling and stays down until after the
// activation: the others go on without it.
func (d *demo) planUpgrades() *upgrades {
	u := &upgrades{order: d.rng.Perm(len(d.procs)), late: map[int]bool{}}
	if d.o.Mode == "governance" {
		var can []int
		for _, i := range u.order {
			if d.o.Engine != engineCometBFT || d.procs[i].role != "consensus" {
				can = append(can, i)
			}
		}
		u.late[can[len(can)-1]], u.late[can[len(can)-2]] = true, true
	}
	if d.o.Engine == engineCometBFT && d.o.Mode == "stake" {
		u.victim = d.procs[3]
		u.order = slices.DeleteFunc(u.order, func(i int) bool { return d.procs[i] == u.victim })
	}
	return u
}

// nextUpgradeWait is a seeded random wait of up to an epoch before the
// next operator upgrades.
//
// Past 9 nodes the waits shrink in proportion, so that a hundred operators
// take about as many epochs as nine.
func (d *demo) nextUpgradeWait() time.Duration {
	wait := time.Duration(d.rng.IntN(int(d.o.EpochViews))) * d.o.ViewInterval
	if n := len(d.procs); n > largeTestnet {
		wait = wait * largeTestnet / time.Duration(n)
	}
	return wait
}

// watch shows the deployment's progress in st, kills the victim once
// signaling starts, and reports done once the deployment is decided and
// every operator has upgraded (restarting the victim, if any, first).
func (d *demo) watch(u *upgrades, st node.Status, name string) (bool, error) {
	if line := progress(st, name); line != u.last {
		d.say("%s", line)
		u.last = line
	}
	victim := u.victim
	if victim != nil && victim.cmd == nil && victim.killed && st.Head.Height >= u.saidAt+d.o.EpochViews/2 {
		d.say("the chain keeps finalizing without %s: height %d", victim.id, st.Head.Height)
		u.saidAt = st.Head.Height
	}
	dep := find(st, name)
	if victim != nil && !victim.killed && dep != nil && dep.State == "STARTED" {
		if err := d.kill(victim); err != nil {
			return false, err
		}
		u.killedAt, u.saidAt = st.Head.Height, st.Head.Height
		d.say("SIGKILLed validator %s (stake %d, %.0f%% of the voting power, under a third) at height %d, during signaling; it stays down until after the activation",
			victim.id, victim.stake, 100*float64(victim.stake)/float64(d.votingPower()), u.killedAt)
	}
	if dep == nil || (dep.State != "ACTIVE" && dep.State != "FAILED") || u.next < len(u.order) {
		return false, nil
	}
	if victim != nil && victim.killed && victim.cmd == nil {
		d.say("the chain finalized heights %d to %d without %s, and activated %s at view %d (height %d)",
			u.killedAt+1, st.Head.Height, victim.id, name, *dep.ActivationView, *dep.ActivationView-1)
		if err := d.start(victim, true); err != nil {
			return false, err
		}
		victim.upgraded = st.Head.View
		d.say("restarted %s with protocol 2.0.0: it catches up from its peers through CometBFT's block sync", victim.id)
	}
	return true, nil
}

// upgradeNext plays the next operator: it restarts the node supporting the
// new version, unless the operator is late and the deployment not ACTIVE yet.
func (d *demo) upgradeNext(u *upgrades, st node.Status, name string) error {
	pr := d.procs[u.order[u.next]]
	if err := d.exitedOnItsOwn(pr); err != nil {
		return err
	}
	active := false
	if dep := find(st, name); dep != nil && dep.State == "ACTIVE" {
		active = true
	}
	if u.late[u.order[u.next]] && !active {
		return nil
	}
	if err := d.stopForUpgrade(pr); err != nil {
		return err
	}
	if err := d.start(pr, true); err != nil {
		return err
	}
	pr.upgraded = st.Head.View
	d.say("operator of %s (%s, stake %d) upgraded at view %d", pr.id, pr.role, pr.stake, st.Head.View)
	u.next++
	u.timer = time.Now().Add(d.nextUpgradeWait())
	return nil
}

// kill SIGKILLs a node's process group and waits for it to end.
func (d *demo) kill(p *proc) error {
	if p.cmd == nil {
		return fmt.Errorf("%s is not running: %s", p.id, p.lastWords())
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
	p.cmd, p.killed = nil, true
	return nil
}

// votingPower is the consensus-role stake: the CometBFT validators' power.
func (d *demo) votingPower() uint64 {
	total := uint64(0)
	for _, p := range d.procs {
		if p.role == "consensus" {
			total += p.stake
		}
	}
	return total
}

// exitedOnItsOwn notices a node process that ended without being stopped.
// A halt (exit 3) is what governance mode expects of a node that does not
// run the version activating: it is recorded, and its operator upgrades it
// later. Any other exit is a failure, returned with the node's last words.
func (d *demo) exitedOnItsOwn(p *proc) error {
	if p.cmd == nil {
		return nil
	}
	select {
	case code := <-p.exited:
		if code != node.ExitHalted {
			p.exited <- code // teardown's stop still reads it
			return fmt.Errorf("%s exited (%s): %s", p.id, p.cmd.ProcessState, p.lastWords())
		}
		p.halted, p.cmd = true, nil
		d.say("%s halted (exit %d): it does not run protocol 2.0.0", p.id, code)
	default:
	}
	return nil
}

func progress(st node.Status, name string) string {
	dep := find(st, name)
	if dep == nil {
		return fmt.Sprintf("epoch %d: waiting for the proposal to be included", st.Head.Epoch)
	}
	line := fmt.Sprintf("epoch %d: %s %s", st.Head.Epoch, dep.Name, dep.State)
	if dep.ActivationView != nil && dep.State == "LOCKED_IN" {
		line += fmt.Sprintf(", activates at view %d", *dep.ActivationView)
	}
	if sig := dep.Signaling; sig != nil {
		for _, r := range sig.Roles {
			line += fmt.Sprintf("  %s %s %3.0f%%", r.Role, node.Bar(r.ReadyRatio, sig.ThresholdRatio()), r.ReadyRatio*100)
		}
		line += fmt.Sprintf("  (need > %s at |, %d views to the cutoff)", sig.Threshold, sig.CutoffIn)
	}
	return line
}
