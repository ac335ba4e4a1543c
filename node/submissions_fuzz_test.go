package node

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// goodSubmissionsFile is a submissions file as add writes it: one pending
// proposal and one included cancel.
func goodSubmissionsFile(t testing.TB) []byte {
	sp := activation.SignedProposal{Proposal: activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0",
		Mode: activation.Governance, ActivationView: 900}}
	sc := activation.SignedCancel{Deployment: "p2"}
	items := []*Submission{}
	for _, x := range []struct {
		kind    chain.ItemKind
		name    string
		payload []byte
	}{{chain.ItemProposal, "proposal", canon.MustEncode(sp)}, {chain.ItemCancel, "cancel", canon.MustEncode(sc)}} {
		items = append(items, &Submission{ID: submissionID(x.kind, x.payload), Kind: x.name, Deployment: "p2",
			Payload: hex.EncodeToString(x.payload), SentAtView: 10})
	}
	items[1].Included, items[1].Height, items[1].View = true, 8, 17
	raw, err := json.Marshal(items)
	require.NoError(t, err)
	return raw
}

// A submissions file whose items are not what add writes is refused at
// start, naming the item and what is wrong with it; before, a null item or a
// short ID was loaded and crashed the node later (a nil dereference in
// get/due/add, or it.ID[:12] in resubmit's log line).
func TestSubmissionsFileIsCheckedItemByItem(t *testing.T) {
	good := goodSubmissionsFile(t)
	items, err := parseSubmissions(good)
	require.NoError(t, err)
	require.Len(t, items, 2)

	edit := func(i int, key string, v any) []byte {
		var c []map[string]any
		require.NoError(t, json.Unmarshal(good, &c))
		c[i][key] = v
		b, err := json.Marshal(c)
		require.NoError(t, err)
		return b
	}
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"null item", []byte(`[null]`), "item 0: null instead of a submission"},
		{"unknown kind", edit(1, "kind", "vote"), `item 1: kind "vote" is neither proposal nor cancel`},
		{"payload not hex", edit(0, "payload", "zz"), "item 0: payload is not hex"},
		{"payload of the other kind", edit(1, "kind", "proposal"), "item 1: payload: proposal:"},
		{"short id", edit(0, "id", "abc"), `item 0: id "abc" is not the payload's ID`},
		{"other deployment", edit(1, "deployment", "p3"), `item 1: deployment "p3" is not the payload's "p2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(home, SubmissionsFile), tc.file, 0o600))
			_, err := loadSubmissions(home)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), SubmissionsFile)
		})
	}
}

// FuzzParseSubmissions: whatever a submissions file holds, parsing it
// either fails or gives items the node can use: each one's ID is the hash
// of its canonical payload, which decodes as its kind.
func FuzzParseSubmissions(f *testing.F) {
	f.Add(goodSubmissionsFile(f))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[null]`))
	f.Add([]byte(`[{"id":"x","kind":"cancel","payload":""}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		items, err := parseSubmissions(raw)
		if err != nil {
			return
		}
		for _, it := range items {
			require.NotNil(t, it)
			kind := itemKinds[it.Kind]
			payload, err := hex.DecodeString(it.Payload)
			require.NoError(t, err)
			canonical, dep, err := canonicalItem(kind, payload)
			require.NoError(t, err)
			require.Equal(t, submissionID(kind, canonical), it.ID)
			require.Equal(t, dep, it.Deployment)
			require.Greater(t, len(it.ID), 12, "resubmit logs it.ID[:12]")
		}
	})
}
