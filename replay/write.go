package replay

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/paramfile"
)

// The written form of a scenario file: the members in the order DESIGN.md
// and docs/replay.md give them, optional ones left out when empty.
type (
	fileOut struct {
		Chain        chainFile     `json:"chain"`
		Genesis      *genesisOut   `json:"genesis,omitempty"`
		Identities   []identityOut `json:"identities"`
		UntilView    uint64        `json:"until_view"`
		MissingViews []uint64      `json:"missing_views,omitempty"`
		Blocks       []blockOut    `json:"blocks"`
	}
	genesisOut struct {
		Versions map[string]string          `json:"versions,omitempty"`
		Params   map[string]paramfile.Entry `json:"params,omitempty"`
	}
	identityOut struct {
		FromEpoch uint64    `json:"from_epoch"`
		Nodes     []nodeOut `json:"nodes"`
	}
	nodeOut struct {
		ID         string  `json:"id"`
		Role       string  `json:"role"`
		Stake      uint64  `json:"stake"`
		StakingKey string  `json:"staking_key,omitempty"`
		PoP        string  `json:"pop,omitempty"`
		PeerID     *string `json:"peer_id,omitempty"`
	}
	blockOut struct {
		View               uint64           `json:"view"`
		Proposals          []proposalOut    `json:"proposals,omitempty"`
		Cancels            []string         `json:"cancels,omitempty"`
		Attestations       []attestationOut `json:"attestations,omitempty"`
		VerifierRejections []rejectionOut   `json:"verifier_rejections,omitempty"`
	}
	proposalOut struct {
		Name string `json:"name"`
		// A version upgrade, or a parameter change.
		Component          string   `json:"component,omitempty"`
		Version            *string  `json:"version,omitempty"`
		Param              string   `json:"param,omitempty"`
		Value              *string  `json:"value,omitempty"`
		Mode               string   `json:"mode"`
		Roles              []string `json:"roles,omitempty"`
		Threshold          string   `json:"threshold,omitempty"`
		StartEpoch         *uint64  `json:"start_epoch,omitempty"`
		TimeoutEpoch       *uint64  `json:"timeout_epoch,omitempty"`
		MinActivationEpoch uint64   `json:"min_activation_epoch,omitempty"`
		DelayEpochs        uint64   `json:"delay_epochs,omitempty"`
		ActivationView     *uint64  `json:"activation_view,omitempty"`
	}
	attestationOut struct {
		Deployment string   `json:"deployment"`
		Epoch      uint64   `json:"epoch"`
		Nodes      []string `json:"nodes"`
	}
	rejectionOut struct {
		Kind       string  `json:"kind"`
		Deployment string  `json:"deployment"`
		Node       *string `json:"node,omitempty"`
		Reason     string  `json:"reason"`
	}
)

// Marshal writes the scenario as a scenario file that Parse reads back to
// the same scenario: the same output, line for line, and the same state IDs.
// Keyed identity tables are written with their keys, and declared
// parameters in genesis.params. An item no scenario file can carry (a
// proposal with an empty name or a component that is not a valid name, a parameter change that also
// names a component or a version or whose value is not valid UTF-8, a
// proposal of no known mode) is an error naming its block.
func (sc *Scenario) Marshal() ([]byte, error) {
	p := sc.Params
	f := fileOut{Chain: chainFile{ID: p.ChainID, EpochViews: p.EpochViews, SafetyViews: p.SafetyViews},
		Identities: []identityOut{}, UntilView: sc.UntilView, MissingViews: sc.Missing, Blocks: []blockOut{}}
	if len(sc.Versions) > 0 || len(p.Declared) > 0 {
		f.Genesis = &genesisOut{Versions: sc.Versions}
		if len(p.Declared) > 0 {
			f.Genesis.Params = paramfile.Entries(p.Declared)
		}
	}
	for _, e := range p.Identities.Entries() {
		t := identityOut{FromEpoch: e.FromEpoch, Nodes: make([]nodeOut, e.Table.Len())}
		for i := range t.Nodes {
			id := e.Table.At(i)
			n := nodeOut{ID: id.NodeID, Role: id.Role, Stake: id.Stake}
			if len(id.StakingKey) > 0 {
				peerID := id.PeerID
				n.StakingKey, n.PoP, n.PeerID = hex.EncodeToString(id.StakingKey), hex.EncodeToString(id.PoP), &peerID
			}
			t.Nodes[i] = n
		}
		f.Identities = append(f.Identities, t)
	}
	for _, b := range sc.Blocks {
		bo, err := blockOf(b)
		if err != nil {
			return nil, fmt.Errorf("block at view %d: %w", b.View, err)
		}
		f.Blocks = append(f.Blocks, bo)
	}
	out, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func blockOf(b Block) (blockOut, error) {
	bo := blockOut{View: b.View, Cancels: b.Cancels}
	for i, p := range b.Proposals {
		po, err := proposalOf(p)
		if err != nil {
			return bo, fmt.Errorf("proposal %d (%q): %w", i, p.Name, err)
		}
		bo.Proposals = append(bo.Proposals, po)
	}
	// Readiness in block order, as runs of one (deployment, epoch).
	for _, r := range b.Readiness {
		if n := len(bo.Attestations); n > 0 && bo.Attestations[n-1].Deployment == r.Deployment && bo.Attestations[n-1].Epoch == r.Epoch {
			bo.Attestations[n-1].Nodes = append(bo.Attestations[n-1].Nodes, r.Node)
			continue
		}
		bo.Attestations = append(bo.Attestations, attestationOut{Deployment: r.Deployment, Epoch: r.Epoch, Nodes: []string{r.Node}})
	}
	for _, r := range b.Rejected {
		ro := rejectionOut{Kind: string(r.Kind), Deployment: r.Deployment, Reason: string(r.Reason)}
		if r.Kind == activation.KindAttestation {
			node := r.Node
			ro.Node = &node
		}
		bo.VerifierRejections = append(bo.VerifierRejections, ro)
	}
	return bo, nil
}

func proposalOf(p activation.Proposal) (proposalOut, error) {
	po := proposalOut{Name: p.Name, Mode: p.Mode.String()}
	switch {
	case p.Name == "":
		return po, fmt.Errorf("an empty name cannot be written in a scenario file")
	case p.IsParam() && (p.Component != "" || p.Version != ""):
		return po, fmt.Errorf("a parameter change that also names a component or a version cannot be written in a scenario file")
	case p.IsParam() && !utf8.ValidString(p.Value):
		return po, fmt.Errorf("a value that is not valid UTF-8 cannot be written in a scenario file (JSON text is Unicode)")
	case p.IsParam():
		value := p.Value
		po.Param, po.Value = p.Param, &value
	case p.Component == "":
		return po, fmt.Errorf("an empty component cannot be written in a scenario file")
	case !activation.ValidName(p.Component):
		return po, fmt.Errorf("component %q is not a valid name and cannot be written in a scenario file (a chain's verifying layer refuses it)", p.Component)
	default:
		version := p.Version
		po.Component, po.Version = p.Component, &version
	}
	switch p.Mode {
	case activation.Stake:
		start, timeout := p.StartEpoch, p.TimeoutEpoch
		po.Roles, po.Threshold, po.StartEpoch, po.TimeoutEpoch = p.Roles, p.Threshold.String(), &start, &timeout
		po.MinActivationEpoch, po.DelayEpochs = p.MinActivationEpoch, p.DelayEpochs
	case activation.Governance:
		av := p.ActivationView
		po.ActivationView = &av
	default:
		return proposalOut{}, fmt.Errorf("mode %v is neither stake nor governance", p.Mode)
	}
	return po, nil
}
