package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/policy"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Clusters stops and deletes clusters on the control plane's account
// (cluster.Service). Both are safe to repeat.
type Clusters interface {
	StopFor(ctx context.Context, name, why string) error
	DeleteFor(ctx context.Context, name, why string) error
}

// Controller enforces the policy's limits on running clusters each pass.
type Controller struct {
	Store store.Store
	// Policy returns the policy in force (policy.Enforcer.Current, so an
	// edit applies without a restart); nil means no limits.
	Policy   func() *policy.Policy
	Clusters Clusters
	// Spent says what a user's clusters have cost from since until the
	// controller's now (nil: budgets are not enforced).
	Spent func(ctx context.Context, user string, since time.Time) (cost.Micros, error)
	// Notify tells owners and admins; nil tells no one.
	Notify notify.Notifier
	Clock  clock.Clock
	Logger *slog.Logger
	// SpendEvery, if positive, bounds how often a pass computes a user's
	// spend this month (a report over all their usage): a value younger
	// than SpendEvery on the controller's clock is used again. Starts
	// (CheckStart) always compute it afresh.
	SpendEvery time.Duration

	spendMu sync.Mutex
	spend   map[string]spendAt
}

// spendAt is a user's spend since since, computed at at.
type spendAt struct {
	since, at time.Time
	micros    cost.Micros
}

// monthSpend returns what owner's clusters have cost since the start of
// now's month, computed at most once per SpendEvery.
func (c *Controller) monthSpend(ctx context.Context, owner string, now time.Time) (cost.Micros, error) {
	since := policy.MonthStart(now)
	c.spendMu.Lock()
	v, ok := c.spend[owner]
	c.spendMu.Unlock()
	if ok && c.SpendEvery > 0 && v.since.Equal(since) && !now.Before(v.at) && now.Sub(v.at) < c.SpendEvery {
		return v.micros, nil
	}
	spent, err := c.Spent(ctx, owner, since)
	if err != nil {
		return 0, err
	}
	c.spendMu.Lock()
	if c.spend == nil {
		c.spend = map[string]spendAt{}
	}
	c.spend[owner] = spendAt{since: since, at: now, micros: spent}
	c.spendMu.Unlock()
	return spent, nil
}

var _ reconcile.Controller = (*Controller)(nil)

// Name implements reconcile.Controller.
func (c *Controller) Name() string { return "limits" }

