package p2p

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/quorumgate/quorumgate/internal/canon"
)

// ForkID says which rules a node follows, as Ethereum's EIP-2124: a hash of
// the protocol versions it runs now and the view of the next scheduled
// activation (0: none). Peers exchange it when they connect.
type ForkID struct {
	Hash [32]byte `cbor:"1,keyasint"`
	Next uint64   `cbor:"2,keyasint,omitempty"`
}

func (f ForkID) String() string {
	return fmt.Sprintf("%s/next=%d", hex.EncodeToString(f.Hash[:6]), f.Next)
}

// DecodeForkID decodes a peer's fork ID: the canonical encoding of a ForkID
// and nothing else. The bytes come from any peer that connects.
func DecodeForkID(raw []byte) (ForkID, error) {
	var f ForkID
	if err := canon.Decode(raw, &f); err != nil {
		return ForkID{}, fmt.Errorf("decode fork ID: %w", err)
	}
	return f, nil
}

func forkIDProtocol(chain string) protocol.ID {
	return protocol.ID("/quorumgate/" + chain + "/forkid/1")
}

// forkIDTimeout bounds one exchange.
const forkIDTimeout = 5 * time.Second

// serveForkID answers a peer's fork ID with ours.
func (n *Node) serveForkID(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(forkIDTimeout))
	raw, err := io.ReadAll(io.LimitReader(s, 128))
	if err != nil {
		s.Reset()
		return
	}
	s.Write(canon.MustEncode(n.cfg.ForkID()))
	// A peer whose answer does not decode is left alone, as one that does
	// not speak the protocol: it is judged by what it sends later.
	if remote, err := DecodeForkID(raw); err == nil {
		n.judgeFork(s.Conn().RemotePeer(), remote)
	}
}

// exchangeForkID sends ours to a peer that just connected and judges its
// answer. A peer that does not speak the protocol (a node from before fork
// IDs) is left alone: it is judged by the blocks it serves.
func (n *Node) exchangeForkID(p peer.ID) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(n.ctx, forkIDTimeout)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, forkIDProtocol(n.cfg.ChainID))
	if err != nil {
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(forkIDTimeout))
	if _, err := s.Write(canon.MustEncode(n.cfg.ForkID())); err != nil {
		s.Reset()
		return
	}
	s.CloseWrite()
	raw, err := io.ReadAll(io.LimitReader(s, 128))
	if err != nil {
		return
	}
	if remote, err := DecodeForkID(raw); err == nil {
		n.judgeFork(p, remote)
	}
}

// judgeFork disconnects a peer on another fork, saying why.
func (n *Node) judgeFork(p peer.ID, remote ForkID) {
	if n.cfg.CheckFork == nil {
		return
	}
	local := n.cfg.ForkID()
	if err := n.cfg.CheckFork(remote); err != nil {
		n.forkRejected.Add(1)
		if n.cfg.OnForkMismatch != nil {
			n.cfg.OnForkMismatch(p, local, remote, err)
		}
		n.host.Network().ClosePeer(p)
	}
}

// ForkRejected returns how many peers were disconnected for another fork ID.
func (n *Node) ForkRejected() int64 { return n.forkRejected.Load() }
