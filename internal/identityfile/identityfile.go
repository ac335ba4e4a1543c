// Package identityfile is the identity-table shape that genesis files
// (package chain) and scenario files (package replay) share, for
// strictjson.Unmarshal to decode and encoding/json to write:
//
//	{"from_epoch": 0, "nodes": [{"id": "c1", "role": "consensus", "stake": 100}]}
//
// A file whose nodes carry more (a genesis node's keys and address) embeds
// Node in its own node type; its members follow Node's.
package identityfile

import "github.com/quorumgate/quorumgate/quorum"

// Table is one entry of a file's "identities" list: the identity table from
// FromEpoch on. N is the file's node type: Node, or a struct embedding it.
type Table[N any] struct {
	FromEpoch uint64 `json:"from_epoch" strict:"required"`
	Nodes     []N    `json:"nodes" strict:"required"`
}

// Node is what every node of an identity table has.
type Node struct {
	ID    string `json:"id" strict:"required,nonempty"`
	Role  string `json:"role" strict:"required,nonempty"`
	Stake uint64 `json:"stake" strict:"required"`
}

// Identity is the node as the quorum package counts it, without keys.
func (n Node) Identity() quorum.Identity {
	return quorum.Identity{NodeID: n.ID, Role: n.Role, Stake: n.Stake}
}
