package node

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The node sees consensus only through package chain: it never depends on
// an engine (chain/devchain, chain/cometbft) nor on the composition root
// that picks one. Test imports do not count: tests may run on devchain.
func TestNodeDependsOnNoEngine(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command runs this test")
	out, err := exec.Command(goBin, "list", "-deps", "github.com/quorumgate/quorumgate/node").CombinedOutput()
	require.NoError(t, err, string(out))
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/quorumgate/quorumgate/chain", "the seam itself")
	for _, d := range deps {
		assert.False(t, strings.HasPrefix(d, "github.com/quorumgate/quorumgate/chain/") ||
			strings.HasPrefix(d, "github.com/quorumgate/quorumgate/engine") ||
			strings.HasPrefix(d, "github.com/cometbft/"), "node depends on %s", d)
	}
}
