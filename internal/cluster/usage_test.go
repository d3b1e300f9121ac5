package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// A stopping instance is billed as stopped from the moment it began to
// stop, and its stop completing opens no further period.
func TestUsageRecorder_StoppingIsBilledAsStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rec := &cluster.UsageRecorder{Store: e.st, Clock: e.clk}
	e.running(t, "lab", reqHeadOnly)
	cl, err := e.st.GetCluster(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	insts := e.instances(t, "lab")
	if len(insts) != 1 {
		t.Fatalf("%d instances, want the head only", len(insts))
	}
	in := insts[0]
	if err := rec.Record(ctx, cl, []provider.Instance{in}); err != nil {
		t.Fatal(err)
	}

	stopAt := e.clk.Now().Add(10 * time.Minute)
	e.clk.Set(stopAt.Add(30 * time.Second))
	in.State, in.StateChangedAt = provider.StateStopping, stopAt
	if err := rec.Record(ctx, cl, []provider.Instance{in}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(time.Minute)
	in.State, in.StateChangedAt = provider.StateStopped, e.clk.Now()
	if err := rec.Record(ctx, cl, []provider.Instance{in}); err != nil {
		t.Fatal(err)
	}

	us, err := e.st.ListUsage(ctx, store.UsageFilter{InstanceID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 {
		t.Fatalf("%d usage periods, want 2 (running, then stopped): %+v", len(us), us)
	}
	run, stopped := us[0], us[1]
	if run.State != "running" || !run.End.Equal(stopAt) {
		t.Errorf("first period is %s ending %s, want running ending when the stop began (%s)", run.State, run.End, stopAt)
	}
	if stopped.State != "stopped" || !stopped.Start.Equal(stopAt) || !stopped.End.IsZero() {
		t.Errorf("second period is %s from %s to %s, want an open stopped period from %s", stopped.State, stopped.Start, stopped.End, stopAt)
	}
}

// Each period records the billing model in force when it opened, and is
// billed by it even after the provider's model changes: a restart with
// another model does not re-bill the past.
func TestUsageRecorder_PeriodsKeepTheirBillingModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	rec := &cluster.UsageRecorder{Store: e.st, Clock: e.clk, Billing: cost.PerHour}
	e.running(t, "lab", reqHeadOnly)
	cl, err := e.st.GetCluster(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	in := e.instances(t, "lab")[0]
	in.LaunchedAt = e.clk.Now()
	if err := rec.Record(ctx, cl, []provider.Instance{in}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Minute)
	us, err := e.st.ListUsage(ctx, store.UsageFilter{InstanceID: in.ID})
	if err != nil || len(us) != 1 {
		t.Fatalf("usage: %+v, %v; want one period", us, err)
	}
	if us[0].Billing != "hour" {
		t.Errorf("the period records billing %q, want hour", us[0].Billing)
	}
	// Reported under per-second billing, the period still owes its
	// started hour.
	r := &cost.Reporter{Store: e.st, Billing: cost.PerSecond, Catalog: cost.DefaultCatalog()}
	got, err := r.SoFar(ctx, "lab", time.Time{}, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := cost.PerHour.Charge(cost.Micros(in.PriceMicros), 10*time.Minute); got != want || want != cost.Micros(in.PriceMicros) {
		t.Errorf("cost so far = %s, want a whole hour at %s = %s", got, cost.Micros(in.PriceMicros), want)
	}
}
