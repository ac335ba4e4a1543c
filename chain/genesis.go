package chain

// This file holds the genesis every engine starts from: the chain's fixed
// parameters, identity tables, governance committee, initial versions and
// (for the devchain) sequencer, as a JSON file that people edit and tools
// generate. The CometBFT engine derives its own genesis from it.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/internal/identityfile"
	"github.com/quorumgate/quorumgate/internal/paramfile"
	"github.com/quorumgate/quorumgate/internal/strictjson"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// Genesis is a validated genesis file.
type Genesis struct {
	ChainID     string
	EpochViews  uint64
	SafetyViews uint64
	Versions    map[string]string
	// Params are the protocol parameters declared at genesis, in name
	// order (none on most chains).
	ParamDecls []activation.ParamDecl
	Identities []IdentityStep
	Governance Governance
	// Sequencer is the node ID of the devchain's block producer (the
	// CometBFT engine ignores it).
	Sequencer string

	params    *activation.Params
	committee *activation.Committee
	state     *activation.State
	hash      [32]byte
}

// IdentityStep is the identity table from an epoch on.
type IdentityStep struct {
	FromEpoch uint64
	Nodes     []GenesisNode
}

// GenesisNode is one node of an identity table.
type GenesisNode struct {
	ID         string
	Role       string
	Stake      uint64
	StakingKey []byte // compressed BLS public key
	PoP        []byte // its proof of possession
	PeerID     string // libp2p peer ID
	Address    string // libp2p multiaddr, e.g. /ip4/127.0.0.1/tcp/7001
}

// Governance is the committee that signs proposals and cancellations.
type Governance struct {
	Threshold int
	Members   []activation.CommitteeMember
}

// Params returns the chain parameters (keyed identity tables).
func (g *Genesis) Params() *activation.Params { return g.params }

// Committee returns the governance committee.
func (g *Genesis) Committee() *activation.Committee { return g.committee }

// State returns the protocol state before the first block.
func (g *Genesis) State() *activation.State { return g.state }

// Hash identifies the genesis: stores and peers of another genesis are refused.
func (g *Genesis) Hash() [32]byte { return g.hash }

