package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// newScheduleCmd is the parent of the schedule commands.
func (a *app) newScheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Run commands on a region's worker on a cron schedule",
		Long: `A schedule runs a command at each tick of a cron expression: it starts the
region's worker instance (creating it if the region has none), runs the
command through its agent, keeps the output and exit code, and stops the
worker again — also when the command fails, runs past --max-runtime, or the
control plane restarts mid-run. --rotate takes several regions in turn.`,
		Args: cobra.ArbitraryArgs,
		RunE: a.needsSubcommand("stratus schedule create|list|show|delete|runs|run|logs|wait"),
	}
	cmd.AddCommand(
		a.newScheduleCreateCmd(),
		a.newScheduleListCmd(),
		a.newScheduleShowCmd(),
		a.newScheduleDeleteCmd(),
		a.newScheduleRunsCmd(),
		a.newScheduleRunCmd(),
		a.newScheduleLogsCmd(),
		a.newScheduleWaitCmd(),
	)
	return cmd
}

// scheduleRunArgs accepts NAME and an optional RUN number.
func scheduleRunArgs(cmd *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return usagef("missing NAME: %s", cmd.UseLine())
	case len(args) > 2:
		return usagef("unexpected argument %q: %s", args[2], cmd.UseLine())
	case len(args) == 2:
		if _, err := parseRunNumber(args[1]); err != nil {
			return err
		}
	}
	return nil
}

// parseRunNumber reads a run number (as `schedule runs` shows it).
func parseRunNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, usagef("run number must be a positive whole number (see `stratus schedule runs NAME`), got %q", s)
	}
	return n, nil
}

// scheduleTime shows a time in the schedule's zone, as RFC 3339.
func scheduleTime(t *time.Time, tz string) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	if loc, err := time.LoadLocation(tz); err == nil {
		return t.In(loc).Format(time.RFC3339)
	}
	return t.UTC().Format(time.RFC3339)
}

func shortTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func exitOf(r api.ScheduleRun) string {
	if r.ExitCode == nil {
		return "-"
	}
	return strconv.Itoa(*r.ExitCode)
}

// runState shows a run's state, and whether its worker is still being
// stopped.
func runState(r api.ScheduleRun) string {
	if r.EndedAt == nil && r.State != "pending" && r.State != "running" {
		return r.State + " (stopping worker)"
	}
	return r.State
}

// writeScheduleTable writes schedules as the table of `schedule list`.
func writeScheduleTable(w io.Writer, ss []api.Schedule) error {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "NAME\tOWNER\tCRON\tTIMEZONE\tREGIONS\tSTATE\tNEXT TICK\tLAST RUN")
	for _, s := range ss {
		last := "-"
		if r := s.LastRun; r != nil {
			last = fmt.Sprintf("#%d %s", r.Number, r.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, dash(s.Owner), s.Cron, s.Timezone,
			regionsOf(s), s.State, scheduleTime(s.NextTick, s.Timezone), last)
	}
	return tw.Flush()
}

func regionsOf(s api.Schedule) string {
	if s.Rotate {
		return "rotate " + strings.Join(s.Regions, ",")
	}
	return strings.Join(s.Regions, ",")
}

// writeRunTable writes runs as the table of `schedule runs`.
func writeRunTable(w io.Writer, runs []api.ScheduleRun) error {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "RUN\tTRIGGER\tTICK\tSTATE\tREGION\tSTART\tEND\tEXIT\tCOST\tREASON")
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Number, r.Trigger, shortTime(r.Tick), runState(r),
			dash(r.Region), shortTime(r.StartedAt), shortTime(r.EndedAt), exitOf(r), dollars(r.Cost), dash(r.Reason))
	}
	return tw.Flush()
}

// writeRunSummary writes one run's fields one per line.
func writeRunSummary(w io.Writer, r api.ScheduleRun) error {
	tw := newTabWriter(w)
	fmt.Fprintf(tw, "Run:\t%d of %s (%s)\n", r.Number, r.Schedule, r.Trigger)
	fmt.Fprintf(tw, "State:\t%s\n", runState(r))
	if r.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", r.Reason)
	}
	fmt.Fprintf(tw, "Exit code:\t%s\n", exitOf(r))
	fmt.Fprintf(tw, "Region:\t%s\n", dash(r.Region))
	fmt.Fprintf(tw, "Worker:\t%s %s\n", dash(r.Node), dash(r.InstanceID))
	fmt.Fprintf(tw, "Tick:\t%s\n", shortTime(r.Tick))
	fmt.Fprintf(tw, "Started:\t%s\n", shortTime(r.StartedAt))
	fmt.Fprintf(tw, "Command started:\t%s\n", shortTime(r.CommandStartedAt))
	fmt.Fprintf(tw, "Ended:\t%s\n", shortTime(r.EndedAt))
	fmt.Fprintf(tw, "Cost:\t%s\n", dollars(r.Cost))
	out := fmt.Sprintf("%d %s", r.OutputBytes, plural(int(r.OutputBytes), "byte", "bytes"))
	if r.OutputTruncated {
		out += " (truncated: later output was not kept)"
	}
	fmt.Fprintf(tw, "Output:\t%s\n", out)
	return tw.Flush()
}

// parseDurationOr reads a duration from the API (0 if it is not one).
func parseDurationOr(s string) time.Duration {
	d, _ := time.ParseDuration(s)
	return d
}
