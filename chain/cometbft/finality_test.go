package cometbft

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	cmtversion "github.com/cometbft/cometbft/api/cometbft/version/v1"
	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/crypto/tmhash"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/types"
	"github.com/cometbft/cometbft/version"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/internal/canon"
)

// finalityGenesis is a genesis of n consensus nodes with the given stakes
// (stake(i)), epoch 0 onwards.
func finalityGenesis(tb testing.TB, chainID string, n int, stake func(i int) uint64, seed string) (*chain.Genesis, *chain.Keys) {
	tb.Helper()
	var specs []chain.NodeSpec
	for i := range n {
		specs = append(specs, chain.NodeSpec{ID: fmt.Sprintf("v%03d", i), Role: "consensus", Stake: stake(i)})
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: chainID, EpochViews: 100, SafetyViews: 10,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: specs, GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte(seed)})
	require.NoError(tb, err)
	return g, keys
}

func equalStake(int) uint64 { return 100 }

// synthEvidence is finality evidence for quorumgate height h made by hand:
// a header of CometBFT block h+2 whose AppHash is stateID, and a commit in
// which validator i (in the set's order) casts the vote vote(i) says.
func synthEvidence(tb testing.TB, g *chain.Genesis, keys *chain.Keys, h uint64, stateID [32]byte, vote func(i int) types.BlockIDFlag) []byte {
	tb.Helper()
	ch := int64(h) + 2
	vals, err := validatorsAt(g, ch)
	require.NoError(tb, err)
	priv := map[string]ed25519.PrivKey{}
	for id, k := range keys.P2P {
		ck, err := consensusKey(k)
		require.NoError(tb, err, id)
		priv[string(ck.PubKey().Address())] = ck
	}
	at := time.Date(2026, 12, 6, 22, 0, 0, 0, time.UTC)
	hash := func(s string) []byte { return tmhash.Sum([]byte(s)) }
	header := types.Header{Version: cmtversion.Consensus{Block: version.BlockProtocol, App: 1}, ChainID: g.ChainID, Height: ch, Time: at,
		LastBlockID:    types.BlockID{Hash: hash("last"), PartSetHeader: types.PartSetHeader{Total: 1, Hash: hash("last parts")}},
		LastCommitHash: hash("last commit"), DataHash: hash("data"), ValidatorsHash: vals.Hash(), NextValidatorsHash: vals.Hash(),
		ConsensusHash: hash("consensus"), AppHash: stateID[:], LastResultsHash: hash("results"), EvidenceHash: hash("evidence"),
		ProposerAddress: vals.Validators[0].Address}
	blockID := types.BlockID{Hash: header.Hash(), PartSetHeader: types.PartSetHeader{Total: 1, Hash: hash("parts")}}
	commit := &types.Commit{Height: ch, Round: 0, BlockID: blockID}
	for i, val := range vals.Validators {
		flag := vote(i)
		if flag == types.BlockIDFlagAbsent {
			commit.Signatures = append(commit.Signatures, types.NewCommitSigAbsent())
			continue
		}
		v := &types.Vote{Type: types.PrecommitType, Height: ch, Round: 0, BlockID: blockID, Timestamp: at.Add(time.Duration(i) * time.Millisecond),
			ValidatorAddress: val.Address, ValidatorIndex: int32(i)}
		if flag == types.BlockIDFlagNil {
			v.BlockID = types.BlockID{}
		}
		key, ok := priv[string(val.Address)]
		require.True(tb, ok, "no key for validator %X", val.Address)
		v.Signature, err = key.Sign(types.VoteSignBytes(g.ChainID, v.ToProto()))
		require.NoError(tb, err)
		commit.Signatures = append(commit.Signatures, v.CommitSig())
	}
	ev, err := encodeFinality(h, &header, commit)
	require.NoError(tb, err)
	return ev
}

func allCommit(int) types.BlockIDFlag { return types.BlockIDFlagCommit }

