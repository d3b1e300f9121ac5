package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// errRollback is what test transactions return to be rolled back.
var errRollback = errors.New("storetest: roll back")

// writeAll writes one record of every kind through q.
func writeAll(t *testing.T, q store.Queries) error {
	t.Helper()
	c := ctx(t)
	if err := q.SetMeta(c, "k", "v"); err != nil {
		return err
	}
	if err := q.CreateCluster(c, newCluster("alpha")); err != nil {
		return err
	}
	if err := q.CreateNode(c, newNode("n-1", "alpha")); err != nil {
		return err
	}
	if err := q.CreateToken(c, &store.Token{Hash: "h", User: "ada", Role: "user"}); err != nil {
		return err
	}
	if err := q.AppendEvent(c, &store.Event{Cluster: "alpha", Kind: "cluster.created"}); err != nil {
		return err
	}
	j := newJob("alpha", "ada")
	if err := q.CreateJob(c, j); err != nil {
		return err
	}
	if err := q.AppendJobOutput(c, &store.OutputChunk{Job: txOutputJob, Attempt: 1, Stream: "stdout", Data: []byte("hi\x00")}); err != nil {
		return err
	}
	return q.OpenUsage(c, newUsage("i-1", "alpha", "ada", at(0)))
}

// txOutputJob is the job writeAll appends output to (references are not
// enforced, so it need not exist).
const txOutputJob = 7

