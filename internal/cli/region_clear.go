package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// regionClearOptions are the arguments and flags of `stratus region clear`.
type regionClearOptions struct {
	Regions []string
	Yes     bool
	Output  outputFormat
}

func (a *app) newRegionClearCmd() *cobra.Command {
	var opts regionClearOptions
	cmd := &cobra.Command{
		Use:   "clear REGION... [--yes]",
		Short: "Remove everything stratus made in regions, and nothing else",
		Long: `Remove everything stratus made in each REGION: worker instances (and their
records), image copies, key pairs and the security groups it created, and
forget the regions' configuration. Resources without this installation's
tags are never touched; instance profiles are global and stay.

It lists what it will remove and asks for confirmation on the terminal;
--yes skips the question. Without a terminal to ask on (in scripts, cron,
CI) it refuses unless --yes is given. The exit code is 1 if anything could
not be removed; run it again to finish.`,
		Example: `  stratus region clear local-5 local-6
  stratus region clear local-5 --yes -o json`,
		Args: regionArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Regions = args
			if !opts.Yes && !a.stdinIsTerminal() {
				return usagef("refusing to clear %s without confirmation: standard input is not a terminal to ask on; pass --yes to clear", joinRegions(args))
			}
			return withClient(a, cmd, opts, runRegionClear)
		}),
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runRegionClear(ctx context.Context, opts regionClearOptions, c *api.Client, e *env) error {
	if !opts.Yes {
		ok, err := confirmClear(ctx, opts, c, e)
		if err != nil || !ok {
			return err
		}
	}
	resp, err := c.ClearRegions(ctx, opts.Regions)
	if err != nil {
		return fmt.Errorf("clear %s: %w", joinRegions(opts.Regions), err)
	}
	if opts.Output != formatTable {
		if err := writeStructured(e.stdout, opts.Output, resp); err != nil {
			return err
		}
	} else if err := writeRegionSteps(e.stdout, "", nil, resp.Regions); err != nil {
		return err
	}
	if failed := failedRegions(resp.Regions); len(failed) > 0 {
		return fmt.Errorf("clear failed in %s; run it again to finish", joinRegions(failed))
	}
	if opts.Output == formatTable {
		fmt.Fprintf(e.stdout, "Cleared %s.\n", joinRegions(opts.Regions))
	}
	return nil
}

// confirmClear shows what clear would remove and asks on the terminal.
// It reports whether the user said yes; when there is nothing to remove
// it says so and clears without asking (which forgets the configuration).
func confirmClear(ctx context.Context, opts regionClearOptions, c *api.Client, e *env) (bool, error) {
	check, err := c.CheckRegions(ctx, opts.Regions)
	if err != nil {
		return false, fmt.Errorf("list what is in %s: %w", joinRegions(opts.Regions), err)
	}
	n := 0
	tw := newTabWriter(e.stderr)
	fmt.Fprintln(tw, "REGION\tKIND\tNAME\tID")
	for _, r := range check.Regions {
		for _, res := range r.Resources {
			if res.Kind == "instance_profile" {
				continue // global: clear leaves it
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Region, res.Kind, dash(res.Name), dash(res.ID))
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(e.stderr, "stratus manages nothing in %s.\n", joinRegions(opts.Regions))
		return true, nil
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}
	fmt.Fprintf(e.stderr, "Remove these %d resources from %s? Type yes to go on: ", n, joinRegions(opts.Regions))
	if !readYes(e.stdin) {
		return false, fmt.Errorf("not confirmed; nothing was removed")
	}
	return true, nil
}

// readYes reads one line of an answer and reports whether it is yes (or
// y), in any case; anything else, an empty line or the end of the input
// is no.
func readYes(in io.Reader) bool {
	line, _ := bufio.NewReader(in).ReadString('\n')
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "yes" || a == "y"
}
