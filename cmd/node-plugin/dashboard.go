package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func newTestnetDashboardCommand(stdout io.Writer) *cobra.Command {
	var dir string
	var foreground bool
	cmd := &cobra.Command{
		Use:   "dashboard [--dir DIR] [--foreground]",
		Short: "Print the testnet's live web page (starting it if it does not run), or serve it here",
		Long: `dashboard prints the URL of the testnet's page: a matrix of nodes ×
deployments with each node's process, version, head and state of every
deployment, and each deployment's ready stake per role against the threshold,
updated every second. testnet up starts it beside the nodes (DIR/dashboard.log)
and down stops it; dashboard starts it again if it is not running.

--foreground serves the page from this command until Ctrl-C instead.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := openTestnet(dir, stdout)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd)
			defer stop()
			if !foreground {
				if err := t.StartDashboard(ctx); err != nil {
					return err
				}
				t, err = openTestnet(dir, stdout) // StartDashboard recorded the address
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "dashboard: %s\n", t.DashboardURL())
				return nil
			}
			// up starts this very command detached, recording its pid first.
			if url := t.RunningDashboardURL(); url != "" && t.M.Dashboard.PID != os.Getpid() {
				return usageError{fmt.Errorf("the testnet's page already runs at %s (testnet down stops it)", url)}
			}
			d, err := t.ServeDashboardHere(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "dashboard: %s (Ctrl-C stops it)\n", d.URL())
			<-ctx.Done()
			return d.Close()
		},
	}
	addDirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&foreground, "foreground", false, "serve the page from this command until Ctrl-C")
	return cmd
}
