package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Defaults of the history kept per check: the newest DefaultKeepResults
// results, and every result younger than DefaultKeepFor, whichever are
// more. At a probe every 10 s a week is about 60,000 results; at one an
// hour the last 1000 reach back six weeks.
const (
	DefaultKeepResults = 1000
	DefaultKeepFor     = 7 * 24 * time.Hour
)

// pruneEvery is how often a check's history is pruned.
const pruneEvery = time.Hour

// Controller probes each check of Config when it is due, stores its
// result and state, and records each change of state once as a store event
// (Kind "check.*", the message starting with its severity), a log line and
// a notification. It prunes each check's history to the bound of
// KeepResults and KeepFor.
type Controller struct {
	Store  store.Store
	Config *Config
	Clock  clock.Clock
	Logger *slog.Logger
	// Notify, if set, is handed one notify.CheckChanged event per change
	// of state (not per probe), within the transaction that stores the
	// change when it is a notify.TxNotifier: failing is critical, behind a
	// warning, recovered and caught up are info.
	Notify notify.Notifier
	// KeepResults and KeepFor bound each check's stored history: results
	// older than KeepFor that are not among the newest KeepResults are
	// deleted (defaults DefaultKeepResults, DefaultKeepFor).
	KeepResults int
	KeepFor     time.Duration
	// Client makes the probes (default http.DefaultClient); each probe
	// is bounded by its check's timeout.
	Client *http.Client
	// OnState, if set, is told after each probe whether the check is ok.
	OnState func(check string, up bool)

	mu      sync.Mutex
	due     map[string]time.Time
	cleaned bool

	pruneMu sync.Mutex
	pruned  map[string]time.Time // check → when its history was last pruned
}

// Name implements reconcile.Controller.
func (c *Controller) Name() string { return "health" }

type job struct {
	name     string
	interval time.Duration
	run      func(ctx context.Context) Observation
}

func (c *Controller) jobs() []job {
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	var js []job
	for _, p := range c.Config.Probes {
		js = append(js, job{name: p.Name, interval: p.Interval, run: func(ctx context.Context) Observation {
			detail, errMsg := RunProbe(ctx, client, p)
			return Observation{Name: p.Name, Kind: KindProbe, Detail: detail, Err: errMsg}
		}})
	}
	for _, r := range c.Config.Replicas {
		js = append(js, job{name: r.Name, interval: r.Interval, run: func(ctx context.Context) Observation {
			ms := make([]MemberObservation, len(r.Members))
			var wg sync.WaitGroup
			for i, u := range r.Members {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v, err := ReadValue(ctx, client, u, r.Value, r.Timeout)
					ms[i] = MemberObservation{URL: u, Value: v}
					if err != nil {
						ms[i].Err = err.Error()
					}
				}()
			}
			wg.Wait()
			return Observation{Name: r.Name, Kind: KindReplicas, Members: ms, Compare: r.Compare}
		}})
	}
	return js
}

