// Package p2p carries attestations, blocks and governance messages between
// nodes. This file set holds the ingest pipeline, the hot path of a large
// network: at every epoch start each node sends one attestation, and every
// node must check them all.
//
// The libp2p host, gossipsub topics, validators, peer scoring and the sync
// protocol are still to come (issue "p2p/"); the pipeline is written so that
// a gossipsub validator can feed it.
package p2p