// LoadGenesis reads and validates a genesis file.
func LoadGenesis(path string) (*Genesis, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the genesis file: %w", err)
	}
	g, err := ParseGenesis(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// ParseGenesis validates a genesis file; errors name the JSON path.
func ParseGenesis(data []byte) (*Genesis, error) {
	var f genesisFile
	if err := strictjson.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	g := &Genesis{ChainID: string(f.ChainID), EpochViews: f.EpochViews, SafetyViews: f.SafetyViews,
		Versions: map[string]string(f.Versions), ParamDecls: f.Params, Sequencer: f.Sequencer,
		Governance: Governance{Threshold: int(f.Governance.Threshold)}}
	if g.Versions == nil {
		g.Versions = map[string]string{}
	}
	for _, st := range f.Identities {
		step := IdentityStep{FromEpoch: st.FromEpoch}
		for _, n := range st.Nodes {
			step.Nodes = append(step.Nodes, GenesisNode{ID: n.ID, Role: n.Role, Stake: n.Stake, StakingKey: n.StakingKey,
				PoP: n.PoP, PeerID: string(n.PeerID), Address: string(n.Address)})
		}
		g.Identities = append(g.Identities, step)
	}
	for _, m := range f.Governance.Members {
		g.Governance.Members = append(g.Governance.Members, activation.CommitteeMember{Key: m.Key, PoP: m.PoP})
	}
	return g, g.build()
}

// genesisFile is the genesis file's shape. Each field's type checks what
// its value means as it is read (a key decodes, a peer ID parses), so the
// first problem in file order is the one reported.
type genesisFile struct {
	ChainID     chainIDField     `json:"chain_id" strict:"required"`
	EpochViews  uint64           `json:"epoch_views" strict:"required"`
	SafetyViews uint64           `json:"safety_views" strict:"required"`
	Versions    versionsField    `json:"versions"`
	Params      paramfile.Params `json:"params"`
	Identities  identityTables   `json:"identities" strict:"required"`
	Governance  governanceFile   `json:"governance" strict:"required"`
	Sequencer   string           `json:"sequencer" strict:"required,nonempty"`
}

// genesisNodeFile is an identity-table node with the keys and address a
// chain needs; its members follow the shared ones (id, role, stake).
type genesisNodeFile struct {
	identityfile.Node
	StakingKey stakingKeyField `json:"staking_key" strict:"required"`
	PoP        hexField        `json:"pop" strict:"required"`
	PeerID     peerIDField     `json:"peer_id" strict:"required"`
	Address    multiaddrField  `json:"address" strict:"required"`
}

type chainIDField string

func (c *chainIDField) UnmarshalStrict(v any, path string) error {
	s, err := strictjson.NonEmptyString(v, path)
	if err != nil {
		return err
	}
	if len(s) > signal.MaxChainIDLen {
		return strictjson.Errorf(path, "at most %d bytes, got %d", signal.MaxChainIDLen, len(s))
	}
	*c = chainIDField(s)
	return nil
}

// versionsField is an object of component names to versions, read in
// component order: with several bad ones, the first is reported.
type versionsField map[string]string

func (vs *versionsField) UnmarshalStrict(v any, path string) error {
	m, isObj := v.(map[string]any)
	if !isObj {
		return strictjson.Errorf(path, "expected an object of component names to versions, got %s", strictjson.Describe(v))
	}
	*vs = versionsField{}
	for _, c := range slices.Sorted(maps.Keys(m)) {
		// A component's name reaches hooks and upgrade-info.json; the
		// verifying layer refuses a proposal for a name like this, so a
		// genesis must not start with one either.
		if !activation.ValidName(c) {
			return strictjson.Errorf(path, "component name %q is not a valid name (1 to %d bytes of letters, digits, '.', '_' and '-', starting with a letter or digit)", c, activation.MaxNameLen)
		}
		s, err := strictjson.String(m[c], path+"."+c)
		if err != nil {
			return err
		}
		(*vs)[c] = s
	}
	return nil
}

// identityTables is the list of identity tables, at least one.
type identityTables []identityfile.Table[genesisNodeFile]

func (ts *identityTables) UnmarshalStrict(v any, path string) error {
	list, err := strictjson.Array(v, path)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return strictjson.Errorf(path, "at least one identity table is needed")
	}
	return strictjson.Into(v, (*[]identityfile.Table[genesisNodeFile])(ts), path)
}

// hexField is bytes written as a non-empty hex string.
type hexField []byte

func (h *hexField) UnmarshalStrict(v any, path string) error {
	s, err := strictjson.NonEmptyString(v, path)
	if err != nil {
		return err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return strictjson.Errorf(path, "not hex: %v", err)
	}
	*h = b
	return nil
}

// stakingKeyField is a BLS public key in hex.
type stakingKeyField []byte

func (k *stakingKeyField) UnmarshalStrict(v any, path string) error {
	var b hexField
	if err := b.UnmarshalStrict(v, path); err != nil {
		return err
	}
	if err := blsChecks.decodeKey(b); err != nil {
		return strictjson.Errorf(path, "%v", err)
	}
	*k = stakingKeyField(b)
	return nil
}

type peerIDField string

func (p *peerIDField) UnmarshalStrict(v any, path string) error {
	s, err := strictjson.NonEmptyString(v, path)
	if err != nil {
		return err
	}
	if _, err := peer.Decode(s); err != nil {
		return strictjson.Errorf(path, "not a libp2p peer ID: %v", err)
	}
	*p = peerIDField(s)
	return nil
}

type multiaddrField string

func (a *multiaddrField) UnmarshalStrict(v any, path string) error {
	s, err := strictjson.NonEmptyString(v, path)
	if err != nil {
		return err
	}
	if _, err := multiaddr.NewMultiaddr(s); err != nil {
		return strictjson.Errorf(path, "not a multiaddr such as /ip4/127.0.0.1/tcp/7001: %v", err)
	}
	*a = multiaddrField(s)
	return nil
}

