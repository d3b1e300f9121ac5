package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// clusterStopOptions are the arguments and flags of `stratus cluster stop`
// (and of `stratus cluster start`).
type clusterStopOptions struct {
	Name       string
	Wait       bool
	Timeout    time.Duration
	timeoutSet bool
	Output     outputFormat
}

func (a *app) newClusterStopCmd() *cobra.Command {
	var opts clusterStopOptions
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a cluster's instances, keeping their disks",
		Long: `Stop a running cluster: its head and compute instances are stopped, their
disks kept (a stopped instance bills only for its disk). Jobs that were
running go back to the queue and run again once the cluster is started
(stratus cluster start). With --wait, wait until every instance is stopped
(exit 0) or --timeout has passed (exit 8).`,
		Args: exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			opts.timeoutSet = cmd.Flags().Changed("timeout")
			if err := opts.validate(); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			return runClusterStop(cmd.Context(), opts, c, a.env)
		}),
	}
	opts.flags(cmd, "stopped")
	return cmd
}

func (o *clusterStopOptions) flags(cmd *cobra.Command, state string) {
	f := cmd.Flags()
	f.BoolVar(&o.Wait, "wait", false, "wait until the cluster is "+state+", showing progress")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "with --wait, how long to wait")
	addOutputFlag(cmd, &o.Output)
}

func (o clusterStopOptions) validate() error {
	switch {
	case o.timeoutSet && !o.Wait:
		return usagef("--timeout applies only with --wait")
	case o.Timeout <= 0:
		return usagef("--timeout must be positive")
	}
	return nil
}

func runClusterStop(ctx context.Context, opts clusterStopOptions, c *api.Client, e *env) error {
	cl, err := c.StopCluster(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("stop cluster %s: %w", opts.Name, err)
	}
	if !opts.Wait {
		return writeCluster(e.stdout, opts.Output, cl, e.now())
	}
	if cl, err = waitClusterState(ctx, c, e, opts.Name, "stopped", opts.Timeout); err != nil {
		return err
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, cl)
	}
	fmt.Fprintf(e.stdout, "Cluster %s stopped; start it again with 'stratus cluster start %s'.\n", opts.Name, opts.Name)
	return nil
}

// waitClusterState polls cluster name until it is in state want ("stopped"
// or "running"), showing its progress on e.stderr. The cluster going
// another way (failed, deleting, stopped while starting, started while
// stopping) or not existing ends the wait with an error; the server not
// answering does not (it may be restarting).
func waitClusterState(ctx context.Context, c *api.Client, e *env, name, want string, timeout time.Duration) (api.Cluster, error) {
	prog := &progress{w: e.stderr, tty: e.stderrTTY}
	defer prog.done()
	var cl api.Cluster
	seen := false
	timedOut := func() string {
		state := "the server did not answer"
		if seen {
			state = fmt.Sprintf("it is %s (%s)", cl.State, nodeProgress(cl.Nodes))
		}
		return fmt.Sprintf("cluster %s is not %s after %s: %s; follow it with 'stratus cluster show %s'",
			name, want, shortDuration(timeout), state, name)
	}
	err := poll(ctx, e, timeout, timedOut, func(ctx context.Context) (bool, error) {
		next, err := c.GetCluster(ctx, name)
		if isUnreachable(err) && ctx.Err() == nil {
			prog.update(fmt.Sprintf("waiting for %s: server unreachable, retrying", name))
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("cluster %s: %w", name, err)
		}
		cl, seen = next, true
		switch {
		case cl.State == want:
			return true, nil
		case want == "stopped" && cl.State != "stopping",
			want == "running" && cl.State != "starting":
			msg := fmt.Sprintf("cluster %s is %s, not %s", name, cl.State, want)
			if cl.Reason != "" {
				msg += ": " + cl.Reason
			}
			return true, fmt.Errorf("%s", msg)
		}
		line := fmt.Sprintf("%s %s: %s", cl.State, name, nodeProgress(cl.Nodes))
		if cl.Reason != "" {
			line += " (" + cl.Reason + ")"
		}
		prog.update(line)
		return false, nil
	})
	return cl, err
}
