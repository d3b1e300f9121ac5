package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// scheduleCreateOptions are the arguments and flags of `stratus schedule create`.
type scheduleCreateOptions struct {
	Name       string
	Cron       string
	Region     string
	Rotate     []string
	MaxRuntime string
	Timezone   string
	Argv       []string
	Output     outputFormat
}

func (a *app) newScheduleCreateCmd() *cobra.Command {
	var opts scheduleCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME --cron EXPR (--region R | --rotate R1,R2,...) [--max-runtime D] [--timezone TZ] -- COMMAND [ARG...]",
		Short: "Create a schedule: run a command on a region's worker at each cron tick",
		Long: `Create a schedule. At each tick of --cron (read in --timezone, default UTC)
the region's worker is started (created if the region has none), COMMAND
runs on it through its agent, its output (up to 256 KiB) and exit code are
kept, and the worker is stopped again. --rotate takes the regions in turn,
one per run. A command running longer than --max-runtime (default 1h) is
killed. A tick that comes while the previous run still goes is skipped
(and recorded); ticks missed while the control plane was down are recorded
and one catch-up run is made.

--cron takes five fields (minute hour day-of-month month day-of-week) or
@hourly, @daily, @weekly, @monthly.`,
		Example: `  stratus schedule create probes --cron "30 0,6,12,18 * * *" --rotate local-1,local-2,local-3 -- ./probe.sh
  stratus schedule create nightly --cron "0 2 * * *" --timezone Europe/Paris --region local-1 --max-runtime 30m -- make report`,
		Args: nameThenCommand("stratus schedule create", "NAME", "NAME", " --cron EXPR --region R"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.Argv = args[cmd.ArgsLenAtDash():]
			if err := opts.validate(); err != nil {
				return err
			}
			return withClient(a, cmd, opts, runScheduleCreate)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.Cron, "cron", "", "cron `EXPR`: five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, ...")
	f.StringVar(&opts.Region, "region", "", "the `REGION` to run in")
	f.StringSliceVar(&opts.Rotate, "rotate", nil, "`REGIONS` to take in turn, one per run (comma-separated)")
	f.StringVar(&opts.MaxRuntime, "max-runtime", "", "kill the command after this `DURATION`, such as 30m (default 1h)")
	f.StringVar(&opts.Timezone, "timezone", "", "IANA time zone `TZ` the cron expression is read in, such as Europe/Paris (default UTC)")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

// validate checks what the CLI can; the server checks everything again
// (the cron expression, the time zone, the regions) and has the last word.
func (o scheduleCreateOptions) validate() error {
	switch {
	case strings.TrimSpace(o.Cron) == "":
		return usagef(`missing --cron: give a cron expression such as "30 0,6,12,18 * * *" or @hourly`)
	case o.Region == "" && len(o.Rotate) == 0:
		return usagef("missing --region or --rotate: say where the command runs")
	case o.Region != "" && len(o.Rotate) > 0:
		return usagef("give --region or --rotate, not both")
	}
	if o.MaxRuntime != "" {
		if d, err := time.ParseDuration(o.MaxRuntime); err != nil || d <= 0 {
			return usagef("--max-runtime %q: use a positive duration such as 30m, 2h or 1h30m", o.MaxRuntime)
		}
	}
	return nil
}

func runScheduleCreate(ctx context.Context, opts scheduleCreateOptions, c *api.Client, e *env) error {
	s, err := c.CreateSchedule(ctx, api.CreateScheduleRequest{
		Name: opts.Name, Cron: opts.Cron, Timezone: opts.Timezone, Region: opts.Region, Rotate: opts.Rotate,
		MaxRuntime: opts.MaxRuntime, Argv: opts.Argv,
	})
	if err != nil {
		return fmt.Errorf("create schedule %s: %w", opts.Name, err)
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, s)
	}
	fmt.Fprintf(e.stdout, "Schedule %s created: next tick %s, in %s.\n", s.Name, scheduleTime(s.NextTick, s.Timezone), dash(s.NextRegion))
	return nil
}
