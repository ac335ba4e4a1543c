// Package p2p carries attestations, blocks and governance messages between
// nodes. This file set holds the ingest pipeline, the hot path of a large
// network: at every epoch start each node sends one attestation, and every
// node must check them all.
//
// Node (node.go) is the network side: a libp2p host with a persisted
// ed25519 identity and static peers, gossipsub topics per chain
// (attestations, blocks, governance) whose payloads carry their own
// signatures (StrictNoSign, no author, message ID = hash of domain, topic and
// payload), topic validators that run the ingest pipeline, peer scoring that
// graylists senders of invalid messages, a per-peer rate limit, and a
// request/response sync protocol for catching up.
//
// Ownership: Start returns a Node that owns its host, its pubsub router and
// its batcher goroutine; Close stops all of them and returns only after they
// have stopped.
package p2p