func TestFinalityVerifies(t *testing.T) {
	g, keys := finalityGenesis(t, "fin", 4, equalStake, "fin")
	id := [32]byte{1, 2, 3}
	ev := synthEvidence(t, g, keys, 7, id, allCommit)
	require.NoError(t, VerifyFinality(g, 7, id, ev))
	again := synthEvidence(t, g, keys, 7, id, allCommit)
	assert.Equal(t, ev, again, "the same header and commit encode to the same bytes")

	assert.ErrorContains(t, VerifyFinality(g, 7, [32]byte{1, 2, 4}, ev), "is not the state ID")
	assert.ErrorContains(t, VerifyFinality(g, 8, id, ev), "for quorumgate height 7, not 8")

	otherChain, _ := finalityGenesis(t, "other", 4, equalStake, "fin") // the same keys
	assert.ErrorContains(t, VerifyFinality(otherChain, 7, id, ev), `chain "fin", not the genesis's "other"`)
	otherKeys, _ := finalityGenesis(t, "fin", 4, equalStake, "other seed")
	assert.ErrorContains(t, VerifyFinality(otherKeys, 7, id, ev), "validators hash")
	otherStake, _ := finalityGenesis(t, "fin", 4, func(i int) uint64 { return uint64(100 + i) }, "fin")
	assert.ErrorContains(t, VerifyFinality(otherStake, 7, id, ev), "validators hash", "the same keys with other powers are another set")

	// Height 7's header claimed for height 7 but built at another CometBFT
	// height: the evidence's height field and the header must agree.
	var raw finalityEvidence
	require.NoError(t, canon.Decode(ev, &raw))
	raw.Height = 6
	moved := canon.MustEncode(raw)
	assert.ErrorContains(t, VerifyFinality(g, 6, id, moved), "CometBFT height 9, not 8")

	assert.ErrorContains(t, VerifyFinality(g, 7, id, []byte("junk")), "not canonical CBOR")
	raw.Height, raw.Format = 7, 2
	assert.ErrorContains(t, VerifyFinality(g, 7, id, canon.MustEncode(raw)), "format 2")
}

