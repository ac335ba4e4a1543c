package p2p

import (
	"context"
	"fmt"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// alreadyHeld is a payload validator that ignores everything, as a node's
// validators ignore what it already holds: the block the sequencer has just
// sealed and stored, the governance item it has just pooled.
func alreadyHeld([]byte) error { return fmt.Errorf("%w: applied already", ErrIgnore) }

func message(topic string, data []byte) *pubsub.Message {
	return &pubsub.Message{Message: &pb.Message{Topic: &topic, Data: data}}
}

// On every topic a node's own publication passes its own validator even
// when the validator ignores it as held already, while the same bytes from
// another peer are still ignored (so a replay is not forwarded).
func TestOwnPublicationPassesItsOwnValidator(t *testing.T) {
	defer leakCheck(t)()
	tn := startNetwork(t, 1, 4)
	defer tn.close()
	n := tn.nodes[0]
	other := newPeerID(t)
	ctx := context.Background()

	for _, tc := range []struct{ topic, name string }{
		{blockTopic("ingest"), "block"}, {governanceTopic("ingest"), "governance"},
	} {
		validate := n.validatePayload(func(*Handlers) func([]byte) error { return alreadyHeld })
		assert.Equal(t, pubsub.ValidationAccept, validate(ctx, n.ID(), message(tc.topic, []byte("payload"))),
			"%s topic: own publication", tc.name)
		assert.Equal(t, pubsub.ValidationIgnore, validate(ctx, other, message(tc.topic, []byte("payload"))),
			"%s topic: the same bytes from another peer", tc.name)
		// Invalid is invalid, whoever publishes it: empty payloads are rejected.
		assert.Equal(t, pubsub.ValidationReject, validate(ctx, n.ID(), message(tc.topic, nil)), "%s topic: empty", tc.name)
	}

	// Attestations: once the pipeline counted a signer, its attestation is a
	// duplicate from any peer, yet this node may still publish it (readiness
	// it re-publishes because no finalized block carries it yet).
	raw := tn.f.att(t, 1, 1).Encode()
	topic := attestationTopic("ingest")
	require.Equal(t, pubsub.ValidationAccept, n.validateAttestation(ctx, other, message(topic, raw)), "first sight")
	assert.Equal(t, pubsub.ValidationIgnore, n.validateAttestation(ctx, newPeerID(t), message(topic, raw)), "a duplicate from a peer")
	assert.Equal(t, pubsub.ValidationAccept, n.validateAttestation(ctx, n.ID(), message(topic, raw)), "own publication")
	bad := tn.f.att(t, 2, 1)
	bad.Signature = tn.f.att(t, 3, 1).Signature
	assert.Equal(t, pubsub.ValidationReject, n.validateAttestation(ctx, n.ID(), message(topic, bad.Encode())),
		"a bad signature is rejected even from this node")
}

// A block its publisher's own validator ignores (as the devchain sequencer's
// does: it has stored the block it just sealed) still reaches its peers.
func TestIgnoredOwnPublicationReachesPeers(t *testing.T) {
	defer leakCheck(t)()
	got := make(chan []byte, 4)
	start := func(peers []peer.AddrInfo, validate func([]byte) error, onBlock func([]byte)) *Node {
		node, err := Start(context.Background(), Config{ChainID: "own", Identity: newHostKey(t),
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: peers, View: testView{},
			Handlers: Handlers{BlockValidator: validate, OnBlock: onBlock}})
		require.NoError(t, err)
		return node
	}
	producer := start(nil, alreadyHeld, nil)
	defer producer.Close()
	follower := start([]peer.AddrInfo{producer.AddrInfo()}, nil, func(raw []byte) { got <- raw })
	defer follower.Close()
	require.Eventually(t, func() bool { return producer.tracer.size(blockTopic("own")) > 0 }, 10*time.Second, 20*time.Millisecond,
		"the producer has the follower in its block-topic mesh")
	require.NoError(t, producer.PublishBlock(context.Background(), []byte("sealed block")))
	select {
	case raw := <-got:
		assert.Equal(t, "sealed block", string(raw))
	case <-time.After(10 * time.Second):
		t.Fatal("the follower never received the block by gossip")
	}
}
