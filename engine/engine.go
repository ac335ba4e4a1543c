// Package engine names the consensus engines node-plugin runs on: the one
// spelling of each name, the list for help and error messages, and the
// parser of a configured name. It imports nothing, so the configuration and
// the testnet can name an engine without linking one; the composition root
// (cmd/node-plugin) maps a Name to its constructor.
package engine

import (
	"fmt"
	"strings"
)

// Name is a consensus engine's name, as config.toml, $QUORUMGATE_ENGINE and
// --engine spell it.
type Name string

// The engines node-plugin runs on.
const (
	// Devchain is the embedded development chain: one sequencer, quickest
	// for a laptop, no fault tolerance.
	Devchain Name = "devchain"
	// CometBFT runs quorumgate as an ABCI 2.0 application on CometBFT, in
	// process: BFT consensus, tolerating faults of less than a third of the
	// voting power.
	CometBFT Name = "cometbft"
)

// Default is the engine when none is configured.
const Default = Devchain

// Names are the engines, in the order help and error messages list them.
var Names = []Name{Devchain, CometBFT}

// Choices lists the names for a message: "devchain, cometbft".
func Choices() string {
	s := make([]string, len(Names))
	for i, n := range Names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// Parse reads an engine name; the error names the valid choices.
func Parse(s string) (Name, error) {
	for _, n := range Names {
		if string(n) == s {
			return n, nil
		}
	}
	return "", fmt.Errorf("%q is not an engine: allowed are %s", s, Choices())
}
