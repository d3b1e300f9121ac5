package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Controller probes each check of Config when it is due, stores its
// result and state, and records each change of state once as a store event
// (Kind "check.*", the message starting with its severity) and a log line.
// Notifications (email, webhooks) do not exist yet.
type Controller struct {
	Store  store.Store
	Config *Config
	Clock  clock.Clock
	Logger *slog.Logger
	// Client makes the probes (default http.DefaultClient); each probe
	// is bounded by its check's timeout.
	Client *http.Client
	// OnState, if set, is told after each probe whether the check is ok.
	OnState func(check string, up bool)

	mu      sync.Mutex
	due     map[string]time.Time
	cleaned bool
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
	return nil
}
