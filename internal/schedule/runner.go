package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// flushEvery is how much new output makes the runner save it before the
// run ends, so that `schedule logs` shows a long run's progress.
const flushEvery = 32 << 10

// outcome is how a run's command ended.
type outcome struct {
	state  store.RunState
	reason string
	exit   int
}

// execute runs r through: starts its worker, runs the command, records the
// outcome and the output, and stops the worker. It is called in a goroutine
// of its own, with r already recorded as running with its worker.
func (c *Controller) execute(ctx context.Context, sc *store.Schedule, r *store.ScheduleRun) {
	log := c.Logger.With("schedule", r.Schedule, "run", r.Number, "region", r.Region, "node", r.Node)
	out := &output{limit: c.OutputLimit}
	if out.limit <= 0 {
		out.limit = DefaultOutputLimit
	}
	res := c.runCommand(ctx, log, sc, r, out)

	// The outcome and the worker's stop are written whatever happened to
	// ctx: a control plane shutting down still stops the worker.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	data, truncated := out.bytes()
	mine := false
	err := c.updateRun(wctx, r, func(x *store.ScheduleRun) {
		// Only a run still running is this goroutine's to end: if another
		// control plane took it for left over, its outcome stands.
		if mine = x.State == store.RunRunning; mine {
			x.State, x.ExitCode = res.state, res.exit
			if res.reason != "" {
				x.Reason = res.reason
			}
			x.OutputBytes, x.OutputTruncated = int64(len(data)), truncated
		}
	})
	if err == nil && mine {
		err = c.Store.SetScheduleRunOutput(wctx, r.ID, data)
	}
	if err != nil {
		log.Error("cannot record the run's outcome", "state", res.state, "err", err)
	}
	log.Info("schedule run ended", "state", res.state, "reason", res.reason, "exit", res.exit)
	// The run ends once its worker is stopped: while the provider shows it
	// stopping, look again (on shutdown too, within wctx).
	err = c.finish(wctx, r)
	for errors.Is(err, errWorkerStopping) {
		select {
		case <-wctx.Done():
			err = fmt.Errorf("the worker is still stopping: %w", wctx.Err())
		case <-c.pollClock().After(stoppingPoll):
			err = c.finish(wctx, r)
		}
	}
	if err != nil {
		log.Error("cannot stop the run's worker; the next pass tries again", "err", err)
	}
}

// errWorkerStopping means a worker was asked to stop and is still
// stopping: the run that stopped it ends later (its goroutine or a later
// pass looks again), once the provider shows it stopped.
var errWorkerStopping = errors.New("the worker is still stopping")

// stoppingPoll is how often a worker that is still stopping is looked at
// again.
const stoppingPoll = 200 * time.Millisecond

func (c *Controller) pollClock() clock.Clock {
	if c.PollClock != nil {
		return c.PollClock
	}
	return clock.Real{}
}

func (c *Controller) startTimeout() time.Duration {
	if c.StartTimeout > 0 {
		return c.StartTimeout
	}
	return DefaultStartTimeout
}

// waitStopped looks at worker n's instance inst, which is stopping, every
// stoppingPoll on the poll clock until it is not (or is gone), and returns
// it as it is then. It gives up after the start timeout.
func (c *Controller) waitStopped(ctx context.Context, log *slog.Logger, n *store.Node, inst provider.Instance) (provider.Instance, bool, error) {
	clk := c.pollClock()
	deadline := clk.Now().Add(c.startTimeout())
	log.Info("the worker is still stopping; it is started once it has stopped", "instance", inst.ID)
	for {
		select {
		case <-ctx.Done():
			return inst, true, ctx.Err()
		case <-clk.After(stoppingPoll):
		}
		got, found, err := c.findInstance(ctx, n)
		if err != nil || !found || got.State != provider.StateStopping {
			return got, found, err
		}
		if !clk.Now().Before(deadline) {
			return got, true, fmt.Errorf("instance %s is still stopping after %s", got.ID, c.startTimeout())
		}
	}
}

// stopping reports whether the control plane is shutting down.
func (c *Controller) stopping() bool {
	select {
	case <-c.Stopping:
		return true
	default:
		return false
	}
}

func failed(format string, args ...any) outcome {
	return outcome{state: store.RunFailed, reason: fmt.Sprintf(format, args...), exit: -1}
}

