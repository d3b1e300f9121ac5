package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

func (a *app) newAuditCmd() *cobra.Command {
	var (
		user, since string
		output      outputFormat
	)
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log of changes made through the API",
		Long: `Show the audit log: every call that changed something (who, what, when
and its HTTP status). Admins see every user's calls, other users their own.`,
		Args: exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			var t time.Time
			if since != "" {
				var err error
				if t, err = parseSince(since, a.env.now()); err != nil {
					return usagef("--since %q: use an RFC 3339 time (2026-11-01T00:00:00Z), a date (2026-11-01) or a duration back from now (24h, 7d)", since)
				}
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			es, err := c.Audit(cmd.Context(), user, t)
			if err != nil {
				return fmt.Errorf("audit: %w", err)
			}
			if es == nil {
				es = []api.AuditEntry{}
			}
			if output != formatTable {
				return writeStructured(a.env.stdout, output, es)
			}
			tw := newTabWriter(a.env.stdout)
			fmt.Fprintln(tw, "TIME\tUSER\tMETHOD\tPATH\tOBJECT\tSTATUS")
			for _, e := range es {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", e.Time.UTC().Format(time.RFC3339), e.User, e.Method, e.Path, dash(e.Object), e.Status)
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().StringVar(&user, "user", "", "only this user's calls (`NAME`)")
	cmd.Flags().StringVar(&since, "since", "", "only calls at or after `TIME`: RFC 3339, a date (YYYY-MM-DD) or a duration back from now (24h, 7d)")
	addOutputFlag(cmd, &output)
	return cmd
}
