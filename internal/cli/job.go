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

// newJobCmd is the parent of the job commands.
func (a *app) newJobCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Submit, list, show, follow and cancel jobs",
		Args:  cobra.ArbitraryArgs,
		RunE:  a.needsSubcommand("stratus job submit|list|show|logs|cancel"),
	}
	cmd.AddCommand(
		a.newJobSubmitCmd(),
		a.newJobListCmd(),
		a.newJobShowCmd(),
		a.newJobLogsCmd(),
		a.newJobCancelCmd(),
	)
	return cmd
}

// parseJobID parses a job ID argument: a positive whole number.
func parseJobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, usagef("job ID %q: must be a positive whole number, such as 42", s)
	}
	return id, nil
}

// jobIDArg accepts exactly one positional argument, a job ID.
func jobIDArg(cmd *cobra.Command, args []string) error {
	if err := exactArgs("job ID")(cmd, args); err != nil {
		return err
	}
	_, err := parseJobID(args[0])
	return err
}

// writeJobTable writes jobs as the table of `job list`.
func writeJobTable(w io.Writer, jobs []api.Job, now time.Time) error {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "ID\tNAME\tCLUSTER\tOWNER\tSTATE\tNODES\tATTEMPT\tSUBMITTED\tELAPSED/WAIT")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n",
			j.ID, dash(j.Name), j.Cluster, dash(j.Owner), j.State, j.Nodes, j.Attempt,
			ago(now, j.SubmittedAt), jobElapsed(j, now))
	}
	return tw.Flush()
}

// writeJob writes one job as a one-row table, JSON or YAML.
func writeJob(w io.Writer, format outputFormat, j api.Job, now time.Time) error {
	if format == formatTable {
		return writeJobTable(w, []api.Job{j}, now)
	}
	return writeStructured(w, format, j)
}

// ago is age with " ago", or "-" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return age(now, t) + " ago"
}

// jobElapsed is how long a job has run (running), ran (ended), or, as
// "wait 2m05s", how long ago a queued job was submitted. A job that ended
// without starting shows "-".
func jobElapsed(j api.Job, now time.Time) string {
	switch {
	case j.State == "queued" || (j.StartedAt == nil && j.EndedAt == nil):
		if j.SubmittedAt.IsZero() {
			return "-"
		}
		return "wait " + compactDuration(now.Sub(j.SubmittedAt))
	case j.StartedAt == nil:
		return "-"
	case j.EndedAt == nil:
		return compactDuration(now.Sub(*j.StartedAt))
	}
	return compactDuration(j.EndedAt.Sub(*j.StartedAt))
}

// compactDuration shows d in its two largest units: 45s, 3m05s, 2h07m,
// 3d04h.
func compactDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	const day = 24 * time.Hour
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int64(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int64(d/time.Minute), int64(d%time.Minute/time.Second))
	case d < 2*day:
		return fmt.Sprintf("%dh%02dm", int64(d/time.Hour), int64(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int64(d/day), int64(d%day/time.Hour))
}

// shellQuote joins argv as a shell would need it typed.
func shellQuote(argv []string) string {
	parts := make([]string, len(argv))
	for i, arg := range argv {
		parts[i] = quoteArg(arg)
	}
	return strings.Join(parts, " ")
}

func quoteArg(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
