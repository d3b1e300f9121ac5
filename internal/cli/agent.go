package cli

import (
	"context"
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/internal/agent"
)

// agentOptions are the flags of `stratus agent`.
type agentOptions struct {
	InstanceDir string
}

func (a *app) newAgentCmd() *cobra.Command {
	var opts agentOptions
	cmd := &cobra.Command{
		Use:   "agent --instance-dir DIR",
		Short: "Run the node agent of an instance",
		Long: `Run the stratus node agent for the instance whose directory holds
agent.json. Providers start it on every instance; people rarely need to.`,
		Hidden: true,
		Args:   exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if err := opts.validate(); err != nil {
				return err
			}
			return runAgent(cmd.Context(), opts, a.env)
		}),
	}
	cmd.Flags().StringVar(&opts.InstanceDir, "instance-dir", "", "the instance's `DIR`, holding agent.json")
	return cmd
}

func (o agentOptions) validate() error {
	if o.InstanceDir == "" {
		return usagef("missing --instance-dir DIR")
	}
	return nil
}

func runAgent(ctx context.Context, opts agentOptions, e *env) error {
	err := agent.Run(ctx, agent.Options{
		InstanceDir: opts.InstanceDir,
		Logger:      slog.New(slog.NewTextHandler(e.stderr, nil)),
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
