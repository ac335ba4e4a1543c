package cometbft

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/ed25519"
	cmtp2p "github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quorumgate/quorumgate/chain"
)

// ConsensusRole is the role whose nodes are CometBFT validators.
const ConsensusRole = "consensus"

// genesisTime is the derived genesis's time: fixed, so every node derives
// the same genesis from the same quorumgate genesis.
var genesisTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// consensusKey turns a node's libp2p key into its CometBFT key. The libp2p
// key is ed25519 and its public half is in the genesis (the peer ID), so
// the validator set follows from the quorumgate genesis alone. The two
// protocols sign disjoint messages: libp2p its handshake payloads,
// CometBFT canonical votes and proposals that carry the chain ID.
func consensusKey(k crypto.PrivKey) (ed25519.PrivKey, error) {
	if k == nil || k.Type() != crypto.Ed25519 {
		return nil, errors.New("cometbft: the node's libp2p key must be ed25519 (node-plugin init makes one)")
	}
	raw, err := k.Raw()
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("cometbft: the libp2p ed25519 key has %d bytes, not %d", len(raw), ed25519.PrivateKeySize)
	}
	return ed25519.PrivKey(raw), nil
}

// NodeID is the CometBFT node ID of a node with this libp2p key: what other
// nodes put in cometbft.persistent_peers (NODEID@host:port).
func NodeID(k crypto.PrivKey) (string, error) {
	ck, err := consensusKey(k)
	if err != nil {
		return "", err
	}
	return string(cmtp2p.PubKeyToID(ck.PubKey())), nil
}

// NodeIDOf is NodeID from a genesis node's peer ID.
func NodeIDOf(peerID string) (string, error) {
	pub, err := pubKeyOf(peerID)
	if err != nil {
		return "", err
	}
	return string(cmtp2p.PubKeyToID(pub)), nil
}

func pubKeyOf(peerID string) (ed25519.PubKey, error) {
	id, err := peer.Decode(peerID)
	if err != nil {
		return nil, err
	}
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("peer ID %s: %w", peerID, err)
	}
	if pk.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("peer ID %s: not an ed25519 key", peerID)
	}
	raw, err := pk.Raw()
	if err != nil {
		return nil, err
	}
	return ed25519.PubKey(raw), nil
}

// validatorSet is the CometBFT validators of an identity table: its
// consensus-role nodes with stake, voting power = stake, keys from their
// peer IDs, in table order.
func validatorSet(nodes []chain.GenesisNode) ([]types.GenesisValidator, error) {
	var vals []types.GenesisValidator
	var total uint64
	for _, n := range nodes {
		if n.Role != ConsensusRole || n.Stake == 0 {
			continue
		}
		pub, err := pubKeyOf(n.PeerID)
		if err != nil {
			return nil, fmt.Errorf("cometbft: validator %s: %w", n.ID, err)
		}
		total += n.Stake
		if n.Stake > uint64(types.MaxTotalVotingPower) || total > uint64(types.MaxTotalVotingPower) {
			return nil, fmt.Errorf("cometbft: the consensus-role stake exceeds CometBFT's total voting power limit %d", types.MaxTotalVotingPower)
		}
		vals = append(vals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: int64(n.Stake), Name: n.ID})
	}
	if len(vals) == 0 {
		return nil, errors.New(`cometbft: an identity table has no node of role "consensus" with stake: CometBFT needs validators`)
	}
	return vals, nil
}

// GenesisDoc derives the CometBFT genesis from the quorumgate genesis: its
// chain ID; the epoch-0 identity table's consensus-role nodes with stake as
// validators (validatorSet); the protocol genesis state ID as the app hash;
// block size BlockMaxBytes. Later identity tables change the validator set
// at their epoch's first height (see validatorUpdates). Never edit the
// result: every node derives it again at every start.
func GenesisDoc(g *chain.Genesis) (*types.GenesisDoc, error) {
	if len(g.ChainID) > types.MaxChainIDLen {
		return nil, fmt.Errorf("cometbft: chain_id %q is longer than CometBFT's %d bytes", g.ChainID, types.MaxChainIDLen)
	}
	if len(g.Identities) > 1 && g.EpochViews < 3 {
		return nil, errors.New("cometbft: with more than one identity table, epoch_views must be at least 3 (CometBFT applies a validator change two heights after it is decided)")
	}
	var vals []types.GenesisValidator
	for i, step := range g.Identities {
		v, err := validatorSet(step.Nodes)
		if err != nil {
			return nil, fmt.Errorf("identities[%d]: %w", i, err)
		}
		if i == 0 {
			vals = v
		}
	}
	hash := g.Hash()
	state, _ := json.Marshal(appState{GenesisHash: hex.EncodeToString(hash[:])})
	params := types.DefaultConsensusParams()
	params.Block.MaxBytes = BlockMaxBytes
	id := g.State().ID()
	doc := &types.GenesisDoc{GenesisTime: genesisTime, ChainID: g.ChainID, InitialHeight: 1, ConsensusParams: params,
		Validators: vals, AppHash: id[:], AppState: state}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("cometbft: derived genesis: %w", err)
	}
	return doc, nil
}

// validatorUpdates is what FinalizeBlock returns at the block of view v.
// CometBFT applies updates decided at height H from height H+2, so at the
// view two before an epoch whose identity table differs, it returns the
// change from the current table's validators to the next one's (power 0
// removes a validator). Every node derives the same updates from the
// genesis, so a replayed block gives the same ones.
func validatorUpdates(g *chain.Genesis, v uint64) []abci.ValidatorUpdate {
	p := g.Params()
	e := p.Epoch(v)
	if v+2 != p.EpochStart(e+1) {
		return nil
	}
	cur, next := stepAt(g, e), stepAt(g, e+1)
	if cur == next {
		return nil
	}
	from, _ := validatorSet(g.Identities[cur].Nodes)
	to, _ := validatorSet(g.Identities[next].Nodes) // GenesisDoc checked every table
	power := map[string]int64{}
	for _, val := range from {
		power[string(val.PubKey.Bytes())] = val.Power
	}
	var out []abci.ValidatorUpdate
	for _, val := range to {
		k := string(val.PubKey.Bytes())
		if old, ok := power[k]; !ok || old != val.Power {
			out = append(out, abci.NewValidatorUpdate(val.PubKey, val.Power))
		}
		delete(power, k)
	}
	for _, val := range from {
		if _, gone := power[string(val.PubKey.Bytes())]; gone {
			out = append(out, abci.NewValidatorUpdate(val.PubKey, 0))
		}
	}
	return out
}

// stepAt is the index of the identity step in force at epoch e.
func stepAt(g *chain.Genesis, e uint64) int {
	i := 0
	for j, st := range g.Identities {
		if st.FromEpoch <= e {
			i = j
		}
	}
	return i
}

// IsValidatorAt reports whether the node validates in epoch e.
func IsValidatorAt(g *chain.Genesis, nodeID string, e uint64) bool {
	for _, n := range g.Identities[stepAt(g, e)].Nodes {
		if n.ID == nodeID {
			return n.Role == ConsensusRole && n.Stake > 0
		}
	}
	return false
}
