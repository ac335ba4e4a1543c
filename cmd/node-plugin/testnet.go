package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain"
	"github.com/quorumgate/quorumgate/engine"
	"github.com/quorumgate/quorumgate/testnet"
)

func newTestnetCommand(stdout io.Writer) *cobra.Command {
	tn := &cobra.Command{
		Use:   "testnet",
		Short: "Local multi-node testnets on 127.0.0.1",
		Long: `testnet runs local multi-node testnets as real node-plugin processes.

demo walks a whole upgrade through a fresh testnet and tears it down.

The other commands manage an interactive testnet that lives in a folder
(--dir, default $QUORUMGATE_TESTNET_DIR or ./quorumgate-testnet): up creates
and starts it (or restarts it where it was), status shows every node's view
side by side, upgrade/stop/start play an operator, propose and cancel play the
governance committee, logs shows a node's log, dashboard prints the URL of
the testnet's live web page, down stops it all.

compose writes a new testnet folder with a Docker Compose file instead, for
running the nodes in containers on one host or several; it starts nothing.

Its nodes run detached, each in its own process group, with its log in
DIR/NODE/node.log; DIR/testnet.json records them.`,
		// A closed pipe on stdout (testnet up | head) must not kill a command
		// halfway through starting or stopping processes: with SIGPIPE ignored
		// the write fails instead, and the command finishes its job.
		PersistentPreRun: func(*cobra.Command, []string) { signal.Ignore(syscall.SIGPIPE) },
	}
	tn.AddCommand(newTestnetDemoCommand(stdout), newTestnetUpCommand(stdout), newTestnetStatusCommand(stdout), newTestnetStatsCommand(stdout),
		newTestnetUpgradeCommand(stdout), newTestnetStopCommand(stdout), newTestnetStartCommand(stdout),
		newProposeCommand(stdout, &testnetGovernance{}), newCancelCommand(stdout, &testnetGovernance{}),
		newTestnetLogsCommand(stdout), newTestnetDownCommand(stdout), newTestnetDashboardCommand(stdout), newTestnetComposeCommand(stdout))
	return tn
}

func newTestnetDemoCommand(stdout io.Writer) *cobra.Command {
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
prints a summary. Past 9 nodes the view interval defaults to 5ms a node and
each node dials 8 others (see the README's "Testnets of 100 nodes").

--mode governance uses a fixed activation view with some operators late: their
nodes halt (exit 3) instead of forking, and resume once upgraded.

--engine cometbft runs the nodes on CometBFT (the consensus-role nodes are the
validators: four up to 9 nodes, 27 at 100; the other roles run as full nodes)
instead of the devchain. In stake mode it shows what BFT buys:
one validator under a third of the voting power is SIGKILLed during signaling
and kept down until after the activation; the chain keeps finalizing, the
deployment activates at the same height everywhere, and the validator then
restarts, catches up and agrees on the state ID.

Ctrl-C or any failure stops every process; the folder keeps each node's home
and log (node.log) for inspection.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := positiveDuration(cmd, "view-interval", o.ViewInterval); err != nil {
				return err
			}
			if !cmd.Flags().Changed("view-interval") {
				o.ViewInterval = 0 // the default, which grows past 9 nodes
			}
			o.Out = stdout
			ctx, stop := interruptible(cmd)
			defer stop()
			_, err := testnet.Demo(ctx, o)
			return err
		},
	}
	demo.Flags().IntVar(&o.Nodes, "nodes", 7, fmt.Sprintf("how many nodes (4 to %d)", testnet.MaxNodes))
	demo.Flags().StringVar(&o.Mode, "mode", "stake", "stake or governance")
	demo.Flags().StringVar(&o.Dir, "dir", "", "folder for the nodes' homes and logs (default: a new temp folder)")
	demo.Flags().Uint64Var(&o.Seed, "seed", 1, "seed for the operators' timing")
	demo.Flags().DurationVar(&o.ViewInterval, "view-interval", 20*time.Millisecond, "time between views (default past 9 nodes: 5ms a node)")
	demo.Flags().Uint64Var(&o.EpochViews, "epoch-views", 50, "views per epoch")
	demo.Flags().StringVar(&o.Dashboard, "dashboard", "127.0.0.1:0", `where to serve the live page while the demo runs ("off": none)`)
	demo.Flags().StringVar(&o.Engine, "engine", string(engine.Default), engine.Choices())
	return demo
}

