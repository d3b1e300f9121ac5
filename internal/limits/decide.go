// Package limits enforces the policy's limits on running clusters: a
// maximum lifetime, an idle auto-stop and the monthly budget. Its owner is
// warned first (a lifetime warning warn_before ahead, a budget warning at
// 80 %), then the cluster is stopped or deleted as the policy's on_limit
// says (an idle cluster is always stopped). No lifetime or budget action
// comes before its warning was sent and a grace has passed since: a
// warning sent late (a policy tightened on an old cluster, a control plane
// that was down through the warning time, a budget lowered past 100 %)
// moves the action to the warning's time plus warn_before (lifetime) or
// BudgetGrace (budget), and says so.
//
// The decision is Decide, a pure function of one user's limits, the time,
// what they have spent this month, their clusters (with when each started
// its lifetime and its last job activity) and the warnings already sent.
// Controller applies it each pass: it records every warning and action in
// the store (store.LimitsQueries) before it is done again, so a restart
// repeats none of them, tells the owner through a notify.Notifier, and
// stops or deletes through the cluster service.
//
// Definitions:
//   - A cluster's lifetime runs from its creation, or from the time it was
//     seen running again after a stop: stopping a cluster ends its
//     lifetime, and starting it again begins a new one.
//   - A running cluster is idle when it has no queued or running job; it
//     has been idle since the latest of when it was seen running (in its
//     current run) and when one of its jobs was last submitted or ended.
//   - The budget is the user's monthly_budget against what all their
//     clusters cost in the current UTC calendar month.
package limits

