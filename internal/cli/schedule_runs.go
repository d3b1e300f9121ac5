package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// scheduleRunsOptions are the arguments and flags of `stratus schedule runs`.
type scheduleRunsOptions struct {
	Name   string
	Output outputFormat
}

func (a *app) newScheduleRunsCmd() *cobra.Command {
	var opts scheduleRunsOptions
	cmd := &cobra.Command{
		Use:   "runs NAME",
		Short: "A schedule's history: every run, and the ticks skipped or missed",
		Long: `List a schedule's runs, oldest first: the tick each was for, its state,
region, start and end (the end is when its worker was stopped), exit code
and what the worker cost over the run. Ticks that came while a run was
going (skipped) or passed while the control plane was down (missed) are
listed too.`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return withClient(a, cmd, opts, runScheduleRuns)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runScheduleRuns(ctx context.Context, opts scheduleRunsOptions, c *api.Client, e *env) error {
	runs, err := c.ListScheduleRuns(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("runs of schedule %s: %w", opts.Name, err)
	}
	if runs == nil {
		runs = []api.ScheduleRun{}
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, runs)
	}
	if len(runs) == 0 {
		fmt.Fprintf(e.stdout, "No runs yet. Run it now with: stratus schedule run %s\n", opts.Name)
		return nil
	}
	return writeRunTable(e.stdout, runs)
}
