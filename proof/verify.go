package proof

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/quorum"
)

// ErrOtherChain is wrapped by the error for a proof of another chain.
var ErrOtherChain = errors.New("proof from another chain")

// Summary is what a verified proof established.
type Summary struct {
	Kind    string
	ChainID string
	Engine  string

	// A deployment proof.
	Deployment string
	Mode       activation.Mode
	// Component and Version, or Param and Value for a parameter change.
	Component, Version string
	Param, Value       string
	LockInView         uint64
	LockInEpoch        uint64
	ActivationView     uint64
	// FirstView is the view of the block that activated it.
	FirstView uint64
	// Stake is the certificate's ready stake per required role (one entry,
	// Role "", when the deployment counts all stake as one group); empty
	// in governance mode.
	Stake []RoleStake

	// A view proof: what governed View, from the state at AtView.
	View, AtView uint64
	Versions     []Governing
	Params       []Governing
}

// RoleStake is the ready stake of one role against the role's total.
type RoleStake struct {
	Role         string
	Ready, Total uint64
}

// Governing is the version of a component (or value of a parameter) that
// governed a view, and the view it governs from.
type Governing struct {
	Name, Value string
	Since       uint64
}

// String is the one-line summary `node-plugin proof verify` prints.
func (s Summary) String() string {
	var b strings.Builder
	if s.Kind == KindView {
		fmt.Fprintf(&b, "view %d on chain %s:", s.View, s.ChainID)
		for _, g := range s.Versions {
			fmt.Fprintf(&b, " %s %s (from view %d);", g.Name, g.Value, g.Since)
		}
		for _, g := range s.Params {
			fmt.Fprintf(&b, " %s=%s (from view %d);", g.Name, g.Value, g.Since)
		}
		fmt.Fprintf(&b, " proven by the %s state at view %d", s.Engine, s.AtView)
		return b.String()
	}
	what := s.Component + " " + s.Version
	if s.Param != "" {
		what = s.Param + "=" + s.Value
	}
	fmt.Fprintf(&b, "deployment %s: %s active from view %d on chain %s (%s, ", s.Deployment, what, s.ActivationView, s.ChainID, s.Engine)
	if s.Mode == activation.Governance {
		fmt.Fprintf(&b, "governance, accepted at view %d)", s.LockInView)
		return b.String()
	}
	fmt.Fprintf(&b, "locked in at view %d, epoch %d, by", s.LockInView, s.LockInEpoch)
	for i, r := range s.Stake {
		if i > 0 {
			b.WriteByte(',')
		}
		role := r.Role
		if role == "" {
			role = "all stake"
		}
		fmt.Fprintf(&b, " %s %d/%d (%s)", role, r.Ready, r.Total, percent(r.Ready, r.Total))
	}
	b.WriteByte(')')
	return b.String()
}

// percent is ready/total in whole percent, rounded half up, exactly.
func percent(ready, total uint64) string {
	if total == 0 {
		return "0%"
	}
	n := new(big.Int).Mul(new(big.Int).SetUint64(ready), big.NewInt(200))
	n.Add(n, new(big.Int).SetUint64(total))
	n.Quo(n, new(big.Int).Mul(new(big.Int).SetUint64(total), big.NewInt(2)))
	return n.String() + "%"
}

// fieldError names the field of the proof that does not verify.
func fieldError(field string, err error) error { return fmt.Errorf("%s: %w", field, err) }

