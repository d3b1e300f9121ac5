package cli

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// costByValues are the groupings `stratus cost --by` accepts.
var costByValues = []string{"cluster", "owner", "type"}

// costOptions are the flags of `stratus cost`.
type costOptions struct {
	Cluster string
	By      string
	// Since is --since as given; since is its time, zero when not given.
	Since  string
	since  time.Time
	Output outputFormat
}

func (a *app) newCostCmd() *cobra.Command {
	var opts costOptions
	cmd := &cobra.Command{
		Use:   "cost [--cluster NAME] [--by cluster|owner|type] [--since TIME]",
		Short: "Report what clusters have cost",
		Long: `Report what the clusters you may see have cost, from the usage the
server recorded: one row per cluster, owner or instance type (--by), with
the instances' running, billed and stopped time, and a TOTAL line. Notes
on how the cost was computed follow the table.

--since starts the report at an RFC 3339 time (2026-11-01T00:00:00Z), a
date (2026-11-01, midnight UTC), or a duration back from now (24h, 90m,
7d, 1d12h); without it the report covers all recorded usage.`,
		Example: `  stratus cost
  stratus cost --by owner --since 7d
  stratus cost --cluster demo --by type --since 2026-11-01 -o json`,
		Args: exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(a.env.now()); err != nil {
				return err
			}
			return withClient(a, cmd, opts, runCost)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.Cluster, "cluster", "", "report only the cluster `NAME`")
	f.StringVar(&opts.By, "by", "cluster", "group rows by `GROUP`: cluster, owner or type")
	f.StringVar(&opts.Since, "since", "", "start the report at `TIME`: RFC 3339, a date (YYYY-MM-DD) or a duration back from now (24h, 7d)")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

// validate checks --by and parses --since against now.
func (o *costOptions) validate(now time.Time) error {
	valid := false
	for _, v := range costByValues {
		valid = valid || o.By == v
	}
	if !valid {
		return usagef("--by %q: use cluster, owner or type", o.By)
	}
	if o.Since != "" {
		t, err := parseSince(o.Since, now)
		if err != nil {
			return usagef("--since %q: use an RFC 3339 time (2026-11-01T00:00:00Z), a date (2026-11-01) or a duration back from now (24h, 7d)", o.Since)
		}
		o.since = t
	}
	return nil
}

// sinceDays matches a duration with a leading number of days: 7d, 1d12h.
var sinceDays = regexp.MustCompile(`^([0-9]+)d(.*)$`)

// parseSince parses --since: an RFC 3339 time, a date (midnight UTC), or a
// positive duration back from now, which may start with days ("7d",
// "1d12h").
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	var d time.Duration
	rest := s
	if m := sinceDays.FindStringSubmatch(s); m != nil {
		days, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || days > 100*365 {
			return time.Time{}, fmt.Errorf("bad number of days in %q", s)
		}
		d = time.Duration(days) * 24 * time.Hour
		rest = m[2]
	}
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil {
			return time.Time{}, err
		}
		d += r
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("duration %q is not positive", s)
	}
	return now.Add(-d), nil
}

func runCost(ctx context.Context, opts costOptions, c *api.Client, e *env) error {
	rep, err := c.Cost(ctx, api.CostQuery{Cluster: opts.Cluster, By: opts.By, Since: opts.since})
	if err != nil {
		if opts.Cluster != "" {
			return fmt.Errorf("cost of cluster %s: %w", opts.Cluster, err)
		}
		return fmt.Errorf("cost: %w", err)
	}
	if rep.Rows == nil {
		rep.Rows = []api.CostRow{} // [] rather than null
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, rep)
	}
	tw := newTabWriter(e.stdout)
	fmt.Fprintln(tw, "KEY\tCOST\tRUNNING\tBILLED\tSTOPPED\tINSTANCES")
	var total api.CostRow
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", dash(r.Key), dollars(r.Cost),
			seconds(r.RunningSeconds), seconds(r.BilledSeconds), seconds(r.StoppedSeconds), r.Instances)
		total.RunningSeconds += r.RunningSeconds
		total.BilledSeconds += r.BilledSeconds
		total.StoppedSeconds += r.StoppedSeconds
		total.Instances += r.Instances
	}
	fmt.Fprintf(tw, "TOTAL\t%s\t%s\t%s\t%s\t%d\n", dollars(rep.Total),
		seconds(total.RunningSeconds), seconds(total.BilledSeconds), seconds(total.StoppedSeconds), total.Instances)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nBy %s, from %s to %s.\n", dash(rep.By), reportTime(rep.Since, "the first recorded usage"), reportTime(rep.Until, "now"))
	for _, n := range rep.Notes {
		fmt.Fprintf(e.stdout, "Note: %s\n", n)
	}
	return nil
}

func seconds(s int64) string {
	return compactDuration(time.Duration(s) * time.Second)
}

func reportTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}
