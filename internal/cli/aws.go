package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/internal/awspolicy"
)

// awsPolicyOptions are the flags of `stratus aws policy`.
type awsPolicyOptions struct {
	installation    string
	instanceRoleARN string
	which           string
}

func (a *app) newAWSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "aws", Short: "What stratus needs on AWS"}
	var opts awsPolicyOptions
	policy := &cobra.Command{
		Use:   "policy",
		Short: "Print the least-privilege IAM policies stratus needs on AWS",
		Long: `Print the IAM policy the control plane needs (mutating EC2 actions are
conditioned on this installation's stratus:installation tag), the policy of
the instances' role (nothing: the agent talks only to the control plane and
to instance metadata) and that role's trust policy. The installation id is
read from the server when it answers, else give --installation.`,
		Args: exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if opts.which != "all" && opts.which != "control-plane" && opts.which != "instance-role" && opts.which != "instance-trust" {
				return usagef("--only must be all, control-plane, instance-role or instance-trust, got %q", opts.which)
			}
			if opts.installation == "" {
				c, err := a.client()
				if err == nil {
					ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
					v, verr := c.Version(ctx)
					cancel()
					if verr == nil {
						opts.installation = v.Installation
					}
				}
			}
			if opts.installation == "" {
				return usagef("the server did not answer: give --installation ID (see `stratus version` on the server's machine)")
			}
			o := awspolicy.Options{Installation: opts.installation, InstanceRoleARN: opts.instanceRoleARN}
			if err := o.Validate(); err != nil {
				return usagef("%v", err)
			}
			out := a.env.stdout
			show := func(name, title, doc string) {
				if opts.which == "all" {
					fmt.Fprintf(out, "# %s\n", title)
				}
				if opts.which == "all" || opts.which == name {
					fmt.Fprintln(out, doc)
				}
			}
			show("control-plane", "Control plane policy (attach to the user or role stratus serve runs as)", awspolicy.ControlPlane(o))
			show("instance-role", "Instance role policy (the role of the instance profile instances run with)", awspolicy.InstanceRole())
			show("instance-trust", "Instance role trust policy", awspolicy.InstanceRoleTrust())
			return nil
		}),
	}
	policy.Flags().StringVar(&opts.installation, "installation", "", "the installation `ID` (default: asked from the server)")
	policy.Flags().StringVar(&opts.instanceRoleARN, "instance-role-arn", "", "`ARN` of the instances' role, the only role the control plane may pass")
	policy.Flags().StringVar(&opts.which, "only", "all", "print one document: control-plane, instance-role or instance-trust")
	cmd.AddCommand(policy)
	return cmd
}
