package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumgate/quorumgate/activation"
	"github.com/quorumgate/quorumgate/chain/devchain"
	"github.com/quorumgate/quorumgate/internal/canon"
	"github.com/quorumgate/quorumgate/node"
	"github.com/quorumgate/quorumgate/node/client"
	"github.com/quorumgate/quorumgate/quorum"
	"github.com/quorumgate/quorumgate/signal"
)

// nodeClient is a client for the public API of the node running in home;
// a home without a running node is bad input.
func nodeClient(home string) (*client.Client, error) {
	c, err := client.FromHome(home)
	if err != nil {
		return nil, usageError{err}
	}
	return c, nil
}

func newStatusCommand(stdout io.Writer) *cobra.Command {
	var home, output string
	cmd := &cobra.Command{
		Use:   "status --home DIR",
		Short: "What is pending, how close it is, whether this node is ready, and what happens when",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("--output %q: allowed are text, json", output)}
			}
			c, err := nodeClient(home)
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return printJSON(stdout, st)
			}
			_, err = io.WriteString(stdout, st.Render())
			return err
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home")
	cmd.Flags().StringVar(&output, "output", "text", "text or json")
	return cmd
}

func newDeploymentsCommand(stdout io.Writer) *cobra.Command {
	var home string
	cmd := &cobra.Command{
		Use:   "deployments --home DIR",
		Short: "Every deployment with its state, as JSON",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := nodeClient(home)
			if err != nil {
				return err
			}
			v, err := c.Deployments(cmd.Context())
			if err != nil {
				return err
			}
			return printJSON(stdout, v)
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home")
	return cmd
}

// viewFlag reads --at: given is false when it was not set; a negative
// view is bad usage.
func viewFlag(cmd *cobra.Command, at int64) (view uint64, given bool, err error) {
	if !cmd.Flags().Changed("at") {
		return 0, false, nil
	}
	if at < 0 {
		return 0, true, usageError{fmt.Errorf("--at %d: a view is a whole number", at)}
	}
	return uint64(at), true, nil
}

func newVersionsCommand(stdout io.Writer) *cobra.Command {
	var home string
	var at int64
	cmd := &cobra.Command{
		Use:   "versions --home DIR [--at VIEW]",
		Short: "Version history per component, or which versions ran at a view",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := "/versions"
			view, given, err := viewFlag(cmd, at)
			if err != nil {
				return err
			}
			if given {
				path += fmt.Sprintf("?at=%d", view)
			}
			c, err := nodeClient(home)
			if err != nil {
				return err
			}
			var v any
			if err := c.Get(cmd.Context(), path, &v); err != nil {
				return err
			}
			return printJSON(stdout, v)
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home")
	cmd.Flags().Int64Var(&at, "at", 0, "the view to ask about")
	return cmd
}

func newParamsCommand(stdout io.Writer) *cobra.Command {
	var home string
	var at int64
	cmd := &cobra.Command{
		Use:   "params --home DIR [--at VIEW]",
		Short: "Every protocol parameter's type, active value, history and pending changes, or the values that governed a view",
		Long: `params shows the chain's protocol parameters as JSON (GET /params): each one's
type, active value, history and pending changes; with --at VIEW, the value of
each that governed that view (a view after the node's head is an error: what
will govern it is not known yet).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			view, given, err := viewFlag(cmd, at)
			if err != nil {
				return err
			}
			c, err := nodeClient(home)
			if err != nil {
				return err
			}
			var v any
			if given {
				v, err = c.ParamsAt(cmd.Context(), view)
			} else {
				v, err = c.Params(cmd.Context())
			}
			if err != nil {
				return err
			}
			return printJSON(stdout, v)
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home")
	cmd.Flags().Int64Var(&at, "at", 0, "the view to ask about")
	return cmd
}

func newReadinessCommand(stdout io.Writer) *cobra.Command {
	var home, name string
	var lockIn bool
	var height uint64
	cmd := &cobra.Command{
		Use:   "readiness --home DIR --deployment N [--lock-in | --height H]",
		Short: "Who is ready for a stake deployment, per role; --lock-in: exactly who carried it",
		Long: `readiness shows a stake deployment's finalized readiness as JSON: the ready
signers and the ready stake per required role, in the epoch of the head block,
of block --height, or (--lock-in) of the block that locked the deployment in.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageError{errors.New("readiness needs --deployment")}
			}
			if lockIn && cmd.Flags().Changed("height") {
				return usageError{errors.New("--lock-in and --height are two different questions: give one")}
			}
			c, err := nodeClient(home)
			if err != nil {
				return err
			}
			var v node.ReadinessReport
			switch {
			case lockIn:
				v, err = c.ReadinessAtLockIn(cmd.Context(), name)
			case cmd.Flags().Changed("height"):
				v, err = c.ReadinessAtHeight(cmd.Context(), name, height)
			default:
				v, err = c.Readiness(cmd.Context(), name)
			}
			if err != nil {
				return err
			}
			return printJSON(stdout, v)
		},
	}
	cmd.Flags().StringVar(&home, "home", "", "the node home")
	cmd.Flags().StringVar(&name, "deployment", "", "the deployment")
	cmd.Flags().BoolVar(&lockIn, "lock-in", false, "the block that locked it in")
	cmd.Flags().Uint64Var(&height, "height", 0, "a block height")
	return cmd
}

