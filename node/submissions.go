package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// SubmissionsFile, in the node home, holds the governance items submitted
// through this node: pending ones are sent again until a finalized block
// carries them, across restarts of this node or of the sequencer (whose
// pool lives in memory), and included ones say at which height.
const SubmissionsFile = "submitted.json"

// Submission is one governance item submitted through this node.
type Submission struct {
	// ID is the hex SHA-256 of the item's kind and canonical encoding.
	ID         string `json:"id"`
	Kind       string `json:"kind"` // proposal | cancel
	Deployment string `json:"deployment"`
	Payload    string `json:"payload"` // canonical encoding, hex
	// SentAtView is the head view when the item was last sent.
	SentAtView uint64 `json:"sent_at_view"`
	Included   bool   `json:"included"`
	Height     uint64 `json:"height,omitempty"`
	View       uint64 `json:"view,omitempty"`
}

// maxIncluded bounds the included items kept for lookup; maxPending the
// pending ones (a node refuses more until some are included).
const (
	maxIncluded = 256
	maxPending  = 256
)

type submissions struct {
	path  string
	mu    sync.Mutex
	items []*Submission
}

func loadSubmissions(home string) (*submissions, error) {
	s := &submissions{path: filepath.Join(home, SubmissionsFile)}
	raw, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	items, err := parseSubmissions(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (move it aside to start without it; pending submissions in it are then lost)", s.path, err)
	}
	s.items = items
	return s, nil
}

// parseSubmissions decodes the submissions file and checks every item as
// add would have written it: a known kind, a payload that is the canonical
// encoding of an item of that kind (canon.Decode refuses any other), and the ID of that payload. The file is
// the node's own, but a hand edit or a bad disk must give an error that says
// which item is wrong, not a node that crashes later on a missing field.
func parseSubmissions(raw []byte) ([]*Submission, error) {
	var items []*Submission
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, err
	}
	for i, it := range items {
		if err := it.check(); err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	return items, nil
}

func (it *Submission) check() error {
	if it == nil {
		return errors.New("null instead of a submission")
	}
	kind, ok := itemKinds[it.Kind]
	if !ok {
		return fmt.Errorf("kind %q is neither proposal nor cancel", it.Kind)
	}
	payload, err := hex.DecodeString(it.Payload)
	if err != nil {
		return fmt.Errorf("payload is not hex: %w", err)
	}
	canonical, dep, err := canonicalItem(kind, payload)
	if err != nil {
		return fmt.Errorf("payload: %w", err)
	}
	if id := submissionID(kind, canonical); it.ID != id {
		return fmt.Errorf("id %q is not the payload's ID %s", it.ID, id)
	}
	if it.Deployment != dep {
		return fmt.Errorf("deployment %q is not the payload's %q", it.Deployment, dep)
	}
	return nil
}

