package sim

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// Outcome is one (run, mechanism) result.
type Outcome struct {
	Run       int
	Mechanism string
	Activated bool
	// EndHours is when the run stopped waiting for activation: the
	// activation, the timeout (FAILED) or the horizon. Runs that did not
	// activate are censored there.
	EndHours float64
	// Failed: the deployment timed out (as opposed to reaching the horizon).
	Failed bool
	// LockInView is the view of lock-in (stake and hybrid mechanisms).
	LockInView uint64
	// ActivationView and HoursToActivation are set when Activated.
	ActivationView    uint64
	HoursToActivation float64
	// Unsafe: the run activated while more than unsafe_unready of the stake
	// (or hash power) was not upgraded (UnreadyShare > unsafe_unready).
	Unsafe bool
	// UnreadyShare is the stake share not upgraded at activation; UpgradedShare per role.
	UnreadyShare  float64
	UpgradedShare map[string]float64
	// SignaledShareAtLockIn is, for stake and hybrid mechanisms, the smallest
	// per-group share of stake in the finalized tally at lock-in.
	SignaledShareAtLockIn float64
	// MissedBlockRate is the expected share of views in the liveness window
	// after activation without a block: a view's leader (drawn by stake)
	// cannot run the active version or is offline, and every view while the
	// stake that is up to date and online is two thirds or less (no finality).
	MissedBlockRate float64
	// MissedProfile is the missed-block rate in each of profileBins equal
	// parts of the liveness window: the shape of the spike after activation.
	MissedProfile []float64
	// NoFinalityHours: hours in the window with up-to-date online stake <= 2/3.
	NoFinalityHours float64
	NodesHalted     int
	// PoW: the mechanism is a proof-of-work one (pow): after activation
	// nothing halts, and SplitBlocks is the longest chain non-upgraded miners
	// grew in the liveness window; missed blocks, no-finality hours and
	// halted nodes do not apply.
	PoW         bool
	SplitBlocks int
	// For a parameter change (param_change): Rejected is the engine's
	// reason when it rejected the proposal (the run never activates);
	// LeadViews and LeadHours run from acceptance (governance: the release)
	// or lock-in to activation; DeferredByMinLead tells that min_lead_views
	// moved a lock-in's activation past the boundary the mechanism's rules give.
	Rejected          string
	LeadViews         uint64
	LeadHours         float64
	DeferredByMinLead bool
}

// upgradeViews returns each node's upgrade view under a mechanism before any
// lock-in: natural, or hurried before a deadline known from the release (a
// governance view, or a hybrid's earliest view).
func (c *Config) upgradeViews(pop *Population, m *MechanismConfig) []uint64 {
	out := make([]uint64, len(pop.Nodes))
	deadline := math.Inf(1)
	if m.Kind != "stake" {
		deadline = m.DelayHours
	}
	for i := range pop.Nodes {
		out[i] = c.hurried(&pop.Nodes[i], deadline, 0)
	}
	return out
}

// hurried is a node's upgrade view given a deadline (hours) it learned of at
// view known: the operators who would be late and hurry (hurry_share) upgrade
// in the hurry window ending margin_hours before it, but not before they
// know of it nor before their client has a release.
func (c *Config) hurried(nd *Node, deadline float64, known uint64) uint64 {
	dl := c.Behaviour.Deadline
	if nd.SignalsWithoutUpgrade {
		return never
	}
	h := nd.NaturalDelay
	latest := deadline - dl.MarginHours
	if !math.IsInf(deadline, 1) && h > latest && nd.Hurry < dl.HurryShare {
		v := c.hoursToViews(math.Max(nd.Available, latest-nd.HurryAt*dl.HurryWindowHours))
		return max(v, known)
	}
	if math.IsInf(h, 1) {
		return never
	}
	return c.hoursToViews(h)
}

