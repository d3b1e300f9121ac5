package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Reasons recorded on runs the control plane could not see through.
const (
	ReasonRestarted = "control plane restarted mid-run"
	ReasonStopped   = "control plane stopped mid-run"
	ReasonDeleted   = "the schedule was deleted"
)

// Defaults of the controller's knobs.
const (
	DefaultStartTimeout = 10 * time.Minute
	DefaultGrace        = time.Minute
	DefaultMaxListed    = 10
	DefaultOutputLimit  = 256 << 10
	DefaultWorkerType   = "t3.micro"
	DefaultWorkerGB     = 8
)

// errDeleted is the cause a run is cancelled with when its schedule is deleted.
var errDeleted = errors.New(ReasonDeleted)

// Controller starts the runs that schedules' ticks call for and sees every
// run through to its worker being stopped. Runs go on in goroutines of
// their own; Reconcile only decides and starts them, and finishes what a
// previous control plane left (runs it started, workers it did not stop).
type Controller struct {
	Store    store.Store
	Provider provider.Provider
	Hub      *dispatch.Hub
	// Clock is the schedules' clock: ticks, the maximum run time, the
	// agent's start timeout and the times recorded on runs.
	Clock  clock.Clock
	Logger *slog.Logger
	// Launcher launches workers that do not exist yet.
	Launcher cluster.Launcher
	// Workers, if set, gives the launch spec of a configured region's
	// worker (its copied image, security group, key pair and instance
	// profile); a region it does not know is launched with Launcher alone,
	// on the provider's defaults.
	Workers WorkerSpecs
	// Billing and StorageMicros price runs.
	Billing       cost.Billing
	StorageMicros cost.Micros
	// WorkerType and WorkerVolumeGB are those of workers this controller
	// creates (default t3.micro, 8 GB; a region configured by `region
	// configure` has its own type).
	WorkerType     string
	WorkerVolumeGB int
	// StartTimeout bounds the wait for a started worker's agent to take
	// the command, and that for a worker still stopping to stop before it
	// is started again (default 10m).
	StartTimeout time.Duration
	// PollClock paces the looks at a worker that is still stopping: the
	// provider's time, not the schedules'. Default clock.Real{}.
	PollClock clock.Clock
	// Grace is how late a tick may be seen and still be on time (default 1m).
	Grace time.Duration
	// MaxListed bounds the missed ticks recorded one by one per pass
	// (default 10); earlier ones are counted in the last record's reason.
	MaxListed int
	// OutputLimit bounds the output kept per run (default 256 KiB).
	OutputLimit int
	// Interval is the longest RequeueAfter asked for (default 2s).
	Interval time.Duration
	// Stopping, if set, is closed when the control plane shuts down: its
	// HTTP server stops first, cutting the agents' streams, and a run whose
	// stream is cut then is recorded as stopped with the control plane.
	Stopping <-chan struct{}
	// Notify is told of every run that fails or times out; nil tells no one.
	Notify notify.Notifier

	mu     sync.Mutex
	active map[int64]context.CancelCauseFunc // runs going in this process
	locks  map[string]*sync.Mutex            // per worker node
	wg     sync.WaitGroup
}

var _ reconcile.Controller = (*Controller)(nil)

// WorkerSpecs builds the launch spec of a region's worker the way `region
// configure` launches it (region.Service does).
type WorkerSpecs interface {
	// WorkerLaunchSpec returns the spec of worker n with extra tags;
	// configured is false for a region that was never configured.
	WorkerLaunchSpec(ctx context.Context, n *store.Node, extra map[string]string) (spec provider.LaunchSpec, configured bool, err error)
	// WorkerType returns the worker type configured for region, read with
	// q; "" when the region is not configured.
	WorkerType(ctx context.Context, q store.Queries, region string) (string, error)
}

// Name implements reconcile.Controller.
func (c *Controller) Name() string { return "schedule" }

// Wait returns when every run this controller started has ended (after
// the context given to Reconcile was cancelled, each is cut short, marked
// failed and its worker stopped).
func (c *Controller) Wait() { c.wg.Wait() }

func (c *Controller) grace() time.Duration {
	if c.Grace > 0 {
		return c.Grace
	}
	return DefaultGrace
}

func (c *Controller) interval() time.Duration {
	if c.Interval > 0 {
		return c.Interval
	}
	return 2 * time.Second
}