// saveLocked writes the file atomically and durably. Called with mu held.
func (s *submissions) saveLocked() error {
	raw, err := json.MarshalIndent(s.items, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(s.path, append(raw, '\n'), 0o600)
}

func submissionID(kind chain.ItemKind, canonical []byte) string {
	h := sha256.New()
	h.Write([]byte{byte(kind)})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalItem decodes a governance payload and returns its canonical
// encoding and the deployment it names.
func canonicalItem(kind chain.ItemKind, payload []byte) ([]byte, string, error) {
	switch kind {
	case chain.ItemProposal:
		var sp activation.SignedProposal
		if err := canon.Decode(payload, &sp); err != nil {
			return nil, "", fmt.Errorf("proposal: %w", err)
		}
		return canon.MustEncode(sp), sp.Proposal.Name, nil
	case chain.ItemCancel:
		var sc activation.SignedCancel
		if err := canon.Decode(payload, &sc); err != nil {
			return nil, "", fmt.Errorf("cancel: %w", err)
		}
		return canon.MustEncode(sc), sc.Deployment, nil
	}
	return nil, "", fmt.Errorf("node: %d is not a governance item", kind)
}

// itemKinds are the governance item kinds by the names the admin API and
// the submissions file use; kindNames the other way round.
var (
	itemKinds = map[string]chain.ItemKind{"proposal": chain.ItemProposal, "cancel": chain.ItemCancel}
	kindNames = map[chain.ItemKind]string{chain.ItemProposal: "proposal", chain.ItemCancel: "cancel"}
)

// add records an item (once) and saves the file before the item is sent,
// so a crash right after cannot lose it.
func (s *submissions) add(kind chain.ItemKind, payload []byte, view uint64) (Submission, error) {
	canonical, dep, err := canonicalItem(kind, payload)
	if err != nil {
		return Submission{}, err
	}
	id := submissionID(kind, canonical)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items {
		if it.ID == id {
			return *it, nil
		}
	}
	pending := 0
	for _, it := range s.items {
		if !it.Included {
			pending++
		}
	}
	if pending >= maxPending {
		return Submission{}, fmt.Errorf("this node already has %d submissions waiting for a block; try again once some are included", pending)
	}
	it := &Submission{ID: id, Kind: kindNames[kind], Deployment: dep, Payload: hex.EncodeToString(canonical), SentAtView: view}
	s.items = append(s.items, it)
	if err := s.saveLocked(); err != nil {
		s.items = s.items[:len(s.items)-1]
		return Submission{}, fmt.Errorf("record the submission in %s: %w", s.path, err)
	}
	return *it, nil
}

// finalized marks the items a finalized block carries as included.
func (s *submissions) finalized(fb chain.FinalizedBlock) error {
	wire, err := activation.DecodeWireBlock(fb.Payload)
	if err != nil {
		return err
	}
	in := map[string]bool{}
	for _, sp := range wire.Proposals {
		in[submissionID(chain.ItemProposal, canon.MustEncode(sp))] = true
	}
	for _, sc := range wire.Cancels {
		in[submissionID(chain.ItemCancel, canon.MustEncode(sc))] = true
	}
	if len(in) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, it := range s.items {
		if !it.Included && in[it.ID] {
			it.Included, it.Height, it.View, changed = true, fb.Height, fb.View, true
		}
	}
	if !changed {
		return nil
	}
	// Keep the newest included ones only.
	var included int
	for i := len(s.items) - 1; i >= 0; i-- {
		if s.items[i].Included {
			if included++; included > maxIncluded {
				s.items = slices.Delete(s.items, i, i+1)
			}
		}
	}
	return s.saveLocked()
}

// due returns the pending items last sent at least bound views before view,
// and records them as sent at view.
func (s *submissions) due(view, bound uint64) ([]Submission, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Submission
	for _, it := range s.items {
		if !it.Included && view >= it.SentAtView+bound {
			it.SentAtView = view
			out = append(out, *it)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, s.saveLocked()
}

func (s *submissions) get(id string) (Submission, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.items {
		if it.ID == id {
			return *it, true
		}
	}
	return Submission{}, false
}

// resubmit sends again the pending submissions that no finalized block has
// carried within republishViews views: the sequencer may have restarted (its
// pool is in memory) or gossip may have lost them.
func (n *Node) resubmit(headView uint64) {
	due, err := n.subs.due(headView, republishViews(n.cfg.Genesis.Params()))
	if err != nil {
		n.log.Error("record submissions", "err", err)
	}
	for _, it := range due {
		payload, err := hex.DecodeString(it.Payload)
		if err != nil {
			n.log.Error("a pending submission's recorded payload is not hex; not sent again", "id", it.ID[:12], "err", err)
			continue
		}
		if err := n.submitGovernance(itemKinds[it.Kind], payload); err != nil {
			n.log.Warn("send a pending submission again", "id", it.ID[:12], "err", err)
			continue
		}
		n.log.Info("submission not in a finalized block yet; sent it again", "kind", it.Kind, "deployment", it.Deployment, "id", it.ID[:12])
	}
}

// Submission returns what this node knows of a submission by ID.
func (n *Node) Submission(id string) (Submission, bool) { return n.subs.get(id) }
