package schedule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

var ada = cluster.Caller{User: "ada"}

// agents play the agents of every worker: while a worker's instance runs
// (as the fake provider shows it), its agent polls the hub and runs the
// commands it is given by the behaviour set with setMode.
type agents struct {
	t     *testing.T
	st    store.Store
	prov  *fake.Provider
	clk   *clock.Fake
	hub   atomic.Pointer[dispatch.Hub]
	mode  atomic.Value // string
	cut   atomic.Int32 // streams cut by the control plane (command killed)
	ran   atomic.Int32 // commands started
	wrong atomic.Int32 // commands handed out while the instance was not running
	mu    sync.Mutex
	seen  map[string]bool
}

func (a *agents) setMode(m string) { a.mode.Store(m) }

func (a *agents) run(ctx context.Context) {
	for ctx.Err() == nil {
		nodes, err := a.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker})
		if err == nil {
			for _, n := range nodes {
				a.mu.Lock()
				if !a.seen[n.ID] {
					a.seen[n.ID] = true
					go a.serve(ctx, n.ID)
				}
				a.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (a *agents) running(ctx context.Context, node string) bool {
	n, err := a.st.GetNode(ctx, node)
	if err != nil {
		return false
	}
	insts, err := a.prov.Describe(ctx, n.Region, provider.Filter{Tags: map[string]string{provider.TagNode: node}})
	if err != nil {
		return false
	}
	for _, in := range insts {
		if in.State == provider.StateRunning {
			return true
		}
	}
	return false
}

func (a *agents) serve(ctx context.Context, node string) {
	for ctx.Err() == nil {
		if a.mode.Load() == "down" || !a.running(ctx, node) {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		hub := a.hub.Load()
		pctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		work := hub.Poll(pctx, node)
		cancel()
		for _, x := range work {
			if !a.running(ctx, node) {
				a.wrong.Add(1)
			}
			go a.exec(ctx, hub, node, x)
		}
	}
}

func (a *agents) exec(ctx context.Context, hub *dispatch.Hub, node string, x api.ExecAssignment) {
	a.ran.Add(1)
	mode, _ := a.mode.Load().(string)
	var frames []api.ExecFrame
	exit := func(code int) api.ExecFrame { return api.ExecFrame{Exit: &code} }
	switch mode {
	case "ok":
		frames = []api.ExecFrame{{Stream: "stdout", Data: []byte("hello from " + node + "\n")}, exit(0)}
	case "fail":
		frames = []api.ExecFrame{{Stream: "stderr", Data: []byte("oops\n")}, exit(3)}
	case "big":
		frames = []api.ExecFrame{{Stream: "stdout", Data: []byte(strings.Repeat("x", 300<<10))}, exit(0)}
	}
	i := 0
	next := func() (api.ExecFrame, bool) {
		if mode == "hang" {
			time.Sleep(5 * time.Millisecond) // output now and then, until the stream is cut
			return api.ExecFrame{Stream: "stdout", Data: []byte(".")}, ctx.Err() == nil
		}
		if i == len(frames)-1 && mode == "ok" {
			a.clk.Advance(2 * time.Minute) // the command takes two minutes
		}
		if i >= len(frames) {
			return api.ExecFrame{}, false
		}
		i++
		return frames[i-1], true
	}
	if err := hub.Stream(ctx, node, x.ID, next); errors.Is(err, context.Canceled) && ctx.Err() == nil {
		a.cut.Add(1)
	}
}

type harness struct {
	t      *testing.T
	st     store.Store
	prov   *fake.Provider
	clk    *clock.Fake
	agents *agents
	svc    *Service
}

func newHarness(t *testing.T, start time.Time) *harness {
	t.Helper()
	st := sqlitetest.Open(t)
	clk := clock.NewFake(start)
	prov := fake.New(fake.Options{Clock: clk, Regions: []string{"fake-1", "fake-2"}})
	h := &harness{t: t, st: st, prov: prov, clk: clk}
	h.agents = &agents{t: t, st: st, prov: prov, clk: clk, seen: map[string]bool{}}
	h.agents.setMode("ok")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.agents.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	catalog := cost.DefaultCatalog()
	h.svc = &Service{Store: st, Clock: clk, Logger: discard(), Regions: []string{"fake-1", "fake-2"},
		Billing: cost.PerSecond, StorageMicros: catalog.StorageMicrosPerGBMonth}
	return h
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// controller returns a controller with a hub of its own (a control plane
// process), whose runs are cut short when the test ends.
func (h *harness) controller() (*Controller, context.Context) {
	return h.controllerWithClock(h.clk)
}

// controllerWithClock returns a controller on its own clock: a control
// plane that is killed is one whose time stands still.
func (h *harness) controllerWithClock(clk clock.Clock) (*Controller, context.Context) {
	hub := dispatch.NewHub()
	h.agents.hub.Store(hub)
	c := &Controller{
		Store: h.st, Provider: h.prov, Hub: hub, Clock: clk, Logger: discard(),
		Launcher: cluster.Launcher{Installation: "inst", AgentSecret: "secret", AdvertiseURL: "http://cp"},
		Billing:  cost.PerSecond, StorageMicros: cost.DefaultCatalog().StorageMicrosPerGBMonth,
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.t.Cleanup(func() { cancel(); c.Wait() })
	return c, ctx
}

func (h *harness) reconcile(c *Controller, ctx context.Context) {
	h.t.Helper()
	if _, err := c.Reconcile(ctx); err != nil {
		h.t.Fatalf("Reconcile: %v", err)
	}
}

func (h *harness) create(req api.CreateScheduleRequest) {
	h.t.Helper()
	if _, err := h.svc.Create(context.Background(), ada, req); err != nil {
		h.t.Fatalf("Create: %v", err)
	}
}

// waitRun waits until run number of schedule satisfies cond.
func (h *harness) waitRun(schedule string, number int, what string, cond func(*store.ScheduleRun) bool) *store.ScheduleRun {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := h.st.GetScheduleRun(context.Background(), schedule, number)
		if err == nil && cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("run %d of %s is not %s: %+v (%v)", number, schedule, what, r, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) waitEnded(schedule string, number int) *store.ScheduleRun {
	h.t.Helper()
	return h.waitRun(schedule, number, "ended", func(r *store.ScheduleRun) bool { return !r.EndedAt.IsZero() })
}

func (h *harness) waitCommand(schedule string, number int) *store.ScheduleRun {
	h.t.Helper()
	return h.waitRun(schedule, number, "running its command", func(r *store.ScheduleRun) bool { return !r.CommandStartedAt.IsZero() })
}

// workerStates returns the state of every worker instance, by region.
func (h *harness) workerStates() map[string]provider.State {
	h.t.Helper()
	out := map[string]provider.State{}
	for _, region := range []string{"fake-1", "fake-2"} {
		insts, err := h.prov.Describe(context.Background(), region, provider.Filter{Tags: map[string]string{provider.TagRole: "worker"}})
		if err != nil {
			h.t.Fatal(err)
		}
		for _, in := range insts {
			if _, dup := out[region]; dup {
				h.t.Errorf("two workers in %s", region)
			}
			out[region] = in.State
		}
	}
	return out
}

func (h *harness) checkRun(r *store.ScheduleRun, state store.RunState, exit int, region, reason string) {
	h.t.Helper()
	if r.State != state || r.ExitCode != exit || r.Region != region || !strings.Contains(r.Reason, reason) {
		h.t.Errorf("run %d: state %s, exit %d, region %s, reason %q; want %s, %d, %s, reason with %q",
			r.Number, r.State, r.ExitCode, r.Region, r.Reason, state, exit, region, reason)
	}
}

func (h *harness) checkStopped(regions ...string) {
	h.t.Helper()
	got := h.workerStates()
	for _, region := range regions {
		if got[region] != provider.StateStopped {
			h.t.Errorf("worker in %s is %q, want stopped (workers: %v)", region, got[region], got)
		}
	}
	open, err := h.st.ListUsage(context.Background(), store.UsageFilter{OpenOnly: true})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(open) != 0 {
		h.t.Errorf("%d usage periods still open, want none: %+v", len(open), open[0])
	}
}

func runOutput(t *testing.T, st store.Store, r *store.ScheduleRun) string {
	t.Helper()
	out, err := st.ScheduleRunOutput(context.Background(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestController_SeveralTicks drives a rotating schedule through ticks on
// a controllable clock: a command that succeeds, one that fails, one that
// hangs past the maximum run time (with a tick skipped meanwhile). After
// each the worker is stopped and the run recorded.
func TestController_SeveralTicks(t *testing.T) {
	h := newHarness(t, day(0, 29))
	h.create(api.CreateScheduleRequest{Name: "sync", Cron: "30 0,6,12,18 * * *", Rotate: []string{"fake-1", "fake-2"},
		MaxRuntime: "7h", Argv: []string{"job"}})
	c, ctx := h.controller()

	h.reconcile(c, ctx)
	if runs, _ := h.st.ListScheduleRuns(ctx, store.ScheduleRunFilter{}); len(runs) != 0 {
		t.Fatalf("runs before the first tick: %+v", runs)
	}

	// 00:30: a command that succeeds, in fake-1 (its worker is created).
	h.clk.Set(day(0, 30))
	h.reconcile(c, ctx)
	r := h.waitEnded("sync", 1)
	h.checkRun(r, store.RunSucceeded, 0, "fake-1", "")
	if got := runOutput(t, h.st, r); !strings.HasPrefix(got, "hello from n-") {
		t.Errorf("output = %q, want the command's", got)
	}
	// Two minutes of a t3.micro ($0.0104/h), billed per second: 347 µ$.
	if r.CostMicros != 347 || !r.Tick.Equal(day(0, 30)) || r.Trigger != store.TriggerTick || r.CommandStartedAt.IsZero() {
		t.Errorf("run 1: cost %d µ$, tick %v, trigger %s, command started %v; want 347, 00:30, tick, set",
			r.CostMicros, r.Tick, r.Trigger, r.CommandStartedAt)
	}
	h.checkStopped("fake-1")

	// 06:30: a command that fails, in fake-2.
	h.agents.setMode("fail")
	h.clk.Set(day(6, 30))
	h.reconcile(c, ctx)
	r = h.waitEnded("sync", 2)
	h.checkRun(r, store.RunFailed, 3, "fake-2", "exited with code 3")
	if got := runOutput(t, h.st, r); got != "oops\n" {
		t.Errorf("output = %q, want oops", got)
	}
	h.checkStopped("fake-1", "fake-2")

	// 12:30: a command that hangs, back in fake-1 (its stopped worker is
	// started again). The 18:30 tick comes while it goes: skipped.
	h.agents.setMode("hang")
	h.clk.Set(day(12, 30))
	h.reconcile(c, ctx)
	h.waitCommand("sync", 3)
	if got := h.workerStates()["fake-1"]; got != provider.StateRunning {
		t.Fatalf("worker in fake-1 is %s during run 3, want running", got)
	}
	h.clk.Set(day(18, 30))
	h.reconcile(c, ctx)
	skipped, err := h.st.GetScheduleRun(ctx, "sync", 4)
	if err != nil {
		t.Fatalf("tick at 18:30 not recorded: %v", err)
	}
	h.checkRun(skipped, store.RunSkipped, -1, "", "run 3 was still running")
	// 19:30 is 7h after the command started: it is killed.
	h.clk.Set(day(19, 31))
	r = h.waitEnded("sync", 3)
	h.checkRun(r, store.RunTimedOut, -1, "fake-1", "maximum run time of 7h0m0s")
	h.checkStopped("fake-1", "fake-2")
	for deadline := time.Now().Add(5 * time.Second); h.agents.cut.Load() != 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := h.agents.cut.Load(); got != 1 {
		t.Errorf("%d command streams cut, want 1 (the hanging one)", got)
	}

	if got := h.prov.Calls(fake.MethodLaunch); got != 2 {
		t.Errorf("%d launches, want 2 (a worker per region)", got)
	}
	if got := h.prov.Calls(fake.MethodStart); got != 1 {
		t.Errorf("%d starts, want 1 (fake-1's worker, for run 3)", got)
	}
	if got := h.agents.wrong.Load(); got != 0 {
		t.Errorf("%d commands were handed to a worker that was not running", got)
	}
	sc, err := h.st.GetSchedule(ctx, "sync")
	if err != nil {
		t.Fatal(err)
	}
	if !sc.LastTick.Equal(day(18, 30)) || sc.NextRegion != 1 {
		t.Errorf("schedule: last tick %v, next region %d; want 18:30, 1", sc.LastTick, sc.NextRegion)
	}
}

// TestController_RestartMidRun kills a control plane mid-run (its process
// is simply abandoned) and starts another while ticks pass: the run is
// marked failed, not run again, and its worker stopped; the ticks missed
// are recorded and one catch-up run is made.
func TestController_RestartMidRun(t *testing.T) {
	h := newHarness(t, day(0, 29))
	h.create(api.CreateScheduleRequest{Name: "probe", Cron: "30 0,6,12,18 * * *", Region: "fake-2",
		MaxRuntime: "1h", Argv: []string{"probe"}})
	// The first control plane's clock stops when it dies (it is simply
	// abandoned, as kill -9 would leave it: no more writes of its own).
	dead, deadCtx := h.controllerWithClock(clock.NewFake(day(0, 30)))
	h.agents.setMode("hang")
	h.clk.Set(day(0, 30))
	h.reconcile(dead, deadCtx)
	h.waitCommand("probe", 1)

	// The control plane dies. 13:00: a new one starts; 06:30 and 12:30
	// passed while it was down.
	h.clk.Set(day(0, 45))
	h.agents.setMode("ok")
	c, ctx := h.controller()
	h.clk.Set(day(13, 0))
	before := h.agents.ran.Load()
	h.reconcile(c, ctx)
	r, err := h.st.GetScheduleRun(ctx, "probe", 1)
	if err != nil {
		t.Fatal(err)
	}
	h.checkRun(r, store.RunFailed, -1, "fake-2", ReasonRestarted)
	if r.EndedAt.IsZero() {
		t.Errorf("run 1 not ended after the new control plane's first pass")
	}
	for n, tick := range map[int]time.Time{2: day(6, 30), 3: day(12, 30)} {
		m, err := h.st.GetScheduleRun(ctx, "probe", n)
		if err != nil {
			t.Fatalf("missed tick %v not recorded: %v", tick, err)
		}
		h.checkRun(m, store.RunMissed, -1, "", "control plane was down")
		if !m.Tick.Equal(tick) {
			t.Errorf("run %d: tick %v, want %v", n, m.Tick, tick)
		}
	}
	r = h.waitEnded("probe", 4)
	h.checkRun(r, store.RunSucceeded, 0, "fake-2", "catch-up")
	if r.Trigger != store.TriggerCatchUp || !r.Tick.Equal(day(12, 30)) {
		t.Errorf("run 4: trigger %s tick %v, want catch-up for 12:30", r.Trigger, r.Tick)
	}
	h.checkStopped("fake-2")
	if got := h.agents.ran.Load() - before; got != 1 {
		t.Errorf("%d commands ran after the restart, want 1 (the catch-up; run 1 is not run again)", got)
	}
	h.reconcile(c, ctx)
	if runs, _ := h.st.ListScheduleRuns(ctx, store.ScheduleRunFilter{}); len(runs) != 4 {
		t.Errorf("%d runs after another pass, want 4", len(runs))
	}
}

func TestController_ShutdownStopsTheWorker(t *testing.T) {
	h := newHarness(t, day(0, 30))
	h.create(api.CreateScheduleRequest{Name: "s", Cron: "@daily", Region: "fake-1", Argv: []string{"x"}})
	c, _ := h.controller()
	ctx, cancel := context.WithCancel(context.Background())
	h.agents.setMode("hang")
	if _, err := h.svc.RunNow(context.Background(), ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(c, ctx)
	h.waitCommand("s", 1)
	cancel()
	c.Wait()
	r, err := h.st.GetScheduleRun(context.Background(), "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	h.checkRun(r, store.RunFailed, -1, "fake-1", ReasonStopped)
	if r.EndedAt.IsZero() || r.Trigger != store.TriggerManual {
		t.Errorf("run: ended %v trigger %s; want ended, manual", r.EndedAt, r.Trigger)
	}
	h.checkStopped("fake-1")
}

func TestController_DeleteWhileRunning(t *testing.T) {
	h := newHarness(t, day(0, 30))
	h.create(api.CreateScheduleRequest{Name: "s", Cron: "@daily", Region: "fake-1", Argv: []string{"x"}})
	c, ctx := h.controller()
	h.agents.setMode("hang")
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(c, ctx)
	h.waitCommand("s", 1)
	v, err := h.svc.Delete(ctx, ada, "s")
	if err != nil || v.State != "deleting" {
		t.Fatalf("Delete = %s, %v; want deleting", v.State, err)
	}
	if _, err := h.svc.RunNow(ctx, ada, "s"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("RunNow while deleting = %v, want conflict", err)
	}
	h.reconcile(c, ctx)
	r := h.waitEnded("s", 1)
	h.checkRun(r, store.RunCancelled, -1, "fake-1", ReasonDeleted)
	h.checkStopped("fake-1")
	h.reconcile(c, ctx)
	if _, err := h.st.GetSchedule(ctx, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("schedule after its run ended: %v, want gone", err)
	}
}

func TestController_ManualRunsAndStartTimeout(t *testing.T) {
	h := newHarness(t, day(0, 30))
	h.create(api.CreateScheduleRequest{Name: "s", Cron: "@monthly", Rotate: []string{"fake-2", "fake-1"}, Argv: []string{"x"}})
	c, ctx := h.controller()

	run, err := h.svc.RunNow(ctx, ada, "s")
	if err != nil || run.State != "pending" || run.Number != 1 {
		t.Fatalf("RunNow = %+v, %v", run, err)
	}
	if _, err := h.svc.RunNow(ctx, ada, "s"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second RunNow = %v, want conflict", err)
	}
	if _, err := h.svc.RunNow(ctx, cluster.Caller{User: "bob"}, "s"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RunNow by another user = %v, want not found", err)
	}
	h.reconcile(c, ctx)
	h.checkRun(h.waitEnded("s", 1), store.RunSucceeded, 0, "fake-2", "")

	// The agent never comes: the run fails after the start timeout, and
	// the worker is stopped all the same.
	h.agents.setMode("down")
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(c, ctx)
	h.waitRun("s", 2, "started", func(r *store.ScheduleRun) bool { return r.InstanceID != "" })
	time.Sleep(20 * time.Millisecond)
	h.clk.Advance(DefaultStartTimeout)
	h.checkRun(h.waitEnded("s", 2), store.RunFailed, -1, "fake-1", "did not take the command within 10m")
	h.checkStopped("fake-1", "fake-2")

	// Output beyond the bound is dropped, with a marker.
	h.agents.setMode("big")
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(c, ctx)
	r := h.waitEnded("s", 3)
	out := runOutput(t, h.st, r)
	if !r.OutputTruncated || !strings.HasSuffix(out, "[stratus: output truncated at 256 KiB; the rest was dropped]\n") ||
		r.OutputBytes != int64(len(out)) || len(out) > DefaultOutputLimit+100 {
		t.Errorf("run 3: truncated %v, %d bytes, ends %q", r.OutputTruncated, r.OutputBytes, out[max(0, len(out)-80):])
	}

	got, err := h.svc.Run(ctx, ada, "s", 0)
	if err != nil || got.Number != 3 {
		t.Errorf("latest run = %d, %v; want 3", got.Number, err)
	}
}

func TestController_ReplacesAWorkerWhoseInstanceIsGone(t *testing.T) {
	h := newHarness(t, day(0, 30))
	h.create(api.CreateScheduleRequest{Name: "s", Cron: "@monthly", Region: "fake-1", Argv: []string{"x"}})
	c, ctx := h.controller()
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(c, ctx)
	first := h.waitEnded("s", 1)
	if err := h.prov.Terminate(ctx, "fake-1", first.InstanceID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(c, ctx)
	second := h.waitEnded("s", 2)
	h.checkRun(second, store.RunSucceeded, 0, "fake-1", "")
	if second.InstanceID == first.InstanceID || second.Node != first.Node {
		t.Errorf("runs on %s/%s then %s/%s: want the same worker on a new instance", first.Node, first.InstanceID, second.Node, second.InstanceID)
	}
	n, err := h.st.GetNode(ctx, second.Node)
	if err != nil || n.Generation != 2 {
		t.Errorf("worker generation = %v (%v), want 2", n, err)
	}
	launches := h.prov.Launches()
	if len(launches) != 2 || launches[0].ClientToken == launches[1].ClientToken ||
		launches[1].Tags[provider.TagRole] != "worker" || launches[1].Tags[provider.TagNode] != n.ID || launches[1].Agent.Token == "" {
		t.Errorf("launches: %+v", launches)
	}
}

func TestValidate(t *testing.T) {
	regions := []string{"r1", "r2"}
	ok := api.CreateScheduleRequest{Name: "s", Cron: "0 * * * *", Region: "r1", Argv: []string{"x"}}
	tests := []struct {
		name  string
		edit  func(*api.CreateScheduleRequest)
		field string
		msg   string
	}{
		{"BadName", func(r *api.CreateScheduleRequest) { r.Name = "-x" }, "name", "must match"},
		{"CronFields", func(r *api.CreateScheduleRequest) { r.Cron = "0 * * *" }, "cron", "has 4 fields: want five fields"},
		{"CronRange", func(r *api.CreateScheduleRequest) { r.Cron = "0 24 * * *" }, "cron", `hour field "24": end of range (24) above maximum (23)`},
		{"CronWord", func(r *api.CreateScheduleRequest) { r.Cron = "x * * * *" }, "cron", `minute field "x": want *, a number`},
		{"CronNever", func(r *api.CreateScheduleRequest) { r.Cron = "0 0 31 2 *" }, "cron", "never fires"},
		{"CronTZ", func(r *api.CreateScheduleRequest) { r.Cron = "CRON_TZ=UTC 0 * * * *" }, "cron", "give the time zone with --timezone"},
		{"Timezone", func(r *api.CreateScheduleRequest) { r.Timezone = "Mars/Olympus" }, "timezone", `unknown time zone "Mars/Olympus"`},
		{"NoRegion", func(r *api.CreateScheduleRequest) { r.Region = "" }, "region", "give the region"},
		{"Both", func(r *api.CreateScheduleRequest) { r.Rotate = []string{"r2"} }, "region", "not both"},
		{"UnknownRegion", func(r *api.CreateScheduleRequest) { r.Region = "r9" }, "region", `unknown region "r9"; this provider has r1, r2`},
		{"RotateTwice", func(r *api.CreateScheduleRequest) { r.Region, r.Rotate = "", []string{"r1", "r1"} }, "rotate", `"r1" is given twice`},
		{"MaxRuntime", func(r *api.CreateScheduleRequest) { r.MaxRuntime = "soon" }, "max_runtime", "not a duration"},
		{"MaxRuntimeRange", func(r *api.CreateScheduleRequest) { r.MaxRuntime = "200h" }, "max_runtime", "must be between 1s and 168h"},
		{"NoCommand", func(r *api.CreateScheduleRequest) { r.Argv = nil }, "argv", "give the command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := ok
			tc.edit(&req)
			_, err := Validate(req, regions)
			if err == nil || !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Validate = %v, want %s: …%s…", err, tc.field, tc.msg)
			}
		})
	}
	sc, err := Validate(ok, regions)
	if err != nil || sc.Timezone != "UTC" || sc.MaxRuntime != DefaultMaxRuntime || fmt.Sprint(sc.Regions) != "[r1]" || sc.Rotate {
		t.Errorf("Validate(ok) = %+v, %v", sc, err)
	}
}
