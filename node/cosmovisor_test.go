package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/internal/testutil"
)

// cosmovisorPlan is what Cosmovisor decodes upgrade-info.json into
// (x/upgrade's Plan, with encoding/json), and its checks: a name, a
// positive height, no time (time-based upgrades are gone). Decoding is
// strict here, so a field Cosmovisor does not know is an error too.
type cosmovisorPlan struct {
	Name   string     `json:"name"`
	Time   *time.Time `json:"time,omitempty"`
	Height int64      `json:"height"`
	Info   string     `json:"info"`
}

func readCosmovisorPlan(t *testing.T, path string) cosmovisorPlan {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p cosmovisorPlan
	require.NoError(t, dec.Decode(&p), "%s: %s", path, data)
	require.NotEmpty(t, p.Name, "Cosmovisor requires a name")
	require.Positive(t, p.Height, "Cosmovisor requires a positive height")
	require.Nil(t, p.Time, "time-based plans are refused")
	require.Equal(t, strings.ToLower(p.Name), p.Name, "the name is the upgrades/ folder Cosmovisor looks in, lowercased")
	return p
}

func TestCosmovisorInfoFormat(t *testing.T) {
	home := t.TempDir()
	he := &HaltError{Deployment: "Protocol-2", Component: "protocol", Version: "2.0.0", ActivationView: 400}
	require.NoError(t, WriteCosmovisorInfo(home, CosmovisorUpgrade(he, 398)))
	p := readCosmovisorPlan(t, filepath.Join(home, "data", "upgrade-info.json"))
	assert.Equal(t, "protocol-2", p.Name)
	assert.Equal(t, int64(398), p.Height)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(p.Info), &info), "info is JSON")
	assert.Equal(t, map[string]any{"deployment": "Protocol-2", "component": "protocol", "version": "2.0.0",
		"activation_view": 400.0, "requires": "protocol=2.0.0"}, info)
	assert.Error(t, WriteCosmovisorInfo(home, CosmovisorInfo{Name: "x", Height: 0}), "Cosmovisor would refuse height 0")
}

// TestHaltWritesCosmovisorInfo: a node that halts before a version it does
// not run leaves data/upgrade-info.json naming the deployment and the
// height of the block it stopped before; a node that keeps running does not.
func TestHaltWritesCosmovisorInfo(t *testing.T) {
	s := startSoloNode(t) // runs protocol 1.0.0 only
	_, view := s.headEpochView()
	path := filepath.Join(s.cfg.Home, CosmovisorInfoFile)
	s.propose(t, activation.Proposal{Name: "protocol-2", Component: "protocol", Version: "2.0.0", Mode: activation.Governance, ActivationView: view + 60})
	testutil.Eventually(t, 10*time.Second, "protocol-2 is LOCKED_IN", func() bool {
		d, ok := s.Head().Deployment("protocol-2")
		return ok && d.Status == activation.LockedIn
	})
	_, err := os.Stat(path)
	assert.True(t, errors.Is(err, os.ErrNotExist), "no handover before the halt: Cosmovisor would switch early")
	select {
	case <-s.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("the node did not halt at the activation")
	}
	var he *HaltError
	require.ErrorAs(t, s.Err(), &he)
	p := readCosmovisorPlan(t, path)
	assert.Equal(t, "protocol-2", p.Name)
	top, lastView, _ := s.Head().Head()
	assert.Equal(t, int64(top+1), p.Height, "the block the node stopped before")
	assert.Less(t, lastView, he.ActivationView, "the node applied nothing at or past the activation")
	assert.Contains(t, p.Info, `"requires":"protocol=2.0.0"`)
}
