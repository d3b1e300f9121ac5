package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// newUserCmd is the parent of the user commands (admins only).
func (a *app) newUserCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add, list and disable users, and issue their tokens (admins only)",
		Args:  cobra.ArbitraryArgs,
		RunE:  a.needsSubcommand("stratus user add|list|token|disable"),
	}
	cmd.AddCommand(a.newUserAddCmd(), a.newUserListCmd(), a.newUserTokenCmd(), a.newUserDisableCmd())
	return cmd
}

type userAddOptions struct {
	Name, Role, Email string
	Output            outputFormat
}

func (a *app) newUserAddCmd() *cobra.Command {
	var opts userAddOptions
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user",
		Long: `Add a user. NAME is a lower-case letter followed by up to 31 lower-case
letters, digits, _ or -. Issue the user a token with 'stratus user token NAME'.`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if opts.Role != "admin" && opts.Role != "user" {
				return usagef("--role %q: use admin or user", opts.Role)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.CreateUser(cmd.Context(), api.CreateUserRequest{Name: opts.Name, Role: opts.Role, Email: opts.Email})
			if err != nil {
				return fmt.Errorf("add user %s: %w", opts.Name, err)
			}
			if opts.Output != formatTable {
				return writeStructured(a.env.stdout, opts.Output, u)
			}
			fmt.Fprintf(a.env.stdout, "User %s added (role %s). Issue a token with: stratus user token %s\n", u.Name, u.Role, u.Name)
			return nil
		}),
	}
	cmd.Flags().StringVar(&opts.Role, "role", "user", "the user's `ROLE`: admin or user")
	cmd.Flags().StringVar(&opts.Email, "email", "", "the user's email `ADDR`")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func (a *app) newUserListCmd() *cobra.Command {
	var output outputFormat
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List users",
		Args:    exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return withClient(a, cmd, output, runUserList)
		}),
	}
	addOutputFlag(cmd, &output)
	return cmd
}

func runUserList(ctx context.Context, output outputFormat, c *api.Client, e *env) error {
	us, err := c.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	if us == nil {
		us = []api.User{}
	}
	if output != formatTable {
		return writeStructured(e.stdout, output, us)
	}
	tw := newTabWriter(e.stdout)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tEMAIL\tCREATED")
	for _, u := range us {
		state := "active"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, state, dash(u.Email), u.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

func (a *app) newUserTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token NAME",
		Short: "Issue a new token for a user",
		Long: `Issue a new API token for a user and print it on stdout. It is shown only
this once: the server keeps only its hash. Earlier tokens keep working.`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			t, err := c.CreateUserToken(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("issue a token for %s: %w", args[0], err)
			}
			fmt.Fprintln(a.env.stdout, t.Token)
			fmt.Fprintf(a.env.stderr, "Issued a token for %s (role %s). It is not shown again: keep it safe.\n", t.User, t.Role)
			return nil
		}),
	}
	return cmd
}

func (a *app) newUserDisableCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "disable NAME",
		Short: "Disable a user: their tokens stop working at once",
		Args:  exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			u, err := c.DisableUser(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("disable user %s: %w", args[0], err)
			}
			fmt.Fprintf(a.env.stdout, "User %s disabled: their tokens no longer work.\n", u.Name)
			return nil
		}),
	}
	return cmd
}
