package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/quorum"
)

// testChain is a deterministic chain: blocks with proposals, attestations
// and missing views, and the state after each.
type testChain struct {
	genesis *activation.State
	blocks  []Block
	states  []*activation.State
}

func testParams(t testing.TB) *activation.Params {
	t.Helper()
	var ids []quorum.Identity
	for i := range 6 {
		ids = append(ids, quorum.Identity{NodeID: fmt.Sprintf("n%d", i), Role: []string{"consensus", "execution"}[i%2], Stake: uint64(10 + i)})
	}
	table, err := quorum.NewTable(ids)
	require.NoError(t, err)
	sched, err := quorum.NewSchedule([]quorum.ScheduleEntry{{Table: table}})
	require.NoError(t, err)
	return &activation.Params{ChainID: "store-test", EpochViews: 20, SafetyViews: 3, Identities: sched}
}

func testGenesis(t testing.TB) *activation.State {
	t.Helper()
	g, err := activation.Genesis(testParams(t), map[string]string{"protocol": "1.0.0"})
	require.NoError(t, err)
	return g
}

// makeChain generates n blocks. Every 40 blocks governance proposes the next
// protocol version as a stake deployment, and nodes attest, so versions
// activate and the history grows.
func makeChain(t testing.TB, n int, seed uint64) *testChain {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	c := &testChain{genesis: testGenesis(t)}
	state := c.genesis
	view := uint64(0)
	major := 1
	for h := range uint64(n) {
		view += 1 + uint64(rng.IntN(2))
		b := activation.Block{Height: h, View: view}
		if h%40 == 1 {
			major++
			b.Proposals = append(b.Proposals, activation.Proposal{Name: fmt.Sprintf("p%d", major), Component: "protocol",
				Version: fmt.Sprintf("%d.0.0", major), Mode: activation.Stake, Threshold: quorum.TwoThirds,
				StartEpoch: view / 20, TimeoutEpoch: view/20 + 4})
		}
		if rng.IntN(3) == 0 {
			b.Readiness = append(b.Readiness, activation.Readiness{Deployment: fmt.Sprintf("p%d", major), Epoch: view / 20, Node: fmt.Sprintf("n%d", rng.IntN(6))})
		}
		next, _, err := activation.Apply(state, b)
		require.NoError(t, err, "apply block %d", h)
		c.blocks = append(c.blocks, Block{Height: h, View: view, Wire: []byte(fmt.Sprintf("wire-%d", h)), Verified: b, StateID: next.ID()})
		c.states = append(c.states, next)
		state = next
	}
	return c
}

func (c *testChain) options(fs vfs.FS) Options {
	return Options{ChainID: "store-test", GenesisHash: [32]byte{1, 2, 3}, Genesis: c.genesis, SnapshotInterval: 64, Small: true, FS: fs}
}
