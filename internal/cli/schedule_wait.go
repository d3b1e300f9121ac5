package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/spec"
)

// Conditions `stratus schedule wait --for` accepts.
const (
	waitForStarted = "started"
	waitForEnded   = "ended"
)

// scheduleWaitOptions are the arguments and flags of `stratus schedule wait`.
type scheduleWaitOptions struct {
	Name    string
	Run     int
	For     string
	Timeout time.Duration
	Output  outputFormat
}

func (a *app) newScheduleWaitCmd() *cobra.Command {
	var opts scheduleWaitOptions
	cmd := &cobra.Command{
		Use:   "wait NAME [RUN] [--for started|ended]",
		Short: "Wait until a run's command has started, or the run has ended",
		Long: `Wait until a run's command is running on its worker (--for started) or the
run has ended and its worker is stopped (--for ended, the default), then
show the run. RUN defaults to the latest run that ran; a run not there
yet (the next tick's) is waited for. Exits 0 when the
condition holds (whatever the command's exit code), 8 after --timeout.`,
		Args: scheduleRunArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if len(args) == 2 {
				opts.Run, _ = parseRunNumber(args[1])
			}
			if opts.For != waitForStarted && opts.For != waitForEnded {
				return usagef("--for %q: use started or ended", opts.For)
			}
			if opts.Timeout <= 0 {
				return usagef("--timeout must be positive")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := waitScheduleRun(cmd.Context(), c, a.env, opts.Name, opts.Run, opts.For, opts.Timeout)
			if err != nil {
				return err
			}
			if opts.Output != formatTable {
				return writeStructured(a.env.stdout, opts.Output, r)
			}
			return writeRunSummary(a.env.stdout, r)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.For, "for", waitForEnded, "condition to wait for: started or ended")
	f.DurationVar(&opts.Timeout, "timeout", 10*time.Minute, "how long to wait")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

// waitScheduleRun polls run number of a schedule (0: the latest that ran)
// until its command has started (for started) or it has ended, showing its
// state on e.stderr. While the server does not answer (it may be
// restarting), it keeps trying.
func waitScheduleRun(ctx context.Context, c *api.Client, e *env, name string, number int, cond string, timeout time.Duration) (api.ScheduleRun, error) {
	var r api.ScheduleRun
	if _, err := c.GetSchedule(ctx, name); err != nil {
		return r, fmt.Errorf("schedule %s: %w", name, err)
	}
	p := &progress{w: e.stderr, tty: e.stderrTTY}
	defer p.done()
	err := poll(ctx, e, timeout, func() string {
		if r.Number == 0 {
			return fmt.Sprintf("schedule %s has no run %s after %s", name, map[bool]string{true: "yet", false: fmt.Sprint(number)}[number == 0], spec.ShortDuration(timeout))
		}
		return fmt.Sprintf("run %d of schedule %s is still %s after %s", r.Number, name, runState(r), spec.ShortDuration(timeout))
	}, func(ctx context.Context) (bool, error) {
		got, err := c.GetScheduleRun(ctx, name, number)
		if err != nil {
			if isUnreachable(err) || (api.IsNotFound(err) && ctx.Err() == nil) {
				return false, nil // restarting, or the run is not there yet
			}
			return true, fmt.Errorf("run of schedule %s: %w", name, err)
		}
		r = got
		if e.stderrTTY {
			p.update(fmt.Sprintf("run %d of %s: %s", r.Number, name, runState(r)))
		}
		switch {
		case r.EndedAt != nil:
			return true, nil
		case cond == waitForStarted && r.CommandStartedAt != nil:
			return true, nil
		}
		return false, nil
	})
	return r, err
}
