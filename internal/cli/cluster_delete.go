package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

func (a *app) newClusterDeleteCmd() *cobra.Command {
	var opts clusterChangeOptions
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a cluster and all its instances",
		Long: `Delete a cluster: its instances are terminated, and the cluster is gone
once the provider has confirmed that. With --wait, show the instances that
remain until it is gone (exit 0) or --timeout has passed (exit 8).`,
	}
	return a.clusterChangeCmd(cmd, &opts, "gone", nil, func(ctx context.Context, c *api.Client, e *env) error {
		return runClusterDelete(ctx, opts, c, e)
	})
}

func runClusterDelete(ctx context.Context, opts clusterChangeOptions, c *api.Client, e *env) error {
	cl, err := c.DeleteCluster(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("delete cluster %s: %w", opts.Name, err)
	}
	if !opts.Wait {
		return writeCluster(e.stdout, opts.Output, cl, e.now())
	}

	if err := waitDeleted(ctx, c, e, opts.Name, &cl, opts.Timeout); err != nil {
		return err
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, cl)
	}
	fmt.Fprintf(e.stdout, "Cluster %s deleted.\n", opts.Name)
	return nil
}