// governanceFlags are what propose and cancel share.
type governanceFlags struct {
	home, genesis string
	keyFiles      []string
	members       []int
	wait          time.Duration
}

// addWait adds --wait, which propose and cancel (plain and testnet) share.
func (f *governanceFlags) addWait(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.wait, "wait", 30*time.Second,
		"how long to wait for a finalized block to carry the item (0: only submit)")
}

func (f *governanceFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.home, "home", "", "the home of a running node to submit through (its admin API and token)")
	cmd.Flags().StringVar(&f.genesis, "genesis", "", "the genesis file (default: HOME/genesis.json)")
	cmd.Flags().StringSliceVar(&f.keyFiles, "committee-key", nil, "files holding committee members' private keys (hex), one per signer")
	cmd.Flags().IntSliceVar(&f.members, "member", nil, "each signer's index in the genesis committee, in the order of --committee-key")
}

// approve loads the genesis, builds the message for its chain, and signs it
// with the committee keys given.
func (f *governanceFlags) approve(message func(chainID string) []byte) (activation.Approval, error) {
	if f.home == "" || len(f.keyFiles) == 0 || len(f.keyFiles) != len(f.members) {
		return activation.Approval{}, usageError{errors.New("needs --home, and one --member index per --committee-key file")}
	}
	gpath := f.genesis
	if gpath == "" {
		gpath = filepath.Join(f.home, "genesis.json")
	}
	g, err := devchain.Load(gpath)
	if err != nil {
		return activation.Approval{}, usageError{err}
	}
	var keys []signal.PrivateKey
	for _, kf := range f.keyFiles {
		raw, err := os.ReadFile(kf)
		if err != nil {
			return activation.Approval{}, usageError{err}
		}
		b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return activation.Approval{}, usageError{fmt.Errorf("%s: not hex", kf)}
		}
		k, err := signal.DecodePrivateKey(b)
		if err != nil {
			return activation.Approval{}, usageError{fmt.Errorf("%s: %w", kf, err)}
		}
		keys = append(keys, k)
	}
	a, err := g.Committee().Approve(message(g.ChainID), f.members, keys)
	if err != nil {
		return activation.Approval{}, usageError{err}
	}
	return a, nil
}

// submit hands the item to the admin API of the node in --home and waits
// for a finalized block to carry it.
func (f *governanceFlags) submit(ctx context.Context, stdout io.Writer, kind string, payload []byte) error {
	c, err := client.AdminFromHome(f.home)
	if err != nil {
		return usageError{err}
	}
	id, err := c.Submit(ctx, kind, payload)
	if err != nil {
		return err
	}
	return f.waitIncluded(ctx, stdout, c, kind, id)
}

