// Package cometbft runs quorumgate as an ABCI 2.0 application on CometBFT
// (v1.0), with CometBFT in process: BFT consensus among the genesis's
// consensus-role nodes, tolerating faults of less than a third of the
// voting power.
//
// The mapping (package chain's doc has the seam's side of it):
//   - Heights are views: the block at CometBFT height h has view h and
//     quorumgate height h-1 (quorumgate heights start at 0, CometBFT's at 1).
//     Epochs are fixed spans of heights (epoch_views of the genesis), and the
//     safety views Δ count heights.
//   - PrepareProposal: the proposer builds, from its pool (readiness
//     gossiped on libp2p, aggregated into one quorum certificate per
//     signaling deployment of the epoch; governance messages: package
//     chain/internal/pool, shared with the devchain), one
//     activation.WireBlock, the block's only transaction. Each item is
//     verified before it goes in, so an honest proposer never builds a block
//     its peers reject. Bounds: at most MaxCertificates certificates,
//     MaxGovernance proposals and as many cancellations, MaxAttestations
//     single attestations, and MaxWireBytes encoded bytes (below the block
//     size limit the derived genesis sets, BlockMaxBytes). Every node keeps
//     an item pooled until a committed block carried it (Commit), so items
//     over the bounds, or in a proposal that lost its round, go in a later
//     block.
//   - ProcessProposal: zero transactions (an empty block) or exactly one
//     that decodes as a WireBlock of this chain, height and view, within the
//     bounds, that counts no (signer, deployment, epoch) twice and carries
//     no signed governance item twice (activation.WireBlock.Repeats, checked
//     before any signature), every item of which verifies
//     (activation.Verifier.Verify).
//     Anything else is REJECT: a Byzantine proposer costs a round, never a
//     fork.
//   - FinalizeBlock: activation.Apply; the AppHash is the protocol state ID.
//     A node whose binary does not support a version activating at this
//     height returns the halt error instead, before anything is applied
//     (CometBFT stops consensus; node-plugin exits 3; restarted with a
//     binary that supports it, the handshake replays the block).
//   - Commit: the block and the state after it, in one synced storage batch;
//     then the block is delivered to the node with its events.
//   - Validators: the consensus-role nodes of the epoch's identity table,
//     voting power = stake; where the genesis's identity tables change at an
//     epoch, FinalizeBlock returns the validator updates two heights before
//     it, so CometBFT's set changes at the epoch's first height.
//   - Info: the height and state ID of the store's head, so CometBFT's
//     handshake replays from its block store whatever the application has
//     not committed (after a crash at any point).
//   - Snapshots (snapshot.go): every snapshot interval the state is kept
//     as a snapshot and served through ListSnapshots and LoadSnapshotChunk;
//     a node joining by state sync checks what OfferSnapshot and
//     ApplySnapshotChunk give it against the app hash CometBFT's light
//     client verified, and bootstraps its store from it.
//   - CheckTx: CometBFT's mempool is off (type "nop") and nothing should
//     call CheckTx; if something does, it rejects with a reason. Readiness
//     travels on libp2p gossipsub and governance through the admin API and
//     the governance topic, never through CometBFT's mempool or RPC.
package cometbft

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/internal/commit"
	"github.com/quorumgate/quorumgate/chain/internal/pool"
	"github.com/quorumgate/quorumgate/signal"
	"github.com/quorumgate/quorumgate/storage"
)

// Bounds of one block's WireBlock.
const (
	MaxCertificates = 64
	MaxAttestations = 256
	MaxGovernance   = 16
	// MaxWireBytes bounds the encoded WireBlock, well below BlockMaxBytes.
	MaxWireBytes = 1 << 20
	// BlockMaxBytes is the block size limit of the derived CometBFT genesis.
	BlockMaxBytes = 4 << 20
)