// governanceFile is the committee: the threshold is checked against the
// number of members before the members themselves are read.
type governanceFile struct {
	Threshold uint64
	Members   []memberFile
}

type memberFile struct {
	Key hexField `json:"key" strict:"required"`
	PoP hexField `json:"pop" strict:"required"`
}

func (gf *governanceFile) UnmarshalStrict(v any, path string) error {
	var shape struct {
		Threshold uint64   `json:"threshold" strict:"required"`
		Members   rawArray `json:"members" strict:"required"`
	}
	if err := strictjson.Into(v, &shape, path); err != nil {
		return err
	}
	if shape.Threshold < 1 || shape.Threshold > uint64(len(shape.Members)) {
		return strictjson.Errorf(strictjson.Join(path, "threshold"), "%d must be between 1 and the number of members (%d)",
			shape.Threshold, len(shape.Members))
	}
	gf.Threshold = shape.Threshold
	return strictjson.Into([]any(shape.Members), &gf.Members, strictjson.Join(path, "members"))
}

// rawArray is an array whose elements are read later.
type rawArray []any

func (r *rawArray) UnmarshalStrict(v any, path string) error {
	list, err := strictjson.Array(v, path)
	*r = list
	return err
}

// blsChecks are the costly part of reading a genesis: decoding each staking
// key and checking each proof of possession, about 1 ms a node or member.
// Only tests change them: FuzzParseGenesis puts memoized ones in their place
// (blsmemo_test.go), which give the same result for the same bytes, so that
// a fuzz process pays for each key once instead of on every valid input.
var blsChecks = struct {
	decodeKey    func(key []byte) error
	newTable     func(ids []quorum.Identity) (*quorum.Table, error)
	newCommittee func(members []activation.CommitteeMember, threshold int) (*activation.Committee, error)
}{
	decodeKey: func(key []byte) error {
		_, err := signal.DecodePublicKey(key)
		return err
	},
	newTable:     func(ids []quorum.Identity) (*quorum.Table, error) { return quorum.NewTable(ids) },
	newCommittee: activation.NewCommittee,
}

// build checks what spans fields (tables, committee, sequencer) and derives
// the params, committee, genesis state and hash.
func (g *Genesis) build() error {
	p := &activation.Params{ChainID: g.ChainID, EpochViews: g.EpochViews, SafetyViews: g.SafetyViews,
		Declared: activation.SortParamDecls(g.ParamDecls)}
	if g.EpochViews == 0 {
		return strictjson.Errorf("epoch_views", "must be at least 1")
	}
	if g.SafetyViews >= g.EpochViews {
		return strictjson.Errorf("safety_views", "%d must be less than epoch_views (%d)", g.SafetyViews, g.EpochViews)
	}
	if g.Identities[0].FromEpoch != 0 {
		return strictjson.Errorf("identities[0].from_epoch", "the first identity table must start at epoch 0, not %d", g.Identities[0].FromEpoch)
	}
	var steps []quorum.ScheduleEntry
	for i, st := range g.Identities {
		path := strictjson.Index("identities", i)
		ids := make([]quorum.Identity, len(st.Nodes))
		for j, n := range st.Nodes {
			ids[j] = quorum.Identity{NodeID: n.ID, Role: n.Role, Stake: n.Stake, StakingKey: n.StakingKey, PoP: n.PoP, PeerID: n.PeerID}
		}
		table, err := blsChecks.newTable(ids)
		if err != nil {
			return strictjson.Errorf(path, "%v", err)
		}
		steps = append(steps, quorum.ScheduleEntry{FromEpoch: st.FromEpoch, Table: table})
	}
	sched, err := quorum.NewSchedule(steps)
	if err != nil {
		return strictjson.Errorf("identities", "%v", err)
	}
	p.Identities = sched
	if _, ok := sched.TableAt(0).Lookup(g.Sequencer); !ok {
		return strictjson.Errorf("sequencer", "%q is not a node of the epoch-0 identity table", g.Sequencer)
	}
	if g.committee, err = blsChecks.newCommittee(g.Governance.Members, g.Governance.Threshold); err != nil {
		return strictjson.Errorf("governance", "%v", err)
	}
	if g.state, err = activation.Genesis(p, g.Versions); err != nil {
		return strictjson.Errorf("versions", "%v", err)
	}
	g.params = p
	g.hash = canon.Hash("quorumgate/genesis/v1", g.canonical())
	return nil
}

