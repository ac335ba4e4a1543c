package testnet

import (
	"context"
	"fmt"
	"slices"
	"strings"
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

// operators restarts the nodes at seeded random moments, supporting the new
// version, and shows progress as the first running node reports it (the
// sequencer while it runs). Up to largeTestnet nodes the operators upgrade
// one at a time; past it, in about nine rounds of several side by side
// (upgradeNext). In governance mode the last two operators are late: they
// upgrade only after the activation view (their nodes halt first).
func (d *demo) operators(ctx context.Context, p activation.Proposal) error {
	u := d.planUpgrades()
	limit, stall := d.operatorsLimit()
	start := time.Now()
	deadline := start.Add(limit)
	u.timer = time.Now().Add(d.nextUpgradeWait())
	// The highest head seen (anyStatus keeps it) and since when.
	height, heightSince := d.seenHeight, start
	for time.Now().Before(deadline) {
		st, err := d.anyStatus(ctx)
		if err == nil {
			if d.seenHeight > height {
				height, heightSince = d.seenHeight, time.Now()
			}
			if done, err := d.watch(u, st, p.Name); done || err != nil {
				return err
			}
		}
		if stall > 0 && time.Since(heightSince) > stall {
			return fmt.Errorf("the chain made no progress for %s: no node reports a head above height %d (node logs in %s)", stall, height, d.o.Dir)
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
			if err := d.upgradeNext(ctx, u, st, p.Name); err != nil {
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

// operatorsLimit is how long the operators may take, and (past
// largeTestnet nodes) how long the chain may stand still before the demo
// gives up. Up to largeTestnet nodes: three minutes. Past it the chain's
// pace, not a clock, decides: a hundred CometBFT nodes on two cores commit a
// height every few seconds rather than every 500 ms, so the demo goes on
// while heights come (up to half an hour) and fails once none has come for
// three minutes.
func (d *demo) operatorsLimit() (limit, stall time.Duration) {
	if len(d.procs) <= largeTestnet {
		return 3 * time.Minute, 0
	}
	return 30 * time.Minute, 3 * time.Minute
}

// upgrades is the operators' plan and how far it has got.
type upgrades struct {
	order []int        // the procs' indexes, in the order their operators upgrade
	late  map[int]bool // operators who upgrade only once the deployment is ACTIVE
	// batch is how many operators upgrade side by side in a round: one up
	// to largeTestnet nodes, then about a ninth of them.
	batch int
	// restarting are the nodes the last round restarted: past largeTestnet
	// nodes the next round waits until they are synced again.
	restarting  []*proc
	restartedAt time.Time
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
	n := len(d.procs)
	u := &upgrades{order: d.rng.Perm(n), late: map[int]bool{}, batch: 1}
	if n > largeTestnet {
		u.batch = (n + largeTestnet - 1) / largeTestnet
	}
	if d.o.Mode == "governance" {
		var can []int
		for _, i := range u.order {
			// Past largeTestnet nodes the sequencer is never late either:
			// the chain would stand still until its round.
			if (d.o.Engine != engineCometBFT || d.procs[i].role != "consensus") && (n <= largeTestnet || !d.carriesChain(d.procs[i])) {
				can = append(can, i)
			}
		}
		u.late[can[len(can)-1]], u.late[can[len(can)-2]] = true, true
	}
	if d.o.Engine == engineCometBFT && d.o.Mode == "stake" {
		u.victim = d.procs[3]
		u.order = slices.DeleteFunc(u.order, func(i int) bool { return d.procs[i] == u.victim })
	}
	if u.batch > 1 {
		// The late operators go last, so that no round waits behind them
		// with nodes that are not late. In governance mode the nodes the
		// chain stands on go first (the sequencer; on CometBFT the
		// validators), so that the nodes still on the old version at the
		// activation view, which halt, are ones the chain goes on without.
		// A small demo keeps its drawn order.
		rank := func(i int) int {
			switch {
			case u.late[i]:
				return 2
			case d.o.Mode == "governance" && d.carriesChain(d.procs[i]):
				return 0
			}
			return 1
		}
		slices.SortStableFunc(u.order, func(a, b int) int { return rank(a) - rank(b) })
	}
	return u
}

// carriesChain reports whether the chain stops while p is down: the
// devchain's sequencer (the first node), or on CometBFT a validator (enough
// of them).
func (d *demo) carriesChain(p *proc) bool {
	if d.o.Engine == engineCometBFT {
		return p.role == "consensus"
	}
	return p == d.procs[0]
}

// nextUpgradeWait is a seeded random wait of up to an epoch before the
// next operator upgrades. Past largeTestnet nodes, where a round restarts
// several nodes and waits until they are synced again, it is up to half an
// epoch: the restarts take the rest.
func (d *demo) nextUpgradeWait() time.Duration {
	views := d.o.EpochViews
	if len(d.procs) > largeTestnet {
		views = max(1, views/2)
	}
	return time.Duration(d.rng.IntN(int(views))) * d.o.ViewInterval
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

// upgradeNext plays the next round of operators: each restarts its node
// supporting the new version, unless the operator is late and the
// deployment not ACTIVE yet. A round is one operator up to largeTestnet
// nodes; past it, a round stops its nodes side by side, starts them again,
// and the next round waits until they are synced.
func (d *demo) upgradeNext(ctx context.Context, u *upgrades, st node.Status, name string) error {
	if !d.restarted(ctx, u) {
		return nil
	}
	active := false
	if dep := find(st, name); dep != nil && dep.State == "ACTIVE" {
		active = true
	}
	round := d.nextRound(u, active)
	if len(round) == 0 {
		return nil
	}
	for _, pr := range round {
		if err := d.exitedOnItsOwn(pr); err != nil {
			return err
		}
	}
	// Every node of a round of several gets its SIGTERM first, so that they
	// stop side by side; stopForUpgrade then waits for each.
	for _, pr := range round {
		if len(round) > 1 && pr.cmd != nil {
			syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	for _, pr := range round {
		if err := d.stopForUpgrade(pr); err != nil {
			return err
		}
	}
	for _, pr := range round {
		if err := d.start(pr, true); err != nil {
			return err
		}
		pr.upgraded = st.Head.View
	}
	if len(round) == 1 {
		pr := round[0]
		d.say("operator of %s (%s, stake %d) upgraded at view %d", pr.id, pr.role, pr.stake, st.Head.View)
	} else {
		ids, stake := make([]string, len(round)), uint64(0)
		for i, pr := range round {
			ids[i], stake = pr.id, stake+pr.stake
		}
		d.say("operators of %d nodes (stake %d) upgraded at view %d: %s", len(round), stake, st.Head.View, strings.Join(ids, " "))
	}
	u.next += len(round)
	if u.batch > 1 {
		u.restarting, u.restartedAt = round, time.Now()
	}
	u.timer = time.Now().Add(d.nextUpgradeWait())
	return nil
}

// nextRound is the operators who upgrade next: up to u.batch of them in
// order, ending before a late operator while the deployment is not ACTIVE.
// On CometBFT a round's validators, with the SIGKILLed one, stay under a
// third of the voting power, so that the chain goes on while they restart
// (a round's first validator always may go, as when operators upgrade one
// at a time: the chain then waits for it to come back).
func (d *demo) nextRound(u *upgrades, active bool) []*proc {
	var round []*proc
	down, validators := uint64(0), 0
	if u.victim != nil {
		down = u.victim.stake
	}
	for i := u.next; i < len(u.order) && len(round) < u.batch; i++ {
		pr := d.procs[u.order[i]]
		if u.late[u.order[i]] && !active {
			break
		}
		if d.o.Engine == engineCometBFT && pr.role == "consensus" {
			if 3*(down+pr.stake) >= d.votingPower() && validators > 0 {
				break
			}
			down += pr.stake
			validators++
		}
		round = append(round, pr)
	}
	return round
}

// restarted reports whether the nodes the last round restarted are synced
// again (a node that exited is left to exitedOnItsOwn). It gives up waiting
// after restartWait: a chain that stands still (its sequencer, or a third
// of its validators, halted in governance mode until their operators
// upgrade them) syncs no one.
func (d *demo) restarted(ctx context.Context, u *upgrades) bool {
	var waiting []string
	for _, pr := range u.restarting {
		if pr.cmd != nil && pr.client().Ready(ctx) != nil {
			waiting = append(waiting, pr.id)
		}
	}
	if len(waiting) > 0 && time.Since(u.restartedAt) < restartWait {
		return false
	}
	if len(waiting) > 0 {
		d.say("not synced %s after their restart: %s; the next operators go on", restartWait, strings.Join(waiting, " "))
	}
	u.restarting = nil
	return true
}

// restartWait bounds how long a round of operators waits for the last
// round's nodes to be synced.
const restartWait = 2 * time.Minute

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
