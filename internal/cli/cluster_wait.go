package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// Conditions `stratus cluster wait --for` accepts.
const (
	waitForRunning = "running"
	waitForDeleted = "deleted"
)

// clusterWaitOptions are the arguments and flags of `stratus cluster wait`.
type clusterWaitOptions struct {
	Name    string
	For     string
	Timeout time.Duration
	Output  outputFormat
}

func (a *app) newClusterWaitCmd() *cobra.Command {
	var opts clusterWaitOptions
	cmd := &cobra.Command{
		Use:   "wait NAME [--for running|deleted]",
		Short: "Wait until a cluster is running or deleted",
		Long: `Wait until a cluster is running (exit 0), has failed (exit 1), is gone
(--for deleted, exit 0), or --timeout has passed (exit 8), showing progress.
While the server does not answer (it may be restarting), keep trying.`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := opts.validate(); err != nil {
				return err
			}
			return withClient(a, cmd, opts, runClusterWait)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.For, "for", waitForRunning, "condition to wait for: running or deleted")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "how long to wait")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func (o clusterWaitOptions) validate() error {
	switch {
	case o.For != waitForRunning && o.For != waitForDeleted:
		return usagef("--for %q: use running or deleted", o.For)
	case o.Timeout <= 0:
		return usagef("--timeout must be positive")
	}
	return nil
}

func runClusterWait(ctx context.Context, opts clusterWaitOptions, c *api.Client, e *env) error {
	if opts.For == waitForDeleted {
		if err := waitDeleted(ctx, c, e, opts.Name, nil, opts.Timeout); err != nil {
			return err
		}
		if opts.Output == formatTable {
			fmt.Fprintf(e.stdout, "Cluster %s deleted.\n", opts.Name)
		}
		return nil
	}
	cl, err := waitRunning(ctx, c, e, opts.Name, nil, opts.Timeout)
	if err != nil {
		return err
	}
	return writeRunningCluster(e, opts.Output, cl)
}
