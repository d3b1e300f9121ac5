package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/agent"
)

// agentOptions are the flags of `stratus agent`.
type agentOptions struct {
	InstanceDir string
	EC2         bool
	ConfigDir   string
}

func (a *app) newAgentCmd() *cobra.Command {
	var opts agentOptions
	cmd := &cobra.Command{
		Use:   "agent (--instance-dir DIR | --ec2 --config-dir DIR)",
		Short: "Run the node agent of an instance",
		Long: `Run the stratus node agent. On the local provider it runs in the
instance's directory, which holds agent.json. On EC2 (--ec2) the user-data
script installs it with its config in --config-dir and it learns the
instance's identity and spot notices from instance metadata (IMDSv2).
Providers start it on every instance; people rarely need to.`,
		Hidden: true,
		Args:   exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			return runAgent(cmd.Context(), opts, a.env)
		}),
	}
	cmd.Flags().StringVar(&opts.InstanceDir, "instance-dir", "", "the local instance's `DIR`, holding agent.json")
	cmd.Flags().BoolVar(&opts.EC2, "ec2", false, "run on an EC2 instance: identity and notices from instance metadata")
	cmd.Flags().StringVar(&opts.ConfigDir, "config-dir", "", "with --ec2: the `DIR` holding agent.json (server URL and token)")
	return cmd
}

func (o agentOptions) validate() error {
	switch {
	case o.EC2 && o.ConfigDir == "":
		return usagef("--ec2 needs --config-dir DIR")
	case o.EC2 && o.InstanceDir != "":
		return usagef("--ec2 and --instance-dir do not go together")
	case !o.EC2 && o.ConfigDir != "":
		return usagef("--config-dir goes with --ec2")
	case !o.EC2 && o.InstanceDir == "":
		return usagef("missing --instance-dir DIR (or --ec2 --config-dir DIR)")
	}
	return nil
}

func runAgent(ctx context.Context, opts agentOptions, e *env) error {
	ao := agent.Options{InstanceDir: opts.InstanceDir, Logger: slog.New(slog.NewTextHandler(e.stderr, nil))}
	if opts.EC2 {
		imds := agent.NewIMDS("")
		cfg, err := agent.LoadEC2Config(ctx, opts.ConfigDir, imds)
		if err != nil {
			return err
		}
		ao.InstanceDir, ao.Config = opts.ConfigDir, &cfg
		ao.WatchNotices = func(ctx context.Context, report func(api.Notice)) { agent.WatchIMDS(ctx, imds, report) }
	}
	err := agent.Run(ctx, ao)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
