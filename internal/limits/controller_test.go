package limits

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/notify/notifytest"
	"github.com/stratus-cloud/stratus/internal/policy"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

// fakeClusters records stops and deletes and moves the cluster's state as
// cluster.Service would.
type fakeClusters struct {
	st   store.Store
	mu   sync.Mutex
	done []string
}

func (f *fakeClusters) set(ctx context.Context, name string, state store.ClusterState, what string) error {
	f.mu.Lock()
	f.done = append(f.done, what+" "+name)
	f.mu.Unlock()
	return f.st.WithTx(ctx, func(q store.Queries) error {
		cl, err := q.GetCluster(ctx, name)
		if err != nil {
			return err
		}
		cl.State = state
		return q.UpdateCluster(ctx, cl)
	})
}

func (f *fakeClusters) StopFor(ctx context.Context, name, why string) error {
	return f.set(ctx, name, store.ClusterStopping, "stop")
}

func (f *fakeClusters) DeleteFor(ctx context.Context, name, why string) error {
	return f.set(ctx, name, store.ClusterDeleting, "delete")
}

// kinds lists the kind and cluster of each notification r has kept.
func kinds(r *notifytest.Recorder) []string {
	var out []string
	for _, e := range r.Events() {
		out = append(out, e.Kind+" "+e.Cluster)
	}
	return out
}

type fixture struct {
	st       store.Store
	clk      *clock.Fake
	clusters *fakeClusters
	notes    *notifytest.Recorder
	spent    cost.Micros
	policy   *policy.Policy
}

func newFixture(t *testing.T, pol string) *fixture {
	t.Helper()
	st := sqlitetest.Open(t)
	p, err := policy.Parse([]byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, clk: clock.NewFake(t0), clusters: &fakeClusters{st: st}, notes: &notifytest.Recorder{}, policy: p}
}

// controller returns a new controller on the fixture's store, as a
// restarted control plane would make.
func (f *fixture) controller() *Controller {
	return &Controller{
		Store: f.st, Policy: func() *policy.Policy { return f.policy }, Clusters: f.clusters, Notify: f.notes, Clock: f.clk,
		Spent: func(context.Context, string, time.Time) (cost.Micros, error) { return f.spent, nil },
	}
}

