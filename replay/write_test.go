package replay

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
