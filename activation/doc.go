// Package activation is quorumgate's protocol state machine: deployments, their
// BIP9-style states, component version history, and Apply, the one function
// that turns a protocol state and a finalized block into the next state and
// the events it caused. Every path (the node, the simulator, `node-plugin
// replay`) runs this code; DESIGN.md "Replay semantics" is its specification
// and the rule numbers in comments refer to it.
//
// Two layers:
//   - the semantic layer, Apply, works on already-verified items (a proposal,
//     a cancellation by name, one node's readiness for a deployment and epoch);
//   - the verifying layer, Verify, turns a signed wire block (certificates,
//     single attestations, governance-signed proposals and cancellations) into
//     those items, rejecting what does not verify with a reason.
//
// Both are pure: no goroutines, clocks, IO or randomness. Time enters only as
// the view of a block. A State is immutable once returned; Apply builds the
// next one copy-on-write, so callers may keep old states (for example to
// answer queries about the past) at little cost.
//
// Invalid protocol data is never an error: it becomes a Rejection event and
// the block goes on. Apply returns an error only when the caller breaks its
// contract (blocks out of order), and then returns no state and no events.
package activation