// positiveDuration refuses a duration flag given as zero or less (the
// options treat zero as "the default").
func positiveDuration(cmd *cobra.Command, name string, d time.Duration) error {
	if cmd.Flags().Changed(name) && d <= 0 {
		return usageError{fmt.Errorf("--%s %s: a positive duration such as 100ms", name, d)}
	}
	return nil
}

func addDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "dir", testnet.DefaultDir(), "the testnet's folder ($QUORUMGATE_TESTNET_DIR)")
}

// openTestnet opens the testnet in dir; a missing or broken one is bad usage.
func openTestnet(dir string, stdout io.Writer) (*testnet.Testnet, error) {
	t, err := testnet.Open(dir)
	if err != nil {
		return nil, usageError{err}
	}
	t.Out = stdout
	return t, nil
}

// interruptible is the command's context, cancelled by Ctrl-C.
func interruptible(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}

func newTestnetUpCommand(stdout io.Writer) *cobra.Command {
	var o testnet.UpOptions
	cmd := &cobra.Command{
		Use:   "up [--nodes 7] [--dir DIR] [--host 127.0.0.1] [--engine devchain|cometbft]",
		Short: "Create and start an interactive testnet, or restart an existing one where it was",
		Long: `up generates a genesis and keys for N nodes (roles and uneven stakes; the first
is the devchain sequencer), writes each node's home in DIR, starts every node
as a detached node-plugin process and waits until all are synced.

On a folder that already holds a testnet it starts every node that is not
running, where it was: stores, keys, ports and supported versions are kept.

It also starts the testnet's live web page (a matrix of nodes x deployments)
and prints its URL; testnet dashboard prints it again, down stops it.

--host sets the address the nodes' libp2p listens on and announces, so that
nodes on other machines can join (see the README); the HTTP APIs always stay
on 127.0.0.1.

--engine cometbft runs the nodes on CometBFT: the consensus-role nodes are its
validators (voting power = stake), the others full nodes; each node also
listens for CometBFT's p2p on --host, with every other node as a persistent
peer.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := positiveDuration(cmd, "view-interval", o.ViewInterval); err != nil {
				return err
			}
			keepShapeUnlessGiven(cmd, &o)
			ctx, stop := interruptible(cmd)
			defer stop()
			o.Out = stdout
			t, err := testnet.Up(ctx, o)
			if err != nil {
				return err
			}
			printTestnetUp(stdout, t, o.Dir)
			return nil
		},
	}
	addDirFlag(cmd, &o.Dir)
	cmd.Flags().IntVar(&o.Nodes, "nodes", 7, fmt.Sprintf("how many nodes (4 to %d), for a new testnet", testnet.MaxNodes))
	cmd.Flags().StringVar(&o.Host, "host", "127.0.0.1", "the IPv4 address the nodes' libp2p listens on, for a new testnet")
	cmd.Flags().Uint64Var(&o.Seed, "seed", 1, "seed for the genesis keys, for a new testnet")
	cmd.Flags().DurationVar(&o.ViewInterval, "view-interval", 100*time.Millisecond, "time between views, for a new testnet (default past 9 nodes: 5ms a node)")
	cmd.Flags().Uint64Var(&o.EpochViews, "epoch-views", 100, "views per epoch, for a new testnet")
	cmd.Flags().StringVar(&o.Engine, "engine", "", engine.Choices()+", for a new testnet (default "+string(engine.Default)+")")
	return cmd
}

// keepShapeUnlessGiven clears the shape flags that were not given: their
// defaults shape a new testnet only, and an existing one keeps its shape
// (and refuses a flag given to change it).
func keepShapeUnlessGiven(cmd *cobra.Command, o *testnet.UpOptions) {
	f := cmd.Flags()
	if !f.Changed("nodes") {
		o.Nodes = 0
	}
	if !f.Changed("host") {
		o.Host = ""
	}
	if !f.Changed("view-interval") {
		o.ViewInterval = 0
	}
	if !f.Changed("epoch-views") {
		o.EpochViews = 0
	}
}

// printTestnetUp tells the user the testnet is up: the dashboard, a row per
// node (its API, its log and the address to --bootstrap from), and what to
// run next. The testnet is up whatever becomes of stdout, so a failed write
// here (a closed pipe) is not the command's failure.
func printTestnetUp(stdout io.Writer, t *testnet.Testnet, dir string) {
	fmt.Fprintf(stdout, "\nevery node is synced\n")
	if url := t.DashboardURL(); url != "" {
		fmt.Fprintf(stdout, "dashboard: %s (node-plugin testnet dashboard prints it again)\n", url)
	}
	fmt.Fprintln(stdout)
	nodes := t.M.Nodes
	if len(nodes) > testnet.SummarizeAbove {
		// A hundred rows would scroll the next steps away: the first few,
		// and where the rest are.
		fmt.Fprintf(stdout, "%d nodes; the first %d (testnet.json in %s has them all, testnet status a summary):\n",
			len(nodes), testnet.SummarizeAbove, t.Dir)
		nodes = nodes[:testnet.SummarizeAbove]
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "node\trole\tstake\tapi\tlog\t--bootstrap address")
	for _, n := range nodes {
		role := n.Role
		if n.Sequencer {
			role += " (sequencer)"
		}
		if t.M.Engine == string(engine.CometBFT) && n.Role == "consensus" {
			role += " (validator)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\thttp://%s\t%s\t%s\n", n.ID, role, n.Stake, n.API, logPathIn(t, &n), n.P2P)
	}
	tw.Flush()
	dirFlag := ""
	if dir != testnet.DefaultDir() {
		dirFlag = " --dir " + dir
	}
	fmt.Fprintf(stdout, `
next:
  node-plugin testnet status%[1]s
  node-plugin testnet propose%[1]s --name protocol-2 --version 2.0.0 --role consensus --role execution
  node-plugin testnet propose%[1]s --name timeout-2000 --param consensus_timeout_ms --value 2000 --mode governance
  node-plugin testnet upgrade%[1]s %[2]s --supports protocol=2.0.0
  node-plugin testnet down%[1]s
`, dirFlag, t.M.Nodes[1].ID)
}

// logPathIn is a node's log path relative to the testnet's folder, or
// whole if it cannot be made relative.
func logPathIn(t *testnet.Testnet, n *testnet.ManifestNode) string {
	path := t.LogPath(n)
	if rel, err := filepath.Rel(t.Dir, path); err == nil {
		return rel
	}
	return path
}

func newTestnetStatusCommand(stdout io.Writer) *cobra.Command {
	var dir, output string
	var all bool
	cmd := &cobra.Command{
		Use:   "status [--dir DIR] [--output text|json] [--all]",
		Short: "Every node's process, head and view of every deployment, side by side",
		Long: fmt.Sprintf(`status asks every node for its status and prints a row per node, then every
deployment and protocol parameter as each node sees it, side by side.

Past %d nodes it summarises instead: a row per role (nodes, stake, how many
run, answer and are synced, the range of views and peers, the active
versions), each parameter's and deployment's values with how many nodes see
each, and a row for each node that stands out (not running, not answering,
not synced, behind, or seeing things differently from most). --all prints
every node whatever the size.`, testnet.SummarizeAbove),
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("--output %q: text or json", output)}
			}
			t, err := openTestnet(dir, stdout)
			if err != nil {
				return err
			}
			s := t.Status()
			if output == "json" {
				return printJSON(stdout, s)
			}
			if all {
				return testnet.WriteStatusAll(stdout, s)
			}
			return testnet.WriteStatus(stdout, s)
		},
	}
	addDirFlag(cmd, &dir)
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	cmd.Flags().BoolVar(&all, "all", false, fmt.Sprintf("a row and a column per node, also past %d nodes", testnet.SummarizeAbove))
	return cmd
}

func newTestnetStatsCommand(stdout io.Writer) *cobra.Command {
	var dir, output string
	var all bool
	var window time.Duration
	cmd := &cobra.Command{
		Use:   "stats [--dir DIR] [--window 10s] [--all] [--output text|json]",
		Short: "What each running node costs the machine: memory, CPU over a window, open files",
		Long: fmt.Sprintf(`stats reads each running node's process in /proc (Linux): its memory
(VmRSS; its own, RssAnon; and PSS, which shares the pages the nodes share,
chiefly the node-plugin executable, among them, so that the nodes' PSS adds
up to what the testnet takes), its CPU time over --window divided by the
window (0.05 is 5%% of a core), open files and threads. It prints a row per
node (up to %d nodes, or with --all), then per role and in total, beside the
targets: PSS <= 30 MB a node, the whole testnet under one core when idle.`, testnet.SummarizeAbove),
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("--output %q: text or json", output)}
			}
			if window <= 0 {
				return usageError{fmt.Errorf("--window %s: a positive duration such as 10s", window)}
			}
			t, err := openTestnet(dir, stdout)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			r, err := t.Resources(ctx, window)
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(stdout, r)
			}
			return testnet.WriteResources(stdout, r, all)
		},
	}
	addDirFlag(cmd, &dir)
	cmd.Flags().DurationVar(&window, "window", 10*time.Second, "how long to measure CPU over")
	cmd.Flags().BoolVar(&all, "all", false, "a row per node, whatever the size")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	return cmd
}

func newTestnetUpgradeCommand(stdout io.Writer) *cobra.Command {
	var dir string
	var supports []string
	cmd := &cobra.Command{
		Use:   "upgrade NODE --supports component=version",
		Short: "Play NODE's operator: restart it supporting more versions",
		Long: `upgrade adds the component=version pairs to what NODE supports and restarts
it, as its operator would after installing a new binary, then waits until it
is synced. A node that halted (exit 3) on a version it did not support
resumes this way.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := openTestnet(dir, stdout)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			return t.Upgrade(ctx, args[0], supports) // an unknown node or a bad pair is an OptionError (exit 2)
		},
	}
	addDirFlag(cmd, &dir)
	cmd.Flags().StringSliceVar(&supports, "supports", nil, "component=version pairs to add (repeat or comma-separate)")
	return cmd
}

