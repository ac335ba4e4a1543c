package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/chain/cometbft"
	"github.com/quorumgate/quorumgate/internal/config"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/storage"
)

func newInitCommand(stdout io.Writer) *cobra.Command {
	var home, nodeID string
	var supported []string
	cmd := &cobra.Command{
		Use:   "init --home DIR --node-id ID",
		Short: "Create a node home: staking key with proof of possession, libp2p key, admin token, commented config",
		Long: `init creates a node home and prints the node's public identity (staking key,
proof of possession, libp2p peer ID) for the genesis file. Secrets stay in the
home with mode 0600: staking.key, p2p.key, admin.token. It refuses a home that
already holds keys.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" || nodeID == "" {
				return usageError{errors.New("init needs --home DIR and --node-id ID")}
			}
			id, err := node.InitHome(home, func(path string) error {
				return node.WriteFileAtomic(path, []byte(config.File(nodeID, supported)), 0o644)
			})
			if err != nil {
				return usageError{err}
			}
			id.NodeID = nodeID
			out, err := withCometBFTNodeID(home, id)
			if err != nil {
				return err
			}
			return printJSON(stdout, out)
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home to create")
	cmd.Flags().StringVar(&nodeID, "node-id", "", "the node's ID in the genesis identity tables")
	cmd.Flags().StringSliceVar(&supported, "supported", []string{"protocol=1.0.0"}, "what this binary runs: component=MAJOR.MINOR (every release of it) or component=MAJOR.MINOR.PATCH (exactly that)")
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newKeysCommand(stdout io.Writer) *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Show the node's keys"}
	var home, output string
	show := &cobra.Command{
		Use:   "show --home DIR",
		Short: "Print the node's public identity: staking key, proof of possession, peer ID",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return usageError{errors.New("keys show needs --home DIR")}
			}
			_, _, id, err := node.LoadKeys(home, "")
			if err != nil {
				return usageError{err}
			}
			out, err := withCometBFTNodeID(home, id)
			if err != nil {
				return err
			}
			switch output {
			case "json":
				return printJSON(stdout, out)
			case "text":
				fmt.Fprintf(stdout, "staking key  %s\nproof        %s\npeer ID      %s\ncometbft ID  %s\n", id.StakingKey, id.PoP, id.PeerID, out.CometBFTNodeID)
				return nil
			}
			return usageError{fmt.Errorf("--output %q: allowed are text, json", output)}
		},
	}
	show.Flags().StringVar(&home, "home", "", "the node home")
	show.Flags().StringVar(&output, "output", "text", "text or json")
	keys.AddCommand(show)
	return keys
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print node-plugin's version and the store schema it reads",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v = bi.Main.Version
			}
			fmt.Fprintf(stdout, "node-plugin %s, store schema %d\n", v, storage.SchemaVersion)
			return nil
		},
	}
}

// haltExit carries a halt to the exit status.
type haltExit struct{ err error }

func (e haltExit) Error() string { return e.err.Error() }
func (e haltExit) Unwrap() error { return e.err }

func newRunCommand(stderr io.Writer) *cobra.Command {
	var home string
	var resync bool
	cmd := &cobra.Command{
		Use:   "run --home DIR [flags]",
		Short: "Run the node: follow the chain, signal readiness, switch or halt safely",
		Long: `run follows the chain, signals readiness for pending versions this binary
supports, warns before activations it cannot run, writes upgrade-info.json and
runs the hook at activation, and halts rather than run an unsupported version.
A protocol parameter change needs no new software: the node signals for it,
rewrites HOME/params.json with the new value and runs the hook, and never
halts for one.

Configuration: HOME/config.toml, then QUORUMGATE_* environment variables, then
these flags (each overrides the one before). Errors name the key and exit 2.

APIs: --api-listen serves the read-only API (/status, /deployments,
/versions, /params, /metrics, /livez, /readyz). --api-admin serves the endpoint that
changes state (governance submission): it listens on localhost or a unix
socket only, and every request needs the token in HOME/admin.token (at
least 16 bytes, or run exits 2; init writes one).

Exit codes:
  0  stopped by SIGINT or SIGTERM
  1  unexpected failure
  2  bad usage or configuration
  3  halted: an active (or activating) protocol version is not supported;
     the message says what to install, and the store resumes after upgrading

A damaged store: if the store's write-ahead log lost blocks it had
committed (a disk or filesystem fault), run refuses to start, exit 1, with
one line naming the store and how many blocks were lost. --resync-lost-blocks
starts it anyway from the last block the store kept and re-fetches the rest
from peers.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return usageError{errors.New("run needs --home DIR")}
			}
			nc, err := loadNodeConfig(cmd, home, stderr)
			if err != nil {
				return usageError{err}
			}
			nc.ResyncLostBlocks = resync
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx, nc)
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home (node-plugin init creates one)")
	cmd.Flags().BoolVar(&resync, "resync-lost-blocks", false,
		"start even if the store lost committed blocks (a damaged write-ahead log): from the last block it kept, re-syncing the rest from peers")
	config.AddFlags(cmd.Flags())
	return cmd
}