func (f *fixture) pass(t *testing.T, c *Controller) {
	t.Helper()
	if _, err := c.Reconcile(t.Context()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
}

func (f *fixture) create(t *testing.T, name, owner string, state store.ClusterState) {
	t.Helper()
	if err := f.st.CreateCluster(t.Context(), &store.Cluster{Name: name, Owner: owner, State: state, Spec: []byte("{}"), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) state(t *testing.T, name string) store.ClusterState {
	t.Helper()
	cl, err := f.st.GetCluster(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return cl.State
}

func (f *fixture) events(t *testing.T, cluster, kind string) int {
	t.Helper()
	es, err := f.st.ListEvents(t.Context(), store.EventFilter{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func TestControllerLifetimeWarnsOnceThenStops(t *testing.T) {
	f := newFixture(t, "limits:\n  ann:\n    max_lifetime: 10h\n")
	f.create(t, "a", "ann", store.ClusterRunning)
	f.pass(t, f.controller())
	f.clk.Set(t0.Add(9 * time.Hour))
	f.pass(t, f.controller())
	f.pass(t, f.controller()) // a restart: the warning is not repeated
	if got := strings.Join(kinds(f.notes), ","); got != notify.LifetimeWarning+" a" {
		t.Fatalf("notices after the warning time = %q, want one lifetime warning", got)
	}
	if n := f.events(t, "a", notify.LifetimeWarning); n != 1 {
		t.Errorf("%d lifetime warning events, want 1", n)
	}
	if s := f.state(t, "a"); s != store.ClusterRunning {
		t.Errorf("state after the warning = %s, want running", s)
	}
	f.clk.Set(t0.Add(10 * time.Hour))
	f.pass(t, f.controller())
	if s := f.state(t, "a"); s != store.ClusterStopping {
		t.Errorf("state after the lifetime = %s, want stopping", s)
	}
	if got := strings.Join(kinds(f.notes), ","); got != notify.LifetimeWarning+" a,"+notify.LifetimeExpired+" a" {
		t.Errorf("notices = %q", got)
	}
	for _, e := range f.notes.Events() {
		if e.User != "ann" || e.Key == "" {
			t.Errorf("notice %+v: want user ann and a key", e)
		}
	}

	// Started again (by its owner), the cluster gets a new lifetime from
	// when it is seen running.
	f.clk.Set(t0.Add(11 * time.Hour))
	f.pass(t, f.controller()) // sees it stopping: the run is over
	_ = f.clusters.set(t.Context(), "a", store.ClusterRunning, "start")
	f.pass(t, f.controller())
	f.clk.Set(t0.Add(20 * time.Hour))
	f.pass(t, f.controller())
	if s := f.state(t, "a"); s != store.ClusterRunning {
		t.Errorf("state 9h after its start (1h before its new end) = %s, want running", s)
	}
	rec, err := f.st.GetClusterLimits(t.Context(), "a")
	if err != nil || !rec.LifetimeFrom.Equal(t0.Add(11*time.Hour)) {
		t.Errorf("record after the start = %+v, %v; want LifetimeFrom t0+11h", rec, err)
	}
	if n := len(kinds(f.notes)); n != 3 {
		t.Errorf("%d notices, want 3 (the new lifetime's warning)", n)
	}
}

func TestControllerOnLimitDelete(t *testing.T) {
	f := newFixture(t, "limits:\n  \"*\":\n    max_lifetime: 1h\n    on_limit: delete\n")
	f.create(t, "a", "ann", store.ClusterRunning)
	f.clk.Set(t0.Add(55 * time.Minute)) // the warning, 6m (a tenth) ahead
	f.pass(t, f.controller())
	f.clk.Set(t0.Add(2 * time.Hour))
	f.pass(t, f.controller())
	if s := f.state(t, "a"); s != store.ClusterDeleting {
		t.Errorf("state = %s, want deleting", s)
	}
	if strings.Join(f.clusters.done, ",") != "delete a" {
		t.Errorf("done = %v", f.clusters.done)
	}
}

func TestControllerIdleStop(t *testing.T) {
	f := newFixture(t, "limits:\n  ann:\n    idle_stop: 30m\n")
	f.create(t, "busy", "ann", store.ClusterRunning)
	f.create(t, "idle", "ann", store.ClusterRunning)
	f.create(t, "bobs", "bob", store.ClusterRunning)
	f.create(t, "ended", "ann", store.ClusterRunning)
	if err := f.st.CreateJob(t.Context(), &store.Job{Cluster: "busy", Owner: "ann", Argv: []string{"true"}, Nodes: 1, State: store.JobRunning, SubmittedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// A job that ended 10 minutes in: idle from then.
	if err := f.st.CreateJob(t.Context(), &store.Job{Cluster: "ended", Owner: "ann", Argv: []string{"true"}, Nodes: 1, State: store.JobSucceeded,
		SubmittedAt: t0, EndedAt: t0.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	f.pass(t, f.controller())
	f.pass(t, f.controller())
	if n := f.events(t, "idle", "limits.watching"); n != 1 {
		t.Errorf("%d limits.watching events on the idle cluster, want 1", n)
	}
	if n := f.events(t, "bobs", "limits.watching"); n != 0 {
		t.Errorf("%d limits.watching events on a cluster without limits, want 0", n)
	}
	f.clk.Set(t0.Add(29 * time.Minute))
	f.pass(t, f.controller())
	if len(f.clusters.done) != 0 {
		t.Fatalf("stopped before idle_stop: %v", f.clusters.done)
	}
	f.clk.Set(t0.Add(30 * time.Minute))
	f.pass(t, f.controller())
	if got := strings.Join(f.clusters.done, ","); got != "stop idle" {
		t.Errorf("done = %q, want only the idle cluster stopped (bob has no limits)", got)
	}
	if n := f.events(t, "idle", notify.IdleStopped); n != 1 {
		t.Errorf("%d idle events, want 1", n)
	}
	f.clk.Set(t0.Add(40 * time.Minute))
	f.pass(t, f.controller())
	if got := strings.Join(f.clusters.done, ","); got != "stop idle,stop ended" {
		t.Errorf("done = %q, want the cluster whose job ended stopped idle_stop after its end", got)
	}
}

func TestControllerBudget(t *testing.T) {
	f := newFixture(t, "limits:\n  ann:\n    monthly_budget: 10\n")
	f.create(t, "a", "ann", store.ClusterRunning)
	f.create(t, "b", "ann", store.ClusterStopped)
	f.spent = 7 * cost.MicrosPerDollar
	f.pass(t, f.controller())
	f.spent = 8 * cost.MicrosPerDollar
	f.pass(t, f.controller())
	f.pass(t, f.controller())
	if got := strings.Join(kinds(f.notes), ","); got != notify.BudgetWarning+" " {
		t.Fatalf("notices = %q, want one budget warning", got)
	}
	if n := f.events(t, "a", notify.BudgetWarning) + f.events(t, "b", notify.BudgetWarning); n != 2 {
		t.Errorf("%d budget warning events, want one on each cluster", n)
	}
	c := f.controller()
	if err := c.CheckStart(t.Context(), "ann"); err != nil {
		t.Errorf("CheckStart under budget: %v", err)
	}
	f.spent = 10 * cost.MicrosPerDollar
	f.clk.Set(t0.Add(BudgetGrace))
	f.pass(t, c)
	f.pass(t, c)
	if s := f.state(t, "a"); s != store.ClusterStopping {
		t.Errorf("state at 100 %% = %s, want stopping", s)
	}
	if got := strings.Join(kinds(f.notes), ","); got != notify.BudgetWarning+" ,"+notify.BudgetExceeded+" " {
		t.Errorf("notices = %q, want a warning and one exceeded", got)
	}
	err := c.CheckStart(t.Context(), "ann")
	var es spec.Errors
	if !errors.As(err, &es) || es[0].Field != "budget" || !strings.Contains(es[0].Message, "monthly_budget") {
		t.Errorf("CheckStart over budget = %v, want a budget field error", err)
	}
	// A new month: the marks of the last one do not count.
	f.clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	f.spent = 9 * cost.MicrosPerDollar
	f.pass(t, c)
	if n := len(kinds(f.notes)); n != 3 {
		t.Errorf("%d notices, want the new month's warning too", n)
	}
}

// A lifetime tightened by a policy edit on a cluster already older than it
// (as after a control plane down through the warning time) is warned about
// first, and acted on warn_before after the warning, across a restart.
func TestControllerLateLifetimeWarningAcrossRestart(t *testing.T) {
	f := newFixture(t, "limits:\n  \"*\":\n    max_lifetime: 24h\n")
	f.create(t, "jc", "ann", store.ClusterRunning)
	f.pass(t, f.controller())
	f.clk.Set(t0.Add(7 * time.Minute))
	f.pass(t, f.controller())
	p, err := policy.Parse([]byte("limits:\n  \"*\":\n    max_lifetime: 5m\n    warn_before: 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.policy = p
	f.pass(t, f.controller())
	if s := f.state(t, "jc"); s != store.ClusterRunning {
		t.Fatalf("state after the policy edit = %s, want running (warned first)", s)
	}
	if got := strings.Join(kinds(f.notes), ","); got != notify.LifetimeWarning+" jc" {
		t.Fatalf("notices = %q, want one lifetime warning", got)
	}
	if msg := f.notes.Events()[0].Body; !strings.Contains(msg, "it will be stopped at 2026-11-10T08:09:00Z") {
		t.Errorf("warning %q does not say when the stop comes", msg)
	}

	// Restarted just before warn_before has passed: still running, not
	// warned again.
	f.clk.Set(t0.Add(9*time.Minute - time.Second))
	f.pass(t, f.controller())
	if s := f.state(t, "jc"); s != store.ClusterRunning || len(f.clusters.done) != 0 {
		t.Fatalf("state before warn_before after the warning = %s (done %v), want running", s, f.clusters.done)
	}
	if n := f.events(t, "jc", notify.LifetimeWarning); n != 1 {
		t.Errorf("%d lifetime warning events, want 1", n)
	}
	f.clk.Set(t0.Add(9 * time.Minute))
	f.pass(t, f.controller())
	if s := f.state(t, "jc"); s != store.ClusterStopping {
		t.Errorf("state warn_before after the warning = %s, want stopping", s)
	}
	if got := strings.Join(kinds(f.notes), ","); got != notify.LifetimeWarning+" jc,"+notify.LifetimeExpired+" jc" {
		t.Errorf("notices = %q, want the warning, then the expiry", got)
	}
}

// A budget lowered below what is spent already: the owner is warned, and
// the running cluster stopped BudgetGrace later, across a restart.
func TestControllerBudgetLoweredWarnsFirst(t *testing.T) {
	f := newFixture(t, "limits:\n  ann:\n    monthly_budget: 100\n")
	f.create(t, "a", "ann", store.ClusterRunning)
	f.spent = 20 * cost.MicrosPerDollar
	f.pass(t, f.controller())
	p, err := policy.Parse([]byte("limits:\n  ann:\n    monthly_budget: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.policy = p
	f.pass(t, f.controller())
	if s := f.state(t, "a"); s != store.ClusterRunning {
		t.Fatalf("state after the budget was lowered = %s, want running (warned first)", s)
	}
	if got := strings.Join(kinds(f.notes), ","); got != notify.BudgetWarning+" " {
		t.Fatalf("notices = %q, want one budget warning", got)
	}
	if msg := f.notes.Events()[0].Body; !strings.Contains(msg, "will be stopped at 2026-11-10T08:15:00Z") {
		t.Errorf("warning %q does not say when the stop comes", msg)
	}
	f.clk.Set(t0.Add(BudgetGrace - time.Second))
	f.pass(t, f.controller())
	if s := f.state(t, "a"); s != store.ClusterRunning || len(f.clusters.done) != 0 {
		t.Fatalf("state within BudgetGrace of the warning = %s (done %v), want running", s, f.clusters.done)
	}
	f.clk.Set(t0.Add(BudgetGrace))
	f.pass(t, f.controller())
	if s := f.state(t, "a"); s != store.ClusterStopping {
		t.Errorf("state BudgetGrace after the warning = %s, want stopping", s)
	}
	if got := strings.Join(kinds(f.notes), ","); got != notify.BudgetWarning+" ,"+notify.BudgetExceeded+" " {
		t.Errorf("notices = %q, want the warning, then exceeded", got)
	}
}

func TestControllerForgetsDeletedClusters(t *testing.T) {
	f := newFixture(t, "users: [\"*\"]\n")
	f.create(t, "a", "ann", store.ClusterRunning)
	f.pass(t, f.controller())
	if _, err := f.st.GetClusterLimits(t.Context(), "a"); err != nil {
		t.Fatalf("no record: %v", err)
	}
	if err := f.st.DeleteCluster(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	f.pass(t, f.controller())
	if _, err := f.st.GetClusterLimits(t.Context(), "a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record of a deleted cluster: %v, want ErrNotFound", err)
	}
}

// With SpendEvery a pass reuses a user's spend computed less than
// SpendEvery ago on the controller's clock, and computes it again after.
func TestControllerSpendEvery(t *testing.T) {
	f := newFixture(t, "limits:\n  ann:\n    monthly_budget: 100\n")
	f.create(t, "a", "ann", store.ClusterRunning)
	calls := 0
	c := f.controller()
	c.SpendEvery = time.Minute
	c.Spent = func(context.Context, string, time.Time) (cost.Micros, error) {
		calls++
		return f.spent, nil
	}
	f.spent = 10 * cost.MicrosPerDollar
	f.pass(t, c)
	f.spent = 90 * cost.MicrosPerDollar // past 80 %, not yet read
	f.clk.Set(t0.Add(time.Minute - time.Second))
	f.pass(t, c)
	if calls != 1 || len(f.notes.Events()) != 0 {
		t.Fatalf("within SpendEvery: %d spend reads, notices %v; want 1 read, none", calls, kinds(f.notes))
	}
	f.clk.Set(t0.Add(time.Minute))
	f.pass(t, c)
	if calls != 2 {
		t.Errorf("after SpendEvery: %d spend reads, want 2", calls)
	}
	if got := strings.Join(kinds(f.notes), ","); got != notify.BudgetWarning+" " {
		t.Errorf("notices = %q, want the budget warning once the spend is read again", got)
	}
	// A clock set back (the clock file can be) reads it again too.
	c.Clock = clock.NewFake(t0)
	f.pass(t, c)
	if calls != 3 {
		t.Errorf("after the clock went back: %d spend reads, want 3", calls)
	}
}
