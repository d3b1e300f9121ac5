package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
)

type countingController struct {
	passes atomic.Int64
	err    error
}

func (c *countingController) Name() string { return "counting" }
func (c *countingController) Reconcile(context.Context) (Result, error) {
	c.passes.Add(1)
	return Result{}, c.err
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRunner_PassesOnIntervalAndWake(t *testing.T) {
	fake := clock.NewFake(time.Unix(0, 0))
	r := &Runner{Interval: time.Minute, Clock: fake, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := &countingController{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, c); close(done) }()

	waitFor(t, func() bool { return c.passes.Load() == 1 })
	r.Wake()
	waitFor(t, func() bool { return c.passes.Load() == 2 })
	// Let the loop reach its wait before advancing the fake clock.
	time.Sleep(10 * time.Millisecond)
	fake.Advance(time.Minute)
	waitFor(t, func() bool { return c.passes.Load() == 3 })
	cancel()
	<-done
}

func TestRunner_StopsOnCancelEvenWhenFailing(t *testing.T) {
	r := &Runner{Interval: time.Millisecond, Clock: clock.Real{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c := &countingController{err: errors.New("boom")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx, c); close(done) }()
	waitFor(t, func() bool { return c.passes.Load() >= 2 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("runner did not stop")
	}
}