// loadHome reads a home's configuration as run reads it (config.toml,
// QUORUMGATE_*, cmd's flags) and the genesis it names.
func loadHome(cmd *cobra.Command, home string) (config.Config, *chain.Genesis, error) {
	cfg, _, err := config.Load(home, os.Getenv, cmd.Flags())
	if err != nil {
		return config.Config{}, nil, err
	}
	g, err := chain.LoadGenesis(cfg.Genesis)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, g, nil
}

// loadNodeConfig reads everything run needs before it starts the node: the
// configuration, the genesis, the engine, the keys and the logger. Any error
// is bad usage or configuration.
func loadNodeConfig(cmd *cobra.Command, home string, stderr io.Writer) (node.Config, error) {
	cfg, g, err := loadHome(cmd, home)
	if err != nil {
		return node.Config{}, err
	}
	newEngine, err := pickEngine(cfg, g)
	if err != nil {
		return node.Config{}, err
	}
	sk, pk, _, err := node.LoadKeys(home, cfg.NodeID)
	if err != nil {
		return node.Config{}, err
	}
	if cfg.API.Listen != "" && cfg.API.Admin != "" {
		// A token the admin API would refuse to serve with stops the node
		// here, before it opens its store or joins the network.
		if _, err := node.ReadAdminToken(home); err != nil {
			return node.Config{}, fmt.Errorf("admin api: %w", err)
		}
	}
	return node.Config{Home: home, Genesis: g, NodeID: cfg.NodeID, StakingKey: sk, P2PKey: pk,
		ListenAddrs: cfg.ListenAddrs(), Peers: cfg.Peers, GenesisDials: cfg.GenesisDials, Supported: cfg.Supported, Hook: cfg.Hook, HookTimeout: cfg.HookTimeout,
		ViewInterval: cfg.ViewInterval, Engine: newEngine, Logger: newLogger(cfg.Log.Level, cfg.Log.Format, stderr),
		APIListen: cfg.API.Listen, AdminListen: cfg.API.Admin}, nil
}

// newLogger writes the node's log to stderr at the configured level and format.
func newLogger(level slog.Level, format config.LogFormat, stderr io.Writer) *slog.Logger {
	if format == config.LogJSON {
		return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

// runNode runs the node until ctx ends (SIGINT, SIGTERM) or the node stops
// by itself; a halt, at start or at run time, becomes exit 3.
func runNode(ctx context.Context, nc node.Config) error {
	n, err := node.Start(ctx, nc)
	var he *node.HaltError
	if errors.As(err, &he) {
		// CometBFT's handshake replayed a block this binary must not
		// finalize: the same halt as at run time.
		return haltExit{err}
	}
	if errors.Is(err, storage.ErrLostBlocks) {
		return fmt.Errorf("%w; to start from the last block it kept and re-sync the rest from peers, run again with --resync-lost-blocks (or restore the store from a backup)", err)
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// SIGINT or SIGTERM while the node was still starting: Start undid
		// what it had begun (store closed), so this is a clean stop.
		return nil
	}
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-n.Done():
	}
	stopErr := n.Err()
	if cerr := n.Close(); cerr != nil {
		// The store's close flushes it: a failure there is news.
		stopErr = errors.Join(stopErr, fmt.Errorf("close the node: %w", cerr))
	}
	if errors.As(stopErr, &he) {
		return haltExit{stopErr}
	}
	return stopErr
}

// publicIdentity is what init and keys show print: the node's identity for
// the genesis, and its CometBFT node ID for other nodes' persistent_peers.
type publicIdentity struct {
	node.Identity
	CometBFTNodeID string `json:"cometbft_node_id"`
}

// withCometBFTNodeID adds the CometBFT node ID, which derives from the
// home's libp2p key (the same key signs CometBFT votes; see chain/cometbft).
func withCometBFTNodeID(home string, id node.Identity) (publicIdentity, error) {
	_, pk, _, err := node.LoadKeys(home, id.NodeID)
	if err != nil {
		return publicIdentity{}, err
	}
	cid, err := cometbft.NodeID(pk)
	if err != nil {
		return publicIdentity{}, err
	}
	return publicIdentity{Identity: id, CometBFTNodeID: cid}, nil
}
