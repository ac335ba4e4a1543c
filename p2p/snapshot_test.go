package p2p

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type snapshotItems [][]byte

func (s snapshotItems) EncodedSnapshot() ([][]byte, error) {
	if len(s) == 0 {
		return nil, errors.New("this node holds no block yet")
	}
	return s, nil
}

// A node serves its snapshot items on the sync protocol; one that serves
// none, or has none yet, says so.
func TestSnapshotSync(t *testing.T) {
	check := leakCheck(t)
	t.Cleanup(check) // after the nodes' cleanups, which run first (last in, first out)
	f := newFixture(t, 2)
	view := testView{epoch: 1, table: f.table}
	start := func(h Handlers, peers ...peer.AddrInfo) *Node {
		n, err := Start(context.Background(), Config{ChainID: "ingest", Identity: newHostKey(t), ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			View: view, Handlers: h, Peers: peers})
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		return n
	}
	server := start(Handlers{Snapshots: snapshotItems{[]byte("block"), []byte("state")}})
	empty := start(Handlers{Snapshots: snapshotItems{}})
	none := start(Handlers{})
	client := start(Handlers{}, server.AddrInfo(), empty.AddrInfo(), none.AddrInfo())
	got, err := client.RequestSnapshot(context.Background(), server.ID())
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("block"), []byte("state")}, got)
	_, err = client.RequestSnapshot(context.Background(), empty.ID())
	assert.ErrorContains(t, err, "holds no block yet")
	_, err = client.RequestSnapshot(context.Background(), none.ID())
	assert.ErrorContains(t, err, "serves no snapshots")
}
