package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/quorumgate/quorumgate/testnet"
)

// TestPrintTestnetUpLarge: past testnet.SummarizeAbove nodes, up lists the
// first ones and says where the others are; a small testnet lists all.
func TestPrintTestnetUpLarge(t *testing.T) {
	manifest := func(n int) *testnet.Testnet {
		tn := &testnet.Testnet{Dir: "/tmp/tn"}
		for i := range n {
			id := fmt.Sprintf("n%d", i)
			tn.M.Nodes = append(tn.M.Nodes, testnet.ManifestNode{ID: id, Role: "consensus", Stake: 100, Home: id,
				API: "127.0.0.1:1", P2P: "/ip4/127.0.0.1/tcp/1/p2p/" + id})
		}
		return tn
	}
	var b bytes.Buffer
	printTestnetUp(&b, manifest(40), "/tmp/tn")
	out := b.String()
	assert.Contains(t, out, fmt.Sprintf("40 nodes; the first %d (testnet.json in /tmp/tn has them all", testnet.SummarizeAbove))
	assert.Contains(t, out, "\nn11 ")
	assert.NotContains(t, out, "\nn12 ")
	assert.Contains(t, out, "testnet upgrade --dir /tmp/tn n1 --supports", "the next steps are still there")

	b.Reset()
	printTestnetUp(&b, manifest(7), "/tmp/tn")
	assert.NotContains(t, b.String(), "the first")
	assert.Equal(t, 7, strings.Count(b.String(), "/p2p/n"))
}
