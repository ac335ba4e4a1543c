package node

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// A submission is recorded before it is sent, survives a restart of the
// node (the file is reloaded), is due again after the bound while no block
// carries it, and is marked included, with its height, once one does.
func TestSubmissionsSurviveRestartUntilIncluded(t *testing.T) {
	home := t.TempDir()
	s, err := loadSubmissions(home)
	require.NoError(t, err)
	sp := activation.SignedProposal{Proposal: activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0",
		Mode: activation.Governance, ActivationView: 900}}
	payload := canon.MustEncode(sp)
	it, err := s.add(chain.ItemProposal, payload, 10)
	require.NoError(t, err)
	again, err := s.add(chain.ItemProposal, payload, 12)
	require.NoError(t, err)
	assert.Equal(t, it.ID, again.ID, "the same item twice is one submission")
	_, err = s.add(chain.ItemProposal, []byte("junk"), 12)
	assert.Error(t, err)

	// The node restarts.
	s, err = loadSubmissions(home)
	require.NoError(t, err)
	got, ok := s.get(it.ID)
	require.True(t, ok)
	assert.False(t, got.Included)
	due, err := s.due(14, 5)
	require.NoError(t, err)
	assert.Empty(t, due, "not due before the bound")
	due, err = s.due(15, 5)
	require.NoError(t, err)
	require.Len(t, due, 1)
	assert.Equal(t, "p2", due[0].Deployment)

	// A block without it changes nothing; the block carrying it includes it.
	empty := activation.WireBlock{ChainID: "n", Height: 7, View: 16}
	require.NoError(t, s.finalized(chain.FinalizedBlock{Height: 7, View: 16, Payload: empty.Encode()}))
	got, _ = s.get(it.ID)
	assert.False(t, got.Included)
	with := activation.WireBlock{ChainID: "n", Height: 8, View: 17, Proposals: []activation.SignedProposal{sp}}
	require.NoError(t, s.finalized(chain.FinalizedBlock{Height: 8, View: 17, Payload: with.Encode()}))
	s, err = loadSubmissions(home)
	require.NoError(t, err)
	got, _ = s.get(it.ID)
	assert.True(t, got.Included)
	assert.Equal(t, uint64(8), got.Height)
	due, err = s.due(100, 5)
	require.NoError(t, err)
	assert.Empty(t, due, "an included item is not sent again")

	require.NoError(t, os.WriteFile(filepath.Join(home, SubmissionsFile), []byte("{"), 0o600))
	_, err = loadSubmissions(home)
	assert.ErrorContains(t, err, "move it aside")
}