// engineThreshold is the threshold the engine applies. The engine's rule is
// strict (ready > num/den); "at least num/den" is the same test at
// (num·K − 1)/(den·K) for any K at least the largest group's stake, since
// stakes are whole numbers: no integer ready stake lies between the two.
func (c *Config) engineThreshold(m *MechanismConfig, pop *Population) (quorum.Threshold, error) {
	th := m.threshold
	if m.Strict == nil || *m.Strict {
		return th, nil
	}
	k := uint64(0)
	for _, t := range pop.Tables {
		k = max(k, t.Table.TotalStake())
	}
	if m.PoW {
		k = c.Chain.EpochViews // the engine counts blocks of stake 1
	}
	hi1, num := bits.Mul64(th.Num, k)
	hi2, den := bits.Mul64(th.Den, k)
	if hi1 != 0 || hi2 != 0 || k == 0 {
		return th, cfgErr("mechanism["+m.Name+"].strict", "strict = false needs threshold denominator × total stake below 2^64 (%d × %d); "+
			"use a fraction with a smaller denominator", th.Den, k)
	}
	return quorum.Threshold{Num: num - 1, Den: den}, nil
}

// simulate runs one mechanism over one population through the real engine.
func (c *Config) simulate(run int, pop *Population, m *MechanismConfig, buf *runBuffers) (Outcome, error) {
	out := Outcome{Run: run, Mechanism: m.Name, PoW: m.PoW}
	var rng *rand.Rand
	if m.PoW {
		rng = c.powRNG(run, m)
	}
	eng, err := c.newEngineRun(pop, m, &out)
	if err != nil {
		return Outcome{}, err
	}
	upgrade := c.upgradeViews(pop, m)
	p, err := c.releaseProposal(pop, m)
	if err != nil {
		return Outcome{}, err
	}
	if err := eng.apply(activation.Block{View: 0, Proposals: []activation.Proposal{p}}); err != nil {
		return Outcome{}, err
	}
	if out.Rejected != "" {
		return out, nil // decided at the release: it never activates
	}
	if err := c.runEpochs(eng, pop, m, p.Threshold, upgrade, buf, rng); err != nil {
		return Outcome{}, err
	}
	d := eng.release()
	switch d.Status {
	case activation.Active:
	case activation.Failed:
		out.Failed = true
		out.EndHours = c.viewsToHours(d.Since)
		return out, nil
	default:
		out.EndHours = c.viewsToHours(c.HorizonEpochs * c.Chain.EpochViews)
		return out, nil
	}
	out.Activated = true
	out.ActivationView = d.ActivatesAt
	out.HoursToActivation = c.viewsToHours(d.ActivatesAt)
	out.EndHours = out.HoursToActivation
	c.paramOutcome(&out, d)
	if m.Kind != "governance" && c.Behaviour.hurryOnLockIn() {
		c.hurryAfterLockIn(pop, upgrade, d.ActivatesAt, out.LockInView)
	}
	if m.PoW {
		c.measureUnready(&out, pop, upgrade)
		out.NodesHalted = 0 // nobody halts on a proof-of-work chain
		c.measureSplit(&out, pop, upgrade, rng)
	} else {
		c.measure(&out, pop, upgrade, buf)
	}
	out.Unsafe = out.UnreadyShare > c.UnsafeUnready
	return out, nil
}

// releaseProposal is the release's proposal under a mechanism: a fixed
// activation view (governance), or a stake threshold with the mechanism's
// epochs; a hybrid also activates no earlier than its delay. The release
// is protocol 2.0.0, or param_change's new value.
func (c *Config) releaseProposal(pop *Population, m *MechanismConfig) (activation.Proposal, error) {
	p := activation.Proposal{Name: "release", Component: "protocol", Version: "2.0.0"}
	if pc := c.ParamChange; pc != nil {
		p = activation.Proposal{Name: "release", Param: pc.Key, Value: pc.New}
	}
	if m.Kind == "governance" {
		p.Mode, p.ActivationView = activation.Governance, c.hoursToViews(m.DelayHours)
		return p, nil
	}
	th, err := c.engineThreshold(m, pop)
	if err != nil {
		return activation.Proposal{}, err
	}
	p.Mode, p.Threshold, p.Roles = activation.Stake, th, m.Roles
	p.StartEpoch, p.TimeoutEpoch = m.StartEpoch, m.TimeoutEpochs
	p.DelayEpochs, p.MinActivationEpoch = m.DelayEpochs, m.MinActivationEpoch
	if m.Kind == "hybrid" {
		L := c.Chain.EpochViews
		earliest := c.hoursToViews(m.DelayHours)
		p.MinActivationEpoch = max(p.MinActivationEpoch, (earliest+L-1)/L)
	}
	return p, nil
}

