package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/spec"
)

// scheduleShowOptions are the arguments and flags of `stratus schedule show`.
type scheduleShowOptions struct {
	Name   string
	Output outputFormat
}

// showRuns is how many recent runs `schedule show` lists.
const showRuns = 10

func (a *app) newScheduleShowCmd() *cobra.Command {
	var opts scheduleShowOptions
	cmd := &cobra.Command{
		Use:     "show NAME",
		Aliases: []string{"get"},
		Short:   "Show a schedule: its cron, regions, workers and recent runs",
		Args:    exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return withClient(a, cmd, opts, runScheduleShow)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runScheduleShow(ctx context.Context, opts scheduleShowOptions, c *api.Client, e *env) error {
	s, err := c.GetSchedule(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("schedule %s: %w", opts.Name, err)
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, s)
	}
	runs, err := c.ListScheduleRuns(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("runs of schedule %s: %w", opts.Name, err)
	}
	tw := newTabWriter(e.stdout)
	fmt.Fprintf(tw, "Name:\t%s\n", s.Name)
	fmt.Fprintf(tw, "Owner:\t%s\n", dash(s.Owner))
	fmt.Fprintf(tw, "State:\t%s\n", s.State)
	fmt.Fprintf(tw, "Cron:\t%s (%s)\n", s.Cron, s.Timezone)
	fmt.Fprintf(tw, "Regions:\t%s\n", regionsOf(s))
	fmt.Fprintf(tw, "Command:\t%s\n", shellQuote(s.Argv))
	fmt.Fprintf(tw, "Max runtime:\t%s\n", spec.ShortDuration(parseDurationOr(s.MaxRuntime)))
	fmt.Fprintf(tw, "Next tick:\t%s in %s\n", scheduleTime(s.NextTick, s.Timezone), dash(s.NextRegion))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nWorkers:")
	if len(s.Workers) == 0 {
		fmt.Fprintln(e.stdout, "  none yet (the first run creates them)")
	} else {
		tw = newTabWriter(e.stdout)
		fmt.Fprintln(tw, "  REGION\tNODE\tINSTANCE\tTYPE\tSTATE")
		for _, w := range s.Workers {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", w.Region, w.Node, dash(w.ID), w.Type, w.State)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(e.stdout, "\nRecent runs:")
	if len(runs) == 0 {
		fmt.Fprintln(e.stdout, "  none yet")
		return nil
	}
	if len(runs) > showRuns {
		fmt.Fprintf(e.stdout, "  (the last %d of %d; all with: stratus schedule runs %s)\n", showRuns, len(runs), s.Name)
		runs = runs[len(runs)-showRuns:]
	}
	return writeRunTable(e.stdout, runs)
}