// canonical is the hashed form: the file's content in canonical CBOR, with
// the versions in component order, so formatting never changes the hash.
func (g *Genesis) canonical() []byte {
	type version struct {
		Component string `cbor:"1,keyasint"`
		Version   string `cbor:"2,keyasint"`
	}
	type wire struct {
		ChainID     string         `cbor:"1,keyasint"`
		EpochViews  uint64         `cbor:"2,keyasint"`
		SafetyViews uint64         `cbor:"3,keyasint"`
		Versions    []version      `cbor:"4,keyasint"`
		Identities  []IdentityStep `cbor:"5,keyasint"`
		Threshold   int            `cbor:"6,keyasint"`
		Members     [][2][]byte    `cbor:"7,keyasint"`
		Sequencer   string         `cbor:"8,keyasint"`
		// Left out with no parameters, so such a genesis keeps its hash.
		Params []activation.ParamDecl `cbor:"9,keyasint,omitempty"`
	}
	w := wire{ChainID: g.ChainID, EpochViews: g.EpochViews, SafetyViews: g.SafetyViews, Identities: g.Identities,
		Threshold: g.Governance.Threshold, Sequencer: g.Sequencer, Params: activation.SortParamDecls(g.ParamDecls)}
	for _, c := range slices.Sorted(maps.Keys(g.Versions)) {
		w.Versions = append(w.Versions, version{c, g.Versions[c]})
	}
	for _, m := range g.Governance.Members {
		w.Members = append(w.Members, [2][]byte{m.Key, m.PoP})
	}
	return canon.MustEncode(w)
}

