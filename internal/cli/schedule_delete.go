package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// scheduleDeleteOptions are the arguments and flags of `stratus schedule delete`.
type scheduleDeleteOptions struct {
	Name   string
	Output outputFormat
}

func (a *app) newScheduleDeleteCmd() *cobra.Command {
	var opts scheduleDeleteOptions
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a schedule and its history",
		Long: `Delete a schedule and its runs' history. A run going is cut short first
(its command is killed and its worker stopped); the schedule is gone once
it has ended. Workers are kept: they belong to their regions.`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return withClient(a, cmd, opts, runScheduleDelete)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runScheduleDelete(ctx context.Context, opts scheduleDeleteOptions, c *api.Client, e *env) error {
	s, err := c.DeleteSchedule(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", opts.Name, err)
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, s)
	}
	if s.State == "deleted" {
		fmt.Fprintf(e.stdout, "Schedule %s deleted.\n", s.Name)
		return nil
	}
	fmt.Fprintf(e.stdout, "Schedule %s is being deleted: its run is cut short and its worker stopped first.\n", s.Name)
	return nil
}
