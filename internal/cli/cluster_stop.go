package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/spec"
)

func (a *app) newClusterStopCmd() *cobra.Command {
	var opts clusterChangeOptions
	cmd := &cobra.Command{
		Use:   "stop NAME",
		Short: "Stop a cluster's instances, keeping their disks",
		Long: `Stop a running cluster: its head and compute instances are stopped, their
disks kept (a stopped instance bills only for its disk). Jobs that were
running go back to the queue and run again once the cluster is started
(stratus cluster start). With --wait, wait until every instance is stopped
(exit 0) or --timeout has passed (exit 8).`,
	}
	return a.clusterChangeCmd(cmd, &opts, "stopped", nil, func(ctx context.Context, c *api.Client, e *env) error {
		return runClusterPower(ctx, opts, c, e, "stop", "stopped", c.StopCluster, func(cl api.Cluster) string {
			return fmt.Sprintf("Cluster %s stopped; start it again with 'stratus cluster start %s'.", opts.Name, opts.Name)
		})
	})
}

// runClusterPower stops or starts cluster opts.Name (verb, through call)
// and with --wait waits until it is want, then writes it, or the line
// done returns for a table.
func runClusterPower(ctx context.Context, opts clusterChangeOptions, c *api.Client, e *env, verb, want string,
	call func(context.Context, string) (api.Cluster, error), done func(api.Cluster) string) error {
	cl, err := call(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("%s cluster %s: %w", verb, opts.Name, err)
	}
	if !opts.Wait {
		return writeCluster(e.stdout, opts.Output, cl, e.now())
	}
	if cl, err = waitClusterState(ctx, c, e, opts.Name, want, opts.Timeout); err != nil {
		return err
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, cl)
	}
	fmt.Fprintln(e.stdout, done(cl))
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
			name, want, spec.ShortDuration(timeout), state, name)
	}
	err := pollCluster(ctx, c, e, prog, name, timeout, timedOut, func(next *api.Cluster) (bool, error) {
		cl, seen = *next, true
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
		showState(prog, &cl)
		return false, nil
	})
	return cl, err
}