// Reconcile makes one pass: it brings every cluster's record up to date,
// then decides and acts for every user with limits.
func (c *Controller) Reconcile(ctx context.Context) (reconcile.Result, error) {
	now := c.Clock.Now()
	clusters, err := c.Store.ListClusters(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	var p *policy.Policy
	if c.Policy != nil {
		p = c.Policy()
	}
	recs, err := c.observe(ctx, p, clusters, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	if p == nil {
		return reconcile.Result{}, nil
	}
	byOwner := map[string][]*store.Cluster{}
	var owners []string
	for _, cl := range clusters {
		if _, ok := byOwner[cl.Owner]; !ok {
			owners = append(owners, cl.Owner)
		}
		byOwner[cl.Owner] = append(byOwner[cl.Owner], cl)
	}
	sort.Strings(owners)
	var errs []error
	for _, owner := range owners {
		if ctx.Err() != nil {
			return reconcile.Result{}, ctx.Err()
		}
		l, ok := p.For(owner)
		if !ok || (l.MaxLifetime == 0 && l.IdleStop == 0 && l.MonthlyBudget == 0) {
			continue
		}
		if err := c.reconcileUser(ctx, owner, l, byOwner[owner], recs, now); err != nil {
			errs = append(errs, fmt.Errorf("limits of %s: %w", owner, err))
		}
	}
	return reconcile.Result{}, errors.Join(errs...)
}

// observe updates every cluster's record and removes the records of
// clusters that are gone; it returns the records by cluster name. When a
// cluster is first seen running in a run and its owner has a lifetime or
// idle limit, an event says which apply from when.
func (c *Controller) observe(ctx context.Context, p *policy.Policy, clusters []*store.Cluster, now time.Time) (map[string]store.ClusterLimits, error) {
	old, err := c.Store.ListClusterLimits(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*store.ClusterLimits{}
	for _, r := range old {
		byName[r.Cluster] = r
	}
	out := map[string]store.ClusterLimits{}
	for _, cl := range clusters {
		old := byName[cl.Name]
		r, changed := Observe(old, cl, now)
		if changed {
			var ev *store.Event
			if p != nil && r.RunningSince.Equal(now) && (old == nil || !old.RunningSince.Equal(now)) {
				if l, ok := p.For(cl.Owner); ok {
					if msg := watching(l, r); msg != "" {
						ev = &store.Event{Time: now, Cluster: cl.Name, Kind: "limits.watching", Message: msg}
					}
				}
			}
			err := c.Store.WithTx(ctx, func(q store.Queries) error {
				if err := q.PutClusterLimits(ctx, &r); err != nil {
					return err
				}
				if ev != nil {
					return q.AppendEvent(ctx, ev)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		out[cl.Name] = r
		delete(byName, cl.Name)
	}
	for name := range byName {
		if err := c.Store.DeleteClusterLimits(ctx, name); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// watching says which of l's lifetime and idle limits apply to a cluster
// seen running, from when ("" if neither).
func watching(l policy.Limits, r store.ClusterLimits) string {
	var parts []string
	if l.MaxLifetime > 0 {
		parts = append(parts, fmt.Sprintf("max_lifetime %s until %s", l.MaxLifetime, r.LifetimeFrom.Add(l.MaxLifetime).UTC().Format(time.RFC3339)))
	}
	if l.IdleStop > 0 {
		parts = append(parts, fmt.Sprintf("idle_stop %s from %s", l.IdleStop, r.RunningSince.UTC().Format(time.RFC3339)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "running under policy limits: " + strings.Join(parts, ", ")
}

func (c *Controller) reconcileUser(ctx context.Context, owner string, l policy.Limits, clusters []*store.Cluster, recs map[string]store.ClusterLimits, now time.Time) error {
	in := Input{User: owner, Limits: l, Now: now}
	month := now.UTC().Format("2006-01")
	if l.MonthlyBudget > 0 && c.Spent != nil {
		spent, err := c.monthSpend(ctx, owner, now)
		if err != nil {
			return fmt.Errorf("cost this month: %w", err)
		}
		in.Spent = spent
		marks, err := c.Store.ListBudgetMarks(ctx, owner, month)
		if err != nil {
			return err
		}
		for _, m := range marks {
			switch m.Kind {
			case store.BudgetMarkWarning:
				in.BudgetWarned = m.Time
			case store.BudgetMarkExceeded:
				in.BudgetExceeded = true
			}
		}
	} else {
		in.Limits.MonthlyBudget = 0
	}
	for _, cl := range clusters {
		x := Cluster{Name: cl.Name, State: cl.State, Record: recs[cl.Name]}
		if l.IdleStop > 0 && cl.State == store.ClusterRunning {
			sum, err := c.Store.ClusterJobSummary(ctx, cl.Name)
			if err != nil {
				return err
			}
			x.Busy, x.LastJob = sum.Active, sum.LastSubmitted
			if sum.LastEnded.After(x.LastJob) {
				x.LastJob = sum.LastEnded
			}
		}
		in.Clusters = append(in.Clusters, x)
	}
	var errs []error
	for _, a := range Decide(in) {
		if err := c.apply(ctx, owner, month, a, clusters, recs[a.Cluster], now); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", a.Kind, a.Cluster, err))
		}
	}
	return errors.Join(errs...)
}

// apply carries out one action. A notice is handed to the notifier first
// (its key makes a repeat after a crash a duplicate it drops), then the
// event and the record that it was sent are stored in one transaction,
// then the cluster is stopped or deleted (repeated each pass while it
// runs, so a crash before the stop only delays it).
func (c *Controller) apply(ctx context.Context, owner, month string, a Action, clusters []*store.Cluster, rec store.ClusterLimits, now time.Time) error {
	log := c.log().With("user", owner, "kind", a.Kind)
	if a.Cluster != "" {
		log = log.With("cluster", a.Cluster)
	}
	if a.Notice {
		c.notify(ctx, owner, month, a, rec, now)
		err := c.Store.WithTx(ctx, func(q store.Queries) error {
			if a.Cluster == "" {
				// A user's budget notice: on every cluster of theirs.
				for _, cl := range clusters {
					if err := q.AppendEvent(ctx, &store.Event{Time: now, Cluster: cl.Name, Kind: a.Kind, Message: a.Message}); err != nil {
						return err
					}
				}
				kind := store.BudgetMarkWarning
				if a.Kind == notify.BudgetExceeded {
					kind = store.BudgetMarkExceeded
				}
				err := q.AddBudgetMark(ctx, &store.BudgetMark{User: owner, Month: month, Kind: kind, Time: now})
				if errors.Is(err, store.ErrConflict) {
					return nil
				}
				return err
			}
			r, err := q.GetClusterLimits(ctx, a.Cluster)
			if err != nil {
				return err
			}
			switch a.Kind {
			case notify.LifetimeWarning:
				r.LifetimeWarned = now
			case notify.LifetimeExpired:
				r.LifetimeExpired = now
			case notify.IdleStopped:
				r.IdleStopped = now
			}
			if err := q.PutClusterLimits(ctx, r); err != nil {
				return err
			}
			return q.AppendEvent(ctx, &store.Event{Time: now, Cluster: a.Cluster, Kind: a.Kind, Message: a.Message})
		})
		if err != nil {
			return err
		}
		log.Info(a.Message)
	}
	switch a.Do {
	case DoStop:
		return c.Clusters.StopFor(ctx, a.Cluster, a.Message)
	case DoDelete:
		return c.Clusters.DeleteFor(ctx, a.Cluster, a.Message)
	}
	return nil
}

func (c *Controller) notify(ctx context.Context, owner, month string, a Action, rec store.ClusterLimits, now time.Time) {
	if c.Notify == nil {
		return
	}
	e := notify.Event{Kind: a.Kind, Severity: notify.Warning, User: owner, Cluster: a.Cluster, Time: now, Body: a.Message}
	switch a.Kind {
	case notify.BudgetWarning, notify.BudgetExceeded:
		e.Key = a.Kind + "/" + owner + "/" + month
		e.Subject = "Budget: " + a.Message
		if a.Kind == notify.BudgetExceeded {
			e.Severity = notify.Critical
		}
	case notify.LifetimeWarning, notify.LifetimeExpired:
		e.Key = a.Kind + "/" + a.Cluster + "/" + strconv.FormatInt(rec.LifetimeFrom.UnixNano(), 10)
		e.Subject = "Cluster " + a.Cluster + ": " + a.Message
		if a.Kind == notify.LifetimeExpired {
			e.Severity = notify.Critical
		}
	default:
		e.Key = a.Kind + "/" + a.Cluster + "/" + strconv.FormatInt(rec.RunningSince.UnixNano(), 10)
		e.Subject = "Cluster " + a.Cluster + ": " + a.Message
		e.Severity = notify.Info
	}
	if err := c.Notify.Notify(ctx, e); err != nil {
		c.log().Warn("cannot notify", "kind", a.Kind, "user", owner, "err", err)
	}
}

// CheckStart refuses to start a stopped cluster of owner again while their
// monthly budget is spent (cluster.Service.StartPolicy), with a spec.Errors
// naming the rule. It reads the time from the controller's clock, the one
// its budget decisions use.
func (c *Controller) CheckStart(ctx context.Context, owner string) error {
	if c.Policy == nil || c.Spent == nil {
		return nil
	}
	p := c.Policy()
	if p == nil {
		return nil
	}
	l, ok := p.For(owner)
	if !ok || l.MonthlyBudget == 0 {
		return nil
	}
	now := c.Clock.Now()
	spent, err := c.Spent(ctx, owner, policy.MonthStart(now))
	if err != nil {
		return fmt.Errorf("limits: cost so far this month: %w", err)
	}
	if spent >= l.MonthlyBudget {
		return spec.Errors{{Field: "budget", Message: fmt.Sprintf(
			"%s has spent %s dollars this month, the whole monthly budget of %s dollars by policy (monthly_budget): the cluster cannot be started again this month unless the budget is raised",
			owner, spent, l.MonthlyBudget)}}
	}
	return nil
}

func (c *Controller) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
