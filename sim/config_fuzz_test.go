package sim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// effectiveIsFixedPoint checks the promise report.md makes of its
// effective config: run as a config, it gives the same study, so parsing it
// again gives the same effective config.
func effectiveIsFixedPoint(t *testing.T, c *Config, dir string) {
	eff := c.EffectiveTOML()
	again, err := ParseConfig([]byte(eff), dir)
	require.NoError(t, err, "the effective config does not parse:\n%s", eff)
	require.Equal(t, eff, again.EffectiveTOML())
}

func exampleConfigs(t testing.TB) []string {
	paths, err := filepath.Glob("../examples/sim/*.toml")
	require.NoError(t, err)
	presets, err := filepath.Glob("../examples/sim/presets/*.toml")
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	return append(paths, presets...)
}

func TestEffectiveConfigReproducesTheExamples(t *testing.T) {
	for _, p := range exampleConfigs(t) {
		t.Run(filepath.Base(p), func(t *testing.T) {
			c, err := LoadConfig(p)
			require.NoError(t, err)
			effectiveIsFixedPoint(t, c, filepath.Dir(p))
		})
	}
}

// FuzzParseConfig: a config file is outside input. Whatever it holds,
// ParseConfig returns a config or an error, never panics, and a config it
// accepts has an effective config that reproduces it.
func FuzzParseConfig(f *testing.F) {
	dir := "../examples/sim"
	for _, p := range exampleConfigs(f) {
		data, err := os.ReadFile(p)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("runs = 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data, dir)
		if err != nil {
			require.Nil(t, c)
			return
		}
		effectiveIsFixedPoint(t, c, dir)
	})
}
