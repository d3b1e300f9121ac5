package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// clusterChangeOptions are the argument and flags shared by the commands
// that change a cluster and can wait for the change: `stratus cluster
// create`, `delete`, `stop` and `start`.
type clusterChangeOptions struct {
	Name       string
	Wait       bool
	Timeout    time.Duration
	timeoutSet bool
	Output     outputFormat
}

// clusterChangeCmd completes cmd as a command taking a cluster NAME and the
// --wait, --timeout and --output flags into opts, --wait waiting until the
// cluster is until. check, if not nil, checks what else cmd reads into its
// options, before the shared flags are checked; run runs the command.
func (a *app) clusterChangeCmd(cmd *cobra.Command, opts *clusterChangeOptions, until string, check func() error, run func(context.Context, *api.Client, *env) error) *cobra.Command {
	cmd.Args = exactArgs("NAME")
	cmd.RunE = a.runE(func(cmd *cobra.Command, args []string) error {
		opts.Name = args[0]
		opts.timeoutSet = cmd.Flags().Changed("timeout")
		if check != nil {
			if err := check(); err != nil {
				return err
			}
		}
		if err := opts.validate(); err != nil {
			return err
		}
		c, err := a.client()
		if err != nil {
			return err
		}
		return run(cmd.Context(), c, a.env)
	})
	f := cmd.Flags()
	f.BoolVar(&opts.Wait, "wait", false, "wait until the cluster is "+until+", showing progress")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "with --wait, how long to wait")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func (o clusterChangeOptions) validate() error {
	switch {
	case o.timeoutSet && !o.Wait:
		return usagef("--timeout applies only with --wait")
	case o.Timeout <= 0:
		return usagef("--timeout must be positive")
	}
	return nil
}
