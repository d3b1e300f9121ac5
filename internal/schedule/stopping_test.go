package schedule

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/store"
)

// slowStop is a cloud whose instances take a while to stop, as EC2's and
// the local cloud's do: after Stop an instance is listed stopping for the
// next `looks` Describe calls that list it, and Start refuses it meanwhile
// (EC2's IncorrectInstanceState). It counts the Stop and Start calls that
// reach it.
type slowStop struct {
	*fake.Provider
	looks int

	mu      sync.Mutex
	left    map[string]int // instance → looks left while it is stopping
	stops   int
	starts  int
	refused int
	masked  int // looks that showed an instance stopping
}

func (p *slowStop) Stop(ctx context.Context, region, id string) error {
	if err := p.Provider.Stop(ctx, region, id); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stops++
	if _, stopping := p.left[id]; !stopping {
		p.left[id] = p.looks
	}
	return nil
}

func (p *slowStop) Describe(ctx context.Context, region string, f provider.Filter) ([]provider.Instance, error) {
	ins, err := p.Provider.Describe(ctx, region, f)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range ins {
		left, stopping := p.left[ins[i].ID]
		switch {
		case !stopping:
		case left > 0 && ins[i].State == provider.StateStopped:
			ins[i].State = provider.StateStopping
			p.left[ins[i].ID] = left - 1
			p.masked++
		default:
			delete(p.left, ins[i].ID)
		}
	}
	return ins, err
}

func (p *slowStop) Start(ctx context.Context, region, id string) error {
	p.mu.Lock()
	if _, stopping := p.left[id]; stopping {
		p.refused++
		p.mu.Unlock()
		return fmt.Errorf("start %s: the instance is still stopping", id)
	}
	p.starts++
	p.mu.Unlock()
	return p.Provider.Start(ctx, region, id)
}

func (p *slowStop) seen() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.masked
}

func (p *slowStop) counts() (stops, starts, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stops, p.starts, p.refused
}

// A run ends once its worker is stopped, not when the stop is asked: while
// the cloud shows the worker stopping, the run's goroutine, or the passes
// of a control plane that took the run over, look again, asking nothing
// twice. A run that needs the worker meanwhile waits for the stop to
// complete and then starts it, instead of failing.
func TestController_WorkerStillStopping(t *testing.T) {
	h := newHarness(t, day(0, 30))
	h.create(api.CreateScheduleRequest{Name: "s", Cron: "@monthly", Region: "fake-1", Argv: []string{"x"}})
	slow := &slowStop{Provider: h.prov, looks: 3, left: map[string]int{}}

	// Run 1 ends in its goroutine, once the worker has been seen stopped.
	c, ctx := h.controller()
	c.Provider = slow
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(c, ctx)
	first := h.waitEnded("s", 1)
	h.checkRun(first, store.RunSucceeded, 0, "fake-1", "")
	if seen := slow.seen(); seen != 3 {
		t.Errorf("the run ended after its worker was seen stopping %d times, want 3 (until it was stopped)", seen)
	}
	n, err := h.st.GetNode(ctx, first.Node)
	if err != nil {
		t.Fatal(err)
	}
	if n.InstanceState != string(provider.StateStopped) {
		t.Errorf("worker recorded %q once run 1 ended, want stopped", n.InstanceState)
	}
	h.checkStopped("fake-1")

	// Run 2 is left running by a control plane that died (its time stands
	// still; its agent never comes). The next control plane's pass marks it
	// failed and stops its worker; the run ends once the worker is stopped.
	h.agents.setMode("down")
	dead, deadCtx := h.controllerWithClock(clock.NewFake(day(0, 31)))
	dead.Provider = slow
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	h.reconcile(dead, deadCtx)
	h.waitRun("s", 2, "started", func(r *store.ScheduleRun) bool { return r.InstanceID != "" })
	for deadline := time.Now().Add(10 * time.Second); h.workerStates()["fake-1"] != provider.StateRunning; {
		if time.Now().After(deadline) {
			t.Fatalf("run 2's worker is %s, want running", h.workerStates()["fake-1"])
		}
		time.Sleep(time.Millisecond)
	}

	c, ctx = h.controller()
	c.Provider = slow
	res, err := c.Reconcile(ctx)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	second, _ := h.st.GetScheduleRun(ctx, "s", 2)
	h.checkRun(second, store.RunFailed, -1, "fake-1", ReasonRestarted)
	if !second.EndedAt.IsZero() {
		t.Fatalf("run 2 ended while its worker was stopping: %+v", second)
	}
	if res.RequeueAfter > time.Second {
		t.Errorf("a pass while a worker stops asks to come back after %v", res.RequeueAfter)
	}
	if open, _ := h.st.ListUsage(ctx, store.UsageFilter{OpenOnly: true}); len(open) != 0 {
		t.Errorf("usage still open once the stop was asked: %+v", open)
	}

	// Run 3 is asked for while the worker is still stopping: it waits for
	// the stop, then starts the worker.
	h.agents.setMode("ok")
	if _, err := h.svc.RunNow(ctx, ada, "s"); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		h.reconcile(c, ctx)
		r2, _ := h.st.GetScheduleRun(ctx, "s", 2)
		r3, _ := h.st.GetScheduleRun(ctx, "s", 3)
		if !r2.EndedAt.IsZero() && !r3.EndedAt.IsZero() {
			break
		}
		if i == 200 {
			t.Fatalf("runs not ended: %+v, %+v", r2, r3)
		}
		time.Sleep(50 * time.Millisecond)
	}
	third, _ := h.st.GetScheduleRun(ctx, "s", 3)
	h.checkRun(third, store.RunSucceeded, 0, "fake-1", "")
	h.checkStopped("fake-1")
	stops, starts, refused := slow.counts()
	if stops != 3 || starts != 2 || refused != 0 {
		t.Errorf("%d stops, %d starts, %d starts refused; want 3 (one per run), 2 (run 2's, run 3's once the worker stopped), 0", stops, starts, refused)
	}
}