// runEpochs drives the release epoch by epoch until it is decided or the
// horizon ends: the epoch-start block, the epoch's attestations while it
// is STARTED, and a block at its activation view when that falls inside
// the epoch.
func (c *Config) runEpochs(eng *engineRun, pop *Population, m *MechanismConfig, th quorum.Threshold, upgrade []uint64, buf *runBuffers,
	rng *rand.Rand) error {
	L := c.Chain.EpochViews
	notStarted := func() bool { return eng.release().Status != activation.Started }
	for e := uint64(0); e < c.HorizonEpochs; e++ {
		if eng.release().Status.Terminal() {
			return nil
		}
		start := e * L
		if e > 0 {
			if err := eng.apply(activation.Block{View: start}); err != nil {
				return err
			}
		}
		if eng.release().Status == activation.Started && m.PoW {
			if err := c.signalBlocks(pop, upgrade, e, rng, eng.apply); err != nil {
				return err
			}
		} else if eng.release().Status == activation.Started {
			if err := c.signalEpoch(pop, m, th, upgrade, e, buf, eng.apply, notStarted); err != nil {
				return err
			}
		}
		if d := eng.release(); d.Status == activation.LockedIn && d.ActivatesAt > start && d.ActivatesAt < start+L {
			if err := eng.apply(activation.Block{View: d.ActivatesAt}); err != nil {
				return err
			}
		}
	}
	return nil
}

// hurryAfterLockIn: the lock-in fixed the activation view, so operators who
// would be late learn of it at lock-in and hurry as they would before a
// governance deadline.
func (c *Config) hurryAfterLockIn(pop *Population, upgrade []uint64, activatesAt, lockInView uint64) {
	deadline := c.viewsToHours(activatesAt)
	for i := range pop.Nodes {
		upgrade[i] = min(upgrade[i], c.hurried(&pop.Nodes[i], deadline, lockInView))
	}
}

// engineRun is the activation engine's state through one simulated run:
// blocks go in at increasing heights, and the lock-in is recorded in the
// run's outcome.
type engineRun struct {
	params *activation.Params
	state  *activation.State
	height uint64
	m      *MechanismConfig
	out    *Outcome
	// paramChange: the release is a parameter change, which the engine may
	// reject (min_lead_views) as part of what is studied.
	paramChange bool
}

// newEngineRun starts from genesis with protocol 1.0.0, param_change's
// parameter if any, and the population's identity schedule.
func (c *Config) newEngineRun(pop *Population, m *MechanismConfig, out *Outcome) (*engineRun, error) {
	ids := pop.Schedule
	if m.PoW {
		ids = c.slots // the engine counts blocks
	}
	params := &activation.Params{ChainID: "sim", EpochViews: c.Chain.EpochViews, SafetyViews: c.Chain.SafetyViews, Identities: ids,
		Declared: c.paramDecls}
	state, err := activation.Genesis(params, map[string]string{"protocol": "1.0.0"})
	if err != nil {
		return nil, err
	}
	return &engineRun{params: params, state: state, m: m, out: out, paramChange: c.ParamChange != nil}, nil
}