func (c *Controller) isActive(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.active[id]
	return ok
}

func (c *Controller) cancelRun(id int64, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cancel, ok := c.active[id]; ok {
		cancel(cause)
	}
}

// lockNode serialises what is done to one worker: starting it, and
// deciding whether to stop it.
func (c *Controller) lockNode(id string) func() {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = map[string]*sync.Mutex{}
	}
	l := c.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		c.locks[id] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Reconcile makes one pass: it finishes runs a previous control plane left
// unended, records ticks skipped and missed, starts the runs that are due
// and removes schedules being deleted once nothing of theirs is going.
func (c *Controller) Reconcile(ctx context.Context) (reconcile.Result, error) {
	scheds, err := c.Store.ListSchedules(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	byName := map[string]*store.Schedule{}
	for _, sc := range scheds {
		byName[sc.Name] = sc
	}
	unended, err := c.Store.ListScheduleRuns(ctx, store.ScheduleRunFilter{Unended: true})
	if err != nil {
		return reconcile.Result{}, err
	}
	var errs []error
	// A run whose worker is still stopping ends on a later pass; until
	// then the passes come often.
	waiting := false
	settled := func(err error) error {
		if errors.Is(err, errWorkerStopping) {
			waiting = true
			return nil
		}
		return err
	}
	busy := map[string]bool{} // schedules with a run pending or running
	active := map[int64]bool{}
	for _, r := range unended {
		if c.isActive(r.ID) {
			active[r.ID] = true
			busy[r.Schedule] = busy[r.Schedule] || r.State.Busy()
		}
	}
	for _, r := range unended {
		if active[r.ID] {
			continue
		}
		sc := byName[r.Schedule]
		switch r.State {
		case store.RunPending:
			if sc == nil || sc.Deleting {
				errs = append(errs, c.endUnstarted(ctx, r, store.RunCancelled, ReasonDeleted))
				continue
			}
			if busy[r.Schedule] {
				continue // a tick's run started first: this one waits for it
			}
			if err := c.startPending(ctx, sc, r); err != nil {
				errs = append(errs, fmt.Errorf("schedule %s: start run %d: %w", r.Schedule, r.Number, err))
				continue
			}
			busy[r.Schedule] = true
		case store.RunRunning:
			// Not this process's: the control plane that started it is gone.
			// The command is not run again; the worker is stopped.
			c.Logger.Warn("run left by an earlier control plane: marking it failed and stopping its worker",
				"schedule", r.Schedule, "run", r.Number, "node", r.Node)
			errs = append(errs, settled(c.finishOrphan(ctx, r)))
		default:
			// The outcome is known; the worker still has to be stopped.
			errs = append(errs, settled(c.finish(ctx, r)))
		}
	}
	now := c.Clock.Now()
	requeue := c.interval()
	if waiting {
		requeue = min(requeue, stoppingPoll)
	}
	for _, sc := range scheds {
		if sc.Deleting {
			errs = append(errs, c.delete(ctx, sc))
			continue
		}
		next, err := c.tick(ctx, sc, now, busy[sc.Name])
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", sc.Name, err))
		}
		if !next.IsZero() && next.Sub(now) < requeue {
			requeue = max(next.Sub(now), 100*time.Millisecond)
		}
	}
	return reconcile.Result{RequeueAfter: requeue}, errors.Join(errs...)
}

