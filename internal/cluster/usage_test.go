package cluster_test

import (
	"context"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/cluster"
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
