package testutil

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/signal"
)

// Each of the pair fails on its own; their plain aggregate verifies for the
// two signers' aggregate key, as the two genuine signatures' would.
func TestCancellingPair(t *testing.T) {
	var keys []signal.PrivateKey
	var atts []signal.Attestation
	for _, seed := range []string{"a", "b", "delta"} {
		k, err := signal.GenerateKey([]byte("cancelling-pair-test-key-seed-of-" + seed))
		require.NoError(t, err)
		a, err := signal.SignReadiness(k, "chain", signal.DeploymentID{1}, 3, seed)
		require.NoError(t, err)
		keys, atts = append(keys, k), append(atts, a)
	}
	pa, pb := CancellingPair(t, atts[0], atts[1], atts[2].Signature)
	assert.Error(t, pa.Verify(keys[0].PublicKey()))
	assert.Error(t, pb.Verify(keys[1].PublicKey()))
	assert.Equal(t, atts[0].Signer, pa.Signer, "only the signature changes")

	agg, err := signal.AggregateSignatures([][]byte{pa.Signature, pb.Signature})
	require.NoError(t, err)
	aggKey, err := signal.AggregateKeys([]signal.PublicKey{keys[0].PublicKey(), keys[1].PublicKey()})
	require.NoError(t, err)
	assert.NoError(t, signal.VerifyAggregate(aggKey, pa.Message(), agg))
}
