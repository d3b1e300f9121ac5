package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// jobShowOptions are the arguments and flags of `stratus job show`.
type jobShowOptions struct {
	ID     int64
	Output outputFormat
}

func (a *app) newJobShowCmd() *cobra.Command {
	var opts jobShowOptions
	cmd := &cobra.Command{
		Use:     "show ID",
		Aliases: []string{"get"},
		Short:   "Show a job: its state, nodes, times and output size",
		Args:    jobIDArg,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.ID, _ = parseJobID(args[0])
			return withClient(a, cmd, opts, runJobShow)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runJobShow(ctx context.Context, opts jobShowOptions, c *api.Client, e *env) error {
	j, err := c.GetJob(ctx, opts.ID)
	if err != nil {
		return fmt.Errorf("job %d: %w", opts.ID, err)
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, j)
	}
	if err := writeJobSummary(e.stdout, j, e.now()); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nRanks:")
	if len(j.Assigned) == 0 {
		fmt.Fprintln(e.stdout, "  none")
		return nil
	}
	tw := newTabWriter(e.stdout)
	fmt.Fprintln(tw, "  RANK\tNODE\tADDRESS")
	for _, n := range j.Assigned {
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", n.Rank, n.Node, dash(n.Address))
	}
	return tw.Flush()
}

// writeJobSummary writes a job's fields one per line.
func writeJobSummary(w io.Writer, j api.Job, now time.Time) error {
	tw := newTabWriter(w)
	fmt.Fprintf(tw, "ID:\t%d\n", j.ID)
	if j.Name != "" {
		fmt.Fprintf(tw, "Name:\t%s\n", j.Name)
	}
	fmt.Fprintf(tw, "Cluster:\t%s\n", j.Cluster)
	fmt.Fprintf(tw, "Owner:\t%s\n", dash(j.Owner))
	fmt.Fprintf(tw, "Command:\t%s\n", shellQuote(j.Argv))
	fmt.Fprintf(tw, "State:\t%s\n", j.State)
	if j.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", j.Reason)
	}
	if j.ExitCode != nil {
		fmt.Fprintf(tw, "Exit code:\t%d\n", *j.ExitCode)
	}
	fmt.Fprintf(tw, "Nodes:\t%d\n", j.Nodes)
	fmt.Fprintf(tw, "Time limit:\t%s\n", dash(j.TimeLimit))
	fmt.Fprintf(tw, "Submitted:\t%s\n", timeAndAge(now, &j.SubmittedAt))
	fmt.Fprintf(tw, "Started:\t%s\n", timeAndAge(now, j.StartedAt))
	fmt.Fprintf(tw, "Ended:\t%s\n", timeAndAge(now, j.EndedAt))
	fmt.Fprintf(tw, "Elapsed:\t%s\n", jobElapsed(j, now))
	fmt.Fprintf(tw, "Attempt:\t%d (requeued %d %s)\n", j.Attempt, j.Requeues, plural(j.Requeues, "time", "times"))
	out := fmt.Sprintf("%d %s", j.OutputBytes, plural(int(j.OutputBytes), "byte", "bytes"))
	if j.OutputTruncated {
		out += " (truncated: later output was not kept)"
	}
	fmt.Fprintf(tw, "Output:\t%s\n", out)
	return tw.Flush()
}

// timeAndAge shows a time as RFC 3339 with how long ago it was, or "-".
func timeAndAge(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", t.UTC().Format(time.RFC3339), ago(now, *t))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