// More than two thirds of the power must sign for the block: exactly two
// thirds is not enough, and nil votes do not count (but must verify).
func TestFinalityNeedsMoreThanTwoThirds(t *testing.T) {
	id := [32]byte{9}
	g3, keys3 := finalityGenesis(t, "fin", 3, equalStake, "three")
	two := synthEvidence(t, g3, keys3, 1, id, func(i int) types.BlockIDFlag {
		return map[bool]types.BlockIDFlag{true: types.BlockIDFlagCommit, false: types.BlockIDFlagAbsent}[i < 2]
	})
	err := VerifyFinality(g3, 1, id, two)
	var short types.ErrNotEnoughVotingPowerSigned
	require.ErrorAs(t, err, &short, "two of three equal validators hold exactly two thirds")
	assert.Equal(t, int64(200), short.Got)
	assert.ErrorContains(t, err, "does not verify")

	g4, keys4 := finalityGenesis(t, "fin", 4, equalStake, "four")
	for name, tc := range map[string]struct {
		votes []types.BlockIDFlag
		ok    bool
	}{
		"three commit, one absent":    {[]types.BlockIDFlag{types.BlockIDFlagCommit, types.BlockIDFlagCommit, types.BlockIDFlagCommit, types.BlockIDFlagAbsent}, true},
		"three commit, one nil":       {[]types.BlockIDFlag{types.BlockIDFlagCommit, types.BlockIDFlagNil, types.BlockIDFlagCommit, types.BlockIDFlagCommit}, true},
		"two commit, two nil":         {[]types.BlockIDFlag{types.BlockIDFlagCommit, types.BlockIDFlagNil, types.BlockIDFlagNil, types.BlockIDFlagCommit}, false},
		"two commit, two absent":      {[]types.BlockIDFlag{types.BlockIDFlagAbsent, types.BlockIDFlagCommit, types.BlockIDFlagAbsent, types.BlockIDFlagCommit}, false},
		"none":                        {[]types.BlockIDFlag{types.BlockIDFlagAbsent, types.BlockIDFlagAbsent, types.BlockIDFlagAbsent, types.BlockIDFlagAbsent}, false},
		"one commit, three nil votes": {[]types.BlockIDFlag{types.BlockIDFlagNil, types.BlockIDFlagNil, types.BlockIDFlagCommit, types.BlockIDFlagNil}, false},
	} {
		ev := synthEvidence(t, g4, keys4, 3, id, func(i int) types.BlockIDFlag { return tc.votes[i] })
		err := VerifyFinality(g4, 3, id, ev)
		if tc.ok {
			assert.NoError(t, err, name)
			continue
		}
		assert.Error(t, err, name)
	}

	// Unequal stakes: the power counts, not the heads.
	gw, keysw := finalityGenesis(t, "fin", 4, func(i int) uint64 { return []uint64{700, 100, 100, 100}[i] }, "weighted")
	vals, err := validatorsAt(gw, 3)
	require.NoError(t, err)
	require.Equal(t, int64(700), vals.Validators[0].VotingPower, "the set is sorted by power")
	heavy := synthEvidence(t, gw, keysw, 1, id, func(i int) types.BlockIDFlag {
		return map[bool]types.BlockIDFlag{true: types.BlockIDFlagCommit, false: types.BlockIDFlagAbsent}[i == 0]
	})
	assert.NoError(t, VerifyFinality(gw, 1, id, heavy), "700 of 1000 is over two thirds")
	light := synthEvidence(t, gw, keysw, 1, id, func(i int) types.BlockIDFlag {
		return map[bool]types.BlockIDFlag{true: types.BlockIDFlagCommit, false: types.BlockIDFlagAbsent}[i != 0]
	})
	assert.ErrorAs(t, VerifyFinality(gw, 1, id, light), &short, "300 of 1000 is not")
}

// Every byte of the evidence matters: flipping a bit at any position (bit
// pos mod 8, so every bit position is hit across the bytes) fails. The commit has commit votes, a nil vote and
// an absent vote, so every kind of signature entry is covered; VerifyCommit
// checks every signature present, and the addresses are checked against the
// set.
func TestFinalityEveryByteCounts(t *testing.T) {
	g, keys := finalityGenesis(t, "fin", 7, equalStake, "seven")
	id := [32]byte{0xaa, 0xbb}
	votes := []types.BlockIDFlag{types.BlockIDFlagCommit, types.BlockIDFlagCommit, types.BlockIDFlagNil, types.BlockIDFlagCommit,
		types.BlockIDFlagAbsent, types.BlockIDFlagCommit, types.BlockIDFlagCommit}
	ev := synthEvidence(t, g, keys, 11, id, func(i int) types.BlockIDFlag { return votes[i] })
	require.NoError(t, VerifyFinality(g, 11, id, ev))
	for pos := range ev {
		mask := byte(1) << (pos % 8) // each bit position, across the bytes
		bad := append([]byte(nil), ev...)
		bad[pos] ^= mask
		require.Error(t, VerifyFinality(g, 11, id, bad), "byte %d ^ %#x of %d still verifies", pos, mask, len(ev))
	}
	// Truncated or extended, it fails too.
	for _, n := range []int{0, 1, len(ev) / 2, len(ev) - 1} {
		require.Error(t, VerifyFinality(g, 11, id, ev[:n]), "the first %d bytes", n)
	}
	require.Error(t, VerifyFinality(g, 11, id, append(append([]byte(nil), ev...), 0)))
}

