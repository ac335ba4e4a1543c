package testnet

import (
	"fmt"
	"slices"
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

// MaxNodes bounds a testnet's size: every node is a process on this
// machine, and past a couple of hundred the machine's memory, not the
// testnet, decides (see the README's "Testnets of 100 nodes").
const MaxNodes = 200

// nodesOf is the node list of an engine's testnets of n nodes (n within
// nodeCount's range). The first nine are the fixed lists above, so a small
// testnet keeps the names the README shows; past them the roles go round
// consensus, execution, collection, verification, each node named by its
// role's letter and its number within the role (c5, e4, x2, v2, c6, ...),
// with stakes from 100 to 300. At 100 nodes that makes 27 consensus nodes:
// CometBFT's validators, none near a third of the voting power.
func nodesOf(engine string, n int) []nodeSpec {
	fixed := demoNodes
	if engine == engineCometBFT {
		fixed = cometNodes
	}
	if n <= len(fixed) {
		return fixed[:n]
	}
	list := slices.Clone(fixed)
	count := map[string]int{}
	for _, s := range fixed {
		count[s.role]++
	}
	roles := []struct{ role, letter string }{{"consensus", "c"}, {"execution", "e"}, {"collection", "x"}, {"verification", "v"}}
	for i := len(fixed); i < n; i++ {
		r := roles[(i-len(fixed))%len(roles)]
		count[r.role]++
		// Stakes vary (100, 150, ..., 300) so that no two roles weigh the
		// same by accident; the seeds do not enter, so names and stakes are
		// the same for every testnet of n nodes.
		list = append(list, nodeSpec{id: fmt.Sprintf("%s%d", r.letter, count[r.role]), role: r.role, stake: uint64(100 + 50*(i%5))})
	}
	return list
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
	if n < least || n > MaxNodes {
		return 0, badOption("--nodes %d: between %d and %d", n, least, MaxNodes)
	}
	return n, nil
}

// viewIntervalFor is the default view interval of a testnet of n nodes:
// base up to largeTestnet nodes, then 5 ms a node (500 ms at 100). Every
// node verifies every block's signature (about a millisecond of CPU), so
// n nodes at one block per interval cost n/interval ms of CPU a second:
// at 5 ms a node that stays near a fifth of a core whatever n is, which
// leaves the machine to the rest and the testnet under a core when idle.
func viewIntervalFor(n int, base time.Duration) time.Duration {
	if n <= largeTestnet {
		return base
	}
	return max(base, time.Duration(n)*5*time.Millisecond)
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
