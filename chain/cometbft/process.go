package cometbft

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	abci "github.com/cometbft/cometbft/abci/types"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtnode "github.com/cometbft/cometbft/node"
	cmtp2p "github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/types"
)

// process is one CometBFT node running in this process, with the databases
// it opened.
type process struct {
	cfg  *cmtcfg.Config
	node *cmtnode.Node

	mu  sync.Mutex
	dbs []dbm.DB
}

// startProcess starts CometBFT on app. The handshake (replaying CometBFT's
// block store into the application) runs before it returns.
func startProcess(ctx context.Context, cfg *cmtcfg.Config, pv types.PrivValidator, key *cmtp2p.NodeKey, app abci.Application,
	doc *types.GenesisDoc, log cmtlog.Logger) (*process, error) {
	p := &process{cfg: cfg}
	docJSON, err := cmtjson.Marshal(doc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(docJSON)
	n, err := cmtnode.NewNode(ctx, cfg, pv, key, proxy.NewLocalClientCreator(app),
		func() (cmtnode.ChecksummedGenesisDoc, error) {
			return cmtnode.ChecksummedGenesisDoc{GenesisDoc: doc, Sha256Checksum: sum[:]}, nil
		}, p.openDB, cmtnode.DefaultMetricsProvider(cfg.Instrumentation), log)
	if err != nil {
		p.closeDBs()
		return nil, err
	}
	if err := n.Start(); err != nil {
		n.Stop()            //nolint:errcheck // closes what NewNode opened
		n.ProxyApp().Stop() //nolint:errcheck // see stop
		p.closeDBs()
		return nil, err
	}
	p.node = n
	return p, nil
}

// lateClose keeps CometBFT from closing its databases when it stops: its
// per-peer consensus routines (v0.38 and v1.0) wake from a sleep and read the block
// store after the node stopped, which panics on a closed database. stop
// waits them out and closes the databases itself.
type lateClose struct{ dbm.DB }

func (lateClose) Close() error { return nil }

func (p *process) openDB(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.dbs = append(p.dbs, db)
	p.mu.Unlock()
	return lateClose{db}, nil
}

// stop stops CometBFT and closes its databases.
func (p *process) stop() {
	if p.node.IsRunning() {
		p.node.Stop() //nolint:errcheck // stopping twice is the only error
	}
	p.node.Wait()
	// CometBFT's Node.OnStop (v0.38, v1.0) leaves its ABCI connections running.
	p.node.ProxyApp().Stop() //nolint:errcheck // already stopped is fine
	// Its peer routines sleep up to four times between their checks that
	// the node runs (see lateClose).
	time.Sleep(5*p.cfg.Consensus.PeerQueryMaj23SleepDuration + p.cfg.Consensus.PeerGossipSleepDuration)
	p.closeDBs()
}

func (p *process) closeDBs() {
	p.mu.Lock()
	dbs := p.dbs
	p.dbs = nil
	p.mu.Unlock()
	for _, db := range dbs {
		db.Close()
	}
}