// A vote moved to another validator's address still carries a valid
// signature (CometBFT signs no address); VerifyFinality refuses it.
func TestFinalityChecksSignerAddresses(t *testing.T) {
	g, keys := finalityGenesis(t, "fin", 4, equalStake, "addr")
	id := [32]byte{5}
	ev := synthEvidence(t, g, keys, 2, id, allCommit)
	var raw finalityEvidence
	require.NoError(t, canon.Decode(ev, &raw))
	var pc cmtproto.Commit
	require.NoError(t, pc.Unmarshal(raw.Commit))
	pc.Signatures[0].ValidatorAddress, pc.Signatures[1].ValidatorAddress = pc.Signatures[1].ValidatorAddress, pc.Signatures[0].ValidatorAddress
	var err error
	raw.Commit, err = pc.Marshal()
	require.NoError(t, err)
	assert.ErrorContains(t, VerifyFinality(g, 2, id, canon.MustEncode(raw)), "commit signature 0 names validator")
}

// validatorsAt is the set CometBFT has at each height when it starts from
// GenesisDoc and applies the application's validatorUpdates as its state
// execution does (updates returned at height H are the set from H+2).
func TestValidatorsAtFollowsTheAppsUpdates(t *testing.T) {
	specs := []chain.NodeSpec{}
	for _, id := range []string{"c1", "c2", "c3", "c4", "e1"} {
		role := "consensus"
		if id == "e1" {
			role = "execution"
		}
		specs = append(specs, chain.NodeSpec{ID: id, Role: role, Stake: 100})
	}
	const epochViews = 5
	g, _, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: "tables", EpochViews: epochViews, SafetyViews: 1,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: specs, GovernanceMembers: 1, GovernanceThreshold: 1, Seed: []byte("tables")})
	require.NoError(t, err)
	step := func(from uint64, edit func(n *chain.GenesisNode)) chain.IdentityStep {
		s := chain.IdentityStep{FromEpoch: from}
		for _, n := range g.Identities[0].Nodes {
			edit(&n)
			s.Nodes = append(s.Nodes, n)
		}
		return s
	}
	g.Identities = append(g.Identities,
		step(1, func(n *chain.GenesisNode) { // e1 joins, c4 leaves
			switch n.ID {
			case "e1":
				n.Role = "consensus"
			case "c4":
				n.Role = "execution"
			}
		}),
		step(3, func(n *chain.GenesisNode) { // powers change, c4 back
			if n.ID == "c1" {
				n.Stake = 500
			}
			if n.ID == "e1" {
				n.Stake = 0
			}
		}))
	data, err := g.MarshalJSON()
	require.NoError(t, err)
	g, err = chain.ParseGenesis(data)
	require.NoError(t, err)

	doc, err := GenesisDoc(g)
	require.NoError(t, err)
	state, err := sm.MakeGenesisState(doc)
	require.NoError(t, err)
	changed := 0
	for h := int64(1); h <= 6*epochViews; h++ {
		got, err := validatorsAt(g, h)
		require.NoError(t, err)
		require.Equal(t, state.Validators.Hash(), got.Hash(), "height %d", h)
		for i, v := range state.Validators.Validators {
			require.Equal(t, v.Address, got.Validators[i].Address, "height %d: validator %d", h, i)
			require.Equal(t, v.VotingPower, got.Validators[i].VotingPower, "height %d: validator %d", h, i)
		}
		// CometBFT's updateState after FinalizeBlock at height h.
		updates, err := types.PB2TM.ValidatorUpdates(validatorUpdates(g, uint64(h)))
		require.NoError(t, err)
		if len(updates) > 0 {
			changed++
		}
		next := state.NextValidators.Copy()
		require.NoError(t, next.UpdateWithChangeSet(updates))
		next.IncrementProposerPriority(1)
		state.Validators, state.NextValidators = state.NextValidators, next
	}
	assert.Equal(t, 2, changed, "both table changes reached CometBFT")
}

