package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/testnet"
)

func newTestnetCommand(stdout io.Writer) *cobra.Command {
	tn := &cobra.Command{Use: "testnet", Short: "Local multi-node testnets on 127.0.0.1"}
	var o testnet.DemoOptions
	demo := &cobra.Command{
		Use:   "demo [--nodes 7] [--mode stake|governance]",
		Short: "Start a local testnet and walk a protocol upgrade through it, end to end",
		Long: `demo generates a genesis and keys for N nodes with roles and uneven stakes,
starts N node-plugin processes on 127.0.0.1 (one is the devchain sequencer),
proposes protocol 2.0.0, and plays the operators: it restarts the nodes one at
a time, at seeded random moments, supporting the new version, showing the
deployment's progress. It ends when every node runs 2.0.0, checks from each
node's own API that all activated at the same view with the same state, and
prints a summary.

--mode governance uses a fixed activation view with some operators late: their
nodes halt (exit 3) instead of forking, and resume once upgraded.

Ctrl-C or any failure stops every process; the folder keeps each node's home
and log (node.log) for inspection.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Out = stdout
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, err := testnet.Demo(ctx, o)
			return err
		},
	}
	demo.Flags().IntVar(&o.Nodes, "nodes", 7, "how many nodes (4 to 9)")
	demo.Flags().StringVar(&o.Mode, "mode", "stake", "stake or governance")
	demo.Flags().StringVar(&o.Dir, "dir", "", "folder for the nodes' homes and logs (default: a new temp folder)")
	demo.Flags().Uint64Var(&o.Seed, "seed", 1, "seed for the operators' timing")
	demo.Flags().DurationVar(&o.ViewInterval, "view-interval", 20*time.Millisecond, "time between views")
	demo.Flags().Uint64Var(&o.EpochViews, "epoch-views", 50, "views per epoch")
	tn.AddCommand(demo)
	return tn
}
