package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, n := range Names {
		got, err := Parse(string(n))
		require.NoError(t, err)
		assert.Equal(t, n, got)
	}
	assert.Contains(t, Names, Default)
	_, err := Parse("CometBFT")
	assert.EqualError(t, err, `"CometBFT" is not an engine: allowed are devchain, cometbft`, "names are exact")
	_, err = Parse("")
	assert.Error(t, err)
	assert.Equal(t, "devchain, cometbft", Choices())
}
