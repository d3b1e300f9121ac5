package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// execOptions are the arguments and flags of `stratus exec`.
type execOptions struct {
	Cluster string
	Argv    []string
	// Stdin sends the CLI's standard input to the command.
	Stdin bool
}

func (a *app) newExecCmd() *cobra.Command {
	var opts execOptions
	cmd := &cobra.Command{
		Use:   "exec NAME -- COMMAND [ARG...]",
		Short: "Run a command on a cluster's head node",
		Long: `Run a command on a cluster's head node, streaming its output, and exit
with its exit code. Everything after -- is the command. Standard input is
sent to the command only with --stdin.`,
		Example: `  stratus exec demo -- hostname
  stratus exec demo --stdin -- sh -c 'wc -l' < jobs.txt`,
		Args: nameThenCommand("stratus exec", "NAME", "cluster NAME", ""),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Cluster = args[0]
			opts.Argv = args[cmd.ArgsLenAtDash():]
			return withClient(a, cmd, opts, runExec)
		}),
	}
	cmd.Flags().BoolVar(&opts.Stdin, "stdin", false, "send standard input to the command")
	return cmd
}

func runExec(ctx context.Context, opts execOptions, c *api.Client, e *env) error {
	req := api.ExecRequest{Argv: opts.Argv}
	if opts.Stdin {
		data, err := io.ReadAll(e.stdin)
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		req.Stdin = data
	}
	code, err := c.Exec(ctx, opts.Cluster, req, e.stdout, e.stderr)
	if err != nil {
		return fmt.Errorf("exec on cluster %s: %w", opts.Cluster, err)
	}
	switch {
	case code == 0:
		return nil
	case code < 0 || code > 255:
		// Not a code a process can exit with (os.Exit(256) would be 0).
		return fmt.Errorf("exec on cluster %s: the command ended with status %d", opts.Cluster, code)
	}
	return &exitStatus{code: code}
}