// App is the ABCI 2.0 application. CometBFT calls it from its consensus,
// mempool and query connections; the node reads its head and its blocks.
type App struct {
	abci.BaseApplication

	genesis  *chain.Genesis
	store    *storage.Store
	pipe     *commit.Pipeline
	verifier *activation.Verifier // pipe's, which checks proposals before this node votes
	log      *slog.Logger
	// via, if set, says how the block being committed reached this node
	// (the engine asks CometBFT whether it is block syncing).
	via func() chain.Via
	// byzantine, set by tests only, rewrites the proposals this node makes.
	byzantine func(*activation.WireBlock)
	// onCommit, set by benchmarks only, sees every committed WireBlock.
	onCommit func(activation.WireBlock)

	// pool holds the readiness and governance this node proposes from.
	pool *pool.Pool

	// writes carries committed blocks to the writer goroutine, which
	// stores each in one synced batch while consensus goes on (see Commit).
	writes     chan pendingBlock
	writerDone chan struct{}
	closeOnce  sync.Once

	mu sync.Mutex
	// head is the state after the last Commit: what consensus builds on,
	// possibly ahead of the store by the blocks the writer has not synced.
	head       *activation.State
	pending    *pendingBlock
	lastCommit time.Time
	misbehaved int // misbehavior evidence in finalized blocks
	err        error
	failed     chan struct{} // closed when err is set

	// State sync (snapshot.go): the snapshots served, the one being
	// restored, and what was refused.
	snapshotInterval uint64
	snapshotKeep     int
	snapshots        []snapshot
	restore          *restore
	refusedChunks    int
	refusedSnapshots int
	// testChunkSize, set by tests only, cuts snapshots into smaller chunks.
	testChunkSize int
}

type pendingBlock struct {
	prepared commit.Prepared
	wire     activation.WireBlock
}

// NewApp builds the application on a store opened with the genesis state.
// It owns one goroutine, the store's writer: Close stops it.
func NewApp(g *chain.Genesis, store *storage.Store, guard func(*activation.State, uint64) error, log *slog.Logger) *App {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	head, _ := store.Head()
	pipe := commit.New(commit.Options{Store: store, Genesis: g, Guard: guard})
	a := &App{genesis: g, store: store, pipe: pipe, verifier: pipe.Verifier(), log: log, pool: pool.New(pipe.Verifier(), pool.DefaultBounds, log),
		failed: make(chan struct{}), head: head, writes: make(chan pendingBlock, 1), writerDone: make(chan struct{})}
	go a.writer()
	return a
}

// Close waits for the blocks handed to the writer to be stored, and stops
// it. Call it after CometBFT stopped.
func (a *App) Close() {
	a.closeOnce.Do(func() { close(a.writes) })
	<-a.writerDone
}

// writer stores committed blocks in order, each in one synced batch, and
// then delivers them to the node.
func (a *App) writer() {
	defer close(a.writerDone)
	failed := false
	for p := range a.writes {
		// A failed write stops every write after it (they would not follow
		// the store's head). A halt does not: the blocks committed before
		// it are stored.
		if failed {
			continue
		}
		via := chain.ViaGossip
		if a.via != nil {
			via = a.via()
		}
		if _, err := a.pipe.Commit(p.prepared, p.wire.Encode(), via); err != nil {
			a.fail(err)
			failed = true
			continue
		}
		a.mu.Lock()
		a.lastCommit = time.Now()
		a.mu.Unlock()
	}
}

// consensusHead is the state consensus builds the next block on.
func (a *App) consensusHead() *activation.State {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.head
}

// views: the block at CometBFT height h has view h and quorumgate height h-1.
func views(h int64) (height, view uint64) { return uint64(h) - 1, uint64(h) }

// Head returns the state after the last block stored (synced).
func (a *App) Head() *activation.State {
	s, _ := a.store.Head()
	return s
}

// Err returns why the application stopped consensus (a halt, a failure).
func (a *App) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *App) fail(err error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = err
		close(a.failed)
	}
	return err
}

// AddAttestation pools a verified attestation (libp2p's OnAttestation, and
// this node's own). One the full pool drops is counted in its Stats.
func (a *App) AddAttestation(at signal.Attestation) { a.pool.AddAttestation(at) }

// AddGovernance pools a governance message (the governance topic's, and
// this node's own). One that does not decode is not pooled; one the
// committee did not sign is dropped when a proposal is built.
func (a *App) AddGovernance(raw []byte) {
	if r := a.pool.AddGovernance(raw); r == pool.Full {
		a.log.Warn("governance message dropped: the pool is full", "bytes", len(raw))
	}
}

