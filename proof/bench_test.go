package proof_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/proof"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// benchChain is a synthetic devchain of n validators (a third of them
// execution, the rest consensus, equal stake) whose store holds three
// sealed blocks: the proposal of p2 (all stake as one group, 2/3), one
// certificate of the readiness of three quarters of the validators at the
// start of epoch 1 (the lock-in), and the activation at epoch 2. The
// proof of p2 is exported from it exactly as `proof export` does.
type benchChain struct {
	genesis *chain.Genesis
	proof   []byte
	// The readiness the certificate aggregates, one signature per signer:
	// what a proof without certificates would carry and check.
	message []byte
	keys    []signal.PublicKey
	sigs    [][]byte
	atts    int // bytes of those attestations, canonically encoded
	table   int // bytes of the identity table in the proof
}

var (
	benchMu     sync.Mutex
	benchChains = map[int]*benchChain{}
)

func getBenchChain(b *testing.B, n int) *benchChain {
	benchMu.Lock()
	defer benchMu.Unlock()
	if c := benchChains[n]; c != nil {
		return c
	}
	c := loadBenchChain(b, n)
	benchChains[n] = c
	return c
}

// benchCache is what loadBenchChain keeps under the temp dir between runs:
// making 10,000 keys, proofs of possession and signatures takes long, and
// the measured benchmark and its baseline run in separate processes.
type benchCache struct {
	Genesis []byte   `cbor:"1,keyasint"`
	Proof   []byte   `cbor:"2,keyasint"`
	Message []byte   `cbor:"3,keyasint"`
	Keys    [][]byte `cbor:"4,keyasint"`
	Sigs    [][]byte `cbor:"5,keyasint"`
	Atts    int      `cbor:"6,keyasint"`
	Table   int      `cbor:"7,keyasint"`
}

// loadBenchChain reads the chain of n validators from the cache under the
// temp dir when a valid one is there (its proof must verify), and builds
// and caches it otherwise.
func loadBenchChain(b *testing.B, n int) *benchChain {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("quorumgate-proof-bench-%s-%d.cbor", strings.ReplaceAll(proof.Format, "/", "-"), n))
	if data, err := os.ReadFile(path); err == nil {
		var cache benchCache
		if canon.Decode(data, &cache) == nil {
			if c, err := fromCache(cache); err == nil {
				return c
			}
		}
	}
	c := buildBenchChain(b, n)
	genesis, err := c.genesis.MarshalJSON()
	require.NoError(b, err)
	cache := benchCache{Genesis: genesis, Proof: c.proof, Message: c.message, Sigs: c.sigs, Atts: c.atts, Table: c.table}
	for _, k := range c.keys {
		cache.Keys = append(cache.Keys, k.Encode())
	}
	if err := os.WriteFile(path, canon.MustEncode(cache), 0o644); err != nil {
		b.Logf("the benchmark chain is not cached: %v", err)
	}
	return c
}

func fromCache(cache benchCache) (*benchChain, error) {
	g, err := chain.ParseGenesis(cache.Genesis)
	if err != nil {
		return nil, err
	}
	if _, err := proof.Verify(g, cache.Proof); err != nil {
		return nil, err
	}
	c := &benchChain{genesis: g, proof: cache.Proof, message: cache.Message, sigs: cache.Sigs, atts: cache.Atts, table: cache.Table}
	for _, raw := range cache.Keys {
		k, err := signal.DecodePublicKey(raw)
		if err != nil {
			return nil, err
		}
		c.keys = append(c.keys, k)
	}
	return c, nil
}