// checkNothing fails t if any record writeAll writes is visible in s.
func checkNothing(t *testing.T, s store.Store) {
	t.Helper()
	c := ctx(t)
	if _, err := s.GetMeta(c, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("meta written by a rolled-back transaction: GetMeta err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetCluster(c, "alpha"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cluster written by a rolled-back transaction: GetCluster err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetNode(c, "n-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("node written by a rolled-back transaction: GetNode err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetTokenByHash(c, "h"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token written by a rolled-back transaction: GetTokenByHash err = %v, want ErrNotFound", err)
	}
	if es, err := s.ListEvents(c, store.EventFilter{}); err != nil || len(es) != 0 {
		t.Errorf("events after a rolled-back transaction: %d, %v; want none", len(es), err)
	}
	if js, err := s.ListJobs(c, store.JobFilter{}); err != nil || len(js) != 0 {
		t.Errorf("jobs after a rolled-back transaction: %d, %v; want none", len(js), err)
	}
	if cs, err := s.ListJobOutput(c, txOutputJob, 0, 0); err != nil || len(cs) != 0 {
		t.Errorf("job output after a rolled-back transaction: %d chunks, %v; want none", len(cs), err)
	}
	if us, err := s.ListUsage(c, store.UsageFilter{}); err != nil || len(us) != 0 {
		t.Errorf("usage after a rolled-back transaction: %d periods, %v; want none", len(us), err)
	}
}

// checkUsable fails t unless s still takes transactions and writes.
func checkUsable(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.WithTx(ctx(t), func(q store.Queries) error { return q.SetMeta(ctx(t), "after", "1") }); err != nil {
		t.Fatalf("WithTx afterwards: %v", err)
	}
	if err := s.SetMeta(ctx(t), "after", "2"); err != nil {
		t.Fatalf("SetMeta afterwards: %v", err)
	}
	if got, err := s.GetMeta(ctx(t), "after"); err != nil || got != "2" {
		t.Fatalf("GetMeta afterwards = %q, %v; want %q", got, err, "2")
	}
}

func testWithTx(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Commit", func(t *testing.T) {
		s := newStore(t)
		var ev store.Event
		err := s.WithTx(ctx(t), func(q store.Queries) error {
			if err := writeAll(t, q); err != nil {
				return err
			}
			// The transaction sees its own writes.
			if got, err := q.GetMeta(ctx(t), "k"); err != nil || got != "v" {
				return fmt.Errorf("GetMeta inside the transaction = %q, %v; want %q", got, err, "v")
			}
			if _, err := q.GetCluster(ctx(t), "alpha"); err != nil {
				return fmt.Errorf("GetCluster inside the transaction: %w", err)
			}
			ns, err := q.ListNodes(ctx(t), store.NodeFilter{Cluster: "alpha"})
			if err != nil || len(ns) != 1 {
				return fmt.Errorf("ListNodes inside the transaction = %d nodes, %v; want 1", len(ns), err)
			}
			ev = store.Event{Cluster: "alpha", Kind: "cluster.running"}
			return q.AppendEvent(ctx(t), &ev)
		})
		if err != nil {
			t.Fatalf("WithTx: %v", err)
		}
		if ev.ID == 0 {
			t.Error("AppendEvent inside a transaction left ID 0")
		}
		c := ctx(t)
		if got, err := s.GetMeta(c, "k"); err != nil || got != "v" {
			t.Errorf("GetMeta after commit = %q, %v; want %q", got, err, "v")
		}
		if _, err := s.GetCluster(c, "alpha"); err != nil {
			t.Errorf("GetCluster after commit: %v", err)
		}
		if _, err := s.GetNode(c, "n-1"); err != nil {
			t.Errorf("GetNode after commit: %v", err)
		}
		if _, err := s.GetTokenByHash(c, "h"); err != nil {
			t.Errorf("GetTokenByHash after commit: %v", err)
		}
		es, err := s.ListEvents(c, store.EventFilter{})
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if len(es) != 2 || es[0].ID != ev.ID {
			t.Errorf("ListEvents after commit: %d events, want 2 with ID %d first", len(es), ev.ID)
		}
		if js, err := s.ListJobs(c, store.JobFilter{}); err != nil || len(js) != 1 {
			t.Errorf("ListJobs after commit = %d jobs, %v; want 1", len(js), err)
		}
		if cs, err := s.ListJobOutput(c, txOutputJob, 0, 0); err != nil || len(cs) != 1 {
			t.Errorf("ListJobOutput after commit = %d chunks, %v; want 1", len(cs), err)
		}
		if us, err := s.ListUsage(c, store.UsageFilter{}); err != nil || len(us) != 1 {
			t.Errorf("ListUsage after commit = %d periods, %v; want 1", len(us), err)
		}
	})

	t.Run("RollbackJobAndUsageChanges", func(t *testing.T) {
		s := newStore(t)
		c := ctx(t)
		j := newJob("alpha", "ada")
		if err := s.CreateJob(c, j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		u := newUsage("i-1", "alpha", "ada", at(0))
		if err := s.OpenUsage(c, u); err != nil {
			t.Fatalf("OpenUsage: %v", err)
		}
		err := s.WithTx(c, func(q store.Queries) error {
			up := *j
			up.State, up.ExitCode, up.RankExit = store.JobFailed, 2, []int{2, 0, 0}
			if err := q.UpdateJob(c, &up); err != nil {
				return err
			}
			if err := q.AppendJobOutput(c, &store.OutputChunk{Job: j.ID, Attempt: 1, Stream: "stderr", Data: []byte("boom")}); err != nil {
				return err
			}
			if err := q.CloseUsage(c, u.ID, at(time.Hour)); err != nil {
				return err
			}
			// The transaction sees its own writes.
			got, err := q.GetJob(c, j.ID)
			if err != nil || got.Version != 2 || got.State != store.JobFailed {
				return fmt.Errorf("GetJob inside the transaction = %+v, %v; want the update", got, err)
			}
			if cs, err := q.ListJobOutput(c, j.ID, 0, 0); err != nil || len(cs) != 1 {
				return fmt.Errorf("ListJobOutput inside the transaction = %d chunks, %v; want 1", len(cs), err)
			}
			if us, err := q.ListUsage(c, store.UsageFilter{OpenOnly: true}); err != nil || len(us) != 0 {
				return fmt.Errorf("ListUsage(OpenOnly) inside the transaction = %d periods, %v; want none", len(us), err)
			}
			if err := q.OpenUsage(c, newUsage("i-2", "alpha", "ada", at(time.Hour))); err != nil {
				return err
			}
			if _, err := q.ListJobs(c, store.JobFilter{}); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("WithTx = %v, want fn's error", err)
		}
		got, err := s.GetJob(c, j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if d := jobDiff(j, got); d != "" {
			t.Errorf("job after a rolled-back UpdateJob (-want +got):\n%s", d)
		}
		if cs, err := s.ListJobOutput(c, j.ID, 0, 0); err != nil || len(cs) != 0 {
			t.Errorf("job output after a rolled-back transaction: %d chunks, %v; want none", len(cs), err)
		}
		us, err := s.ListUsage(c, store.UsageFilter{})
		if err != nil {
			t.Fatalf("ListUsage: %v", err)
		}
		if d := diff([]*store.Usage{u}, us); d != "" {
			t.Errorf("usage after a rolled-back transaction (-want +got):\n%s", d)
		}
		// The period is still open, so it can be closed now.
		if err := s.CloseUsage(c, u.ID, at(time.Hour)); err != nil {
			t.Errorf("CloseUsage after the rolled-back close: %v", err)
		}
	})

	t.Run("RollbackOnError", func(t *testing.T) {
		s := newStore(t)
		err := s.WithTx(ctx(t), func(q store.Queries) error {
			if err := writeAll(t, q); err != nil {
				return err
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("WithTx = %v, want fn's error", err)
		}
		checkNothing(t, s)
		checkUsable(t, s)
	})

	t.Run("RollbackOnStoreError", func(t *testing.T) {
		s := newStore(t)
		err := s.WithTx(ctx(t), func(q store.Queries) error {
			if err := writeAll(t, q); err != nil {
				return err
			}
			return q.CreateCluster(ctx(t), newCluster("alpha"))
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("WithTx = %v, want the ErrConflict of the duplicate create", err)
		}
		checkNothing(t, s)
	})

	t.Run("PanicRollsBackAndPropagates", func(t *testing.T) {
		s := newStore(t)
		type boom struct{ n int }
		func() {
			defer func() {
				r := recover()
				if r != (boom{42}) {
					t.Fatalf("recovered %v from WithTx, want fn's panic value %v", r, boom{42})
				}
			}()
			err := s.WithTx(ctx(t), func(q store.Queries) error {
				if err := writeAll(t, q); err != nil {
					return err
				}
				panic(boom{42})
			})
			t.Fatalf("WithTx returned (%v) after fn panicked; want the panic to propagate", err)
		}()
		checkNothing(t, s)
		checkUsable(t, s)
	})

	t.Run("CancelledContext", func(t *testing.T) {
		s := newStore(t)
		c, cancel := context.WithCancel(ctx(t))
		cancel()
		called := false
		err := s.WithTx(c, func(q store.Queries) error {
			called = true
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("WithTx with a cancelled context = %v, want context.Canceled", err)
		}
		if called {
			t.Error("WithTx with a cancelled context called fn")
		}
		checkUsable(t, s)
	})

	t.Run("ReadsDoNotWaitForTransactions", func(t *testing.T) {
		s := newStore(t)
		if err := s.SetMeta(ctx(t), "k", "committed"); err != nil {
			t.Fatalf("SetMeta: %v", err)
		}
		err := s.WithTx(ctx(t), func(q store.Queries) error {
			if err := q.SetMeta(ctx(t), "k", "uncommitted"); err != nil {
				return err
			}
			// Another goroutine (an HTTP handler, say) reads meanwhile.
			type result struct {
				v   string
				err error
			}
			ch := make(chan result, 1)
			go func() {
				v, err := s.GetMeta(ctx(t), "k")
				ch <- result{v, err}
			}()
			select {
			case r := <-ch:
				if r.err != nil || r.v != "committed" {
					return fmt.Errorf("read outside an open transaction = %q, %v; want the committed %q", r.v, r.err, "committed")
				}
			case <-time.After(10 * time.Second):
				return errors.New("a read outside the transaction waited for the open transaction to end")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ConcurrentIncrements", func(t *testing.T) {
		testConcurrentIncrements(t, newStore(t))
	})
}

// testConcurrentIncrements runs many read-modify-write transactions on one
// counter at once, with readers alongside: no update may be lost, no call may
// fail, and no reader may see a value that was never committed.
func testConcurrentIncrements(t *testing.T, s store.Store) {
	const (
		writers    = 20
		increments = 10
		readers    = 4
		poison     = "-1" // written only by transactions that roll back
	)
	c := ctx(t)
	if err := s.SetMeta(c, "counter", "0"); err != nil {
		t.Fatalf("SetMeta: %v", err)
	}
	increment := func() error {
		return s.WithTx(c, func(q store.Queries) error {
			v, err := q.GetMeta(c, "counter")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("counter %q: %w", v, err)
			}
			runtime.Gosched() // widen the window for a lost update
			return q.SetMeta(c, "counter", strconv.Itoa(n+1))
		})
	}
	abort := func() error {
		err := s.WithTx(c, func(q store.Queries) error {
			if err := q.SetMeta(c, "counter", poison); err != nil {
				return err
			}
			runtime.Gosched()
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			return fmt.Errorf("rolled-back transaction: WithTx = %v, want fn's error", err)
		}
		return nil
	}

	errs := make(chan error, writers*increments*2+readers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range increments {
				if err := increment(); err != nil {
					errs <- fmt.Errorf("writer %d, increment %d: %w", w, i, err)
				}
				if i%3 == 0 {
					if err := abort(); err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	var rg sync.WaitGroup
	for r := range readers {
		rg.Add(1)
		go func() {
			defer rg.Done()
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				v, err := s.GetMeta(c, "counter")
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < last {
					errs <- fmt.Errorf("reader %d read %q after %d: saw an uncommitted or lost value", r, v, last)
					return
				}
				last = n
				// Leave the CPUs to the writers: the point is to read
				// during their transactions, not to outnumber them.
				time.Sleep(200 * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	close(done)
	rg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.GetMeta(c, "counter")
	if err != nil {
		t.Fatalf("GetMeta: %v", err)
	}
	if want := strconv.Itoa(writers * increments); got != want {
		t.Errorf("counter = %s after %d concurrent increments, want %s", got, writers*increments, want)
	}
}
