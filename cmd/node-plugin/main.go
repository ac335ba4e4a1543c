// Command node-plugin is quorumgate's one binary: the sidecar that runs
// beside a node, and the tools around it.
//
// Exit codes: 0 success; 1 an unexpected failure; 2 bad usage or bad input.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/testnet"
)

// Exit codes, documented in the README and in --help.
const (
	exitOK       = 0
	exitFailure  = 1
	exitBadInput = 2
	exitHalted   = node.ExitHalted
)

// usageError marks an error as bad usage or bad input (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code; tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context that, cancelled, stops a running node.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "node-plugin: %v\n", err)
	}
	return exitCode(err)
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var ue usageError
	var he haltExit
	var oe *testnet.OptionError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &oe):
		return exitBadInput
	case errors.As(err, &he):
		return exitHalted
	}
	return exitFailure
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "node-plugin",
		Short: "quorumgate's node sidecar: readiness signaling and safe protocol upgrades",
		Long: `node-plugin runs beside a proof-of-stake node. It signals the node's readiness
for pending protocol versions, follows the quorum that decides when they
activate, and switches or halts safely.

Exit codes:
  0  success
  1  unexpected failure
  2  bad usage or bad input (the message says what and where)
  3  halted: an active protocol version is not supported (run)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newReplayCommand(stdout), newSimCommand(stdout, stderr), newInitCommand(stdout), newKeysCommand(stdout),
		newVersionCommand(stdout), newRunCommand(stderr), newStatusCommand(stdout), newDeploymentsCommand(stdout),
		newVersionsCommand(stdout), newParamsCommand(stdout), newReadinessCommand(stdout), newProposeCommand(stdout, nil), newCancelCommand(stdout, nil), newTestnetCommand(stdout),
		newExportCommand(stdout, stderr), newProofCommand(stdout, stderr))
	return root
}

// exactArgs is cobra.ExactArgs with errors classed as bad usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