func buildBenchChain(b *testing.B, n int) *benchChain {
	const epochViews = 100
	nodes := make([]chain.NodeSpec, n)
	for i := range nodes {
		role := "consensus"
		if i%3 == 2 {
			role = "execution"
		}
		nodes[i] = chain.NodeSpec{ID: fmt.Sprintf("node-%05d", i), Role: role, Stake: 100}
	}
	g, keys, err := chain.GenerateGenesis(chain.GenerateOptions{ChainID: fmt.Sprintf("bench-%d", n), EpochViews: epochViews, SafetyViews: 10,
		Versions: map[string]string{"protocol": "1.0.0"}, Nodes: nodes, GovernanceMembers: 1, GovernanceThreshold: 1,
		Seed: []byte("proof benchmark")})
	require.NoError(b, err)
	home := b.TempDir()
	store, err := storage.Open(filepath.Join(home, "store"), storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State()})
	require.NoError(b, err)
	p := activation.Proposal{Name: "p2", Component: "protocol", Version: "2.0.0", Mode: activation.Stake,
		Threshold: quorum.TwoThirds, StartEpoch: 1, TimeoutEpoch: 5}
	approval, err := g.Committee().Approve(activation.ProposalMessage(g.ChainID, p), []int{0}, keys.Governance)
	require.NoError(b, err)

	c := &benchChain{genesis: g, message: signal.ReadinessMessage(g.ChainID, p.ID(), 1)}
	table := g.Params().Identities.TableAt(1)
	var atts []signal.Attestation
	var ready []activation.Readiness
	for i := range table.Len() {
		if i%4 == 0 {
			continue
		}
		id := table.At(i).NodeID
		a, err := signal.SignReadiness(keys.Staking[id], g.ChainID, p.ID(), 1, id)
		require.NoError(b, err)
		atts = append(atts, a)
		ready = append(ready, activation.Readiness{Deployment: "p2", Epoch: 1, Node: id})
		c.keys, c.sigs = append(c.keys, table.Key(i)), append(c.sigs, a.Signature)
		c.atts += len(a.Encode())
	}
	cert, err := quorum.BuildCertificate(table, atts)
	require.NoError(b, err)

	state := g.State()
	seal := func(wire activation.WireBlock, verified activation.Block) {
		next, _, err := activation.Apply(state, verified)
		require.NoError(b, err)
		raw, err := devchain.Seal(keys.Staking[g.Sequencer], devchain.SignedBlock{Height: wire.Height, View: wire.View,
			StateID: next.ID(), Block: wire.Encode()})
		require.NoError(b, err)
		require.NoError(b, store.Commit(storage.Block{Height: wire.Height, View: wire.View, Wire: raw, Verified: verified}, next))
		state = next
	}
	seal(activation.WireBlock{ChainID: g.ChainID, Height: 0, View: 1, Proposals: []activation.SignedProposal{{Proposal: p, Approval: approval}}},
		activation.Block{Height: 0, View: 1, Proposals: []activation.Proposal{p}})
	seal(activation.WireBlock{ChainID: g.ChainID, Height: 1, View: epochViews, Certificates: []quorum.Certificate{cert}},
		activation.Block{Height: 1, View: epochViews, Readiness: ready})
	seal(activation.WireBlock{ChainID: g.ChainID, Height: 2, View: 2 * epochViews}, activation.Block{Height: 2, View: 2 * epochViews})
	if d, _ := state.Deployment("p2"); d.Status != activation.Active {
		b.Fatalf("p2 is %s after the synthetic chain", d.Status)
	}

	file, err := proof.Export(proof.Options{Store: store, Genesis: g, Engine: "devchain", Payload: devchain.Payload}, "p2")
	require.NoError(b, err)
	require.NoError(b, store.Close())
	require.NoError(b, proof.AttachFinality(file, home, g))
	c.proof = file.Encode()
	without := *file.Deployment
	without.Identities = nil
	c.table = len(c.proof) - len((&proof.File{Format: file.Format, Kind: file.Kind, ChainID: file.ChainID, GenesisHash: file.GenesisHash,
		Engine: file.Engine, Deployment: &without}).Encode())
	if _, err := proof.Verify(g, c.proof); err != nil {
		b.Fatal(err)
	}
	return c
}

// benchVerify measures proof.Verify of a deployment proof over n
// validators, and reports the proof's size: whole, and beyond the identity
// table it carries (the table is the genesis's, so the rest is what a
// proof adds).
func benchVerify(b *testing.B, n int) {
	c := getBenchChain(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := proof.Verify(c.genesis, c.proof); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(c.proof)), "proof-bytes")
	b.ReportMetric(float64(len(c.proof)-c.table), "beyond-table-bytes")
}

// benchOneByOne is the naive baseline: the readiness checked attestation by
// attestation, as a proof that carried every signer's attestation instead
// of one certificate would check it (only that part is timed; it is most
// of such a proof's cost). Its size is the proof's with the attestations in
// place of the certificate.
func benchOneByOne(b *testing.B, n int) {
	c := getBenchChain(b, n)
	b.ResetTimer()
	for range b.N {
		for i, k := range c.keys {
			if err := signal.Verify(k, c.message, c.sigs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	cert := (n+7)/8 + 96 // bitmap and aggregate signature
	b.ReportMetric(float64(len(c.proof)-cert+c.atts), "proof-bytes")
}

// BenchmarkVerifyProof100: a deployment proof over 100 validators.
func BenchmarkVerifyProof100(b *testing.B) { benchVerify(b, 100) }

// BenchmarkVerifyProof100OneByOne: its readiness checked signer by signer.
func BenchmarkVerifyProof100OneByOne(b *testing.B) { benchOneByOne(b, 100) }

// BenchmarkVerifyProof10k: a deployment proof over 10,000 validators
// (building the chain takes minutes: 10,000 keys, proofs of possession and
// signatures; it is cached under the temp dir for later runs, which still
// check the 10,000 proofs of possession as they load the genesis).
func BenchmarkVerifyProof10k(b *testing.B) { benchVerify(b, 10_000) }

// BenchmarkVerifyProof10kOneByOne: its readiness checked signer by signer.
func BenchmarkVerifyProof10kOneByOne(b *testing.B) { benchOneByOne(b, 10_000) }
