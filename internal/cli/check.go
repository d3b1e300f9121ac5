package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// newCheckCmd is the parent of the health check commands.
func (a *app) newCheckCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "List and show the health checks of the server's checks file (serve --checks)",
		Args:  cobra.ArbitraryArgs,
		RunE:  a.needsSubcommand("stratus check list|show"),
	}
	cmd.AddCommand(a.newCheckListCmd(), a.newCheckShowCmd())
	return cmd
}

func (a *app) newCheckListCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List health checks with their state",
		Args:    exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return withClient(a, cmd, output, runCheckList)
		}),
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runCheckList(ctx context.Context, output outputFormat, c *api.Client, e *env) error {
	cs, err := c.ListChecks(ctx)
	if err != nil {
		return fmt.Errorf("list checks: %w", err)
	}
	if cs == nil {
		cs = []api.Check{}
	}
	if output != formatTable {
		return writeStructured(e.stdout, output, cs)
	}
	now := e.now()
	tw := newTabWriter(e.stdout)
	fmt.Fprintln(tw, "NAME\tKIND\tSTATE\tSINCE\tLAST-PROBE\tDETAIL")
	for _, ch := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ch.Name, ch.Kind, ch.State, age(now, ch.Since), ago(now, ch.LastProbe), dash(ch.Detail))
	}
	return tw.Flush()
}

func (a *app) newCheckShowCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a health check: its state, members with their values, and history",
		Args:  exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.GetCheck(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("show check %s: %w", args[0], err)
			}
			if output != formatTable {
				return writeStructured(a.env.stdout, output, d)
			}
			return writeCheckDetail(a.env, d)
		}),
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func writeCheckDetail(e *env, d api.CheckDetail) error {
	now := e.now()
	w := e.stdout
	fmt.Fprintf(w, "Name:        %s\n", d.Name)
	fmt.Fprintf(w, "Kind:        %s\n", d.Kind)
	fmt.Fprintf(w, "State:       %s (since %s, %s)\n", d.State, d.Since.UTC().Format(time.RFC3339), ago(now, d.Since))
	fmt.Fprintf(w, "Last probe:  %s\n", ago(now, d.LastProbe))
	fmt.Fprintf(w, "Detail:      %s\n", dash(d.Detail))
	if len(d.Members) > 0 {
		fmt.Fprintln(w, "\nMembers:")
		tw := newTabWriter(w)
		fmt.Fprintln(tw, "URL\tVALUE\tSTATE\tSINCE\tERROR")
		for _, m := range d.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.URL, dash(m.Value), m.State, m.Since.UTC().Format(time.RFC3339), dash(m.Error))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nHistory (newest first):")
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "TIME\tSTATE\tDETAIL")
	for _, r := range d.History {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Time.UTC().Format(time.RFC3339), r.State, dash(r.Detail))
	}
	return tw.Flush()
}