func TestFinalityEvidenceWithoutABlockStore(t *testing.T) {
	g, _ := finalityGenesis(t, "fin", 4, equalStake, "fin")
	_, err := FinalityEvidence(filepath.Join(t.TempDir(), "nothing"), g, 1)
	require.ErrorIs(t, err, ErrNoBlockStore)
	assert.ErrorContains(t, err, "HOME/cometbft")
	_, err = FinalityEvidence(t.TempDir(), g, 1<<63)
	assert.ErrorContains(t, err, "beyond CometBFT's heights")
	// The engine leaves CometBFT's database backend at the default, which is
	// what FinalityEvidence opens.
	cfg, err := Config(t.TempDir(), time.Second, Settings{P2PListen: "tcp://127.0.0.1:1"})
	require.NoError(t, err)
	assert.Equal(t, "pebbledb", cfg.DBBackend)
}

// BenchmarkVerifyFinality: VerifyFinality of synthetic evidence (every
// validator signs, equal stakes) for 4 and for 100 validators: decoding,
// deriving the validator set from the genesis, and verifying every
// signature (ed25519, batched by CometBFT).
func BenchmarkVerifyFinality(b *testing.B) {
	for _, n := range []int{4, 100} {
		b.Run(fmt.Sprintf("validators=%d", n), func(b *testing.B) {
			g, keys := finalityGenesis(b, "bench", n, equalStake, "bench")
			id := [32]byte{7}
			ev := synthEvidence(b, g, keys, 10, id, allCommit)
			b.SetBytes(int64(len(ev)))
			for b.Loop() {
				if err := VerifyFinality(g, 10, id, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readOnlyDB lets the block store rewrite the layout version it has (or
// the "v1" it assumes without one) and refuses every other write.
func TestReadOnlyDBRefusesWrites(t *testing.T) {
	mem := dbm.NewMemDB()
	require.NoError(t, mem.Set([]byte("version"), []byte("v2")))
	ro := readOnlyDB{mem}
	assert.NoError(t, ro.SetSync([]byte("version"), []byte("v2")), "the value it holds")
	assert.ErrorContains(t, ro.SetSync([]byte("version"), []byte("v1")), "read-only")
	assert.ErrorContains(t, ro.Set([]byte("other"), []byte("x")), "read-only")
	empty := readOnlyDB{dbm.NewMemDB()}
	assert.NoError(t, empty.SetSync([]byte("version"), []byte("v1")), "no version reads as v1")
	assert.Error(t, empty.SetSync([]byte("version"), []byte("v2")))
	got, err := mem.Get([]byte("version"))
	require.NoError(t, err)
	assert.Equal(t, []byte("v2"), got)
	has, err := empty.Has([]byte("version"))
	require.NoError(t, err)
	assert.False(t, has, "nothing was written")
}

// FuzzVerifyFinality: evidence comes from whoever hands over a proof, so
// VerifyFinality takes any bytes. It never panics, and it accepts nothing
// but the two valid evidences it was seeded with (every byte matters, and
// no other commit can be signed without the keys).
func FuzzVerifyFinality(f *testing.F) {
	g, keys := finalityGenesis(f, "fin", 4, equalStake, "fuzz")
	id := [32]byte{3}
	full := synthEvidence(f, g, keys, 5, id, allCommit)
	votes := []types.BlockIDFlag{types.BlockIDFlagCommit, types.BlockIDFlagNil, types.BlockIDFlagCommit, types.BlockIDFlagCommit}
	mixed := synthEvidence(f, g, keys, 5, id, func(i int) types.BlockIDFlag { return votes[i] })
	require.NoError(f, VerifyFinality(g, 5, id, full))
	require.NoError(f, VerifyFinality(g, 5, id, mixed))
	f.Add(full)
	f.Add(mixed)
	f.Add([]byte("junk"))
	f.Add(canon.MustEncode(finalityEvidence{Format: FinalityFormat, Height: 5}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := VerifyFinality(g, 5, id, data); err == nil {
			require.True(t, bytes.Equal(data, full) || bytes.Equal(data, mixed), "accepted evidence that is neither seed: %x", data)
		}
	})
}