// apply applies a block at the next height. A rejected version upgrade is
// an error (validation rules it out, and the run would measure nothing); a
// rejected parameter change is the run's outcome (out.Rejected).
func (r *engineRun) apply(b activation.Block) error {
	b.Height = r.height
	r.height++
	next, events, err := activation.Apply(r.state, b)
	if err != nil {
		return err
	}
	for _, e := range events {
		if t, ok := e.(activation.Transition); ok && t.To == activation.LockedIn && r.m.Kind != "governance" {
			d, _ := next.Deployment("release") // it just locked in, so it exists
			r.out.LockInView = t.View
			r.out.SignaledShareAtLockIn = signaledShare(d.Tally(t.Epoch), r.params.Identities.TableAt(t.Epoch), r.m.Roles)
		}
		if rej, ok := e.(activation.Rejection); ok && rej.Kind == activation.KindProposal {
			if r.paramChange {
				r.out.Rejected = string(rej.Reason)
				continue
			}
			return fmt.Errorf("the engine rejected the release proposal: %s", rej.Reason)
		}
	}
	r.state = next
	return nil
}

// release is the release's deployment. It exists from the first block on:
// apply fails if the engine rejects the proposal.
func (r *engineRun) release() *activation.Deployment {
	d, _ := r.state.Deployment("release")
	return d
}

// runBuffers are reused across the mechanisms and epochs of a worker's runs.
type runBuffers struct {
	keys      []uint64
	sorted    []uint64
	counts    []uint64
	readiness []activation.Readiness
	events    []liveEvent
}

// signalEpoch feeds one epoch's attestations to the engine. Attestations
// after the epoch's cutoff cannot lock in (rule 5) and the tally restarts
// next epoch, so they are left out; so are nodes whose role the deployment
// does not count (rule 4 rejects them) and everything after lock-in.
//
// Views within an epoch matter to the engine only through the cutoff and the
// view of lock-in, so the attestations are packed into at most two blocks:
// those before the view at which the tally first meets the threshold, and
// those at that view (found here with a tally of our own). The engine still
// counts every attestation and decides the lock-in; TestPackedBlocksMatchPerView
// holds the packing to one block per view, outcome for outcome.
func (c *Config) signalEpoch(pop *Population, m *MechanismConfig, th quorum.Threshold, upgrade []uint64, e uint64,
	buf *runBuffers, apply func(activation.Block) error, done func() bool) error {
	L := c.Chain.EpochViews
	start := e * L
	cutoff := start + L - c.Chain.SafetyViews
	table, index := pop.tableAt(e), pop.tableIndex(e)
	keys := sortKeys(c.attestationKeys(pop, m, upgrade, e, index, buf.keys[:0]), cutoff-start, buf)
	buf.keys = keys
	block := func(from, to int) error {
		if from == to {
			return nil
		}
		rs := buf.readiness[:0]
		for _, k := range keys[from:to] {
			n := k & 0xffffffff
			// The hint saves the engine a map lookup per attestation; it checks it against Node.
			rs = append(rs, activation.Readiness{Deployment: "release", Epoch: e, Node: pop.Nodes[n].ID,
				IndexHint: int(index[n]) + 1})
		}
		buf.readiness = rs
		return apply(activation.Block{View: start + keys[to-1]>>32, Readiness: rs})
	}
	if c.perViewBlocks {
		for k := 0; k < len(keys); {
			j := k
			for ; j < len(keys) && keys[j]>>32 == keys[k]>>32; j++ {
			}
			if err := block(k, j); err != nil || done() {
				return err
			}
			k = j
		}
		return nil
	}
	tl := quorum.NewTally(table)
	for k := 0; k < len(keys); {
		j := k
		for ; j < len(keys) && keys[j]>>32 == keys[k]>>32; j++ {
			tl.Add(int(index[keys[j]&0xffffffff]))
		}
		if tl.Meets(th, m.Roles) {
			if err := block(0, k); err != nil || done() {
				return err
			}
			return block(k, j)
		}
		k = j
	}
	return block(0, len(keys))
}