// appState is the derived genesis's app_state: the quorumgate genesis it
// comes from, so a CometBFT home of another genesis does not start.
type appState struct {
	GenesisHash string `json:"quorumgate_genesis_hash"`
}

// Info tells CometBFT's handshake where the application is.
func (a *App) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	head, ok := a.store.Head()
	res := &abci.InfoResponse{Data: "quorumgate", Version: "1", AppVersion: 1}
	if ok {
		h, _, _ := head.Head()
		id := head.ID()
		res.LastBlockHeight, res.LastBlockAppHash = int64(h)+1, id[:]
	}
	return res, nil
}

// InitChain checks that CometBFT's genesis is the one derived from this
// node's quorumgate genesis.
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	var st appState
	if err := json.Unmarshal(req.AppStateBytes, &st); err != nil {
		return nil, fmt.Errorf("cometbft genesis app_state: %w", err)
	}
	want := a.genesis.Hash()
	if req.ChainId != a.genesis.ChainID || st.GenesisHash != hex.EncodeToString(want[:]) {
		return nil, errors.New("the CometBFT genesis does not come from this node's quorumgate genesis: it is derived, never edited; remove the cometbft folder of the home and start again")
	}
	id := a.genesis.State().ID()
	return &abci.InitChainResponse{AppHash: id[:]}, nil
}

// CheckTx rejects everything: see the package doc.
func (a *App) CheckTx(context.Context, *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	return &abci.CheckTxResponse{Code: 1, Codespace: "quorumgate",
		Log: "quorumgate takes no transactions through CometBFT's mempool: readiness travels on libp2p gossip, governance through node-plugin's admin API"}, nil
}

// PrepareProposal builds this proposer's WireBlock from its pool.
func (a *App) PrepareProposal(_ context.Context, req *abci.PrepareProposalRequest) (*abci.PrepareProposalResponse, error) {
	height, view := views(req.Height)
	wire := a.pool.Build(a.consensusHead(), height, view, pool.Limits{Proposals: MaxGovernance, Cancels: MaxGovernance,
		Certificates: MaxCertificates, Bytes: int(min(req.MaxTxBytes, MaxWireBytes))})
	if a.byzantine != nil {
		a.byzantine(&wire)
	}
	if empty(wire) {
		return &abci.PrepareProposalResponse{}, nil
	}
	return &abci.PrepareProposalResponse{Txs: [][]byte{wire.Encode()}}, nil
}

func empty(w activation.WireBlock) bool {
	return len(w.Proposals)+len(w.Cancels)+len(w.Certificates)+len(w.Attestations) == 0
}

// ProcessProposal accepts a proposal only if everything in it verifies.
func (a *App) ProcessProposal(_ context.Context, req *abci.ProcessProposalRequest) (*abci.ProcessProposalResponse, error) {
	accept := &abci.ProcessProposalResponse{Status: abci.PROCESS_PROPOSAL_STATUS_ACCEPT}
	reject := func(why string, args ...any) (*abci.ProcessProposalResponse, error) {
		a.log.Warn("rejected a proposal", "height", req.Height, "proposer", hex.EncodeToString(req.ProposerAddress), "why", fmt.Sprintf(why, args...))
		return &abci.ProcessProposalResponse{Status: abci.PROCESS_PROPOSAL_STATUS_REJECT}, nil
	}
	switch len(req.Txs) {
	case 0:
		return accept, nil
	case 1:
	default:
		return reject("%d transactions: a block holds one WireBlock at most", len(req.Txs))
	}
	if why := a.check(a.consensusHead(), req.Height, req.Txs[0]); why != "" {
		return reject("%s", why)
	}
	return accept, nil
}

