package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Push hands one item straight to a peer (the block producer), beside
// gossip. Gossip delivers a message once: a node that sends the same bytes
// again while its peers (and itself) remember them sends nothing, so an item
// lost with a restarted sequencer's memory could not be re-sent for minutes.
// A push is judged by the receiver exactly as gossip would be (the same
// validators), and answered "ok" or with the reason it was refused.

func pushProtocol(chain string) protocol.ID { return protocol.ID("/quorumgate/" + chain + "/push/1") }

// PushKind says what a pushed item is: the first byte of the stream.
type PushKind byte

const (
	PushKindAttestation PushKind = 1
	PushKindGovernance  PushKind = 2
)

// maxPush bounds a pushed item.
const maxPush = 64 << 10

// ErrPushRefused: the peer judged the pushed item invalid.
var ErrPushRefused = errors.New("push refused")

func (n *Node) servePush(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(SyncTimeout))
	from := s.Conn().RemotePeer()
	raw, err := io.ReadAll(io.LimitReader(s, maxPush+2))
	if err != nil || len(raw) < 2 || len(raw) > maxPush+1 || !n.allow(from) {
		s.Reset()
		return
	}
	kind, item := raw[0], raw[1:]
	var reason string
	switch kind {
	case byte(PushKindAttestation):
		n.ingestMu.Lock()
		r := n.ingest.AddFrom(item, string(from), nil)
		if r.Verdict == 0 {
			for _, fr := range n.ingest.Flush() {
				if fr.Verdict == Reject {
					reason = fr.Reason
				}
			}
		} else if r.Verdict == Reject {
			reason = r.Reason
		}
		n.ingestMu.Unlock()
	case byte(PushKindGovernance):
		h := n.handlers.Load()
		if h.GovernanceValidator == nil {
			reason = "this node takes no governance pushes"
		} else if err := h.GovernanceValidator(item); err != nil && !errors.Is(err, ErrIgnore) {
			reason = err.Error()
		} else if err == nil && h.OnGovernance != nil {
			h.OnGovernance(item)
		}
	default:
		reason = fmt.Sprintf("unknown item kind %d", kind)
	}
	if reason != "" {
		n.countVerdict(from, -1)
		s.Write([]byte("refused: " + reason))
		return
	}
	s.Write([]byte("ok"))
}

// Push hands an item straight to a peer, which judges it as gossip would.
func (n *Node) Push(ctx context.Context, p peer.ID, kind PushKind, item []byte) error {
	if len(item) > maxPush {
		return fmt.Errorf("push: item of %d bytes over %d", len(item), maxPush)
	}
	ctx, cancel := context.WithTimeout(ctx, SyncTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, pushProtocol(n.cfg.ChainID))
	if err != nil {
		return fmt.Errorf("push to %s: %w", p, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := s.Write(append([]byte{byte(kind)}, item...)); err != nil {
		s.Reset()
		return fmt.Errorf("push to %s: %w", p, err)
	}
	s.CloseWrite()
	answer, err := io.ReadAll(io.LimitReader(s, 4096))
	if err != nil {
		return fmt.Errorf("push to %s: %w", p, err)
	}
	if string(answer) != "ok" {
		return fmt.Errorf("push to %s: %w: %s", p, ErrPushRefused, answer)
	}
	return nil
}