// Reconcile probes the checks that are due and asks to be called again
// when the next one is.
func (c *Controller) Reconcile(ctx context.Context) (reconcile.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.due == nil {
		c.due = map[string]time.Time{}
	}
	js := c.jobs()
	if !c.cleaned {
		if err := c.forgetRemoved(ctx, js); err != nil {
			return reconcile.Result{}, err
		}
		c.cleaned = true
	}
	now := c.Clock.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, j := range js {
		if t, ok := c.due[j.name]; ok && now.Before(t) {
			continue
		}
		c.due[j.name] = now.Add(j.interval)
		wg.Add(1)
		go func() {
			defer wg.Done()
			obs := j.run(ctx)
			if err := c.record(ctx, obs); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var res reconcile.Result
	after := c.Clock.Now()
	for _, t := range c.due {
		if d := t.Sub(after); res.RequeueAfter == 0 || d < res.RequeueAfter {
			res.RequeueAfter = max(d, time.Millisecond)
		}
	}
	return res, errors.Join(errs...)
}

// forgetRemoved deletes the stored state of checks no longer configured.
func (c *Controller) forgetRemoved(ctx context.Context, js []job) error {
	known := map[string]bool{}
	for _, j := range js {
		known[j.name] = true
	}
	states, err := c.Store.ListCheckStates(ctx)
	if err != nil {
		return err
	}
	for _, s := range states {
		if !known[s.Name] {
			if err := c.Store.DeleteCheckState(ctx, s.Name); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// record decides the new state from obs and stores it, its result and
// its events in one transaction.
func (c *Controller) record(ctx context.Context, obs Observation) error {
	now := c.Clock.Now()
	var events []Event
	var next store.CheckState
	err := c.Store.WithTx(ctx, func(q store.Queries) error {
		prev, err := q.GetCheckState(ctx, obs.Name)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		next, events = Decide(prev, obs, now)
		if err := q.PutCheckState(ctx, &next); err != nil {
			return err
		}
		if err := q.AppendCheckResult(ctx, &store.CheckResult{
			Check: next.Name, Time: now, State: next.State, Detail: next.Detail, Members: next.Members,
		}); err != nil {
			return err
		}
		for _, e := range events {
			if err := q.AppendEvent(ctx, &store.Event{Time: now, Kind: e.Kind, Message: e.Severity + ": " + e.Message}); err != nil {
				return err
			}
			// The notification is kept if and only if the change is.
			if err := notify.InTx(ctx, c.Notify, q, notification(e, now)); err != nil {
				c.Logger.Warn("check notification not taken", "check", e.Check, "event", e.Kind, "err", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", obs.Name, err)
	}
	for _, e := range events {
		level := slog.LevelInfo
		switch e.Severity {
		case SeverityWarning:
			level = slog.LevelWarn
		case SeverityCritical:
			level = slog.LevelError
		}
		c.Logger.Log(ctx, level, e.Message, "check", e.Check, "event", e.Kind, "severity", e.Severity, "member", e.Member)
	}
	if c.OnState != nil {
		c.OnState(next.Name, next.State == StateOK)
	}
	return c.prune(ctx, next.Name, now)
}

// notification is the notify event of a change e at time at. Its key names
// the check, the member, the change and its time, so the same change is
// never sent twice.
func notification(e Event, at time.Time) notify.Event {
	sev := notify.Info
	switch e.Severity {
	case SeverityWarning:
		sev = notify.Warning
	case SeverityCritical:
		sev = notify.Critical
	}
	since := at.UTC().Format(time.RFC3339)
	subject := fmt.Sprintf("[%s] check %s: %s", sev, e.Check, strings.TrimPrefix(e.Kind, "check."))
	if e.Member != "" {
		subject += " (" + e.Member + ")"
	}
	body := e.Message + "\n\nSince: " + since + "\n"
	data := map[string]string{"change": e.Kind, "since": since}
	if e.Member != "" {
		body += "Member: " + e.Member + "\n"
		data["member"] = e.Member
	}
	return notify.Event{
		Key:  fmt.Sprintf("%s/%s/%s/%s/%d", notify.CheckChanged, e.Check, e.Member, e.Kind, at.UnixNano()),
		Kind: notify.CheckChanged, Severity: sev, Subject: subject, Body: body,
		Check: e.Check, Time: at, Data: data,
	}
}

// prune deletes a check's results beyond the bound, at most every
// pruneEvery per check.
func (c *Controller) prune(ctx context.Context, check string, now time.Time) error {
	c.pruneMu.Lock()
	defer c.pruneMu.Unlock()
	if c.pruned == nil {
		c.pruned = map[string]time.Time{}
	}
	if last, ok := c.pruned[check]; ok && now.Sub(last) < pruneEvery {
		return nil
	}
	keep, keepFor := c.KeepResults, c.KeepFor
	if keep <= 0 {
		keep = DefaultKeepResults
	}
	if keepFor <= 0 {
		keepFor = DefaultKeepFor
	}
	n, err := c.Store.PruneCheckResults(ctx, check, keep, now.Add(-keepFor))
	if err != nil {
		return fmt.Errorf("check %s: prune history: %w", check, err)
	}
	c.pruned[check] = now
	if n > 0 {
		c.Logger.Debug("check history pruned", "check", check, "results", n)
	}
	return nil
}