// interrupted is the outcome of a run whose context ended.
func interrupted(ctx context.Context) outcome {
	if errors.Is(context.Cause(ctx), errDeleted) {
		return outcome{state: store.RunCancelled, reason: ReasonDeleted, exit: -1}
	}
	return failed("%s", ReasonStopped)
}

// runCommand starts the worker, waits for its agent to take the command,
// and copies the command's output until it exits, fails, or runs past the
// schedule's maximum run time (then its session is cancelled: the agent
// kills the command when its stream is cut, and stopping the worker kills
// whatever is left).
func (c *Controller) runCommand(ctx context.Context, log *slog.Logger, sc *store.Schedule, r *store.ScheduleRun, out *output) outcome {
	if err := c.startWorker(ctx, log, sc, r); err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx)
		}
		return failed("start the worker: %v", err)
	}
	s := c.Hub.Start(r.Node, api.ExecRequest{Argv: sc.Argv})
	defer c.Hub.Cancel(s)
	timeout := c.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	select {
	case <-s.Picked():
	case <-c.Clock.After(timeout):
		return failed("the worker's agent did not take the command within %s of the worker's start", timeout)
	case <-ctx.Done():
		return interrupted(ctx)
	}
	started := c.Clock.Now()
	// The deadline is set before the start is recorded: whoever sees the
	// command started sees it bounded.
	deadline := c.Clock.After(sc.MaxRuntime)
	if err := c.updateRun(ctx, r, func(x *store.ScheduleRun) { x.CommandStartedAt = started }); err != nil {
		log.Warn("cannot record the command's start", "err", err)
	}
	log.Info("command started on the worker")
	flushed := 0
	for {
		select {
		case f, ok := <-s.Frames:
			switch {
			case !ok && c.stopping():
				return failed("%s", ReasonStopped)
			case !ok:
				return failed("the worker's agent stopped streaming before the command finished")
			case f.Error != "":
				return failed("%s", f.Error)
			case f.Exit != nil && *f.Exit == 0:
				return outcome{state: store.RunSucceeded, exit: 0}
			case f.Exit != nil:
				return outcome{state: store.RunFailed, reason: fmt.Sprintf("the command exited with code %d", *f.Exit), exit: *f.Exit}
			}
			out.write(f.Data)
			if n := out.len(); n-flushed >= flushEvery {
				data, _ := out.bytes()
				if err := c.Store.SetScheduleRunOutput(ctx, r.ID, data); err == nil {
					flushed = n
				}
			}
		case <-deadline:
			c.Hub.Cancel(s)
			log.Warn("command killed: it ran past the schedule's maximum run time", "max_runtime", sc.MaxRuntime)
			return outcome{state: store.RunTimedOut, reason: fmt.Sprintf("killed after the maximum run time of %s", sc.MaxRuntime), exit: -1}
		case <-ctx.Done():
			return interrupted(ctx)
		}
	}
}

// findInstance returns the worker's instance: by its recorded id, else by
// its node tag (a launch whose answer was lost). found is false if there
// is none, or only a terminated one.
func (c *Controller) findInstance(ctx context.Context, n *store.Node) (provider.Instance, bool, error) {
	f := provider.Filter{Tags: map[string]string{provider.TagInstallation: c.Launcher.Installation, provider.TagNode: n.ID}}
	if n.InstanceID != "" {
		f = provider.Filter{IDs: []string{n.InstanceID}}
	}
	insts, err := c.Provider.Describe(ctx, n.Region, f)
	if err != nil {
		return provider.Instance{}, false, fmt.Errorf("describe the worker: %w", err)
	}
	for _, in := range insts {
		if !in.State.Gone() && in.State != provider.StateShuttingDown {
			return in, true, nil
		}
	}
	return provider.Instance{}, false, nil
}

