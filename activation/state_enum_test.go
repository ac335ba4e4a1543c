package activation

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every status up to the sentinel has a name of its own that parses back
// (btcd's habit): a state added without a name fails here.
func TestStatusNames(t *testing.T) {
	seen := map[string]bool{}
	for s := None; s < numStatuses; s++ {
		name := s.String()
		require.NotRegexp(t, `^Status\(`, name, "status %d has no name of its own", s)
		require.False(t, seen[name], "status %d has the name of another: %q", s, name)
		seen[name] = true
		back, ok := ParseStatus(name)
		require.True(t, ok, "%q does not parse", name)
		assert.Equal(t, s, back, "%q parses back as another status", name)
	}
	assert.Equal(t, "Status(7)", numStatuses.String(), "the sentinel's rendering")
}