// attestationKeys appends to keys, for each node that attests in epoch e
// by its cutoff, (its view's offset in the epoch << 32 | its index in
// pop.Nodes), in node order. index is the epoch's identity-table index.
func (c *Config) attestationKeys(pop *Population, m *MechanismConfig, upgrade []uint64, e uint64, index []int32, keys []uint64) []uint64 {
	L := c.Chain.EpochViews
	start := e * L
	cutoff := start + L - c.Chain.SafetyViews
	for i := range pop.Nodes {
		nd := &pop.Nodes[i]
		if nd.NeverSignals || index[i] < 0 || nd.offline(e, c.Behaviour.OfflinePerEpoch) || !m.counts(nd.Role) {
			continue
		}
		ready := start
		if !nd.SignalsWithoutUpgrade {
			if m.SignalWholePeriod && upgrade[i] > start || upgrade[i] >= cutoff {
				continue
			}
			ready = max(start, upgrade[i])
		}
		v := ready + nd.jitter(e, c.Chain.AttestJitterViews)
		if nd.out(v) {
			v = nd.OutTo // the node attests once it is back
		}
		if v == start {
			// The epoch-start block is applied already (at view 0 it carries
			// the proposal): readiness follows in the next view.
			v = start + 1
		}
		if v <= cutoff {
			keys = append(keys, (v-start)<<32|uint64(i))
		}
	}
	return keys
}

