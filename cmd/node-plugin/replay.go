package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/replay"
)

func newReplayCommand(stdout io.Writer) *cobra.Command {
	var file string
	var everyView, stateIDs bool
	cmd := &cobra.Command{
		Use:   "replay --scenario FILE",
		Short: "Apply a scenario file to the pure activation engine and print what happens",
		Long: `replay applies a scenario (chain parameters, identity tables, and blocks) to
the activation engine, with no keys and no network, and prints one JSON object
per line: every transition and rejection in block order, then a summary.

The file is validated whole first. Bad input prints nothing on stdout, one
line on stderr naming the problem and where it is, and exits with status 2.
Invalid protocol data inside blocks is not bad input: it becomes a
"rejected" line with the reason.

The scenario format is described in DESIGN.md, "Scenario files", and its
extensions (keyed identity tables, the verifying layer's rejections, the
--state-ids line, protocol parameters) in docs/replay.md; examples live in
examples/scenarios/.
node-plugin export writes a node's finalized history in this format.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("replay needs --scenario FILE")}
			}
			sc, err := replay.Load(file)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", file, err)}
			}
			// Output runs fully before anything is printed: a failure mid-way leaves no half output.
			out, err := sc.Output(replay.RunOptions{EveryView: everyView, StateID: stateIDs})
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			_, err = stdout.Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&file, "scenario", "", "the scenario file (JSON)")
	cmd.Flags().BoolVar(&stateIDs, "state-ids", false, `before the summary, print {"type":"state","view":V,"height":H,"state_id":HEX}: the state ID after the last block`)
	cmd.Flags().BoolVar(&everyView, "every-view", false, "apply every empty block instead of skipping quiet stretches (same output, slower)")
	return cmd
}
