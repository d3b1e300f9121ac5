package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/spec"
)

var errWaitTimeout = errors.New("wait timed out")

// poll calls step every e.pollInterval until it reports done or fails, for
// at most timeout. When the time is up it returns a *timeoutError with the
// message timedOut gives; when ctx ends it returns ctx's error.
func poll(ctx context.Context, e *env, timeout time.Duration, timedOut func() string, step func(ctx context.Context) (done bool, err error)) error {
	wctx, cancel := context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
	defer cancel()
	ended := func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &timeoutError{msg: timedOut()}
	}
	for {
		done, err := step(wctx)
		switch {
		case done:
			return err
		case wctx.Err() != nil:
			return ended()
		case err != nil:
			return err
		}
		t := time.NewTimer(e.pollInterval)
		select {
		case <-wctx.Done():
			t.Stop()
			return ended()
		case <-t.C:
		}
	}
}

// isUnreachable reports whether err is a failure to reach the server, as
// opposed to an answer from it.
func isUnreachable(err error) bool {
	_, ok := errors.AsType[*url.Error](err)
	return ok
}

// waitRunning polls cluster name until it is running and returns it,
// showing the nodes' progress on e.stderr. first, if not nil, is the
// cluster as last seen. The cluster failing, being deleted, stopped or not
// existing ends the wait with an error; the server not answering does not
// (it may be restarting).
func waitRunning(ctx context.Context, c *api.Client, e *env, name string, first *api.Cluster, timeout time.Duration) (api.Cluster, error) {
	prog := &progress{w: e.stderr, tty: e.stderrTTY}
	defer prog.done()
	var cl *api.Cluster
	check := func() (bool, error) {
		switch cl.State {
		case "running":
			return true, nil
		case "failed":
			return true, fmt.Errorf("cluster %s failed: %s", name, dash(cl.Reason))
		case "deleting":
			return true, fmt.Errorf("cluster %s is being deleted", name)
		case "stopping", "stopped":
			why := ""
			if cl.Reason != "" {
				why = " (" + cl.Reason + ")"
			}
			return true, fmt.Errorf("cluster %s is %s%s; start it with 'stratus cluster start %s'", name, cl.State, why, name)
		}
		showState(prog, cl)
		return false, nil
	}
	timedOut := func() string {
		state := "the server did not answer"
		if cl != nil {
			state = fmt.Sprintf("it is %s (%s)", cl.State, nodeProgress(cl.Nodes))
		}
		return fmt.Sprintf("cluster %s is not running after %s: %s; it may still come up: follow it with 'stratus cluster show %s'",
			name, spec.ShortDuration(timeout), state, name)
	}
	if first != nil {
		cl = first
		if done, err := check(); done {
			return *cl, err
		}
	}
	err := pollCluster(ctx, c, e, prog, name, timeout, timedOut, func(next *api.Cluster) (bool, error) {
		cl = next
		return check()
	})
	if err != nil {
		return api.Cluster{}, err
	}
	return *cl, nil
}

// pollCluster calls check with cluster name every e.pollInterval until it
// reports done or fails, for at most timeout (see poll). The server not
// answering is shown on prog and retried: it may be restarting.
func pollCluster(ctx context.Context, c *api.Client, e *env, prog *progress, name string, timeout time.Duration, timedOut func() string, check func(cl *api.Cluster) (bool, error)) error {
	return poll(ctx, e, timeout, timedOut, func(ctx context.Context) (bool, error) {
		next, err := c.GetCluster(ctx, name)
		if isUnreachable(err) && ctx.Err() == nil {
			prog.update(fmt.Sprintf("waiting for %s: server unreachable, retrying", name))
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("cluster %s: %w", name, err)
		}
		return check(&next)
	})
}

// showState shows cl's state and its nodes' progress on prog.
func showState(prog *progress, cl *api.Cluster) {
	line := fmt.Sprintf("%s %s: %s", cl.State, cl.Name, nodeProgress(cl.Nodes))
	if cl.Reason != "" {
		line += " (" + cl.Reason + ")"
	}
	prog.update(line)
}

// waitDeleted polls cluster name until it is gone, showing the instances
// that remain on e.stderr. first, if not nil, is the cluster as last seen.
func waitDeleted(ctx context.Context, c *api.Client, e *env, name string, first *api.Cluster, timeout time.Duration) error {
	prog := &progress{w: e.stderr, tty: e.stderrTTY}
	defer prog.done()
	last := first
	show := func(cl api.Cluster) {
		n := remainingInstances(cl)
		noun := "instances"
		if n == 1 {
			noun = "instance"
		}
		line := fmt.Sprintf("deleting %s: %d %s remaining", name, n, noun)
		if cl.Reason != "" {
			line += " (" + cl.Reason + ")"
		}
		prog.update(line)
	}
	if first != nil {
		show(*first)
	}
	timedOut := func() string {
		state := "the server did not answer"
		if last != nil {
			state = fmt.Sprintf("it is %s with %d instances remaining", last.State, remainingInstances(*last))
		}
		return fmt.Sprintf("cluster %s is not gone after %s: %s; deletion continues on the server: follow it with 'stratus cluster show %s'",
			name, spec.ShortDuration(timeout), state, name)
	}
	return poll(ctx, e, timeout, timedOut, func(ctx context.Context) (bool, error) {
		next, err := c.GetCluster(ctx, name)
		switch {
		case api.IsNotFound(err):
			return true, nil
		case isUnreachable(err) && ctx.Err() == nil:
			prog.update(fmt.Sprintf("waiting for %s: server unreachable, retrying", name))
			return false, nil
		case err != nil:
			return false, fmt.Errorf("cluster %s: %w", name, err)
		}
		last = &next
		show(next)
		return false, nil
	})
}

// remainingInstances counts the instances not yet terminated.
func remainingInstances(cl api.Cluster) int {
	n := 0
	for _, in := range cl.Instances {
		if in.State != "terminated" {
			n++
		}
	}
	return n
}