// waitIncluded polls the node until a finalized block carries the
// submission, or --wait passes; either way it says where things stand.
func (f *governanceFlags) waitIncluded(ctx context.Context, stdout io.Writer, c *client.Client, kind, id string) error {
	deadline := time.Now().Add(f.wait)
	for {
		if it, err := c.Submission(ctx, id); err == nil && it.Included {
			fmt.Fprintf(stdout, "%s submitted and included in the finalized block at height %d (view %d); submission %s\n",
				kind, it.Height, it.View, id[:12])
			return nil
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "%s submitted but not yet in a finalized block (waited %s); the node keeps it in %s and sends it again "+
		"until a block carries it. Check with: curl %s\n", kind, f.wait, node.SubmissionsFile, c.URL("/submissions/"+id))
	return nil
}

// newProposeCommand is `propose`; with tn set it is `testnet propose`, which
// signs with the testnet's committee keys and submits through one of its
// running nodes.
func newProposeCommand(stdout io.Writer, tn *testnetGovernance) *cobra.Command {
	var f governanceFlags
	var p activation.Proposal
	var mode, threshold string
	cmd := &cobra.Command{
		Use:   "propose --home DIR --name N (--component C --version V | --param KEY --value V) --mode stake|governance ... --committee-key FILE --member I",
		Short: "Sign a deployment proposal with committee keys and submit it through a node",
		Long: `propose builds a deployment proposal, signs it with the committee keys given
(enough of them for the genesis threshold), and submits it through the admin
API of the node in --home, which listens on localhost or a unix socket only and
requires the token in HOME/admin.token. The node gossips it; the sequencer
includes it; the chain judges it (rejections are protocol data).

A proposal upgrades a component (--component, --version) or changes a
protocol parameter the genesis declares (--param, --value: the new value in
the parameter type's canonical text), never both; either in stake or in
governance mode.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := paramOrVersion(cmd, &p); err != nil {
				return err
			}
			m, ok := activation.ParseMode(mode)
			if !ok {
				return usageError{fmt.Errorf("--mode %q: allowed are stake, governance", mode)}
			}
			p.Mode = m
			if !activation.ValidName(p.Name) {
				return usageError{fmt.Errorf("--name %q: a deployment name is 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit (the chain rejects others: bad name)",
					p.Name, activation.MaxNameLen)}
			}
			if !p.IsParam() && !activation.ValidName(p.Component) {
				return usageError{fmt.Errorf("--component %q: a component name is 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit, as a deployment name is (the chain refuses others: malformed)",
					p.Component, activation.MaxNameLen)}
			}
			if tn != nil {
				if err := tn.fill(cmd, &f, &p); err != nil {
					return err
				}
			}
			if m == activation.Stake {
				th, err := quorum.ParseThreshold(threshold)
				if err != nil {
					return usageError{fmt.Errorf("--threshold %q: %v", threshold, err)}
				}
				p.Threshold = th
			}
			a, err := f.approve(func(chainID string) []byte { return activation.ProposalMessage(chainID, p) })
			if err != nil {
				return err
			}
			return f.submit(cmd.Context(), stdout, "proposal", canon.MustEncode(activation.SignedProposal{Proposal: p, Approval: a}))
		},
	}
	if tn != nil {
		tn.add(cmd)
	} else {
		f.add(cmd)
	}
	f.addWait(cmd)
	cmd.Flags().StringVar(&p.Name, "name", "", "deployment name")
	cmd.Flags().StringVar(&p.Component, "component", "protocol", "component")
	cmd.Flags().StringVar(&p.Version, "version", "", "new version (semver)")
	cmd.Flags().StringVar(&p.Param, "param", "", "the protocol parameter to change (instead of --component and --version)")
	cmd.Flags().StringVar(&p.Value, "value", "", "the parameter's new value (with --param)")
	cmd.Flags().StringVar(&mode, "mode", "stake", "stake or governance")
	cmd.Flags().StringSliceVar(&p.Roles, "role", nil, "required roles (stake mode; default all stake as one group)")
	cmd.Flags().StringVar(&threshold, "threshold", "2/3", "stake mode threshold num/den")
	cmd.Flags().Uint64Var(&p.StartEpoch, "start-epoch", 0, "stake mode: first signaling epoch")
	cmd.Flags().Uint64Var(&p.TimeoutEpoch, "timeout-epoch", 0, "stake mode: epoch at which it fails")
	cmd.Flags().Uint64Var(&p.MinActivationEpoch, "min-activation-epoch", 0, "stake mode: earliest activation epoch")
	cmd.Flags().Uint64Var(&p.DelayEpochs, "delay-epochs", 0, "stake mode: epochs between lock-in and activation")
	cmd.Flags().Uint64Var(&p.ActivationView, "activation-view", 0, "governance mode: the activation view")
	return cmd
}

// paramOrVersion makes p a parameter change when --param is given: it
// needs --value, and takes neither --component nor --version.
func paramOrVersion(cmd *cobra.Command, p *activation.Proposal) error {
	changed := cmd.Flags().Changed
	switch {
	case !changed("param") && changed("value"):
		return usageError{errors.New("--value goes with --param KEY; a version upgrade takes --version")}
	case !changed("param"):
		return nil
	case changed("component") || changed("version"):
		return usageError{errors.New("--param changes a protocol parameter, --component and --version upgrade a component: give one or the other")}
	case !changed("value"):
		return usageError{fmt.Errorf("--param %s needs --value, the parameter's new value", p.Param)}
	case p.Param == "":
		return usageError{errors.New("--param needs the parameter's name")}
	}
	p.Component = "" // --component's default: a parameter change has none
	return nil
}

func newCancelCommand(stdout io.Writer, tn *testnetGovernance) *cobra.Command {
	var f governanceFlags
	var name string
	cmd := &cobra.Command{
		Use:   "cancel --home DIR --name N --committee-key FILE --member I",
		Short: "Sign a cancellation with committee keys and submit it through a node",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageError{errors.New("cancel needs --name")}
			}
			if tn != nil {
				if err := tn.fill(cmd, &f, nil); err != nil {
					return err
				}
			}
			a, err := f.approve(func(chainID string) []byte { return activation.CancelMessage(chainID, name) })
			if err != nil {
				return err
			}
			return f.submit(cmd.Context(), stdout, "cancel", canon.MustEncode(activation.SignedCancel{Deployment: name, Approval: a}))
		},
	}
	if tn != nil {
		tn.add(cmd)
	} else {
		f.add(cmd)
	}
	f.addWait(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the deployment to cancel")
	return cmd
}
