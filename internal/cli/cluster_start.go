package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

func (a *app) newClusterStartCmd() *cobra.Command {
	var opts clusterStopOptions
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a stopped cluster again",
		Long: `Start a stopped cluster: its instances are started again and the cluster is
running once every node's agent has registered; jobs queued while it was
stopped then run. The policy is checked first: a cluster whose owner has
spent their monthly budget cannot be started. With --wait, wait until the
cluster is running (exit 0) or --timeout has passed (exit 8).`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.timeoutSet = cmd.Flags().Changed("timeout")
			if err := opts.validate(); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return runClusterStart(cmd.Context(), opts, c, a.env)
		}),
	}
	opts.flags(cmd, "running")
	return cmd
}

func runClusterStart(ctx context.Context, opts clusterStopOptions, c *api.Client, e *env) error {
	cl, err := c.StartCluster(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("start cluster %s: %w", opts.Name, err)
	}
	if !opts.Wait {
		return writeCluster(e.stdout, opts.Output, cl, e.now())
	}
	if cl, err = waitClusterState(ctx, c, e, opts.Name, "running", opts.Timeout); err != nil {
		return err
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, cl)
	}
	fmt.Fprintf(e.stdout, "Cluster %s is running again; log in at %s.\n", cl.Name, dash(cl.LoginAddress))
	return nil
}