// tick applies Plan for one schedule and returns its next tick.
func (c *Controller) tick(ctx context.Context, sc *store.Schedule, now time.Time, busy bool) (time.Time, error) {
	loc, err := ParseTimezone(sc.Timezone)
	if err != nil {
		return time.Time{}, err
	}
	cr, err := ParseCron(sc.Cron, loc)
	if err != nil {
		return time.Time{}, err
	}
	maxListed := c.MaxListed
	if maxListed <= 0 {
		maxListed = DefaultMaxListed
	}
	d := Plan(Input{
		Cron: cr, Since: since(sc), Now: now, Busy: busy, Grace: c.grace(),
		Regions: sc.Regions, NextRegion: sc.NextRegion, MaxListed: maxListed,
	})
	if d.Since.Equal(since(sc)) {
		return d.Next, nil
	}
	log := c.Logger.With("schedule", sc.Name)
	var run *store.ScheduleRun
	err = c.Store.WithTx(ctx, func(q store.Queries) error {
		cur, err := q.GetSchedule(ctx, sc.Name)
		if err != nil {
			return err
		}
		if cur.Version != sc.Version {
			return nil // changed since read (deleted, run asked for): decide again next pass
		}
		for i, t := range d.Missed {
			reason := "the tick passed while the control plane was down"
			if i == 0 && d.Unlisted > 0 {
				reason += fmt.Sprintf(" (and %d earlier %s since %s)", d.Unlisted, plural(d.Unlisted, "tick", "ticks"), since(sc).UTC().Format(time.RFC3339))
			}
			if err := q.CreateScheduleRun(ctx, &store.ScheduleRun{
				Schedule: sc.Name, Trigger: store.TriggerTick, Tick: t, State: store.RunMissed, Reason: reason,
				ExitCode: -1, EndedAt: now,
			}); err != nil {
				return err
			}
		}
		for _, t := range d.Skipped {
			reason := "the previous run was still going"
			if prev, _ := busyRun(ctx, q, sc.Name); prev != nil {
				reason = fmt.Sprintf("run %d was still %s", prev.Number, prev.State)
			}
			if err := q.CreateScheduleRun(ctx, &store.ScheduleRun{
				Schedule: sc.Name, Trigger: store.TriggerTick, Tick: t, State: store.RunSkipped, Reason: reason,
				ExitCode: -1, EndedAt: now,
			}); err != nil {
				return err
			}
		}
		cur.LastTick = d.Since
		if d.Run != nil {
			worker, err := c.worker(ctx, q, d.Run.Region, now)
			if err != nil {
				return err
			}
			run = &store.ScheduleRun{
				Schedule: sc.Name, Trigger: d.Run.Trigger, Tick: d.Run.Tick, State: store.RunRunning,
				Region: d.Run.Region, Node: worker.ID, InstanceID: worker.InstanceID, StartedAt: now, ExitCode: -1,
			}
			if d.Run.Trigger == store.TriggerCatchUp {
				run.Reason = "catch-up run for ticks missed while the control plane was down"
			}
			if err := q.CreateScheduleRun(ctx, run); err != nil {
				return err
			}
			cur.NextRegion = d.Run.NextRegion
		}
		return q.UpdateSchedule(ctx, cur)
	})
	if err != nil {
		return d.Next, err
	}
	if len(d.Missed) > 0 {
		log.Warn("ticks missed", "count", len(d.Missed)+d.Unlisted)
	}
	for _, t := range d.Skipped {
		log.Info("tick skipped: the previous run is still going", "tick", t)
	}
	if run != nil {
		log.Info("schedule run starting", "run", run.Number, "trigger", run.Trigger, "region", run.Region, "node", run.Node)
		c.launchRun(ctx, sc, run)
	}
	return d.Next, nil
}

// busyRun returns a schedule's pending or running run, if any.
func busyRun(ctx context.Context, q store.Queries, schedule string) (*store.ScheduleRun, error) {
	runs, err := q.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: schedule, Unended: true})
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if r.State.Busy() {
			return r, nil
		}
	}
	return nil, nil
}

// startPending starts a run asked for by `schedule run`: it takes the next
// region in turn and becomes running, with its worker, before the worker
// is started.
func (c *Controller) startPending(ctx context.Context, sc *store.Schedule, r *store.ScheduleRun) error {
	now := c.Clock.Now()
	var run *store.ScheduleRun
	err := c.Store.WithTx(ctx, func(q store.Queries) error {
		cur, err := q.GetSchedule(ctx, sc.Name)
		if err != nil {
			return err
		}
		x, err := q.GetScheduleRun(ctx, r.Schedule, r.Number)
		if err != nil {
			return err
		}
		if x.State != store.RunPending {
			return nil
		}
		region, next := RegionFor(cur.Regions, cur.NextRegion)
		worker, err := c.worker(ctx, q, region, now)
		if err != nil {
			return err
		}
		x.State, x.Region, x.Node, x.InstanceID, x.StartedAt = store.RunRunning, region, worker.ID, worker.InstanceID, now
		if err := q.UpdateScheduleRun(ctx, x); err != nil {
			return err
		}
		cur.NextRegion = next
		run = x
		sc = cur
		return q.UpdateSchedule(ctx, cur)
	})
	if err != nil || run == nil {
		return err
	}
	c.Logger.Info("schedule run starting", "schedule", sc.Name, "run", run.Number, "trigger", run.Trigger, "region", run.Region, "node", run.Node)
	c.launchRun(ctx, sc, run)
	return nil
}

