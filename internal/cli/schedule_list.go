package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// scheduleListOptions are the flags of `stratus schedule list`.
type scheduleListOptions struct {
	Output outputFormat
}

func (a *app) newScheduleListCmd() *cobra.Command {
	var opts scheduleListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the schedules you may see",
		Args:    exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			return withClient(a, cmd, opts, runScheduleList)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runScheduleList(ctx context.Context, opts scheduleListOptions, c *api.Client, e *env) error {
	ss, err := c.ListSchedules(ctx)
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	if ss == nil {
		ss = []api.Schedule{}
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, ss)
	}
	if len(ss) == 0 {
		fmt.Fprintln(e.stdout, `No schedules. Create one with: stratus schedule create NAME --cron "0 * * * *" --region REGION -- COMMAND`)
		return nil
	}
	return writeScheduleTable(e.stdout, ss)
}
