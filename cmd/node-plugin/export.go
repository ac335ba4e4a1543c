package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/history"
	"github.com/quorumgate/quorumgate/internal/config"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/storage"
)

func newExportCommand(stdout, stderr io.Writer) *cobra.Command {
	var home, out string
	var toHeight int64
	cmd := &cobra.Command{
		Use:   "export --home DIR --out FILE [--to-height H]",
		Short: "Write the node's finalized history as a scenario file that replay runs",
		Long: `export reads the finalized blocks a node stored, from genesis to its head (or
to --to-height), and writes them as a scenario file: the genesis chain
parameters, versions and identity tables (with their keys, so the state IDs
are the chain's), every view that has no block, and for each block the
proposals, cancellations and readiness that Apply took, in block order, with
the items the verifying layer rejected. Each block is re-verified and
re-applied from its stored bytes on the way, and must give the state ID the
store holds.

  node-plugin replay --scenario FILE --state-ids

then prints every transition and rejection the node reported, and the state
ID after the last block, which is the node's /state-id?height=H. The file
format is in docs/replay.md. The node must be stopped: its store is read in
place, read-only. --out - writes to standard output.

The configuration is read as run reads it (config.toml, QUORUMGATE_*, and
the same flags): the genesis, and the engine, whose block format the store
holds.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" || out == "" {
				return usageError{errors.New("export needs --home DIR and --out FILE")}
			}
			if cmd.Flags().Changed("to-height") && toHeight < 0 {
				return usageError{fmt.Errorf("--to-height %d: a height is 0 or more", toHeight)}
			}
			cfg, g, err := loadHome(cmd, home)
			if err != nil {
				return usageError{err}
			}
			store, head, err := openStoppedStore(home, g, "export")
			if err != nil {
				return err
			}
			defer store.Close()
			to, _, _ := head.Head()
			if cmd.Flags().Changed("to-height") {
				if uint64(toHeight) > to {
					return usageError{fmt.Errorf("--to-height %d: the store's head is at height %d", toHeight, to)}
				}
				to = uint64(toHeight)
			}
			sc, last, err := history.Export(history.Options{Store: store, Genesis: g, Payload: payloadOf(cfg.Engine), ToHeight: to})
			if err != nil {
				return fmt.Errorf("%w (the store is read as the %s engine wrote it: if the node ran on another, say so with --engine or in config.toml)", err, cfg.Engine)
			}
			data, err := sc.Marshal()
			if err != nil {
				return fmt.Errorf("export the history: %w", err)
			}
			if out == "-" {
				_, err = stdout.Write(data)
			} else {
				err = node.WriteFileAtomic(out, data, 0o644)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "exported heights 0 to %d (views 0 to %d, %d blocks with items) to %s; state ID at height %d: %x\n",
				last.Height, last.View, len(sc.Blocks), out, last.Height, last.StateID)
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home")
	cmd.Flags().StringVar(&out, "out", "", `the scenario file to write ("-": standard output)`)
	cmd.Flags().Int64Var(&toHeight, "to-height", 0, "the last height to export (default: the head)")
	config.AddFlags(cmd.Flags()) // the node's configuration, as run reads it: --engine above all
	return cmd
}

// openStoppedStore opens a stopped node's store read-only for a command
// (what) that reads it in place, and returns its head: a running node, a
// home with no store and an empty store are each told apart, saying what
// to do.
func openStoppedStore(home string, g *chain.Genesis, what string) (*storage.Store, *activation.State, error) {
	dir := filepath.Join(home, "store")
	store, err := storage.Open(dir, storage.Options{ChainID: g.ChainID, GenesisHash: g.Hash(), Genesis: g.State(), ReadOnly: true})
	switch {
	case errors.Is(err, storage.ErrInUse):
		return nil, nil, fmt.Errorf("%w: stop the node first (%s reads its store in place)", err, what)
	case errors.Is(err, storage.ErrNoStore):
		return nil, nil, usageError{fmt.Errorf("%w: %s has no store yet (has the node run?)", err, home)}
	case err != nil:
		return nil, nil, err
	}
	head, ok := store.Head()
	if !ok {
		store.Close()
		return nil, nil, usageError{fmt.Errorf("%s: %w", dir, history.ErrEmpty)}
	}
	return store, head, nil
}