// worker returns the region's worker, creating its record if the region
// has none. The record comes before any instance (the garbage collector
// terminates tagged instances that no record accounts for).
func (c *Controller) worker(ctx context.Context, q store.Queries, region string, now time.Time) (*store.Node, error) {
	nodes, err := q.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: region})
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Cluster == "" && !n.Terminate {
			return n, nil
		}
	}
	typ, gb := c.WorkerType, c.WorkerVolumeGB
	if c.Workers != nil {
		// A configured region's worker is of its configured type.
		t, err := c.Workers.WorkerType(ctx, q, region)
		if err != nil {
			return nil, fmt.Errorf("the configuration of %s: %w", region, err)
		}
		if t != "" {
			typ = t
		}
	}
	if typ == "" {
		typ = DefaultWorkerType
	}
	if gb <= 0 {
		gb = DefaultWorkerGB
	}
	n := &store.Node{
		ID: store.NewNodeID(), Role: store.RoleWorker, Region: region, Type: typ, RootVolumeGB: gb,
		Generation: 1, CreatedAt: now,
	}
	n.TokenHash = auth.AgentTokenHash(c.Launcher.AgentSecret, n.ID, n.Generation)
	if err := q.CreateNode(ctx, n); err != nil {
		return nil, fmt.Errorf("create worker for %s: %w", region, err)
	}
	c.Logger.Info("worker created for region", "region", region, "node", n.ID, "type", typ)
	return n, nil
}

// launchRun runs r in a goroutine of its own, registered as active.
func (c *Controller) launchRun(ctx context.Context, sc *store.Schedule, r *store.ScheduleRun) {
	rctx, cancel := context.WithCancelCause(ctx)
	c.mu.Lock()
	if c.active == nil {
		c.active = map[int64]context.CancelCauseFunc{}
	}
	c.active[r.ID] = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.mu.Lock()
			delete(c.active, r.ID)
			c.mu.Unlock()
			cancel(nil)
		}()
		c.execute(rctx, sc, r)
	}()
}

// delete cuts short the runs of a schedule being deleted and removes it
// once none is left unended.
func (c *Controller) delete(ctx context.Context, sc *store.Schedule) error {
	runs, err := c.Store.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: sc.Name, Unended: true})
	if err != nil {
		return err
	}
	if len(runs) > 0 {
		for _, r := range runs {
			c.cancelRun(r.ID, errDeleted)
		}
		return nil
	}
	err = c.Store.WithTx(ctx, func(q store.Queries) error {
		left, err := q.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: sc.Name, Unended: true})
		if err != nil || len(left) > 0 {
			return err
		}
		return q.DeleteSchedule(ctx, sc.Name)
	})
	if err == nil {
		c.Logger.Info("schedule deleted", "schedule", sc.Name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// endUnstarted ends a run that never started a worker.
func (c *Controller) endUnstarted(ctx context.Context, r *store.ScheduleRun, state store.RunState, reason string) error {
	return c.updateRun(ctx, r, func(x *store.ScheduleRun) {
		x.State, x.Reason, x.EndedAt = state, reason, c.Clock.Now()
	})
}

// finishOrphan ends a run that an earlier control plane left running: it
// is marked failed (the command is not run again) and its worker stopped.
func (c *Controller) finishOrphan(ctx context.Context, r *store.ScheduleRun) error {
	err := c.updateRun(ctx, r, func(x *store.ScheduleRun) {
		if x.State == store.RunRunning {
			x.State, x.Reason = store.RunFailed, ReasonRestarted
		}
	})
	if err != nil {
		return err
	}
	return c.finish(ctx, r)
}

// updateRun re-reads a run in a transaction, applies fn and writes it; r
// is updated to what was written.
func (c *Controller) updateRun(ctx context.Context, r *store.ScheduleRun, fn func(*store.ScheduleRun)) error {
	return c.Store.WithTx(ctx, func(q store.Queries) error {
		x, err := q.GetScheduleRun(ctx, r.Schedule, r.Number)
		if err != nil {
			return err
		}
		fn(x)
		if err := q.UpdateScheduleRun(ctx, x); err != nil {
			return err
		}
		*r = *x
		return nil
	})
}