import (
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/policy"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Do is what an action does to its cluster.
type Do string

// What an action does.
const (
	DoNothing Do = ""
	DoStop    Do = "stop"
	DoDelete  Do = "delete"
)

// WarnPercent is the share of the monthly budget at which the owner is
// warned.
const WarnPercent = 80

// BudgetGrace is the least time between the budget warning and the stop
// or delete of running clusters at 100 % of the budget. It matters only
// when the spend passes 100 % soon after the warning (or with no warning
// at all, when a policy edit lowers the budget): the clusters then run on
// until the warning is BudgetGrace old.
const BudgetGrace = 15 * time.Minute

// Action is one thing to do: a warning to send, a cluster to stop or
// delete (with the notice that says why), or both.
type Action struct {
	// Kind is the notify kind: notify.LifetimeWarning, LifetimeExpired,
	// IdleStopped, BudgetWarning or BudgetExceeded.
	Kind string
	// Cluster is the cluster acted on; "" for a user's budget notice.
	Cluster string
	// Notice is set when the owner is to be told (and the telling
	// recorded); an action with Notice false only stops or deletes.
	Notice bool
	Do     Do
	// Message says what happened, for the event and the notification.
	Message string
}

// Cluster is one of the user's clusters as Decide sees it.
type Cluster struct {
	Name  string
	State store.ClusterState
	// Record is the limits controller's record of the cluster (after
	// Observe).
	Record store.ClusterLimits
	// Busy is set when the cluster has a queued or running job.
	Busy bool
	// LastJob is when one of its jobs was last submitted or ended (zero:
	// none).
	LastJob time.Time
}

// Input is everything Decide looks at for one user.
type Input struct {
	User   string
	Limits policy.Limits
	Now    time.Time
	// Spent is what the user's clusters cost this month so far.
	Spent cost.Micros
	// BudgetWarned is when the budget warning was sent this month (zero:
	// not yet); BudgetExceeded says whether the budget's action was taken
	// this month.
	BudgetWarned   time.Time
	BudgetExceeded bool
	Clusters       []Cluster
}

// Decide returns what to do for one user, in order: the budget notices,
// then per cluster (in input order) at most one warning and at most one
// stop or delete. A cluster over several limits is acted on for the first
// of: its lifetime, the budget, idleness.
func Decide(in Input) []Action {
	var out []Action
	l := in.Limits
	over := l.MonthlyBudget > 0 && in.Spent >= l.MonthlyBudget
	// act: the budget's action is due (over, warned BudgetGrace ago or
	// acted on already this month).
	act := over && (in.BudgetExceeded || (!in.BudgetWarned.IsZero() && !in.Now.Before(in.BudgetWarned.Add(BudgetGrace))))
	if l.MonthlyBudget > 0 {
		month := in.Now.UTC().Format("2006-01")
		switch {
		case act && !in.BudgetExceeded:
			out = append(out, Action{Kind: notify.BudgetExceeded, Notice: true, Message: fmt.Sprintf(
				"%s has spent %s dollars in %s, the whole monthly budget of %s dollars (monthly_budget): running clusters are %s",
				in.User, in.Spent, month, l.MonthlyBudget, pastTense(l.Action()))})
		case over && in.BudgetWarned.IsZero() && !in.BudgetExceeded:
			// Past 100 % with no warning yet: warn now, act after the grace.
			at := in.Now.Add(BudgetGrace)
			out = append(out, Action{Kind: notify.BudgetWarning, Notice: true, Message: fmt.Sprintf(
				"%s has spent %s dollars in %s, the whole monthly budget of %s dollars (monthly_budget): running clusters will be %s at %s (in %s)",
				in.User, in.Spent, month, l.MonthlyBudget, pastTense(l.Action()), at.UTC().Format(time.RFC3339), BudgetGrace)})
		case !over && in.BudgetWarned.IsZero() && in.Spent*100 >= l.MonthlyBudget*WarnPercent:
			out = append(out, Action{Kind: notify.BudgetWarning, Notice: true, Message: fmt.Sprintf(
				"%s has spent %s dollars in %s, %d %% or more of the monthly budget of %s dollars (monthly_budget): at 100 %%, and no sooner than %s after this warning, running clusters are %s",
				in.User, in.Spent, month, WarnPercent, l.MonthlyBudget, BudgetGrace, pastTense(l.Action()))})
		}
	}
	for _, c := range in.Clusters {
		out = append(out, decideCluster(in, c, act)...)
	}
	return out
}

func decideCluster(in Input, c Cluster, overBudget bool) []Action {
	l, rec := in.Limits, c.Record
	running := c.State == store.ClusterRunning
	var out []Action
	if running && l.MaxLifetime > 0 && !rec.LifetimeFrom.IsZero() {
		if a, ok := decideLifetime(in, c); ok {
			if a.Do != DoNothing {
				return append(out, a)
			}
			out = append(out, a)
		}
	}
	if overBudget && (running || c.State == store.ClusterStarting) {
		return append(out, Action{Kind: notify.BudgetExceeded, Cluster: c.Name, Do: Do(l.Action()),
			Message: fmt.Sprintf("%s's monthly budget of %s dollars is spent (%s dollars): cluster %s is %s",
				in.User, l.MonthlyBudget, in.Spent, c.Name, pastTense(l.Action()))})
	}
	if running && l.IdleStop > 0 && !c.Busy && !rec.RunningSince.IsZero() {
		since := rec.RunningSince
		if c.LastJob.After(since) {
			since = c.LastJob
		}
		if in.Now.Sub(since) >= l.IdleStop {
			out = append(out, Action{Kind: notify.IdleStopped, Cluster: c.Name, Notice: rec.IdleStopped.IsZero(), Do: DoStop,
				Message: fmt.Sprintf("cluster %s had no jobs since %s, for idle_stop %s or more: it is stopped",
					c.Name, since.UTC().Format(time.RFC3339), l.IdleStop)})
		}
	}
	return out
}

// decideLifetime returns the lifetime's warning or action for a running
// cluster, if any. The warning is due warn_before ahead of the lifetime's
// end; the action at the end, but never before the warning was sent and
// warn_before has passed since it (unless the action was taken already in
// this run: then it is repeated until the cluster stops).
func decideLifetime(in Input, c Cluster) (Action, bool) {
	l, rec := in.Limits, c.Record
	warn := l.Warning()
	end := rec.LifetimeFrom.Add(l.MaxLifetime)
	action := pastTense(l.Action())
	switch {
	case in.Now.Before(end.Add(-warn)):
		return Action{}, false
	case rec.LifetimeWarned.IsZero() && rec.LifetimeExpired.IsZero():
		at := end
		if late := in.Now.Add(warn); late.After(at) {
			at = late
		}
		var msg string
		switch {
		case at.Equal(end):
			msg = fmt.Sprintf("cluster %s reaches its max_lifetime of %s at %s (in %s): it will then be %s",
				c.Name, l.MaxLifetime, end.UTC().Format(time.RFC3339), end.Sub(in.Now).Round(time.Second), action)
		case in.Now.Before(end):
			msg = fmt.Sprintf("cluster %s reaches its max_lifetime of %s at %s (in %s): it will be %s at %s, warn_before %s after this warning",
				c.Name, l.MaxLifetime, end.UTC().Format(time.RFC3339), end.Sub(in.Now).Round(time.Second), action, at.UTC().Format(time.RFC3339), warn)
		default:
			msg = fmt.Sprintf("cluster %s passed its max_lifetime of %s at %s, before it was warned: it will be %s at %s, warn_before %s after this warning",
				c.Name, l.MaxLifetime, end.UTC().Format(time.RFC3339), action, at.UTC().Format(time.RFC3339), warn)
		}
		return Action{Kind: notify.LifetimeWarning, Cluster: c.Name, Notice: true, Message: msg}, true
	case in.Now.Before(end):
		return Action{}, false
	case rec.LifetimeExpired.IsZero() && in.Now.Before(rec.LifetimeWarned.Add(warn)):
		// Warned late: the action waits until warn_before after the warning.
		return Action{}, false
	}
	msg := fmt.Sprintf("cluster %s reached its max_lifetime of %s at %s: it is %s",
		c.Name, l.MaxLifetime, end.UTC().Format(time.RFC3339), action)
	if !rec.LifetimeWarned.IsZero() {
		msg = fmt.Sprintf("cluster %s reached its max_lifetime of %s at %s and was warned at %s: it is %s",
			c.Name, l.MaxLifetime, end.UTC().Format(time.RFC3339), rec.LifetimeWarned.UTC().Format(time.RFC3339), action)
	}
	return Action{Kind: notify.LifetimeExpired, Cluster: c.Name, Notice: rec.LifetimeExpired.IsZero(), Do: Do(l.Action()), Message: msg}, true
}

func pastTense(action string) string {
	if action == policy.OnLimitDelete {
		return "deleted"
	}
	return "stopped"
}

// Observe brings a cluster's record up to date with what is seen of the
// cluster now, and reports whether it changed. A missing record (or one of
// an earlier cluster of the same name) starts with the lifetime at the
// cluster's creation. Seen running for the first time in a run, the
// record notes when (and, after a stop, starts a new lifetime); seen
// stopping, stopped or starting, the run is over and its warnings and
// actions are forgotten.
func Observe(rec *store.ClusterLimits, cl *store.Cluster, now time.Time) (store.ClusterLimits, bool) {
	var r store.ClusterLimits
	changed := false
	if rec == nil || !rec.ClusterCreated.Equal(cl.CreatedAt) {
		r = store.ClusterLimits{Cluster: cl.Name, ClusterCreated: cl.CreatedAt, LifetimeFrom: cl.CreatedAt}
		changed = true
	} else {
		r = *rec
	}
	switch cl.State {
	case store.ClusterRunning:
		if r.RunningSince.IsZero() {
			r.RunningSince = now
			if r.Stopped {
				r.LifetimeFrom, r.Stopped = now, false
			}
			changed = true
		}
	case store.ClusterStopping, store.ClusterStopped, store.ClusterStarting:
		if !r.Stopped || !r.RunningSince.IsZero() || !r.LifetimeWarned.IsZero() || !r.LifetimeExpired.IsZero() || !r.IdleStopped.IsZero() {
			r.RunningSince, r.Stopped = time.Time{}, true
			r.LifetimeWarned, r.LifetimeExpired, r.IdleStopped = time.Time{}, time.Time{}, time.Time{}
			changed = true
		}
	}
	return r, changed
}
