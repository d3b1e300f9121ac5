package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// regionCheckOptions are the arguments and flags of `stratus region check`.
type regionCheckOptions struct {
	Regions []string
	Output  outputFormat
}

func (a *app) newRegionCheckCmd() *cobra.Command {
	var opts regionCheckOptions
	cmd := &cobra.Command{
		Use:   "check REGION...",
		Short: "List what stratus manages in regions and report drift",
		Long: `List every stratus-managed resource in each REGION — image copies, key
pairs, security groups, workers — and report how the region differs from
what 'stratus region configure' would make of it: a missing or failed image,
changed rules, a different or missing key, a missing, unregistered or extra
worker, resources no longer configured. Check changes nothing. The exit
code is 1 if any region drifted or could not be checked.`,
		Example: `  stratus region check local-2 local-3
  stratus region check local-2 -o json`,
		Args: regionArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Regions = args
			return withClient(a, cmd, opts, runRegionCheck)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runRegionCheck(ctx context.Context, opts regionCheckOptions, c *api.Client, e *env) error {
	resp, err := c.CheckRegions(ctx, opts.Regions)
	if err != nil {
		return fmt.Errorf("check %s: %w", joinRegions(opts.Regions), err)
	}
	var drifted, broken []string
	homes := map[string]bool{}
	for _, r := range resp.Regions {
		if r.Error != "" {
			broken = append(broken, r.Region)
		} else if len(r.Drift) > 0 {
			drifted = append(drifted, r.Region)
			homes[r.Home] = true
		}
	}
	if opts.Output != formatTable {
		if err := writeStructured(e.stdout, opts.Output, resp); err != nil {
			return err
		}
	} else if err := writeRegionCheck(e, resp); err != nil {
		return err
	}
	switch {
	case len(broken) > 0:
		return fmt.Errorf("could not check %s", joinRegions(broken))
	case len(drifted) > 0 && len(homes) == 1 && !homes[""]:
		var home string
		for h := range homes {
			home = h
		}
		return fmt.Errorf("drift in %s; to repair it run: stratus region configure %s --from %s",
			joinRegions(drifted), strings.Join(drifted, " "), home)
	case len(drifted) > 0:
		return fmt.Errorf("drift in %s; 'stratus region configure' repairs a configured region, 'stratus region clear' empties one", joinRegions(drifted))
	}
	return nil
}

func writeRegionCheck(e *env, resp api.RegionCheckResponse) error {
	w := e.stdout
	tw := newTabWriter(w)
	fmt.Fprintln(tw, "REGION\tKIND\tNAME\tID\tSTATE")
	for _, r := range resp.Regions {
		if len(r.Resources) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\t-\tnothing managed by stratus\n", r.Region)
		}
		for _, res := range r.Resources {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Region, res.Kind, dash(res.Name), dash(res.ID), dash(res.State))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var clean []string
	anyDrift := false
	for _, r := range resp.Regions {
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "\n%s: cannot check: %s\n", r.Region, r.Error)
		case len(r.Drift) == 0:
			clean = append(clean, r.Region)
		default:
			anyDrift = true
		}
	}
	if anyDrift {
		fmt.Fprintln(w, "\nDrift:")
		tw = newTabWriter(w)
		fmt.Fprintln(tw, "REGION\tKIND\tNAME\tID\tPROBLEM")
		for _, r := range resp.Regions {
			for _, d := range r.Drift {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Region, d.Kind, dash(d.Name), dash(d.ID), d.Problem)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	var unconfigured []string
	for _, r := range resp.Regions {
		if !r.Configured && r.Error == "" {
			unconfigured = append(unconfigured, r.Region)
		}
	}
	fmt.Fprintln(w)
	if len(unconfigured) > 0 {
		fmt.Fprintf(w, "Not configured: %s.\n", joinRegions(unconfigured))
	}
	if len(clean) > 0 {
		fmt.Fprintf(w, "No drift in %s.\n", joinRegions(clean))
	}
	return nil
}
