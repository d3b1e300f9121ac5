package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// scheduleLogsOptions are the arguments of `stratus schedule logs`.
type scheduleLogsOptions struct {
	Name string
	// Run is the run's number; 0 means the latest that ran.
	Run int
}

func (a *app) newScheduleLogsCmd() *cobra.Command {
	var opts scheduleLogsOptions
	cmd := &cobra.Command{
		Use:   "logs NAME [RUN]",
		Short: "Print a run's output (default: the latest run)",
		Long: `Print the output a run's command wrote (stdout and stderr as they came),
as kept: up to 256 KiB, then a line says the rest was dropped. RUN is the
number ` + "`stratus schedule runs`" + ` shows; without it, the latest run that ran.
A run still going shows what has been saved so far. Exits 0 whatever the
command's exit code (` + "`stratus schedule runs`" + ` shows that).`,
		Args: scheduleRunArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if len(args) == 2 {
				opts.Run, _ = parseRunNumber(args[1])
			}
			return withClient(a, cmd, opts, runScheduleLogs)
		}),
	}
	return cmd
}

func runScheduleLogs(ctx context.Context, opts scheduleLogsOptions, c *api.Client, e *env) error {
	out, err := c.ScheduleRunOutput(ctx, opts.Name, opts.Run)
	if err != nil {
		return fmt.Errorf("output of schedule %s: %w", opts.Name, err)
	}
	_, err = e.stdout.Write(out.Output)
	return err
}
