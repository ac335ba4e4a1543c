package p2p

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/internal/testutil"
)

// Peers exchange fork IDs when they connect: one on another fork is
// disconnected, and the node is told both IDs; a peer that does not speak
// the protocol (a node from before fork IDs) stays connected.
func TestPeerOnAnotherForkIsDisconnected(t *testing.T) {
	defer leakCheck(t)()
	f := newFixture(t, 2)
	view := testView{epoch: 1, table: f.table}
	ours, theirs := ForkID{Hash: [32]byte{1}, Next: 0}, ForkID{Hash: [32]byte{2}, Next: 0}
	var mu sync.Mutex
	var seen []string
	start := func(id ForkID, withForkID bool, peers ...peer.AddrInfo) *Node {
		k, _, err := crypto.GenerateEd25519Key(nil)
		require.NoError(t, err)
		cfg := Config{ChainID: "ingest", Identity: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, View: view, Peers: peers}
		if withForkID {
			cfg.ForkID = func() ForkID { return id }
			cfg.CheckFork = func(r ForkID) error {
				if r != id {
					return errors.New("another fork")
				}
				return nil
			}
			cfg.OnForkMismatch = func(_ peer.ID, local, remote ForkID, _ error) {
				mu.Lock()
				seen = append(seen, local.String()+" vs "+remote.String())
				mu.Unlock()
			}
		}
		n, err := Start(context.Background(), cfg)
		require.NoError(t, err)
		return n
	}
	a := start(ours, true)
	defer a.Close()
	same := start(ours, true)
	defer same.Close()
	other := start(theirs, true)
	defer other.Close()
	old := start(ForkID{}, false)
	defer old.Close()
	ctx := context.Background()
	for _, n := range []*Node{same, other, old} {
		require.NoError(t, n.Connect(ctx, a.AddrInfo()))
	}
	testutil.Eventually(t, 10*time.Second, "the peer on another fork is disconnected", func() bool {
		return a.host.Network().Connectedness(other.ID()) != network.Connected && a.ForkRejected()+other.ForkRejected() > 0
	})
	time.Sleep(300 * time.Millisecond) // a bounded moment for a wrong disconnect to show
	assert.Equal(t, network.Connected, a.host.Network().Connectedness(same.ID()), "same fork")
	assert.Equal(t, network.Connected, a.host.Network().Connectedness(old.ID()), "a node without fork IDs")
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, seen)
	assert.Contains(t, []string{ours.String() + " vs " + theirs.String(), theirs.String() + " vs " + ours.String()}, seen[0],
		"the log line names both fork IDs")
}
