package identityfile

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/strictjson"
	"github.com/quorumgate/quorumgate/quorum"
)

// keyedNode extends Node the way a genesis node does.
type keyedNode struct {
	Node
	Address string `json:"address" strict:"required"`
}

// What encoding/json writes, strictjson reads back, for the shared shape
// and for one that extends it; Node's members come first either way.
func TestWrittenTablesReadBack(t *testing.T) {
	in := []Table[keyedNode]{{FromEpoch: 3, Nodes: []keyedNode{{Node{ID: "c1", Role: "consensus", Stake: 7}, "/ip4/127.0.0.1/tcp/1"}}}}
	data, err := json.Marshal(in)
	require.NoError(t, err)
	assert.JSONEq(t, `[{"from_epoch":3,"nodes":[{"id":"c1","role":"consensus","stake":7,"address":"/ip4/127.0.0.1/tcp/1"}]}]`, string(data))
	var back []Table[keyedNode]
	require.NoError(t, strictjson.Unmarshal(data, &back))
	assert.Equal(t, in, back)

	var plain []Table[Node]
	var ie *strictjson.InputError
	require.ErrorAs(t, strictjson.Unmarshal(data, &plain), &ie, "a plain table has no address")
	assert.Equal(t, "[0].nodes[0].address", ie.Where)
	assert.Equal(t, "unknown field (allowed here: id, role, stake)", ie.What)
}

func TestNodeIdentity(t *testing.T) {
	assert.Equal(t, quorum.Identity{NodeID: "e1", Role: "execution", Stake: 5}, Node{ID: "e1", Role: "execution", Stake: 5}.Identity())
}