// startWorker makes sure r's worker is running: it launches the worker if
// it has no instance (again, with a new generation, if its instance is
// gone), starts it if it is stopped, and leaves it if it runs (another run
// uses it). A running period of usage is opened when it was not running.
func (c *Controller) startWorker(ctx context.Context, log *slog.Logger, sc *store.Schedule, r *store.ScheduleRun) error {
	defer c.lockNode(r.Node)()
	n, err := c.Store.GetNode(ctx, r.Node)
	if err != nil {
		return fmt.Errorf("worker %s: %w", r.Node, err)
	}
	inst, found, err := c.findInstance(ctx, n)
	if err != nil {
		return err
	}
	if found && inst.State == provider.StateStopping {
		// A run that ended moments ago asked it to stop: let the stop
		// complete, then start it again.
		if inst, found, err = c.waitStopped(ctx, log, n, inst); err != nil {
			return err
		}
	}
	started := false
	switch {
	case !found:
		if n.InstanceID != "" {
			// Its instance is gone: launch a replacement.
			n, err = c.updateNode(ctx, n.ID, func(x *store.Node) {
				x.Generation++
				x.TokenHash = auth.AgentTokenHash(c.Launcher.AgentSecret, x.ID, x.Generation)
				x.InstanceID, x.InstanceState, x.Address, x.PriceMicros = "", "", "", 0
				x.LaunchedAt, x.RegisteredAt, x.LastHeartbeat = time.Time{}, time.Time{}, time.Time{}
			})
			if err != nil {
				return err
			}
		}
		spec, err := c.workerSpec(ctx, n, sc.Owner)
		if err != nil {
			msg := err.Error()
			_, _ = c.updateNode(ctx, n.ID, func(x *store.Node) { x.LastError = msg })
			return err
		}
		launchedAt := c.Clock.Now()
		inst, err = c.Provider.Launch(ctx, spec)
		if err != nil {
			msg := err.Error()
			_, _ = c.updateNode(ctx, n.ID, func(x *store.Node) { x.LastError = msg })
			return fmt.Errorf("launch: %w", err)
		}
		log.Info("worker launched", "instance", inst.ID, "type", inst.Type)
		started = true
		n, err = c.updateNode(ctx, n.ID, func(x *store.Node) {
			if x.LaunchedAt.IsZero() {
				x.LaunchedAt = launchedAt
			}
		})
		if err != nil {
			return err
		}
	case inst.State == provider.StateStopped:
		if err := c.Provider.Start(ctx, n.Region, inst.ID); err != nil {
			return fmt.Errorf("start %s: %w", inst.ID, err)
		}
		log.Info("worker started", "instance", inst.ID)
		inst.State = provider.StatePending
		started = true
	}
	if _, err := c.updateNode(ctx, n.ID, func(x *store.Node) {
		x.InstanceID, x.InstanceState, x.PriceMicros, x.LastError = inst.ID, string(inst.State), inst.PriceMicros, ""
		if inst.Address != "" {
			x.Address = inst.Address
		}
	}); err != nil {
		return err
	}
	if err := c.updateRun(ctx, r, func(x *store.ScheduleRun) { x.InstanceID = inst.ID }); err != nil {
		return err
	}
	if started {
		u := &store.Usage{
			InstanceID: inst.ID, Region: n.Region, Owner: sc.Owner, Node: n.ID, Type: inst.Type, Spot: inst.Spot,
			PriceMicros: inst.PriceMicros, VolumeGB: inst.RootVolumeGB, State: "running", Start: c.Clock.Now(),
			Billing: c.Billing.Name,
		}
		if err := c.Store.OpenUsage(ctx, u); err != nil {
			log.Warn("cannot record the worker's usage", "err", err)
		}
	}
	return nil
}

// workerSpec is the launch spec of worker n, owned by owner: the way
// `region configure` launches it when its region is configured, else
// with the provider's defaults.
func (c *Controller) workerSpec(ctx context.Context, n *store.Node, owner string) (provider.LaunchSpec, error) {
	extra := map[string]string{provider.TagOwner: owner}
	if c.Workers != nil {
		spec, configured, err := c.Workers.WorkerLaunchSpec(ctx, n, extra)
		if err != nil {
			return spec, fmt.Errorf("the launch of a configured region's worker: %w", err)
		}
		if configured {
			return spec, nil
		}
	}
	return c.Launcher.Spec(n, extra), nil
}

// finish ends r once its outcome is known: its worker is stopped unless
// another run is using it (that run stops it when it ends), its usage
// closed, and its cost recorded. Repeating it is harmless.
func (c *Controller) finish(ctx context.Context, r *store.ScheduleRun) error {
	x, err := c.Store.GetScheduleRun(ctx, r.Schedule, r.Number)
	if err != nil {
		return err
	}
	if !x.EndedAt.IsZero() {
		*r = *x
		return nil
	}
	if x.Node != "" {
		if err := c.stopUnlessUsed(ctx, x); err != nil {
			return err
		}
	}
	end := c.Clock.Now()
	if n, err := c.Store.GetNode(ctx, x.Node); err == nil && x.InstanceID == "" {
		x.InstanceID = n.InstanceID
	}
	m, err := RunCost(ctx, c.Store, x, end, c.Billing, c.StorageMicros)
	if err != nil {
		return err
	}
	instance := x.InstanceID
	return c.endRun(ctx, r, func(y *store.ScheduleRun) {
		if y.InstanceID == "" {
			y.InstanceID = instance
		}
		if y.StartedAt.IsZero() || end.Before(y.StartedAt) {
			end = y.StartedAt
		}
		y.EndedAt, y.CostMicros = end, int64(m)
	})
}

