package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// clusterDeleteOptions are the arguments and flags of `stratus cluster
// delete`.
type clusterDeleteOptions struct {
	Name       string
	Wait       bool
	Timeout    time.Duration
	timeoutSet bool
	Output     outputFormat
}

func (a *app) newClusterDeleteCmd() *cobra.Command {
	var opts clusterDeleteOptions
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a cluster and all its instances",
		Long: `Delete a cluster: its instances are terminated, and the cluster is gone
once the provider has confirmed that. With --wait, show the instances that
remain until it is gone (exit 0) or --timeout has passed (exit 8).`,
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
			return runClusterDelete(cmd.Context(), opts, c, a.env)
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Wait, "wait", false, "wait until the cluster is gone, showing progress")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "with --wait, how long to wait")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func (o clusterDeleteOptions) validate() error {
	switch {
	case o.timeoutSet && !o.Wait:
		return usagef("--timeout applies only with --wait")
	case o.Timeout <= 0:
		return usagef("--timeout must be positive")
	}
	return nil
}

func runClusterDelete(ctx context.Context, opts clusterDeleteOptions, c *api.Client, e *env) error {
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
