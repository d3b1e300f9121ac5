package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// jobCancelOptions are the arguments and flags of `stratus job cancel`.
type jobCancelOptions struct {
	ID     int64
	Output outputFormat
}

func (a *app) newJobCancelCmd() *cobra.Command {
	var opts jobCancelOptions
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running job",
		Long: `Cancel a queued or running job: its ranks are killed and it ends in state
cancelled. Cancelling a job that has already ended is a conflict (exit 5).`,
		Args: jobIDArg,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.ID, _ = parseJobID(args[0])
			return withClient(a, cmd, opts, runJobCancel)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runJobCancel(ctx context.Context, opts jobCancelOptions, c *api.Client, e *env) error {
	j, err := c.CancelJob(ctx, opts.ID)
	if err != nil {
		return fmt.Errorf("cancel job %d: %w", opts.ID, err)
	}
	return writeJob(e.stdout, opts.Output, j, e.now())
}