// newTestnetNodesCommand is a command over one or more named nodes; every
// name is checked before anything is done.
func newTestnetNodesCommand(stdout io.Writer, verb, short string, do func(ctx context.Context, t *testnet.Testnet, id string) error) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   verb + " NODE...",
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("%s needs the nodes to %s", verb, verb)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := openTestnet(dir, stdout)
			if err != nil {
				return err
			}
			for _, id := range args {
				if _, err := t.Node(id); err != nil {
					return err
				}
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			for _, id := range args {
				if err := do(ctx, t, id); err != nil {
					return err
				}
			}
			return nil
		},
	}
	addDirFlag(cmd, &dir)
	return cmd
}

func newTestnetStopCommand(stdout io.Writer) *cobra.Command {
	return newTestnetNodesCommand(stdout, "stop", "Stop nodes (SIGTERM, then SIGKILL after 10s)",
		func(_ context.Context, t *testnet.Testnet, id string) error { return t.Stop(id) })
}

func newTestnetStartCommand(stdout io.Writer) *cobra.Command {
	return newTestnetNodesCommand(stdout, "start", "Start stopped nodes, with the versions they support, and wait until they are synced",
		func(ctx context.Context, t *testnet.Testnet, id string) error { return t.Start(ctx, id) })
}

func newTestnetDownCommand(stdout io.Writer) *cobra.Command {
	var dir string
	var purge bool
	cmd := &cobra.Command{
		Use:   "down [--dir DIR] [--purge]",
		Short: "Stop every node; the folder stays (up restarts it) unless --purge",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := openTestnet(dir, stdout)
			if err != nil {
				return err
			}
			if err := t.Down(); err != nil {
				return err
			}
			if purge {
				if err := os.RemoveAll(t.Dir); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "removed %s\n", t.Dir)
				return nil
			}
			fmt.Fprintf(stdout, "every node is stopped; %s keeps the homes and logs (testnet up restarts it)\n", t.Dir)
			return nil
		},
	}
	addDirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the folder")
	return cmd
}

