package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/replay"
)

func newReplayCommand(stdout io.Writer) *cobra.Command {
	var file string
	var everyView bool
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

The scenario format is described in DESIGN.md, "Scenario files"; examples
live in examples/scenarios/.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("replay needs --scenario FILE")}
			}
			sc, err := replay.Load(file)
			if err != nil {
				return usageError{fmt.Errorf("%s: %w", file, err)}
			}
			// Run fully before printing: a failure mid-way must not leave half an output.
			var lines [][]byte
			res, err := sc.Run(replay.RunOptions{EveryView: everyView}, func(e activation.Event) {
				lines = append(lines, replay.EventLine(e))
			})
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			lines = append(lines, replay.SummaryLine(res.Final))
			// A bufio.Writer keeps its first error: Flush returns it.
			w := bufio.NewWriter(stdout)
			for _, l := range lines {
				w.Write(l)
				w.WriteByte('\n')
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&file, "scenario", "", "the scenario file (JSON)")
	cmd.Flags().BoolVar(&everyView, "every-view", false, "apply every empty block instead of skipping quiet stretches (same output, slower)")
	return cmd
}