func fieldErrorf(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// Verify checks a proof file against the chain's genesis, offline, and
// returns what it proves. The error names the first thing that does not
// verify and the field it is in.
func Verify(g *chain.Genesis, file []byte) (Summary, error) {
	f, err := Decode(file)
	if err != nil {
		return Summary{}, err
	}
	return VerifyFile(g, f)
}

// VerifyFile is Verify for a decoded file.
func VerifyFile(g *chain.Genesis, f *File) (Summary, error) {
	if f.Format != Format {
		return Summary{}, fieldErrorf("format", "%q is not %q", f.Format, Format)
	}
	if f.ChainID != g.ChainID || f.GenesisHash != g.Hash() {
		gh := g.Hash()
		return Summary{}, fmt.Errorf("%w: it is for chain %q with genesis %x…, the genesis given is chain %q with genesis %x…",
			ErrOtherChain, f.ChainID, f.GenesisHash[:8], g.ChainID, gh[:8])
	}
	scheme, err := Scheme(f.Engine)
	if err != nil {
		return Summary{}, fieldError("engine", err)
	}
	v := &verifier{g: g, scheme: scheme}
	sum := Summary{Kind: f.Kind, ChainID: f.ChainID, Engine: f.Engine}
	switch {
	case f.Kind == KindDeployment && f.Deployment != nil && f.View == nil:
		err = v.deployment(f.Deployment, &sum)
	case f.Kind == KindView && f.View != nil && f.Deployment == nil:
		err = v.view(f.View, &sum)
	default:
		err = fieldErrorf("kind", "%q with a deployment part: %t, a view part: %t (a proof is one of %q or %q, with that part only)",
			f.Kind, f.Deployment != nil, f.View != nil, KindDeployment, KindView)
	}
	if err != nil {
		return Summary{}, err
	}
	// The signatures last: every hash and rule above is cheaper to check.
	for _, check := range v.signatures {
		if err := check(); err != nil {
			return Summary{}, err
		}
	}
	return sum, nil
}

type verifier struct {
	g      *chain.Genesis
	scheme FinalityScheme
	// signatures are the signature checks, run once everything else
	// verified (in the order they were found).
	signatures []func() error
}

// anchor checks that every entry proof given is of the state after the
// anchor's block (its header's height), and queues the check of the
// block's finality evidence.
func (v *verifier) anchor(field string, a Anchor, entries ...activation.EntryProof) error {
	v.signatures = append(v.signatures, func() error {
		if err := v.scheme.Verify(v.g, a.Height, a.StateID, a.Finality); err != nil {
			return fieldError(field+".finality", err)
		}
		return nil
	})
	for _, e := range entries {
		if !e.Header.Applied || e.Header.Height != a.Height {
			return fieldErrorf(field, "an entry proof is of the state at height %d (after a block: %t), not of block %d",
				e.Header.Height, e.Header.Applied, a.Height)
		}
	}
	return nil
}

func (v *verifier) deployment(p *DeploymentProof, sum *Summary) error {
	sum.Deployment = p.Name
	if err := v.anchor("deployment.lock_in", p.LockIn, p.LockInEntry); err != nil {
		return err
	}
	locked, err := activation.VerifyDeployment(p.LockIn.StateID, p.LockInEntry)
	if err != nil {
		return fieldError("deployment.lock_in_entry", err)
	}
	lockView := p.LockInEntry.Header.View
	switch {
	case locked.Proposal.Name != p.Name:
		return fieldErrorf("deployment.lock_in_entry", "the record is of deployment %q, not %q", locked.Proposal.Name, p.Name)
	case locked.Status != activation.LockedIn || locked.Since != lockView || locked.ActivatesAt == nil:
		return fieldErrorf("deployment.lock_in_entry", "deployment %s is %s since view %d in the state after the block at view %d: it did not lock in there",
			p.Name, locked.Status, locked.Since, lockView)
	}
	prop := locked.Proposal
	sum.Mode, sum.LockInView, sum.ActivationView = prop.Mode, lockView, *locked.ActivatesAt
	sum.Component, sum.Version, sum.Param, sum.Value = prop.Component, prop.Version, prop.Param, prop.Value

	if prop.Mode == activation.Stake {
		if err := v.certificate(p, locked, sum); err != nil {
			return err
		}
	} else if p.Certificate != nil || len(p.Identities) > 0 {
		return fieldErrorf("deployment.certificate", "a governance-mode deployment carries no certificate or identity table")
	}

	if err := v.anchor("deployment.activation", p.Activation, p.ActivationEntry, p.History); err != nil {
		return err
	}
	active, err := activation.VerifyDeployment(p.Activation.StateID, p.ActivationEntry)
	if err != nil {
		return fieldError("deployment.activation_entry", err)
	}
	actView := p.ActivationEntry.Header.View
	switch {
	case !bytes.Equal(active.Proposal.Encode(), prop.Encode()):
		return fieldErrorf("deployment.activation_entry", "the record is of another proposal than the one that locked in")
	case active.Status != activation.Active || active.Since != actView:
		return fieldErrorf("deployment.activation_entry", "deployment %s is %s since view %d in the state after the block at view %d: it did not activate there",
			p.Name, active.Status, active.Since, actView)
	case active.ActivatesAt == nil || *active.ActivatesAt != *locked.ActivatesAt:
		return fieldErrorf("deployment.activation_entry", "the activation view differs from the one set at lock-in (%d)", *locked.ActivatesAt)
	case p.Activation.Height <= p.LockIn.Height:
		return fieldErrorf("deployment.activation", "block %d does not come after the lock-in block %d", p.Activation.Height, p.LockIn.Height)
	case actView < *locked.ActivatesAt:
		return fieldErrorf("deployment.activation_entry", "view %d is before the activation view %d", actView, *locked.ActivatesAt)
	}
	sum.FirstView = actView
	// The history holds the activation as Apply records it.
	var hist []activation.VersionRecord
	want := activation.VersionRecord{Version: prop.Version, ActivationView: *locked.ActivatesAt, FirstView: actView}
	name := prop.Component
	if prop.IsParam() {
		e, err := activation.VerifyParam(p.Activation.StateID, p.History)
		if err != nil {
			return fieldError("deployment.history", err)
		}
		name = e.Param
		for _, r := range e.History {
			hist = append(hist, activation.VersionRecord{Version: r.Value, ActivationView: r.ActivationView, FirstView: r.FirstView})
		}
		want.Version = prop.Value
		if name != prop.Param {
			return fieldErrorf("deployment.history", "the history is of parameter %q, not %q", name, prop.Param)
		}
	} else {
		e, err := activation.VerifyComponent(p.Activation.StateID, p.History)
		if err != nil {
			return fieldError("deployment.history", err)
		}
		name, hist = e.Component, e.History
		if name != prop.Component {
			return fieldErrorf("deployment.history", "the history is of component %q, not %q", name, prop.Component)
		}
	}
	if len(hist) == 0 || hist[len(hist)-1] != want {
		return fieldErrorf("deployment.history", "%s's history does not end with %s from view %d (first block at view %d)",
			name, want.Version, want.ActivationView, want.FirstView)
	}
	return nil
}

// certificate checks the lock-in epoch's identity table and the quorum
// certificate: the signature, that its signers were counted in the state's
// tally, and that their stake exceeds the deployment's threshold by the
// rule activation applies (quorum.Tally.Meets).
func (v *verifier) certificate(p *DeploymentProof, locked activation.DeploymentEntry, sum *Summary) error {
	params := v.g.Params()
	epoch := params.Epoch(p.LockInEntry.Header.View)
	sum.LockInEpoch = epoch
	table := params.Identities.TableAt(epoch)
	// The genesis's table had every proof of possession checked when the
	// genesis was loaded; the proof's copy must be that table, every entry
	// and field (keys and proofs included): its encoding hashes to the
	// table's ID.
	if quorum.TableIDOf(p.Identities) != table.ID() {
		return fieldErrorf("deployment.identities", "not the genesis's identity table of epoch %d (%d entries): its hash differs", epoch, table.Len())
	}
	if locked.TallyEpoch != epoch || len(locked.Signers) == 0 {
		return fieldErrorf("deployment.lock_in_entry", "the state holds no readiness tally of epoch %d", epoch)
	}
	if p.Certificate == nil {
		return fieldErrorf("deployment.certificate", "missing: a stake-mode deployment's proof needs the readiness certificate")
	}
	counted, err := quorum.TallyFromBitmap(table, locked.Signers)
	if err != nil {
		return fieldError("deployment.lock_in_entry", err)
	}
	tally, err := quorum.TallyFromBitmap(table, p.Certificate.Signers)
	if err != nil {
		return fieldError("deployment.certificate", err)
	}
	for i := range table.Len() {
		if tally.Has(i) && !counted.Has(i) {
			return fieldErrorf("deployment.certificate", "signer %q was not counted in the state's tally", table.At(i).NodeID)
		}
	}
	cert := quorum.Certificate{ChainID: v.g.ChainID, Deployment: locked.Proposal.ID(), Epoch: epoch,
		Signers: p.Certificate.Signers, Signature: p.Certificate.Signature}
	v.signatures = append(v.signatures, func() error {
		if _, err := cert.Verify(table); err != nil {
			return fieldError("deployment.certificate", err)
		}
		return nil
	})
	if !tally.Meets(locked.Proposal.Threshold, locked.Proposal.Roles) {
		return fieldErrorf("deployment.certificate", "its signers' stake does not exceed %s of %s", locked.Proposal.Threshold, rolesText(locked.Proposal.Roles))
	}
	// Lock-in only counts up to the cutoff (DESIGN.md rule 5).
	if cutoff := params.EpochStart(epoch+1) - params.SafetyViews; p.LockInEntry.Header.View > cutoff {
		return fieldErrorf("deployment.lock_in_entry", "view %d is after epoch %d's lock-in cutoff %d", p.LockInEntry.Header.View, epoch, cutoff)
	}
	if len(locked.Proposal.Roles) == 0 {
		sum.Stake = []RoleStake{{Ready: tally.ReadyTotal(), Total: table.TotalStake()}}
	}
	for _, r := range locked.Proposal.Roles {
		sum.Stake = append(sum.Stake, RoleStake{Role: r, Ready: tally.Ready(r), Total: table.RoleStake(r)})
	}
	return nil
}

func rolesText(roles []string) string {
	if len(roles) == 0 {
		return "all stake"
	}
	return "the stake of " + strings.Join(roles, ", ")
}

func (v *verifier) view(p *ViewProof, sum *Summary) error {
	sum.View = p.View
	if len(p.Components) == 0 {
		return fieldErrorf("view.components", "no component history: a view proof proves every component")
	}
	all := append(append([]activation.EntryProof(nil), p.Components...), p.Params...)
	if err := v.anchor("view.at", p.At, all...); err != nil {
		return err
	}
	for i, e := range p.Components {
		field := fmt.Sprintf("view.components[%d]", i)
		if e.Index != uint64(i) {
			return fieldErrorf(field, "proves entry %d, not %d", e.Index, i)
		}
		c, err := activation.VerifyComponent(p.At.StateID, e)
		if err != nil {
			return fieldError(field, err)
		}
		if r, ok := governing(c.History, p.View); ok {
			sum.Versions = append(sum.Versions, Governing{Name: c.Component, Value: r.Version, Since: r.ActivationView})
		}
	}
	for i, e := range p.Params {
		field := fmt.Sprintf("view.params[%d]", i)
		if e.Index != uint64(i) {
			return fieldErrorf(field, "proves entry %d, not %d", e.Index, i)
		}
		pe, err := activation.VerifyParam(p.At.StateID, e)
		if err != nil {
			return fieldError(field, err)
		}
		hist := make([]activation.VersionRecord, len(pe.History))
		for k, r := range pe.History {
			hist[k] = activation.VersionRecord{Version: r.Value, ActivationView: r.ActivationView, FirstView: r.FirstView}
		}
		if r, ok := governing(hist, p.View); ok {
			sum.Params = append(sum.Params, Governing{Name: pe.Param, Value: r.Version, Since: r.ActivationView})
		}
	}
	// Every entry proof verified against the state ID, so their (equal)
	// headers are the state's.
	h := p.Components[0].Header
	sum.AtView = h.View
	if h.View < p.View {
		return fieldErrorf("view.at", "the state is at view %d, before view %d: later activations may be missing", h.View, p.View)
	}
	if uint64(len(p.Components)) != h.Components.Size || uint64(len(p.Params)) != h.ParamValues.Size {
		return fieldErrorf("view", "%d component and %d parameter proofs, the state has %d and %d: a view proof proves them all",
			len(p.Components), len(p.Params), h.Components.Size, h.ParamValues.Size)
	}
	return nil
}

// governing is the record that governed view v: the last one whose
// activation view is at or before v (State.VersionAt's rule).
func governing(hist []activation.VersionRecord, v uint64) (activation.VersionRecord, bool) {
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].ActivationView <= v {
			return hist[i], true
		}
	}
	return activation.VersionRecord{}, false
}
