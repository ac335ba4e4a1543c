package p2p

import (
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// meshTracer follows the gossip mesh (GRAFT and PRUNE) per topic, so the
// node can say whether it is connected for gossip, not only subscribed.
type meshTracer struct {
	mu   sync.Mutex
	mesh map[string]map[peer.ID]bool
}

func newMeshTracer() *meshTracer { return &meshTracer{mesh: map[string]map[peer.ID]bool{}} }

func (m *meshTracer) size(topic string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.mesh[topic])
}

func (m *meshTracer) Graft(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mesh[topic] == nil {
		m.mesh[topic] = map[peer.ID]bool{}
	}
	m.mesh[topic][p] = true
}

func (m *meshTracer) Prune(p peer.ID, topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mesh[topic], p)
}

func (m *meshTracer) RemovePeer(p peer.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ps := range m.mesh {
		delete(ps, p)
	}
}

func (m *meshTracer) AddPeer(peer.ID, protocol.ID)          {}
func (m *meshTracer) Join(string)                           {}
func (m *meshTracer) Leave(string)                          {}
func (m *meshTracer) ValidateMessage(*pubsub.Message)       {}
func (m *meshTracer) DeliverMessage(*pubsub.Message)        {}
func (m *meshTracer) RejectMessage(*pubsub.Message, string) {}
func (m *meshTracer) DuplicateMessage(*pubsub.Message)      {}
func (m *meshTracer) ThrottlePeer(peer.ID)                  {}
func (m *meshTracer) RecvRPC(*pubsub.RPC)                   {}
func (m *meshTracer) SendRPC(*pubsub.RPC, peer.ID)          {}
func (m *meshTracer) DropRPC(*pubsub.RPC, peer.ID)          {}
func (m *meshTracer) UndeliverableMessage(*pubsub.Message)  {}

func (m *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (m *meshTracer) OnClosedOutboundStream(peer.ID)                       {}
func (m *meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}

var _ pubsub.RawTracer = (*meshTracer)(nil)
