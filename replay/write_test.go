package replay

import (
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
)

// Every scenario the repository ships, written by Marshal and parsed back,
// replays to the same lines and state ID, and writes back to the same bytes.
func TestMarshalReadsBackToTheSameScenario(t *testing.T) {
	files, err := filepath.Glob("testdata/design/*.json")
	require.NoError(t, err)
	examples, err := filepath.Glob("../examples/scenarios/*.json")
	require.NoError(t, err)
	files = append(files, examples...)
	require.GreaterOrEqual(t, len(files), 5)
	for _, f := range files {
		sc, err := Load(f)
		require.NoError(t, err, f)
		want, err := sc.Output(RunOptions{StateID: true})
		require.NoError(t, err, f)
		data, err := sc.Marshal()
		require.NoError(t, err, f)
		back, err := Parse(data)
		require.NoError(t, err, "%s as written:\n%s", f, data)
		got, err := back.Output(RunOptions{StateID: true})
		require.NoError(t, err, f)
		assert.Equal(t, string(want), string(got), f)
		again, err := back.Marshal()
		require.NoError(t, err, f)
		assert.Equal(t, string(data), string(again), f)
	}
}

// State IDs are part of every store and every peer's comparison: a chain
// that declares no parameters keeps the IDs it had before parameters
// existed (these were printed by the code of that time).
func TestStateIDsWithoutParametersAreStable(t *testing.T) {
	for file, want := range map[string]string{
		"testdata/design/01-stake-lockin.json":       "55c0156e84f370641dde068ac5662c7b18daac86a9bf6cae8654f7a1a52cd4a4",
		"../examples/scenarios/roles-and-delay.json": "47e2b55378ee160eba4886a147754a5e4fc9745b25d04e002f03e68ed30bdacb",
	} {
		sc, err := Load(file)
		require.NoError(t, err)
		res, err := sc.Run(RunOptions{}, func(activation.Event) {})
		require.NoError(t, err)
		id := res.Final.ID()
		assert.Equal(t, want, hex.EncodeToString(id[:]), file)
	}
}
