package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// regionConfigureOptions are the arguments and flags of `stratus region
// configure`.
type regionConfigureOptions struct {
	Regions         []string
	From            string
	Image           string
	KeyFile         string
	KeyName         string
	SecurityGroup   string
	InstanceProfile string
	WorkerType      string
	Output          outputFormat
}

func (a *app) newRegionConfigureCmd() *cobra.Command {
	var opts regionConfigureOptions
	cmd := &cobra.Command{
		Use:   "configure REGION... --from HOME [--image NAME] [--key-file PUBKEY] [--security-group NAME] [--instance-profile NAME] [--worker-type TYPE]",
		Short: "Replicate the home region to regions and give each a stopped worker",
		Long: `Replicate the home region to every REGION, in parallel: copy the image and
wait until the copy is available, import the public key, create the
security group with the home group's rules, make sure the instance profile
exists, and launch one worker instance from the copied image, which is
stopped once its agent has registered.

Each step finds what already exists by its tags and skips it, so running the
command again after a failure finishes the job, and after a success creates
nothing. A table shows each region and step: created, found, repaired,
removed (an extra of ours), failed with the reason, or skipped after a
failure. The exit code is 1 if any region failed.

--image names the home region's image (default: the base image,
stratus-base). --security-group names the home region's group whose rules
are copied (default stratus); if the home region has none of that name,
configure creates it there with the rule tcp 22 from 0.0.0.0/0. --key-file
is an ssh public key (a .pub file; - reads stdin) imported into every region
as --key-name (default stratus-INSTALLATION); without it, a region keeps the
key it was configured with before.`,
		Example: `  stratus region configure local-2 local-3 local-4 --from local-1 --key-file ~/.ssh/id_ed25519.pub
  stratus region configure local-2 --from local-1 --security-group monitoring -o json`,
		Args: regionArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Regions = args
			if opts.From == "" {
				return usagef("--from HOME is required: the region to copy from")
			}
			req, err := opts.request(a.env)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return runRegionConfigure(cmd.Context(), opts, req, c, a.env)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.From, "from", "", "the home `REGION` to copy from (required)")
	f.StringVar(&opts.Image, "image", "", "the home region's image `NAME` to copy (default stratus-base)")
	f.StringVar(&opts.KeyFile, "key-file", "", "ssh public key `FILE` to import into every region (- reads stdin)")
	f.StringVar(&opts.KeyName, "key-name", "", "the key pair's `NAME` (default stratus-INSTALLATION)")
	f.StringVar(&opts.SecurityGroup, "security-group", "", "the home region's security group `NAME` whose rules are copied (default stratus)")
	f.StringVar(&opts.InstanceProfile, "instance-profile", "", "instance profile `NAME` for the workers (default stratus-worker)")
	f.StringVar(&opts.WorkerType, "worker-type", "", "the workers' instance `TYPE` (default t3.micro)")
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

// request builds the API request, reading --key-file.
func (o *regionConfigureOptions) request(e *env) (api.RegionConfigureRequest, error) {
	req := api.RegionConfigureRequest{
		Regions: o.Regions, Home: o.From, Image: o.Image, KeyName: o.KeyName,
		SecurityGroup: o.SecurityGroup, InstanceProfile: o.InstanceProfile, WorkerType: o.WorkerType,
	}
	if o.KeyFile != "" {
		var data []byte
		var err error
		if o.KeyFile == "-" {
			data, err = io.ReadAll(io.LimitReader(e.stdin, 64<<10))
		} else {
			data, err = e.readFile(o.KeyFile)
		}
		if err != nil {
			return req, fmt.Errorf("read --key-file: %w", err)
		}
		req.PublicKey = string(data)
	}
	return req, nil
}

func runRegionConfigure(ctx context.Context, opts regionConfigureOptions, req api.RegionConfigureRequest, c *api.Client, e *env) error {
	if e.stderrTTY {
		fmt.Fprintf(e.stderr, "configuring %s from %s (copying the image, booting the workers)…\n", joinRegions(opts.Regions), opts.From)
	}
	resp, err := c.ConfigureRegions(ctx, req)
	if err != nil {
		return fmt.Errorf("configure %s: %w", joinRegions(opts.Regions), err)
	}
	if opts.Output != formatTable {
		if err := writeStructured(e.stdout, opts.Output, resp); err != nil {
			return err
		}
	} else if err := writeRegionSteps(e.stdout, resp.Home, resp.HomeSteps, resp.Regions); err != nil {
		return err
	}
	if failed := failedRegions(resp.Regions); len(failed) > 0 {
		return fmt.Errorf("configure failed in %s (%d of %d regions): fix what the failed steps above say, then run the same command again to finish (what is done is found, not redone)", joinRegions(failed), len(failed), len(resp.Regions))
	}
	if opts.Output == formatTable {
		fmt.Fprintf(e.stdout, "Configured %s from %s.\n", joinRegions(opts.Regions), opts.From)
	}
	return nil
}
