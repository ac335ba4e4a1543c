package replay

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
)

// An attestation's IndexHint only spares the engine a lookup: right, wrong,
// out of range or absent, the events and the final state are the same.
func TestIndexHintsDoNotChangeOutcome(t *testing.T) {
	cases := 1000
	if testing.Short() {
		cases = 100
	}
	var right, wrong int
	for seed := range cases {
		sc := randomScenario(rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)))
		var plain []activation.Event
		resPlain, err := sc.Run(RunOptions{}, func(e activation.Event) { plain = append(plain, e) })
		require.NoError(t, err, "seed %d", seed)

		rng := rand.New(rand.NewPCG(uint64(seed), 2))
		for bi := range sc.Blocks {
			b := &sc.Blocks[bi]
			table := sc.Params.Identities.TableAt(sc.Params.Epoch(b.View))
			for ri := range b.Readiness {
				r := &b.Readiness[ri]
				switch i, ok := table.Lookup(r.Node); {
				case ok && rng.IntN(2) == 0:
					r.IndexHint = i + 1
					right++
				default:
					r.IndexHint = rng.IntN(14) - 2 // in range but another node's, or out of range
					if !ok || r.IndexHint != i+1 {
						wrong++
					}
				}
			}
		}
		var hinted []activation.Event
		resHinted, err := sc.Run(RunOptions{}, func(e activation.Event) { hinted = append(hinted, e) })
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, plain, hinted, "seed %d: hints changed the events", seed)
		require.Equal(t, resPlain.Final.ID(), resHinted.Final.ID(), "seed %d: hints changed the final state", seed)
	}
	assert.Greater(t, right, 1000, "too few right hints to show anything")
	assert.Greater(t, wrong, 1000, "too few wrong hints to show anything")
}