// sortKeys orders (view offset << 32 | node) keys. When the offsets span
// little compared with the count (a million validators in a day's epoch) a
// counting sort by offset does it in linear time; node indexes within an
// offset are already ascending because keys are appended in node order.
func sortKeys(keys []uint64, maxOffset uint64, buf *runBuffers) []uint64 {
	if maxOffset > 4*uint64(len(keys))+1024 {
		slices.Sort(keys)
		return keys
	}
	counts := slices.Grow(buf.counts[:0], int(maxOffset)+2)[:maxOffset+2]
	clear(counts)
	for _, k := range keys {
		counts[(k>>32)+1]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	sorted := slices.Grow(buf.sorted[:0], len(keys))[:len(keys)]
	for _, k := range keys {
		off := k >> 32
		sorted[counts[off]] = k
		counts[off]++
	}
	buf.counts, buf.sorted = counts, keys // the old key slice is the next call's scratch
	return sorted
}

// counts reports whether a node of this role signals for the mechanism.
func (m *MechanismConfig) counts(role string) bool {
	return len(m.Roles) == 0 || slices.Contains(m.Roles, role)
}

func signaledShare(tl *quorum.Tally, table *quorum.Table, roles []string) float64 {
	if tl == nil {
		return 0
	}
	if len(roles) == 0 {
		return float64(tl.ReadyTotal()) / float64(table.TotalStake())
	}
	least := 1.0
	for _, r := range roles {
		if total := table.RoleStake(r); total > 0 {
			least = math.Min(least, float64(tl.Ready(r))/float64(total))
		} else {
			least = 0
		}
	}
	return least
}

// profileBins is how many parts the liveness window's missed-block profile has.
const profileBins = 48

// liveEvent changes the stake that is up to date and online at a view.
type liveEvent struct {
	view  uint64
	delta int64
}

// measure fills in what activation cost: unready stake, halted nodes, and
// missed blocks in the liveness window after activation.
func (c *Config) measure(out *Outcome, pop *Population, upgrade []uint64, buf *runBuffers) {
	c.measureUnready(out, pop, upgrade)
	c.measureLiveness(out, pop, upgrade, buf)
}

// measureUnready fills in the stake not upgraded at activation, overall
// and per role, and how many members halt.
func (c *Config) measureUnready(out *Outcome, pop *Population, upgrade []uint64) {
	act := out.ActivationView
	actEpoch := act / c.Chain.EpochViews
	total := float64(pop.tableAt(actEpoch).TotalStake())
	roleTotal := map[string]float64{}
	roleUp := map[string]float64{}
	upgraded := 0.0
	for i := range pop.Nodes {
		nd := &pop.Nodes[i]
		if !nd.member(actEpoch) {
			continue
		}
		roleTotal[nd.Role] += float64(nd.Stake)
		if upgrade[i] <= act {
			upgraded += float64(nd.Stake)
			roleUp[nd.Role] += float64(nd.Stake)
			continue
		}
		out.NodesHalted++
	}
	out.UnreadyShare = 1 - upgraded/total
	out.UpgradedShare = map[string]float64{}
	for r, t := range roleTotal {
		out.UpgradedShare[r] = roleUp[r] / t
	}
}

// measureLiveness fills in the missed blocks and the hours without
// finality in the liveness window, epoch by epoch: a node is up from its
// upgrade while it is a member, online that epoch and not in an outage.
func (c *Config) measureLiveness(out *Outcome, pop *Population, upgrade []uint64, buf *runBuffers) {
	act := out.ActivationView
	L := c.Chain.EpochViews
	window := c.hoursToViews(c.LivenessWindowHours)
	end := act + window
	// The missed-block profile: the window in profileBins equal bins.
	// The last bin takes the remainder, so every bin covers some views.
	nb := uint64(min(profileBins, max(window, 1)))
	mb := missedBlocks{act: act, binViews: max(1, window/nb), profile: make([]float64, nb)}
	for e := act / L; e*L < end; e++ {
		from, to := max(act, e*L), min(end, (e+1)*L)
		et := float64(pop.tableAt(e).TotalStake())
		base, evs := c.liveEvents(pop, upgrade, e, from, to, buf)
		up, at := base, from
		for k := 0; ; {
			// Apply every event at the current view, then count to the next one.
			for ; k < len(evs) && evs[k].view <= at; k++ {
				up += evs[k].delta
			}
			next := to
			if k < len(evs) {
				next = min(to, evs[k].view)
			}
			mb.add(at, next, float64(up), et)
			at = next
			if at >= to {
				break
			}
		}
	}
	if window > 0 {
		out.MissedBlockRate = mb.missed / float64(window)
		out.MissedProfile = mb.profile
		for b := range mb.profile {
			span := mb.binViews
			if b == len(mb.profile)-1 {
				span = window - uint64(b)*mb.binViews
			}
			mb.profile[b] /= float64(span)
		}
	}
	out.NoFinalityHours = c.viewsToHours(mb.noFinality)
}

// liveEvents lists, in view order, how the up-to-date online stake changes
// in views [from, to) of epoch e, and returns it with the stake up at from.
func (c *Config) liveEvents(pop *Population, upgrade []uint64, e, from, to uint64, buf *runBuffers) (int64, []liveEvent) {
	evs := buf.events[:0]
	base := int64(0)
	for i := range pop.Nodes {
		nd := &pop.Nodes[i]
		if !nd.member(e) || nd.offline(e, c.Behaviour.OfflinePerEpoch) || upgrade[i] >= to {
			continue
		}
		upFrom := max(from, upgrade[i])
		s := int64(nd.Stake)
		if upFrom == from {
			base += s
		} else {
			evs = append(evs, liveEvent{upFrom, s})
		}
		if nd.OutFrom < nd.OutTo && nd.OutTo > upFrom && nd.OutFrom < to {
			evs = append(evs, liveEvent{max(upFrom, nd.OutFrom), -s})
			if nd.OutTo < to {
				evs = append(evs, liveEvent{nd.OutTo, s})
			}
		}
	}
	slices.SortFunc(evs, func(a, b liveEvent) int {
		switch {
		case a.view < b.view:
			return -1
		case a.view > b.view:
			return 1
		}
		return 0
	})
	buf.events = evs
	return base, evs
}

// missedBlocks adds up the liveness window's missed blocks, in all and in
// the profile's bins.
type missedBlocks struct {
	act, binViews uint64
	missed        float64
	noFinality    uint64
	profile       []float64
}

// add counts views [at, next), in which up of total stake is up to date
// and online.
func (mb *missedBlocks) add(at, next uint64, up, total float64) {
	rate := 1.0 // no finality: every view is missed
	if share := up / total; 3*up > 2*total {
		rate = 1 - share
	} else {
		mb.noFinality += next - at
	}
	mb.missed += float64(next-at) * rate
	// Spread the span over the profile's bins.
	for v := at; v < next; {
		bin := min(int((v-mb.act)/mb.binViews), len(mb.profile)-1)
		end := min(next, mb.act+uint64(bin+1)*mb.binViews)
		if bin == len(mb.profile)-1 {
			end = next
		}
		mb.profile[bin] += float64(end-v) * rate
		v = end
	}
}
