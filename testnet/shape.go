package testnet

import (
	"time"

	"github.com/quorumgate/quorumgate/engine"
)

type nodeSpec struct {
	id, role string
	stake    uint64
}

var demoNodes = []nodeSpec{
	{"seq", "consensus", 400}, {"c2", "consensus", 300}, {"c3", "consensus", 200}, {"e1", "execution", 500},
	{"e2", "execution", 300}, {"x1", "collection", 150}, {"v1", "verification", 100}, {"c4", "consensus", 100},
	{"e3", "execution", 200},
}

// cometNodes are a CometBFT testnet's nodes: four validators first (each
// under a third of the voting power), then nodes of other roles, which run
// CometBFT as full nodes.
var cometNodes = []nodeSpec{
	{"c1", "consensus", 300}, {"c2", "consensus", 300}, {"c3", "consensus", 200}, {"c4", "consensus", 200},
	{"e1", "execution", 500}, {"e2", "execution", 300}, {"x1", "collection", 150}, {"v1", "verification", 100},
	{"e3", "execution", 200},
}

// Engines a testnet runs on, as its options and manifest spell them.
const (
	engineDevchain = string(engine.Devchain)
	engineCometBFT = string(engine.CometBFT)
)

// checkEngine applies the default engine and checks it.
func checkEngine(e string) (string, error) {
	if e == "" {
		return string(engine.Default), nil
	}
	if _, err := engine.Parse(e); err != nil {
		return "", badOption("--engine %v", err)
	}
	return e, nil
}

// nodesOf is the node list of an engine's testnets.
func nodesOf(engine string) []nodeSpec {
	if engine == engineCometBFT {
		return cometNodes
	}
	return demoNodes
}

// nodeCount applies the default node count (7) and checks the range: a
// CometBFT testnet has its four validators and at least one other node.
func nodeCount(n int, engine string) (int, error) {
	if n == 0 {
		n = 7
	}
	least := 4
	if engine == engineCometBFT {
		least = 5
	}
	if n < least || n > len(nodesOf(engine)) {
		return 0, badOption("--nodes %d: between %d and %d", n, least, len(nodesOf(engine)))
	}
	return n, nil
}

// pace applies the defaults to a testnet's view interval and epoch length
// (zero means the default) and checks them.
func pace(interval time.Duration, epochViews uint64, defInterval time.Duration, defEpochViews uint64) (time.Duration, uint64, error) {
	if interval < 0 {
		return 0, 0, badOption("--view-interval %s: a positive duration such as %s", interval, defInterval)
	}
	if interval == 0 {
		interval = defInterval
	}
	if epochViews == 0 {
		epochViews = defEpochViews
	}
	if epochViews < 10 {
		return 0, 0, badOption("--epoch-views %d: at least 10", epochViews)
	}
	return interval, epochViews, nil
}