// check judges a proposal's one transaction; "" means it is acceptable.
func (a *App) check(head *activation.State, h int64, tx []byte) string {
	if len(tx) > MaxWireBytes {
		return fmt.Sprintf("the block's WireBlock is %d bytes, over the bound of %d", len(tx), MaxWireBytes)
	}
	wire, err := activation.DecodeWireBlock(tx)
	if err != nil {
		return err.Error()
	}
	height, view := views(h)
	switch {
	case wire.ChainID != a.genesis.ChainID:
		return fmt.Sprintf("chain %q, not %q", wire.ChainID, a.genesis.ChainID)
	case wire.Height != height || wire.View != view:
		return fmt.Sprintf("height %d view %d, not height %d view %d", wire.Height, wire.View, height, view)
	case len(wire.Certificates) > MaxCertificates, len(wire.Attestations) > MaxAttestations,
		len(wire.Proposals) > MaxGovernance, len(wire.Cancels) > MaxGovernance:
		return "more items than a block may hold"
	}
	// Before the signatures: a block padded with repeats costs its proposer
	// the round, not every validator the BLS work.
	if err := wire.Repeats(a.verifier.Params); err != nil {
		return err.Error()
	}
	_, rej, err := a.verifier.Verify(head, wire)
	if err != nil {
		return err.Error()
	}
	if len(rej) > 0 {
		r := rej[0]
		return fmt.Sprintf("%d items do not verify, the first a %s of %s: %s", len(rej), r.Kind, r.Deployment, r.Reason)
	}
	return ""
}

// FinalizeBlock applies the decided block; the AppHash is the state ID.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	if err := a.Err(); err != nil {
		return nil, err
	}
	head := a.consensusHead()
	if h, _, ok := head.Head(); ok && uint64(req.Height) != h+2 || !ok && req.Height != 1 {
		return nil, a.fail(fmt.Errorf("cometbft: block at height %d does not follow the application's head", req.Height))
	}
	height, view := views(req.Height)
	wire := activation.WireBlock{ChainID: a.genesis.ChainID, Height: height, View: view}
	switch len(req.Txs) {
	case 0:
	case 1:
		w, err := activation.DecodeWireBlock(req.Txs[0])
		if err != nil || w.Height != height || w.View != view {
			// Only a block more than a third of the voting power accepted
			// against the rules gets here.
			return nil, a.fail(fmt.Errorf("cometbft: the decided block at height %d is not a WireBlock of height %d view %d (%v): more than a third of the voting power is faulty",
				req.Height, height, view, err))
		}
		wire = w
	default:
		return nil, a.fail(fmt.Errorf("cometbft: the decided block at height %d holds %d transactions: more than a third of the voting power is faulty", req.Height, len(req.Txs)))
	}
	// The guard, then Verify and Apply (the one commit pipeline). Items
	// that do not verify (only in a block decided despite this node's
	// ProcessProposal) are left out, as on every honest node, and repeats
	// in such a block are Apply's duplicates: Repeats is a proposal rule,
	// not a rule of the decided chain.
	pr, err := a.pipe.Prepare(head, wire)
	if err != nil {
		return nil, a.fail(err)
	}
	a.mu.Lock()
	a.pending = &pendingBlock{prepared: pr, wire: wire}
	a.misbehaved += len(req.Misbehavior)
	a.mu.Unlock()
	results := make([]*abci.ExecTxResult, len(req.Txs))
	for i := range results {
		results[i] = &abci.ExecTxResult{}
	}
	id := pr.Block.StateID
	return &abci.FinalizeBlockResponse{TxResults: results, AppHash: id[:], ValidatorUpdates: validatorUpdates(a.genesis, view)}, nil
}

// Commit hands the finalized block to the writer, which stores it and the
// state after it in one synced batch and then delivers it to the node,
// while consensus runs the next height: the fsync is off consensus's
// critical path. A crash before the batch is synced loses nothing: Info
// reports the store's head, and CometBFT's handshake replays the blocks
// from its own block store (at most two, the writer's queue being one).
func (a *App) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	if err := a.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	p := a.pending
	a.pending = nil
	if p != nil {
		a.head = p.prepared.Block.State
		a.pool.Included(p.wire)
	}
	a.mu.Unlock()
	if p != nil {
		a.writes <- *p
		a.takeSnapshot(int64(p.prepared.Block.Height)+1, p.prepared.Block.State)
	}
	if a.onCommit != nil && p != nil {
		a.onCommit(p.wire)
	}
	return &abci.CommitResponse{}, nil
}

func (a *App) misbehavior() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.misbehaved
}

func (a *App) sinceCommit() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastCommit.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(a.lastCommit)
}
