// Package signal is quorumgate's cryptography: BLS12-381 staking keys with
// proofs of possession, the readiness attestation and the exact bytes it
// signs, and single, aggregate and batch verification.
//
// The readiness message is
//
//	"quorumgate/readiness/v1" || chain_id || deployment_id (32 bytes) || epoch (8 bytes, big-endian)
//
// It does not include the signer, so every ready node of one (chain,
// deployment, epoch) signs the same bytes and their signatures aggregate into
// one quorum certificate, checked with one pairing. The chain ID needs no
// length prefix: the tail after it is fixed-width, so the bytes parse one way.
//
// All signatures use one hash-to-curve domain tag, "QUORUMGATE-V01-CS01-with-"
// (onflow/crypto appends its BLS ciphersuite), so a quorumgate signature can
// never be valid in another protocol and vice versa; each message kind
// carries its own domain prefix on top of that.
//
// Aggregation is safe only over keys with a checked proof of possession (the
// rogue-key defence): quorum.NewTable checks them when an epoch's identity
// table is built.
//
// The package is pure: no goroutines, clocks, IO, or randomness of its own.
// Values are immutable and safe for concurrent use.
package signal
