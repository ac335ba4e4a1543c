package sim

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"
)

func delayConfig(t *testing.T, delay string) (*Config, error) {
	t.Helper()
	text := strings.Replace(baseConfig, `distribution = "lognormal"
median_hours = 4
sigma = 0.8`, delay, 1)
	require.NotEqual(t, baseConfig, text)
	return ParseConfig([]byte(text), t.TempDir())
}

func TestFitLognormalDelay(t *testing.T) {
	// Two points exactly on a lognormal with median 100 h and sigma 0.5:
	// the fit recovers both.
	at := func(share float64) float64 { return 100 * math.Exp(0.5*distuv.UnitNormal.Quantile(share)) }
	c, err := delayConfig(t, "distribution = \"lognormal\"\nfit = [["+ff(at(0.2))+", 0.2], ["+ff(at(0.9))+", 0.9]]")
	require.NoError(t, err)
	assert.InDelta(t, 100, c.Behaviour.Delay.MedianHours, 1e-6)
	assert.InDelta(t, 0.5, c.Behaviour.Delay.Sigma, 1e-9)
	// One point and a given sigma: the curve passes through the point.
	c, err = delayConfig(t, "distribution = \"lognormal\"\nsigma = 1.0\nfit = [[324, 0.40]]\ncheck = [[288, 0.735]]")
	require.NoError(t, err)
	assert.InDelta(t, 0.40, c.delayCDFAt(324), 1e-9)
	report := c.calibrationMarkdown()
	assert.Contains(t, report, "| check | 288 | 0.735 |")
	assert.Contains(t, report, "sigma given: an assumption")
}

func TestFitErrors(t *testing.T) {
	for _, tc := range []struct{ delay, key string }{
		{"distribution = \"lognormal\"\nfit = [[324, 0.40]]", "behaviour.delay.sigma"},
		{"distribution = \"lognormal\"\nmedian_hours = 3\nsigma = 1\nfit = [[324, 0.40]]", "behaviour.delay.median_hours"},
		{"distribution = \"lognormal\"\nsigma = 1\nfit = [[324, 1.0]]", "behaviour.delay.fit[0]"},
		{"distribution = \"lognormal\"\nfit = [[300, 0.6], [400, 0.2]]", "behaviour.delay.fit"},
		{"distribution = \"empirical\"\npoints = [[0, 0], [1, 1]]\nfit = [[3, 0.5]]", "behaviour.delay.fit"},
	} {
		_, err := delayConfig(t, tc.delay)
		var ce *ConfigError
		require.True(t, errors.As(err, &ce), "%q: got %v", tc.delay, err)
		assert.Equal(t, tc.key, ce.Key, tc.delay)
	}
}
