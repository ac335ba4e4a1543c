package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/engine"
	"github.com/quorumgate/quorumgate/internal/config"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/proof"
)

func newProofCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "proof",
		Short: "Write or check a portable proof of what activated",
		Long: `A proof is one file that shows, to anyone holding only the chain's genesis,
that a deployment locked in and activated (with the stake that carried it),
or which versions and parameter values governed a view. It is written from a
stopped node's store (proof export) and checked offline (proof verify). The
format and every rule verify applies are in docs/proof.md.`,
		Args: exactArgs(0),
	}
	cmd.AddCommand(newProofExportCommand(stdout, stderr), newProofVerifyCommand(stdout))
	return cmd
}

func newProofExportCommand(stdout, stderr io.Writer) *cobra.Command {
	var home, out, deployment string
	var view int64
	cmd := &cobra.Command{
		Use:   "export --home DIR (--deployment NAME | --view V) --out FILE",
		Short: "Write a proof of a deployment's activation, or of what governed a view",
		Long: `export reads a stopped node's store (read-only, in place) and writes a proof:

  --deployment NAME  that the deployment locked in and activated: its records
                     in the states after the lock-in and activation blocks,
                     Merkle paths to their state IDs, the engine's finality
                     evidence of both blocks, and for stake mode the lock-in
                     epoch's identity table and the aggregate certificate of
                     the readiness that carried it. The deployment must be
                     ACTIVE at the node's head.
  --view V           which version of every component and which value of
                     every parameter governed view V, from the first final
                     block at view V or later.

--out - writes to standard output. The configuration is read as run reads it
(config.toml, QUORUMGATE_*, and the same flags): the genesis, and the
engine, whose block format and finality evidence the proof carries.

Check the file anywhere with: node-plugin proof verify FILE --genesis genesis.json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			byView := cmd.Flags().Changed("view")
			if home == "" || out == "" || (deployment == "") == !byView {
				return usageError{errors.New("proof export needs --home DIR, --out FILE and one of --deployment NAME or --view V")}
			}
			if byView && view < 0 {
				return usageError{fmt.Errorf("--view %d: a view is 0 or more", view)}
			}
			cfg, g, err := loadHome(cmd, home)
			if err != nil {
				return usageError{err}
			}
			if _, err := proof.Scheme(string(cfg.Engine)); err != nil {
				return err
			}
			file, err := buildProof(home, g, cfg.Engine, deployment, byView, uint64(view))
			if err != nil {
				return err
			}
			// The store is closed now: the engine's evidence reader may open it.
			if err := proof.AttachFinality(file, home, g); err != nil {
				return fmt.Errorf("%w (the store is read as the %s engine wrote it: if the node ran on another, say so with --engine or in config.toml)", err, cfg.Engine)
			}
			data := file.Encode()
			if out == "-" {
				_, err = stdout.Write(data)
			} else {
				err = node.WriteFileAtomic(out, data, 0o644)
			}
			if err != nil {
				return err
			}
			what := fmt.Sprintf("deployment %s", deployment)
			if byView {
				what = fmt.Sprintf("view %d", view)
			}
			fmt.Fprintf(stderr, "wrote the proof of %s (%d bytes, %s engine) to %s; check it with: node-plugin proof verify FILE --genesis genesis.json\n",
				what, len(data), cfg.Engine, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home (the node must be stopped)")
	cmd.Flags().StringVar(&out, "out", "", `the proof file to write ("-": standard output)`)
	cmd.Flags().StringVar(&deployment, "deployment", "", "prove this deployment's lock-in and activation")
	cmd.Flags().Int64Var(&view, "view", 0, "prove which versions and parameters governed this view")
	config.AddFlags(cmd.Flags()) // the node's configuration, as run reads it: --engine above all
	return cmd
}

// buildProof opens the node's store read-only and builds the proof without
// its finality evidence; the store is closed when it returns.
func buildProof(home string, g *chain.Genesis, eng engine.Name, deployment string, byView bool, view uint64) (*proof.File, error) {
	store, _, err := openStoppedStore(home, g, "proof export")
	if err != nil {
		return nil, err
	}
	defer store.Close()
	o := proof.Options{Store: store, Genesis: g, Engine: string(eng), Payload: payloadOf(eng)}
	var file *proof.File
	if byView {
		file, err = proof.ExportView(o, view)
	} else {
		file, err = proof.Export(o, deployment)
	}
	if err != nil {
		return nil, fmt.Errorf("proof export: %w", err)
	}
	return file, nil
}

func newProofVerifyCommand(stdout io.Writer) *cobra.Command {
	var genesisPath string
	cmd := &cobra.Command{
		Use:   "verify FILE --genesis genesis.json",
		Short: "Check a proof offline against the chain's genesis",
		Long: `verify checks a proof file against the chain's genesis file, with nothing else:
no node, no network. It exits 0 and prints one line saying what the proof
shows (the deployment, its version or parameter value, the view it activated
at, and the stake per role that carried it; or the versions and parameter
values that governed a view), or exits 1 and prints the first thing that does
not verify, naming the field. A proof of another chain fails as such.`,
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if genesisPath == "" {
				return usageError{errors.New("proof verify needs --genesis genesis.json (the chain's genesis file)")}
			}
			g, err := chain.LoadGenesis(genesisPath)
			if err != nil {
				return usageError{err}
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageError{fmt.Errorf("cannot read the proof: %w", err)}
			}
			sum, err := proof.Verify(g, data)
			if err != nil {
				return fmt.Errorf("%s does not verify: %w", args[0], err)
			}
			fmt.Fprintln(stdout, sum.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&genesisPath, "genesis", "", "the chain's genesis file")
	return cmd
}