// MarshalJSON writes the file form (keys and proofs in hex).
func (g *Genesis) MarshalJSON() ([]byte, error) {
	type node struct {
		identityfile.Node
		StakingKey string `json:"staking_key"`
		PoP        string `json:"pop"`
		PeerID     string `json:"peer_id"`
		Address    string `json:"address"`
	}
	type step = identityfile.Table[node]
	type member struct {
		Key string `json:"key"`
		PoP string `json:"pop"`
	}
	out := struct {
		ChainID     string                     `json:"chain_id"`
		EpochViews  uint64                     `json:"epoch_views"`
		SafetyViews uint64                     `json:"safety_views"`
		Versions    map[string]string          `json:"versions"`
		Params      map[string]paramfile.Entry `json:"params,omitempty"`
		Identities  []step                     `json:"identities"`
		Governance  struct {
			Threshold int      `json:"threshold"`
			Members   []member `json:"members"`
		} `json:"governance"`
		Sequencer string `json:"sequencer"`
	}{ChainID: g.ChainID, EpochViews: g.EpochViews, SafetyViews: g.SafetyViews, Versions: g.Versions, Sequencer: g.Sequencer}
	if out.Versions == nil {
		out.Versions = map[string]string{}
	}
	if len(g.ParamDecls) > 0 {
		out.Params = paramfile.Entries(g.ParamDecls)
	}
	for _, st := range g.Identities {
		s := step{FromEpoch: st.FromEpoch}
		for _, n := range st.Nodes {
			s.Nodes = append(s.Nodes, node{identityfile.Node{ID: n.ID, Role: n.Role, Stake: n.Stake},
				hex.EncodeToString(n.StakingKey), hex.EncodeToString(n.PoP), n.PeerID, n.Address})
		}
		out.Identities = append(out.Identities, s)
	}
	out.Governance.Threshold = g.Governance.Threshold
	for _, m := range g.Governance.Members {
		out.Governance.Members = append(out.Governance.Members, member{hex.EncodeToString(m.Key), hex.EncodeToString(m.PoP)})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NodeSpec describes a node for Generate.
type NodeSpec struct {
	ID, Role string
	Stake    uint64
	Address  string
}

// Keys are the secrets Generate made: each node's staking and libp2p keys,
// and the governance members' keys. They belong in the node homes, never in
// the genesis file.
type Keys struct {
	Staking    map[string]signal.PrivateKey
	P2P        map[string]crypto.PrivKey
	Governance []signal.PrivateKey
}

// GenerateOptions configures Generate.
type GenerateOptions struct {
	ChainID                 string
	EpochViews, SafetyViews uint64
	Versions                map[string]string
	ParamDecls              []activation.ParamDecl
	Nodes                   []NodeSpec
	GovernanceMembers       int
	GovernanceThreshold     int
	// Seed makes every key deterministic (tests, reproducible testnets).
	Seed []byte
}

// GenerateGenesis builds a genesis and its keys; the sequencer is the first node.
func GenerateGenesis(o GenerateOptions) (*Genesis, *Keys, error) {
	if len(o.Nodes) == 0 {
		return nil, nil, fmt.Errorf("generate genesis: no nodes")
	}
	derive := func(parts ...string) []byte {
		h := sha256.New()
		h.Write(o.Seed)
		for _, p := range parts {
			h.Write([]byte{0})
			h.Write([]byte(p))
		}
		return h.Sum(nil)
	}
	keys := &Keys{Staking: map[string]signal.PrivateKey{}, P2P: map[string]crypto.PrivKey{}}
	g := &Genesis{ChainID: o.ChainID, EpochViews: o.EpochViews, SafetyViews: o.SafetyViews, Versions: o.Versions, ParamDecls: o.ParamDecls,
		Sequencer: o.Nodes[0].ID, Governance: Governance{Threshold: o.GovernanceThreshold}}
	var step IdentityStep
	for _, n := range o.Nodes {
		sk, err := signal.GenerateKey(derive("staking", n.ID))
		if err != nil {
			return nil, nil, err
		}
		pop, err := signal.ProvePossession(sk)
		if err != nil {
			return nil, nil, err
		}
		pk, _, err := crypto.GenerateEd25519Key(bytes.NewReader(derive("p2p", n.ID)))
		if err != nil {
			return nil, nil, err
		}
		pid, err := peer.IDFromPrivateKey(pk)
		if err != nil {
			return nil, nil, err
		}
		keys.Staking[n.ID], keys.P2P[n.ID] = sk, pk
		addr := n.Address
		if addr == "" {
			addr = "/ip4/127.0.0.1/tcp/0"
		}
		step.Nodes = append(step.Nodes, GenesisNode{ID: n.ID, Role: n.Role, Stake: n.Stake, StakingKey: sk.PublicKey().Encode(),
			PoP: pop, PeerID: pid.String(), Address: addr})
	}
	g.Identities = []IdentityStep{step}
	for i := range o.GovernanceMembers {
		sk, err := signal.GenerateKey(derive("governance", fmt.Sprint(i)))
		if err != nil {
			return nil, nil, err
		}
		pop, err := signal.ProvePossession(sk)
		if err != nil {
			return nil, nil, err
		}
		keys.Governance = append(keys.Governance, sk)
		g.Governance.Members = append(g.Governance.Members, activation.CommitteeMember{Key: sk.PublicKey().Encode(), PoP: pop})
	}
	// Round-trip through the file form, so a generated genesis is validated
	// exactly like one read from disk.
	data, err := g.MarshalJSON()
	if err != nil {
		return nil, nil, err
	}
	parsed, err := ParseGenesis(data)
	if err != nil {
		return nil, nil, fmt.Errorf("generate genesis: %w", err)
	}
	return parsed, keys, nil
}
