package cometbft

import "github.com/quorumgate/quorumgate/activation"

// SetByzantine makes the application's proposals dishonest: rewrite changes
// every WireBlock it proposes. For tests of what honest validators do with
// such a proposer; nothing else calls it.
func SetByzantine(a *App, rewrite func(*activation.WireBlock)) { a.byzantine = rewrite }
