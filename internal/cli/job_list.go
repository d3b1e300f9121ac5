package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// jobListOptions are the arguments and flags of `stratus job list`.
type jobListOptions struct {
	// Cluster restricts the list to one cluster; empty lists all.
	Cluster string
	Output  outputFormat
}

func (a *app) newJobListCmd() *cobra.Command {
	var opts jobListOptions
	cmd := &cobra.Command{
		Use:     "list [CLUSTER]",
		Aliases: []string{"ls"},
		Short:   "List the jobs you may see, of all clusters or of one",
		Long: `List the jobs you may see, of all clusters or of CLUSTER. ELAPSED/WAIT is
how long a job has run (or ran, once ended); for a queued job, "wait" and
the time since it was submitted.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("unexpected argument %q: %s", args[1], cmd.UseLine())
			}
			return nil
		},
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Cluster = args[0]
			}
			return withClient(a, cmd, opts, runJobList)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runJobList(ctx context.Context, opts jobListOptions, c *api.Client, e *env) error {
	jobs, err := c.ListJobs(ctx, opts.Cluster)
	if err != nil {
		if opts.Cluster != "" {
			return fmt.Errorf("list jobs of cluster %s: %w", opts.Cluster, err)
		}
		return fmt.Errorf("list jobs: %w", err)
	}
	if jobs == nil {
		jobs = []api.Job{} // [] rather than null
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, jobs)
	}
	if len(jobs) == 0 {
		fmt.Fprintln(e.stdout, "No jobs. Submit one with: stratus job submit CLUSTER -- COMMAND [ARG...]")
		return nil
	}
	return writeJobTable(e.stdout, jobs, e.now())
}
