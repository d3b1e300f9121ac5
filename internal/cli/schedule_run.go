package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// scheduleRunOptions are the arguments and flags of `stratus schedule run`.
type scheduleRunOptions struct {
	Name       string
	Wait       bool
	Timeout    time.Duration
	timeoutSet bool
	Output     outputFormat
}

func (a *app) newScheduleRunCmd() *cobra.Command {
	var opts scheduleRunOptions
	cmd := &cobra.Command{
		Use:   "run NAME [--wait]",
		Short: "Run a schedule now",
		Long: `Run a schedule now, in the next region in turn, as a tick would. Prints the
run's number. With --wait, wait until the run has ended and its worker is
stopped: exit 0 if the command succeeded, 1 if it failed or was killed,
8 if --timeout passed first. A run already going is a conflict (exit 5).`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.timeoutSet = cmd.Flags().Changed("timeout")
			if opts.timeoutSet && !opts.Wait {
				return usagef("--timeout applies only with --wait")
			}
			if opts.Timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			return withClient(a, cmd, opts, runScheduleRun)
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Wait, "wait", false, "wait until the run has ended")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "with --wait, how long to wait")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runScheduleRun(ctx context.Context, opts scheduleRunOptions, c *api.Client, e *env) error {
	r, err := c.RunSchedule(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("run schedule %s: %w", opts.Name, err)
	}
	if !opts.Wait {
		if opts.Output != formatTable {
			return writeStructured(e.stdout, opts.Output, r)
		}
		_, err := fmt.Fprintln(e.stdout, r.Number)
		return err
	}
	if r, err = waitScheduleRun(ctx, c, e, opts.Name, r.Number, waitForEnded, opts.Timeout); err != nil {
		return err
	}
	if opts.Output != formatTable {
		if err := writeStructured(e.stdout, opts.Output, r); err != nil {
			return err
		}
	} else if err := writeRunSummary(e.stdout, r); err != nil {
		return err
	}
	if r.State != "succeeded" {
		return fmt.Errorf("run %d of schedule %s %s: %s", r.Number, opts.Name, r.State, dash(r.Reason))
	}
	return nil
}
