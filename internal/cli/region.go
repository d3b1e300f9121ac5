package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// newRegionCmd is the parent of the region commands (capability 3).
func (a *app) newRegionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "region",
		Short: "Replicate a home region to other regions, check them for drift, clear them",
		Long: `The region commands keep a set of regions alike: configure copies the home
region's image, ssh key, security group and instance profile to each region
and gives each one stopped worker instance; check lists what stratus manages
in a region and how it differs from its configuration; clear removes
everything stratus made there and nothing else. They need an administrator's
token.`,
		Args: cobra.ArbitraryArgs,
		RunE: a.needsSubcommand("stratus region configure|check|clear"),
	}
	cmd.AddCommand(a.newRegionConfigureCmd(), a.newRegionCheckCmd(), a.newRegionClearCmd())
	return cmd
}

// regionArgs accepts one or more region names.
func regionArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usagef("name at least one region: %s", cmd.UseLine())
	}
	return nil
}

// writeRegionSteps writes steps as the table of configure and clear.
func writeRegionSteps(w io.Writer, home string, homeSteps []api.RegionStep, results []api.RegionResult) error {
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "REGION\tSTEP\tNAME\tID\tRESULT\tREASON")
	for _, s := range homeSteps {
		fmt.Fprintf(tw, "%s (home)\t%s\t%s\t%s\t%s\t%s\n", s.Region, s.Step, dash(s.Name), dash(s.ID), s.Result, s.Reason)
	}
	for _, r := range results {
		if len(r.Steps) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tnothing to do\n", r.Region)
		}
		for _, s := range r.Steps {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Region, s.Step, dash(s.Name), dash(s.ID), s.Result, s.Reason)
		}
	}
	return tw.Flush()
}

// failedRegions returns the regions whose result is not OK.
func failedRegions(results []api.RegionResult) []string {
	var out []string
	for _, r := range results {
		if !r.OK {
			out = append(out, r.Region)
		}
	}
	return out
}

// stdinIsTerminal reports whether the command's standard input is a
// terminal someone can answer a question on.
func (a *app) stdinIsTerminal() bool {
	f, ok := a.env.stdin.(*os.File)
	return ok && isTerminal(f)
}

func joinRegions(rs []string) string { return strings.Join(rs, ", ") }