// stopUnlessUsed stops r's worker unless another run is going on it.
func (c *Controller) stopUnlessUsed(ctx context.Context, r *store.ScheduleRun) error {
	defer c.lockNode(r.Node)()
	runs, err := c.Store.ListScheduleRuns(ctx, store.ScheduleRunFilter{Unended: true})
	if err != nil {
		return err
	}
	for _, o := range runs {
		if o.ID != r.ID && o.Node == r.Node && o.State == store.RunRunning {
			c.Logger.Info("worker left running for another run", "node", r.Node, "schedule", o.Schedule, "run", o.Number)
			return nil
		}
	}
	return c.stopWorker(ctx, r.Node)
}

// stopWorker stops a worker's instance and closes its usage (from when
// the stop was asked). A worker without a record or instance has nothing
// to stop. While the provider shows the instance stopping it returns
// errWorkerStopping: calling it again looks again, and asks nothing twice.
func (c *Controller) stopWorker(ctx context.Context, nodeID string) error {
	n, err := c.Store.GetNode(ctx, nodeID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	inst, found, err := c.findInstance(ctx, n)
	if err != nil {
		return err
	}
	state := "terminated"
	stopping := false
	if found {
		if inst.State != provider.StateStopped && inst.State != provider.StateStopping {
			if err := c.Provider.Stop(ctx, n.Region, inst.ID); err != nil && !errors.Is(err, provider.ErrNotFound) {
				return fmt.Errorf("stop worker %s (%s): %w", nodeID, inst.ID, err)
			}
			c.Logger.Info("worker stopping", "node", nodeID, "instance", inst.ID, "region", n.Region)
			// The provider may have stopped it already, or be stopping it.
			again, ok, err := c.findInstance(ctx, n)
			if err != nil {
				return err
			}
			if ok {
				inst = again
			}
		}
		state = string(inst.State)
		stopping = inst.State != provider.StateStopped
	}
	if _, err := c.updateNode(ctx, nodeID, func(x *store.Node) {
		if x.InstanceID != "" {
			x.InstanceState = state
		}
	}); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if inst.ID == "" {
		inst.ID = n.InstanceID
	}
	if inst.ID == "" {
		return nil
	}
	open, err := c.Store.ListUsage(ctx, store.UsageFilter{InstanceID: inst.ID, OpenOnly: true})
	if err != nil {
		return err
	}
	now := c.Clock.Now()
	for _, u := range open {
		if u.Cluster != "" {
			continue // a cluster's instance: its controller keeps its usage
		}
		end := now
		if end.Before(u.Start) {
			end = u.Start
		}
		if err := c.Store.CloseUsage(ctx, u.ID, end); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if stopping {
		return errWorkerStopping
	}
	return nil
}

// updateNode re-reads a node in a transaction, applies fn and writes it.
func (c *Controller) updateNode(ctx context.Context, id string, fn func(*store.Node)) (*store.Node, error) {
	var n *store.Node
	err := c.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		if n, err = q.GetNode(ctx, id); err != nil {
			return err
		}
		fn(n)
		return q.UpdateNode(ctx, n)
	})
	return n, err
}

// output is a run's output as it came (stdout and stderr interleaved),
// kept up to limit bytes; then a marker says the rest was dropped.
type output struct {
	limit     int
	buf       bytes.Buffer
	truncated bool
}

func (o *output) write(p []byte) {
	if o.truncated {
		return
	}
	if room := o.limit - o.buf.Len(); len(p) > room {
		o.buf.Write(p[:room])
		o.buf.WriteString(fmt.Sprintf("\n[stratus: output truncated at %d KiB; the rest was dropped]\n", o.limit>>10))
		o.truncated = true
		return
	}
	o.buf.Write(p)
}

func (o *output) len() int { return o.buf.Len() }

func (o *output) bytes() ([]byte, bool) { return bytes.Clone(o.buf.Bytes()), o.truncated }
