// Package reconcile runs controllers: each controller's Reconcile is called
// in its own loop, again after an interval, sooner when woken, and never
// concurrently with itself. A controller acts on what it reads each pass, so
// a pass repeated or cut short by a crash is harmless.
package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
)

// Controller converges one concern of the world toward the store.
type Controller interface {
	// Name identifies the controller in logs and metrics.
	Name() string
	// Reconcile makes one pass. It must be safe to call again at any time.
	Reconcile(ctx context.Context) (Result, error)
}

// Result tells the runner when to call again.
type Result struct {
	// RequeueAfter, when positive and shorter than the runner's interval,
	// asks for the next pass that soon.
	RequeueAfter time.Duration
}

// Runner runs controllers until its context ends.
type Runner struct {
	Interval time.Duration
	Clock    clock.Clock
	Logger   *slog.Logger
	// Observe, if set, is told of every pass: its controller, how long it
	// took and its error.
	Observe func(controller string, d time.Duration, err error)

	mu    sync.Mutex
	wakes []chan struct{}
}

// Wake asks every controller for a pass as soon as it is free.
func (r *Runner) Wake() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.wakes {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Run runs each controller in its own goroutine and returns when ctx is
// done and every pass in flight has returned.
func (r *Runner) Run(ctx context.Context, controllers ...Controller) {
	var wg sync.WaitGroup
	for _, c := range controllers {
		wake := make(chan struct{}, 1)
		r.mu.Lock()
		r.wakes = append(r.wakes, wake)
		r.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(ctx, c, wake)
		}()
	}
	wg.Wait()
}

func (r *Runner) loop(ctx context.Context, c Controller, wake <-chan struct{}) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		start := time.Now()
		res, err := c.Reconcile(ctx)
		if r.Observe != nil {
			r.Observe(c.Name(), time.Since(start), err)
		}
		wait := r.Interval
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.Logger.Warn("reconcile failed", "controller", c.Name(), "err", err)
			backoff = min(max(backoff*2, r.Interval/4, 100*time.Millisecond), 30*time.Second)
			wait = backoff
		} else {
			backoff = 0
			if res.RequeueAfter > 0 && res.RequeueAfter < wait {
				wait = res.RequeueAfter
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-r.Clock.After(wait):
		}
	}
}
