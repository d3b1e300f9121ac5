package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// jobSubmitOptions are the arguments and flags of `stratus job submit`.
type jobSubmitOptions struct {
	Cluster string
	Argv    []string
	Name    string
	Nodes   int
	// TimeLimit is a Go duration; empty means the cluster's default.
	TimeLimit string
	Output    outputFormat
}

func (a *app) newJobSubmitCmd() *cobra.Command {
	var opts jobSubmitOptions
	cmd := &cobra.Command{
		Use:   "submit CLUSTER [--nodes N] [--time-limit DURATION] [--name NAME] -- COMMAND [ARG...]",
		Short: "Queue a job on a cluster's compute nodes",
		Long: `Queue a job on a cluster: COMMAND runs on --nodes compute nodes at once
(one rank per node), and is killed when --time-limit has passed (default:
the cluster's default_time_limit). Everything after -- is the command.

Prints the new job's ID alone on a line, so scripts can capture it:

  id=$(stratus job submit demo -- ./train.sh) && stratus job logs "$id" --follow

With -o json or yaml, prints the whole job instead.`,
		Example: `  stratus job submit demo -- hostname
  stratus job submit demo --nodes 4 --time-limit 2h --name train -- mpirun ./train`,
		Args: nameThenCommand("stratus job submit", "CLUSTER", "CLUSTER", ""),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Cluster = args[0]
			opts.Argv = args[cmd.ArgsLenAtDash():]
			if err := opts.validate(); err != nil {
				return err
			}
			return withClient(a, cmd, opts, runJobSubmit)
		}),
	}
	f := cmd.Flags()
	f.IntVar(&opts.Nodes, "nodes", 1, "run on `N` compute nodes at once, one rank each")
	f.StringVar(&opts.TimeLimit, "time-limit", "", "`DURATION` after which the job is killed, such as 30m or 2h (default: the cluster's)")
	f.StringVar(&opts.Name, "name", "", "a `NAME` for the job, shown by job list")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

// validate checks what the CLI can; the server checks again and has the
// last word (against the cluster's size, for example).
func (o jobSubmitOptions) validate() error {
	if o.Nodes < 1 {
		return usagef("--nodes must be at least 1, got %d", o.Nodes)
	}
	if o.TimeLimit != "" {
		d, err := time.ParseDuration(o.TimeLimit)
		if err != nil || d <= 0 {
			return usagef("--time-limit %q: use a positive duration such as 30m, 2h or 1h30m", o.TimeLimit)
		}
	}
	return nil
}

func runJobSubmit(ctx context.Context, opts jobSubmitOptions, c *api.Client, e *env) error {
	j, err := c.SubmitJob(ctx, opts.Cluster, api.SubmitJobRequest{
		Name:      opts.Name,
		Argv:      opts.Argv,
		Nodes:     opts.Nodes,
		TimeLimit: opts.TimeLimit,
	})
	if err != nil {
		return fmt.Errorf("submit job to cluster %s: %w", opts.Cluster, err)
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, j)
	}
	_, err = fmt.Fprintln(e.stdout, j.ID)
	return err
}
