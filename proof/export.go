package proof

import (
	"errors"
	"fmt"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// Options say where a proof's content comes from: a node's store (opened
// read-only on a stopped node), its genesis, and its engine.
type Options struct {
	Store   *storage.Store
	Genesis *chain.Genesis
	// Engine is the engine that finalized the store's blocks, recorded in
	// the proof ("devchain", "cometbft").
	Engine string
	// Payload returns the canonical activation.WireBlock inside the bytes
	// the engine stores for a block (devchain.Payload; nil when the stored
	// bytes are the WireBlock, as on CometBFT).
	Payload func(stored []byte) ([]byte, error)
}

func (o Options) file(kind string) *File {
	return &File{Format: Format, Kind: kind, ChainID: o.Genesis.ChainID, GenesisHash: o.Genesis.Hash(), Engine: o.Engine}
}

// anchorAt is the state after block h and its anchor, without finality
// evidence yet (AttachFinality adds it).
func (o Options) anchorAt(h uint64) (*activation.State, Anchor, error) {
	s, err := o.Store.StateAt(h)
	if err != nil {
		return nil, Anchor{}, fmt.Errorf("the state after block %d: %w", h, err)
	}
	return s, Anchor{Height: h, StateID: s.ID()}, nil
}

// Export builds the proof that deployment name locked in and activated,
// from the store's finalized blocks, without the finality evidence (see
// AttachFinality). The deployment must be ACTIVE at the store's head.
func Export(o Options, name string) (*File, error) {
	head, ok := o.Store.Head()
	if !ok {
		return nil, errors.New("the store holds no finalized block yet")
	}
	d, ok := head.Deployment(name)
	if !ok {
		return nil, fmt.Errorf("no deployment %q in the node's state", name)
	}
	if d.Status != activation.Active {
		return nil, fmt.Errorf("deployment %s is %s, not ACTIVE: a proof shows an activation that happened", name, d.Status)
	}
	actH, err := o.Store.HeightAtView(d.Since)
	if err != nil {
		return nil, fmt.Errorf("the block that activated %s (view %d): %w", name, d.Since, err)
	}
	// The block before activation still has the deployment LOCKED_IN, since
	// the view of the block that locked it in (or accepted it).
	before, err := o.Store.StateAt(actH - 1)
	if err != nil {
		return nil, fmt.Errorf("the state before %s activated: %w", name, err)
	}
	pd, ok := before.Deployment(name)
	if !ok || pd.Status != activation.LockedIn {
		return nil, fmt.Errorf("deployment %s is not LOCKED_IN in the state before the block that activated it", name)
	}
	lockH, err := o.Store.HeightAtView(pd.Since)
	if err != nil {
		return nil, fmt.Errorf("the block that locked %s in (view %d): %w", name, pd.Since, err)
	}
	p := &DeploymentProof{Name: name}
	lockState, lockAnchor, err := o.anchorAt(lockH)
	if err != nil {
		return nil, err
	}
	actState, actAnchor, err := o.anchorAt(actH)
	if err != nil {
		return nil, err
	}
	p.LockIn, p.Activation = lockAnchor, actAnchor
	if p.LockInEntry, err = lockState.ProveDeployment(name); err != nil {
		return nil, err
	}
	if p.ActivationEntry, err = actState.ProveDeployment(name); err != nil {
		return nil, err
	}
	if d.IsParam() {
		p.History, err = actState.ProveParam(d.Param)
	} else {
		p.History, err = actState.ProveComponent(d.Component)
	}
	if err != nil {
		return nil, err
	}
	if d.Mode == activation.Stake {
		epoch := o.Genesis.Params().Epoch(pd.Since)
		locked, _ := lockState.Deployment(name)
		tally := locked.Tally(epoch)
		if tally == nil {
			return nil, fmt.Errorf("deployment %s: the lock-in state holds no tally of epoch %d", name, epoch)
		}
		p.Identities = o.Genesis.Params().Identities.TableAt(epoch).EncodeEntries()
		if p.Certificate, err = o.certificate(locked, epoch, lockH, tally); err != nil {
			return nil, fmt.Errorf("deployment %s: %w", name, err)
		}
	}
	f := o.file(KindDeployment)
	f.Deployment = p
	return f, nil
}

// certificate aggregates the readiness signatures for d in epoch that the
// blocks of the epoch up to the lock-in block carried (certificates and
// single attestations, each verified again) for signers the lock-in
// state's tally counted, into one certificate. A certificate that overlaps
// signers already taken is left out (BLS signatures cannot be subtracted);
// the result must still exceed the threshold.
func (o Options) certificate(d *activation.Deployment, epoch, lockH uint64, tally *quorum.Tally) (*Certificate, error) {
	g := o.Genesis
	table := g.Params().Identities.TableAt(epoch)
	start := g.Params().EpochStart(epoch)
	chosen := quorum.NewTally(table)
	var sigs [][]byte
	for h := lockH; ; h-- {
		b, err := o.Store.Block(h)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		if b.View < start {
			break
		}
		raw := b.Wire
		if o.Payload != nil {
			if raw, err = o.Payload(b.Wire); err != nil {
				return nil, fmt.Errorf("block %d: %w", h, err)
			}
		}
		wb, err := activation.DecodeWireBlock(raw)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		for _, c := range wb.Certificates {
			if c.ChainID != g.ChainID || c.Deployment != d.ID || c.Epoch != epoch {
				continue
			}
			signers, err := c.Verify(table)
			if err != nil || !takeAll(chosen, tally, signers) {
				continue
			}
			sigs = append(sigs, c.Signature)
		}
		for _, a := range wb.Attestations {
			if a.ChainID != g.ChainID || a.Deployment != d.ID || a.Epoch != epoch {
				continue
			}
			i, ok := table.Lookup(a.Signer)
			if !ok || !tally.Has(i) || chosen.Has(i) || a.Verify(table.Key(i)) != nil {
				continue
			}
			chosen.Add(i)
			sigs = append(sigs, a.Signature)
		}
		if h == 0 {
			break
		}
	}
	if len(sigs) == 0 || !chosen.Meets(d.Threshold, d.Roles) {
		return nil, fmt.Errorf("the blocks of epoch %d up to the lock-in carry no signatures that exceed the threshold together", epoch)
	}
	agg, err := signal.AggregateSignatures(sigs)
	if err != nil {
		return nil, err
	}
	c := &Certificate{Signers: chosen.Signers().Clone(), Signature: agg}
	check := quorum.Certificate{ChainID: g.ChainID, Deployment: d.ID, Epoch: epoch, Signers: c.Signers, Signature: c.Signature}
	if _, err := check.Verify(table); err != nil {
		return nil, fmt.Errorf("the aggregated certificate does not verify: %w", err)
	}
	return c, nil
}

// takeAll adds signers to chosen if each was counted and none is taken yet.
func takeAll(chosen, counted *quorum.Tally, signers []int) bool {
	for _, i := range signers {
		if !counted.Has(i) || chosen.Has(i) {
			return false
		}
	}
	for _, i := range signers {
		chosen.Add(i)
	}
	return true
}

// ExportView builds the proof of which versions and parameter values
// governed view v: every component's and parameter's history in the state
// after the first block at a view at or after v, without the finality
// evidence (see AttachFinality).
func ExportView(o Options, v uint64) (*File, error) {
	head, ok := o.Store.Head()
	if !ok {
		return nil, errors.New("the store holds no finalized block yet")
	}
	_, headView, _ := head.Head()
	if headView < v {
		return nil, fmt.Errorf("view %d is after the node's head (view %d): what governs it is not final yet", v, headView)
	}
	var at uint64
	for w := v; ; w++ {
		h, err := o.Store.HeightAtView(w)
		if err == nil {
			at = h
			break
		}
		if !errors.Is(err, storage.ErrNotFound) || w == headView {
			return nil, fmt.Errorf("the first block at view %d or later: %w", v, err)
		}
	}
	s, anchor, err := o.anchorAt(at)
	if err != nil {
		return nil, err
	}
	p := &ViewProof{View: v, At: anchor}
	for _, c := range s.Components() {
		e, err := s.ProveComponent(c)
		if err != nil {
			return nil, err
		}
		p.Components = append(p.Components, e)
	}
	for _, name := range s.ParamNames() {
		e, err := s.ProveParam(name)
		if err != nil {
			return nil, err
		}
		p.Params = append(p.Params, e)
	}
	f := o.file(KindView)
	f.View = p
	return f, nil
}

// AttachFinality adds to every anchor of f the finality evidence its
// engine's scheme reads from the stopped node's home, and checks it
// against the anchor's state ID at once.
func AttachFinality(f *File, home string, g *chain.Genesis) error {
	scheme, err := Scheme(f.Engine)
	if err != nil {
		return err
	}
	var anchors []*Anchor
	if f.Deployment != nil {
		anchors = append(anchors, &f.Deployment.LockIn, &f.Deployment.Activation)
	}
	if f.View != nil {
		anchors = append(anchors, &f.View.At)
	}
	for _, a := range anchors {
		ev, err := scheme.Evidence(home, g, a.Height)
		if err != nil {
			return fmt.Errorf("finality evidence of block %d: %w", a.Height, err)
		}
		if err := scheme.Verify(g, a.Height, a.StateID, ev); err != nil {
			return fmt.Errorf("finality evidence of block %d does not verify against the store's state ID: %w", a.Height, err)
		}
		a.Finality = ev
	}
	return nil
}
