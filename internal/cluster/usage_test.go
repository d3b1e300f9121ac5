package cluster_test

import (
	"context"
	"strings"
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

// A running instance seen under another billing model (the provider's
// model changed) starts a new run under it from then on; what ran before
// stays billed as recorded.
func TestUsageRecorder_ModelChangeStartsANewRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.running(t, "lab", reqHeadOnly)
	cl, err := e.st.GetCluster(ctx, "lab")
	if err != nil {
		t.Fatal(err)
	}
	in := e.instances(t, "lab")[0]
	in.LaunchedAt = e.clk.Now()
	t0 := in.LaunchedAt
	hourly := &cluster.UsageRecorder{Store: e.st, Clock: e.clk, Billing: cost.PerHour}
	if err := hourly.Record(ctx, cl, []provider.Instance{in}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(10 * time.Minute)
	secondly := &cluster.UsageRecorder{Store: e.st, Clock: e.clk, Billing: cost.PerSecond}
	if err := secondly.Record(ctx, cl, []provider.Instance{in}); err != nil {
		t.Fatal(err)
	}
	if err := secondly.Record(ctx, cl, []provider.Instance{in}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(20 * time.Minute)

	us, err := e.st.ListUsage(ctx, store.UsageFilter{InstanceID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0].Billing != "hour" || !us[0].End.Equal(t0.Add(10*time.Minute)) ||
		us[1].Billing != "second" || !us[1].Start.Equal(t0.Add(10*time.Minute)) || !us[1].End.IsZero() {
		t.Fatalf("usage periods %+v; want an hour-billed one for the first 10 minutes, then an open second-billed one", us)
	}
	price := cost.Micros(in.PriceMicros)
	want := cost.PerHour.Charge(price, 10*time.Minute) + cost.PerSecond.Charge(price, 20*time.Minute)
	r := &cost.Reporter{Store: e.st, Billing: cost.PerSecond, Catalog: cost.DefaultCatalog()}
	got, err := r.SoFar(ctx, "lab", time.Time{}, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("cost so far = %s, want a whole hour plus 20 minutes per second = %s", got, want)
	}
	rep, err := r.ReportOf(us, cost.ReportQuery{Until: e.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if note := strings.Join(rep.Notes, " "); !strings.Contains(note, "by the model each period was recorded under: per hour") ||
		!strings.Contains(note, "per second") {
		t.Errorf("report note %q, want it to name both billing models", note)
	}
}
