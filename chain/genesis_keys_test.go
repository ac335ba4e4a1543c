package chain

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/strictjson"
)

// Two nodes with one staking key would let one signature count for both
// stakes: the genesis is refused, naming both nodes and the table.
func TestGenesisRefusesASharedStakingKey(t *testing.T) {
	g, _, data := testGenesis(t)
	nodes := g.Identities[0].Nodes
	bad := string(data)
	// The second node gets the first node's key and proof of possession.
	for _, field := range []string{"staking_key", "pop"} {
		first := between(bad, `"`+field+`": "`, `"`)
		second := between(bad[strings.Index(bad, first)+len(first):], `"`+field+`": "`, `"`)
		require.NotEqual(t, first, second)
		bad = strings.Replace(bad, second, first, 1)
	}
	_, err := ParseGenesis([]byte(bad))
	var ie *strictjson.InputError
	require.True(t, errors.As(err, &ie), "got %v", err)
	assert.Equal(t, "identities[0]", ie.Where)
	assert.Contains(t, err.Error(), `nodes "`+nodes[1].ID+`" and "`+nodes[0].ID+`" have the same staking key`)
}
