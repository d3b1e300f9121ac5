package limits

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/policy"
	"github.com/stratus-cloud/stratus/internal/store"
)

var t0 = time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC)

// running returns a running cluster created at t0 and seen running since
// t0+1m, with no jobs.
func running(name string) Cluster {
	return Cluster{Name: name, State: store.ClusterRunning, Record: store.ClusterLimits{
		Cluster: name, ClusterCreated: t0, LifetimeFrom: t0, RunningSince: t0.Add(time.Minute),
	}}
}

func with(c Cluster, f func(*Cluster)) Cluster { f(&c); return c }

// brief is what a test compares of an action.
type brief struct {
	Kind    string
	Cluster string
	Notice  bool
	Do      Do
}

func TestDecide(t *testing.T) {
	lifetime := policy.Limits{MaxLifetime: 10 * time.Hour} // warned 1h ahead
	lifetimeDelete := policy.Limits{MaxLifetime: 10 * time.Hour, WarnBefore: 2 * time.Hour, OnLimit: policy.OnLimitDelete}
	idle := policy.Limits{IdleStop: 30 * time.Minute}
	budget := policy.Limits{MonthlyBudget: 10 * cost.MicrosPerDollar}
	for _, tc := range []struct {
		name string
		in   Input
		want []brief
	}{
		{
			name: "no limits: nothing",
			in:   Input{Now: t0.Add(1000 * time.Hour), Clusters: []Cluster{running("a")}},
		},
		{
			name: "lifetime: before the warning",
			in:   Input{Limits: lifetime, Now: t0.Add(9*time.Hour - time.Second), Clusters: []Cluster{running("a")}},
		},
		{
			name: "lifetime: warning at end-1h",
			in:   Input{Limits: lifetime, Now: t0.Add(9 * time.Hour), Clusters: []Cluster{running("a")}},
			want: []brief{{notify.LifetimeWarning, "a", true, DoNothing}},
		},
		{
			name: "lifetime: warning sent already",
			in: Input{Limits: lifetime, Now: t0.Add(9*time.Hour + time.Minute), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(9 * time.Hour) })}},
		},
		{
			name: "lifetime: warn_before given",
			in:   Input{Limits: lifetimeDelete, Now: t0.Add(8 * time.Hour), Clusters: []Cluster{running("a")}},
			want: []brief{{notify.LifetimeWarning, "a", true, DoNothing}},
		},
		{
			name: "lifetime: expired after the warning stops",
			in: Input{Limits: lifetime, Now: t0.Add(10 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(9 * time.Hour) })}},
			want: []brief{{notify.LifetimeExpired, "a", true, DoStop}},
		},
		{
			name: "lifetime: expired with on_limit delete deletes",
			in: Input{Limits: lifetimeDelete, Now: t0.Add(11 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(8 * time.Hour) })}},
			want: []brief{{notify.LifetimeExpired, "a", true, DoDelete}},
		},
		{
			name: "lifetime: past its end never warned (policy tightened, server down): warned, not acted on",
			in:   Input{Limits: lifetime, Now: t0.Add(30 * time.Hour), Clusters: []Cluster{running("a")}},
			want: []brief{{notify.LifetimeWarning, "a", true, DoNothing}},
		},
		{
			name: "lifetime: warned after its end: left running until warn_before after the warning",
			in: Input{Limits: lifetime, Now: t0.Add(31*time.Hour - time.Second), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(30 * time.Hour) })}},
		},
		{
			name: "lifetime: warned after its end: acted on warn_before after the warning",
			in: Input{Limits: lifetime, Now: t0.Add(31 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(30 * time.Hour) })}},
			want: []brief{{notify.LifetimeExpired, "a", true, DoStop}},
		},
		{
			name: "lifetime: warned late but before its end: still running at the end",
			in: Input{Limits: lifetimeDelete, Now: t0.Add(10 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(9*time.Hour + 30*time.Minute) })}},
		},
		{
			name: "lifetime: warned late but before its end: acted on warn_before after the warning",
			in: Input{Limits: lifetimeDelete, Now: t0.Add(11*time.Hour + 30*time.Minute), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(9*time.Hour + 30*time.Minute) })}},
			want: []brief{{notify.LifetimeExpired, "a", true, DoDelete}},
		},
		{
			name: "lifetime: acted on already is not held back for a warning",
			in: Input{Limits: lifetime, Now: t0.Add(30 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeExpired = t0.Add(29 * time.Hour) })}},
			want: []brief{{notify.LifetimeExpired, "a", false, DoStop}},
		},
		{
			name: "lifetime: a lifetime lengthened after the warning is not cut short",
			in: Input{Limits: policy.Limits{MaxLifetime: 20 * time.Hour}, Now: t0.Add(12 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(9 * time.Hour) })}},
		},
		{
			name: "lifetime: expiry told already is acted on again without a notice",
			in: Input{Limits: lifetime, Now: t0.Add(11 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeExpired = t0.Add(10 * time.Hour) })}},
			want: []brief{{notify.LifetimeExpired, "a", false, DoStop}},
		},
		{
			name: "lifetime: restarted cluster counts from its start",
			in: Input{Limits: lifetime, Now: t0.Add(11 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Record.LifetimeFrom = t0.Add(10 * time.Hour) })}},
		},
		{
			name: "lifetime: a stopped cluster is left alone",
			in: Input{Limits: lifetime, Now: t0.Add(11 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.State = store.ClusterStopped })}},
		},
		{
			name: "idle: not yet",
			in:   Input{Limits: idle, Now: t0.Add(31*time.Minute - time.Second), Clusters: []Cluster{running("a")}},
		},
		{
			name: "idle: stopped after idle_stop since it was seen running",
			in:   Input{Limits: idle, Now: t0.Add(31 * time.Minute), Clusters: []Cluster{running("a")}},
			want: []brief{{notify.IdleStopped, "a", true, DoStop}},
		},
		{
			name: "idle: a queued or running job keeps it",
			in: Input{Limits: idle, Now: t0.Add(5 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.Busy = true })}},
		},
		{
			name: "idle: counted from the last job's end",
			in: Input{Limits: idle, Now: t0.Add(2 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.LastJob = t0.Add(time.Hour + 31*time.Minute) })}},
		},
		{
			name: "idle: on_limit delete still only stops",
			in: Input{Limits: policy.Limits{IdleStop: 30 * time.Minute, OnLimit: policy.OnLimitDelete}, Now: t0.Add(2 * time.Hour),
				Clusters: []Cluster{running("a")}},
			want: []brief{{notify.IdleStopped, "a", true, DoStop}},
		},
		{
			name: "idle: a cluster not seen running yet",
			in: Input{Limits: idle, Now: t0.Add(5 * time.Hour), Clusters: []Cluster{
				with(running("a"), func(c *Cluster) { c.State, c.Record.RunningSince = store.ClusterCreating, time.Time{} })}},
		},
		{
			name: "budget: below 80 %",
			in:   Input{Limits: budget, Now: t0, Spent: 7_999_999, Clusters: []Cluster{running("a")}},
		},
		{
			name: "budget: warned at 80 %",
			in:   Input{Limits: budget, Now: t0, Spent: 8 * cost.MicrosPerDollar, Clusters: []Cluster{running("a")}},
			want: []brief{{notify.BudgetWarning, "", true, DoNothing}},
		},
		{
			name: "budget: warned once a month",
			in:   Input{Limits: budget, Now: t0, Spent: 9 * cost.MicrosPerDollar, BudgetWarned: t0.Add(-time.Hour), Clusters: []Cluster{running("a")}},
		},
		{
			name: "budget: at 100 % running and starting clusters stop, others are left",
			in: Input{Limits: budget, Now: t0, Spent: 10 * cost.MicrosPerDollar, BudgetWarned: t0.Add(-time.Hour), Clusters: []Cluster{
				running("a"),
				with(running("b"), func(c *Cluster) { c.State = store.ClusterStopped }),
				with(running("c"), func(c *Cluster) { c.State = store.ClusterStarting }),
			}},
			want: []brief{{notify.BudgetExceeded, "", true, DoNothing}, {notify.BudgetExceeded, "a", false, DoStop}, {notify.BudgetExceeded, "c", false, DoStop}},
		},
		{
			name: "budget: past 100 % with no warning (a budget lowered): warned, nothing stopped",
			in:   Input{Limits: budget, Now: t0, Spent: 11 * cost.MicrosPerDollar, Clusters: []Cluster{running("a")}},
			want: []brief{{notify.BudgetWarning, "", true, DoNothing}},
		},
		{
			name: "budget: past 100 % within BudgetGrace of the warning: nothing yet",
			in: Input{Limits: budget, Now: t0.Add(BudgetGrace - time.Second), Spent: 11 * cost.MicrosPerDollar, BudgetWarned: t0,
				Clusters: []Cluster{running("a")}},
		},
		{
			name: "budget: past 100 % BudgetGrace after the warning: stopped",
			in: Input{Limits: budget, Now: t0.Add(BudgetGrace), Spent: 11 * cost.MicrosPerDollar, BudgetWarned: t0,
				Clusters: []Cluster{running("a")}},
			want: []brief{{notify.BudgetExceeded, "", true, DoNothing}, {notify.BudgetExceeded, "a", false, DoStop}},
		},
		{
			name: "budget: exceeded told already still stops, without a notice",
			in:   Input{Limits: budget, Now: t0, Spent: 11 * cost.MicrosPerDollar, BudgetExceeded: true, Clusters: []Cluster{running("a")}},
			want: []brief{{notify.BudgetExceeded, "a", false, DoStop}},
		},
		{
			name: "budget: on_limit delete deletes",
			in: Input{Limits: policy.Limits{MonthlyBudget: cost.MicrosPerDollar, OnLimit: policy.OnLimitDelete}, Now: t0,
				Spent: 2 * cost.MicrosPerDollar, BudgetExceeded: true, Clusters: []Cluster{running("a")}},
			want: []brief{{notify.BudgetExceeded, "a", false, DoDelete}},
		},
		{
			name: "several limits: the lifetime goes first, one action per cluster",
			in: Input{Limits: policy.Limits{MaxLifetime: time.Hour, IdleStop: time.Minute, MonthlyBudget: cost.MicrosPerDollar}, Now: t0.Add(2 * time.Hour),
				Spent: 2 * cost.MicrosPerDollar, BudgetExceeded: true, Clusters: []Cluster{
					with(running("a"), func(c *Cluster) { c.Record.LifetimeWarned = t0.Add(time.Hour) })}},
			want: []brief{{notify.LifetimeExpired, "a", true, DoStop}},
		},
		{
			name: "several limits: a warning and the budget's stop",
			in: Input{Limits: policy.Limits{MaxLifetime: 10 * time.Hour, MonthlyBudget: cost.MicrosPerDollar}, Now: t0.Add(9 * time.Hour),
				Spent: 2 * cost.MicrosPerDollar, BudgetExceeded: true, Clusters: []Cluster{running("a")}},
			want: []brief{{notify.LifetimeWarning, "a", true, DoNothing}, {notify.BudgetExceeded, "a", false, DoStop}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []brief
			for _, a := range Decide(tc.in) {
				if a.Message == "" {
					t.Errorf("action %+v has no message", a)
				}
				got = append(got, brief{a.Kind, a.Cluster, a.Notice, a.Do})
			}
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Decide (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecideMessages(t *testing.T) {
	acts := Decide(Input{User: "ann", Limits: policy.Limits{MaxLifetime: 10 * time.Hour}, Now: t0.Add(9 * time.Hour), Clusters: []Cluster{running("a")}})
	if len(acts) != 1 || acts[0].Message != "cluster a reaches its max_lifetime of 10h0m0s at 2026-11-10T18:00:00Z (in 1h0m0s): it will then be stopped" {
		t.Errorf("lifetime warning: %+v", acts)
	}
	acts = Decide(Input{User: "ann", Limits: policy.Limits{MonthlyBudget: cost.MicrosPerDollar}, Now: t0, Spent: 800_000})
	if len(acts) != 1 || acts[0].Message != "ann has spent 0.80 dollars in 2026-11, 80 % or more of the monthly budget of 1.00 dollars (monthly_budget): at 100 %, and no sooner than 15m0s after this warning, running clusters are stopped" {
		t.Errorf("budget warning: %+v", acts)
	}
	// Warned late, the owner is told when the action now comes.
	acts = Decide(Input{User: "ann", Limits: policy.Limits{MaxLifetime: 5 * time.Minute}, Now: t0.Add(7 * time.Minute), Clusters: []Cluster{running("jc")}})
	if len(acts) != 1 || acts[0].Message != "cluster jc passed its max_lifetime of 5m0s at 2026-11-10T08:05:00Z, before it was warned: it will be stopped at 2026-11-10T08:07:30Z, warn_before 30s after this warning" {
		t.Errorf("late lifetime warning: %+v", acts)
	}
	acts = Decide(Input{User: "ann", Limits: policy.Limits{MaxLifetime: 10 * time.Hour, WarnBefore: 2 * time.Hour}, Now: t0.Add(9 * time.Hour), Clusters: []Cluster{running("a")}})
	if len(acts) != 1 || acts[0].Message != "cluster a reaches its max_lifetime of 10h0m0s at 2026-11-10T18:00:00Z (in 1h0m0s): it will be stopped at 2026-11-10T19:00:00Z, warn_before 2h0m0s after this warning" {
		t.Errorf("lifetime warning within warn_before of the end: %+v", acts)
	}
	acts = Decide(Input{User: "ann", Limits: policy.Limits{MonthlyBudget: cost.MicrosPerDollar}, Now: t0, Spent: 1_500_000})
	if len(acts) != 1 || acts[0].Message != "ann has spent 1.50 dollars in 2026-11, the whole monthly budget of 1.00 dollars (monthly_budget): running clusters will be stopped at 2026-11-10T08:15:00Z (in 15m0s)" {
		t.Errorf("budget warning past 100 %%: %+v", acts)
	}
}

func TestObserve(t *testing.T) {
	cl := &store.Cluster{Name: "a", CreatedAt: t0, State: store.ClusterCreating}
	r, changed := Observe(nil, cl, t0.Add(time.Second))
	want := store.ClusterLimits{Cluster: "a", ClusterCreated: t0, LifetimeFrom: t0}
	if !changed || r != want {
		t.Fatalf("first sight: %+v changed=%v, want %+v", r, changed, want)
	}
	if _, changed := Observe(&r, cl, t0.Add(2*time.Second)); changed {
		t.Errorf("creating again: changed")
	}
	cl.State = store.ClusterRunning
	r, _ = Observe(&r, cl, t0.Add(time.Minute))
	if r.RunningSince != t0.Add(time.Minute) || r.LifetimeFrom != t0 {
		t.Errorf("running: %+v; want RunningSince t0+1m, LifetimeFrom t0", r)
	}
	r.LifetimeWarned, r.LifetimeExpired = t0.Add(time.Hour), t0.Add(2*time.Hour)
	cl.State = store.ClusterStopped
	r, changed = Observe(&r, cl, t0.Add(3*time.Hour))
	if !changed || !r.Stopped || !r.RunningSince.IsZero() || !r.LifetimeWarned.IsZero() || !r.LifetimeExpired.IsZero() {
		t.Errorf("stopped: %+v changed=%v; want the run forgotten", r, changed)
	}
	cl.State = store.ClusterRunning
	r, _ = Observe(&r, cl, t0.Add(5*time.Hour))
	if r.LifetimeFrom != t0.Add(5*time.Hour) || r.RunningSince != t0.Add(5*time.Hour) || r.Stopped {
		t.Errorf("started again: %+v; want a new lifetime from t0+5h", r)
	}
	// A cluster first seen stopped (the policy came later) gets a new
	// lifetime when it runs again.
	stopped := &store.Cluster{Name: "b", CreatedAt: t0, State: store.ClusterStopped}
	rb, _ := Observe(nil, stopped, t0.Add(time.Hour))
	stopped.State = store.ClusterRunning
	rb, _ = Observe(&rb, stopped, t0.Add(2*time.Hour))
	if rb.LifetimeFrom != t0.Add(2*time.Hour) {
		t.Errorf("first seen stopped, then running: %+v; want a lifetime from t0+2h", rb)
	}
	again := &store.Cluster{Name: "a", CreatedAt: t0.Add(6 * time.Hour), State: store.ClusterCreating}
	r, changed = Observe(&r, again, t0.Add(6*time.Hour))
	if !changed || r.LifetimeFrom != again.CreatedAt || !r.RunningSince.IsZero() {
		t.Errorf("a new cluster of the same name: %+v; want a fresh record", r)
	}
}