func newTestnetLogsCommand(stdout io.Writer) *cobra.Command {
	var dir string
	var lines int
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs NODE [--lines 50] [--follow]",
		Short: "Print a node's log (node.log in its home); --follow keeps printing until Ctrl-C",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := openTestnet(dir, stdout)
			if err != nil {
				return err
			}
			n, err := t.Node(args[0])
			if err != nil {
				return err
			}
			f, err := os.Open(t.LogPath(n))
			if err != nil {
				return usageError{fmt.Errorf("%s has no log yet: %w", n.ID, err)}
			}
			defer f.Close()
			if err := printTail(stdout, f, lines); err != nil {
				return err
			}
			if !follow {
				return nil
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			for {
				if _, err := io.Copy(stdout, f); err != nil {
					return err
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(200 * time.Millisecond):
				}
			}
		},
	}
	addDirFlag(cmd, &dir)
	cmd.Flags().IntVarP(&lines, "lines", "n", 50, "how many of the last lines to print (0: all)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what the node writes, until Ctrl-C")
	return cmd
}

// printTail prints the last n lines of r (all with n <= 0), leaving r at its end.
func printTail(w io.Writer, r io.Reader, n int) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ring []string
	for sc.Scan() {
		ring = append(ring, sc.Text())
		if n > 0 && len(ring) > n {
			ring = ring[1:]
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, l := range ring {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// testnetGovernance turns propose and cancel into their testnet forms: the
// committee keys come from the testnet's folder, and the submission goes
// through one of its running nodes.
type testnetGovernance struct {
	dir, via string
}

func (tg *testnetGovernance) add(cmd *cobra.Command) {
	addDirFlag(cmd, &tg.dir)
	cmd.Flags().StringVar(&tg.via, "via", "", "the node to submit through (default: the first running one)")
	switch cmd.Name() {
	case "propose":
		cmd.Use = "propose --name N (--version V | --param KEY --value V) [--mode stake|governance] [--role R ...] [--start-epoch E] [--activation-view V]"
		cmd.Short = "Play the governance committee: sign a proposal with the testnet's committee keys and submit it"
		cmd.Long = `propose signs a deployment proposal with the testnet's committee keys
(DIR/governance) and submits it through a running node's admin API: a
version upgrade (--version), or a change of a protocol parameter the genesis
declares (--param, --value).

Stake mode signals from the next epoch (--start-epoch) for 40 epochs
(--timeout-epoch) unless told otherwise; governance mode activates three epochs
from now (--activation-view) unless told otherwise, or later for a parameter
whose min_lead_views asks more.

Before signing, propose refuses (exit 2) what the chain would reject for all
to see: a parameter the testnet's genesis does not declare, a value not of its
type or out of its bounds, the value already active, another change of the
parameter pending, an activation view too soon for the head. Every new
testnet declares block_size_limit, consensus_timeout_ms, execution_pipelining
and operator_notice (testnet status and node-plugin params show them).`
	case "cancel":
		cmd.Use = "cancel --name N"
		cmd.Short = "Play the governance committee: sign a cancellation and submit it"
	}
}

// fill points f at the testnet's committee keys and a running node, and,
// for a proposal, fills the schedule flags that were not given from the
// node's head.
func (tg *testnetGovernance) fill(cmd *cobra.Command, f *governanceFlags, p *activation.Proposal) error {
	t, err := testnet.Open(tg.dir)
	if err != nil {
		return usageError{err}
	}
	var via *testnet.ManifestNode
	if tg.via != "" {
		if via, err = t.Node(tg.via); err != nil {
			return err
		}
	} else if running := t.Running(); len(running) > 0 {
		via = running[0]
	} else {
		return usageError{errors.New("no node of the testnet is running: testnet up first")}
	}
	f.home = t.Home(via)
	f.keyFiles, f.members = nil, nil
	for i, k := range t.M.GovernanceKeys[:min(2, len(t.M.GovernanceKeys))] {
		f.keyFiles = append(f.keyFiles, filepath.Join(t.Dir, k))
		f.members = append(f.members, i)
	}
	if p == nil {
		return nil
	}
	c, err := nodeClient(f.home)
	if err != nil {
		return err
	}
	g, err := chain.LoadGenesis(filepath.Join(f.home, "genesis.json"))
	if err != nil {
		return usageError{err}
	}
	st, err := c.Status(cmd.Context())
	if err != nil {
		return err
	}
	changed := cmd.Flags().Changed
	switch p.Mode {
	case activation.Stake:
		if !changed("start-epoch") {
			p.StartEpoch = st.Head.Epoch + 1
		}
		if !changed("timeout-epoch") {
			p.TimeoutEpoch = p.StartEpoch + 40
		}
	case activation.Governance:
		if !changed("activation-view") {
			p.ActivationView = testnet.DefaultActivationView(g, st.Head.View, *p)
		}
	}
	// What the chain would reject for all to see, refused before it is signed (exit 2).
	if err := testnet.CheckProposal(g, st, *p); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch p.Mode {
	case activation.Stake:
		fmt.Fprintf(out, "%s: signaling from epoch %d, fails at epoch %d (the head is in epoch %d)\n", p.Name, p.StartEpoch, p.TimeoutEpoch, st.Head.Epoch)
		if d, ok := g.Params().Param(p.Param); ok && p.IsParam() {
			fmt.Fprintf(out, "%s: every node signals for a parameter change by itself; once locked in, %s = %s activates at the first epoch boundary at least %d views later\n",
				p.Name, p.Param, p.Value, d.Lead(g.SafetyViews))
		}
	case activation.Governance:
		fmt.Fprintf(out, "%s: activates at view %d (the head is at view %d)\n", p.Name, p.ActivationView, st.Head.View)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "submitting through %s\n", via.ID)
	return nil
}

func newTestnetComposeCommand(stdout io.Writer) *cobra.Command {
	var o testnet.ComposeOptions
	var hostOf []string
	cmd := &cobra.Command{
		Use:   "compose [--dir DIR] [--nodes 7] [--engine devchain|cometbft] [--image IMAGE] [--host-of ID=IP ...]",
		Short: "Create a testnet folder for Docker Compose (compose.yaml), to run on one host or several",
		Long: `compose generates a genesis and keys for N nodes, as up does, into a new
folder DIR, and writes DIR/compose.yaml: one service per node, running
node-plugin run --home /home/ID in IMAGE with DIR/ID mounted there. It starts
nothing: run docker compose up -d in DIR (build the image first with
deploy/docker/Dockerfile, see the README).

The genesis names each node by its service name (/dns4/ID/tcp/PORT), and
each node has its own ports, the same in its container and published on the
host: libp2p 7001+i, the API 8001+i, CometBFT's p2p 26656+10*i (i from 0).

For several hosts, give --host-of ID=IP for every node (the address of the
host that will run it): each service then resolves the others' names to
those hosts, and each host runs its own nodes with docker compose up -d ID...`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := positiveDuration(cmd, "view-interval", o.ViewInterval); err != nil {
				return err
			}
			o.HostOf = map[string]string{}
			for _, kv := range hostOf {
				id, ip, ok := strings.Cut(kv, "=")
				if !ok || id == "" {
					return usageError{fmt.Errorf("--host-of %q: expected ID=IP", kv)}
				}
				o.HostOf[id] = ip
			}
			path, err := testnet.Compose(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\nrun it: cd %s && docker compose up -d\n", path, filepath.Dir(path))
			return nil
		},
	}
	addDirFlag(cmd, &o.Dir)
	cmd.Flags().IntVar(&o.Nodes, "nodes", 7, fmt.Sprintf("how many nodes (4 to %d)", testnet.MaxNodes))
	cmd.Flags().Uint64Var(&o.Seed, "seed", 1, "seed for the genesis keys")
	cmd.Flags().DurationVar(&o.ViewInterval, "view-interval", 100*time.Millisecond, "time between views")
	cmd.Flags().Uint64Var(&o.EpochViews, "epoch-views", 100, "views per epoch")
	cmd.Flags().StringVar(&o.Engine, "engine", "", engine.Choices()+" (default "+string(engine.Default)+")")
	cmd.Flags().StringVar(&o.Image, "image", testnet.DefaultImage, "the node-plugin image the services run")
	cmd.Flags().StringArrayVar(&hostOf, "host-of", nil, "ID=IP: the host that runs node ID, for a testnet across hosts (repeat for every node)")
	return cmd
}
