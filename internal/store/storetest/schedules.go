package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// newSchedule returns a schedule with every field set, apart from Version.
func newSchedule(name, owner string) *store.Schedule {
	return &store.Schedule{
		Name:       name,
		Owner:      owner,
		Cron:       "30 0,6,12,18 * * *",
		Timezone:   "Europe/Paris",
		Regions:    []string{"local-3", "local-1", "local-2"}, // rotation order, not sorted
		Rotate:     true,
		NextRegion: 2,
		Argv:       []string{"sh", "-c", `echo "$HOME" 'x' && exit 3`, "", "日本語 ✓"},
		MaxRuntime: 90*time.Minute + 1, // exact to the nanosecond
		LastTick:   at(time.Hour).In(time.FixedZone("UTC+1", 3600)),
		Deleting:   true,
		CreatedAt:  at(0),
	}
}

// newRun returns a run of schedule with every field set, apart from ID,
// Number and Version.
func newRun(schedule string) *store.ScheduleRun {
	return &store.ScheduleRun{
		Schedule:         schedule,
		Trigger:          store.TriggerCatchUp,
		Tick:             at(time.Hour),
		State:            store.RunTimedOut,
		Reason:           "killed after the maximum run time of 1h",
		Region:           "local-2",
		Node:             "n-worker",
		InstanceID:       "i-123",
		StartedAt:        at(time.Hour + time.Second),
		CommandStartedAt: at(time.Hour + 5*time.Second),
		EndedAt:          at(2*time.Hour + 7*time.Millisecond),
		ExitCode:         137,
		CostMicros:       10_400,
		OutputBytes:      256 << 10,
		OutputTruncated:  true,
	}
}

func testSchedules(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGetAllFields", func(t *testing.T) {
		s := newStore(t)
		sc := newSchedule("nightly", "ada")
		if err := s.CreateSchedule(ctx(t), sc); err != nil {
			t.Fatalf("CreateSchedule: %v", err)
		}
		want := newSchedule("nightly", "ada")
		want.Version = 1
		if d := jobDiff(want, sc); d != "" {
			t.Errorf("schedule after CreateSchedule (-want +got):\n%s", d)
		}
		got, err := s.GetSchedule(ctx(t), "nightly")
		if err != nil {
			t.Fatalf("GetSchedule: %v", err)
		}
		if d := jobDiff(want, got); d != "" {
			t.Errorf("GetSchedule (-want +got):\n%s", d)
		}
	})

	t.Run("ZeroValuesAndCreatedAt", func(t *testing.T) {
		s := newStore(t)
		sc := &store.Schedule{Name: "x"}
		if err := s.CreateSchedule(ctx(t), sc); err != nil {
			t.Fatalf("CreateSchedule: %v", err)
		}
		if !recent(sc.CreatedAt) {
			t.Errorf("CreatedAt = %v, want now", sc.CreatedAt)
		}
		got, err := s.GetSchedule(ctx(t), "x")
		if err != nil {
			t.Fatalf("GetSchedule: %v", err)
		}
		if d := jobDiff(sc, got); d != "" {
			t.Errorf("GetSchedule (-want +got):\n%s", d)
		}
		if !got.LastTick.IsZero() {
			t.Errorf("LastTick = %v, want zero", got.LastTick)
		}
	})

	t.Run("CreateConflictAndEmptyName", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateSchedule(ctx(t), newSchedule("a", "ada")); err != nil {
			t.Fatalf("CreateSchedule: %v", err)
		}
		dup := newSchedule("a", "bob")
		if err := s.CreateSchedule(ctx(t), dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second CreateSchedule = %v, want ErrConflict", err)
		}
		if dup.Version != 0 {
			t.Errorf("failed CreateSchedule changed Version to %d", dup.Version)
		}
		if err := s.CreateSchedule(ctx(t), newSchedule("", "ada")); err == nil {
			t.Error("CreateSchedule with an empty name succeeded")
		}
	})

	t.Run("ListOrderedByName", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []string{"c", "a", "b"} {
			if err := s.CreateSchedule(ctx(t), newSchedule(n, "ada")); err != nil {
				t.Fatalf("CreateSchedule %s: %v", n, err)
			}
		}
		got, err := s.ListSchedules(ctx(t))
		if err != nil {
			t.Fatalf("ListSchedules: %v", err)
		}
		var names []string
		for _, sc := range got {
			names = append(names, sc.Name)
		}
		if d := diff([]string{"a", "b", "c"}, names); d != "" {
			t.Errorf("ListSchedules names (-want +got):\n%s", d)
		}
	})

	t.Run("UpdateVersioned", func(t *testing.T) {
		s := newStore(t)
		sc := newSchedule("a", "ada")
		if err := s.CreateSchedule(ctx(t), sc); err != nil {
			t.Fatalf("CreateSchedule: %v", err)
		}
		stale := *sc
		sc.NextRegion, sc.LastTick, sc.Deleting = 0, at(3*time.Hour), false
		if err := s.UpdateSchedule(ctx(t), sc); err != nil {
			t.Fatalf("UpdateSchedule: %v", err)
		}
		if sc.Version != 2 {
			t.Errorf("Version = %d after update, want 2", sc.Version)
		}
		got, err := s.GetSchedule(ctx(t), "a")
		if err != nil {
			t.Fatalf("GetSchedule: %v", err)
		}
		if d := jobDiff(sc, got); d != "" {
			t.Errorf("GetSchedule after update (-want +got):\n%s", d)
		}
		if err := s.UpdateSchedule(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Errorf("stale UpdateSchedule = %v, want ErrConflict", err)
		}
		if stale.Version != 1 {
			t.Errorf("failed UpdateSchedule changed Version to %d", stale.Version)
		}
		gone := newSchedule("gone", "ada")
		gone.Version = 1
		if err := s.UpdateSchedule(ctx(t), gone); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateSchedule of a missing schedule = %v, want ErrNotFound", err)
		}
	})

	t.Run("DeleteRemovesRuns", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []string{"a", "b"} {
			if err := s.CreateSchedule(ctx(t), newSchedule(n, "ada")); err != nil {
				t.Fatalf("CreateSchedule: %v", err)
			}
			if err := s.CreateScheduleRun(ctx(t), newRun(n)); err != nil {
				t.Fatalf("CreateScheduleRun: %v", err)
			}
		}
		if err := s.DeleteSchedule(ctx(t), "a"); err != nil {
			t.Fatalf("DeleteSchedule: %v", err)
		}
		if _, err := s.GetSchedule(ctx(t), "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSchedule after delete = %v, want ErrNotFound", err)
		}
		if err := s.DeleteSchedule(ctx(t), "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteSchedule = %v, want ErrNotFound", err)
		}
		runs, err := s.ListScheduleRuns(ctx(t), store.ScheduleRunFilter{})
		if err != nil {
			t.Fatalf("ListScheduleRuns: %v", err)
		}
		if len(runs) != 1 || runs[0].Schedule != "b" {
			t.Errorf("runs after deleting a: %+v, want only b's", runs)
		}
		// A new schedule of the same name numbers its runs from 1 again.
		if err := s.CreateSchedule(ctx(t), newSchedule("a", "ada")); err != nil {
			t.Fatalf("CreateSchedule again: %v", err)
		}
		r := newRun("a")
		if err := s.CreateScheduleRun(ctx(t), r); err != nil {
			t.Fatalf("CreateScheduleRun: %v", err)
		}
		if r.Number != 1 {
			t.Errorf("Number = %d, want 1", r.Number)
		}
	})

	t.Run("RunsAllFieldsAndNumbers", func(t *testing.T) {
		s := newStore(t)
		var ids []int64
		for i, sched := range []string{"a", "b", "a", "a"} {
			r := newRun(sched)
			if err := s.CreateScheduleRun(ctx(t), r); err != nil {
				t.Fatalf("CreateScheduleRun %d: %v", i, err)
			}
			if r.Version != 1 {
				t.Errorf("Version = %d, want 1", r.Version)
			}
			if len(ids) > 0 && r.ID <= ids[len(ids)-1] {
				t.Errorf("ID %d after %d: want increasing", r.ID, ids[len(ids)-1])
			}
			ids = append(ids, r.ID)
		}
		got, err := s.GetScheduleRun(ctx(t), "a", 3)
		if err != nil {
			t.Fatalf("GetScheduleRun: %v", err)
		}
		want := newRun("a")
		want.ID, want.Number, want.Version = ids[3], 3, 1
		if d := diff(want, got); d != "" {
			t.Errorf("GetScheduleRun (-want +got):\n%s", d)
		}
		if _, err := s.GetScheduleRun(ctx(t), "b", 2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetScheduleRun of a missing number = %v, want ErrNotFound", err)
		}
		all, err := s.ListScheduleRuns(ctx(t), store.ScheduleRunFilter{Schedule: "a"})
		if err != nil {
			t.Fatalf("ListScheduleRuns: %v", err)
		}
		var numbers []int
		for _, r := range all {
			numbers = append(numbers, r.Number)
		}
		if d := diff([]int{1, 2, 3}, numbers); d != "" {
			t.Errorf("numbers of a's runs (-want +got):\n%s", d)
		}
		if err := s.CreateScheduleRun(ctx(t), newRun("")); err == nil {
			t.Error("CreateScheduleRun without a schedule succeeded")
		}
	})

	t.Run("UnendedFilterAndUpdate", func(t *testing.T) {
		s := newStore(t)
		done := newRun("a")
		running := newRun("a")
		running.State, running.EndedAt, running.CommandStartedAt, running.ExitCode = store.RunRunning, time.Time{}, time.Time{}, -1
		other := newRun("b")
		other.EndedAt = time.Time{}
		for _, r := range []*store.ScheduleRun{done, running, other} {
			if err := s.CreateScheduleRun(ctx(t), r); err != nil {
				t.Fatalf("CreateScheduleRun: %v", err)
			}
		}
		got, err := s.ListScheduleRuns(ctx(t), store.ScheduleRunFilter{Unended: true})
		if err != nil {
			t.Fatalf("ListScheduleRuns: %v", err)
		}
		if d := diff([]*store.ScheduleRun{running, other}, got); d != "" {
			t.Errorf("unended runs (-want +got):\n%s", d)
		}
		got, err = s.ListScheduleRuns(ctx(t), store.ScheduleRunFilter{Unended: true, Schedule: "a"})
		if err != nil {
			t.Fatalf("ListScheduleRuns: %v", err)
		}
		if d := diff([]*store.ScheduleRun{running}, got); d != "" {
			t.Errorf("unended runs of a (-want +got):\n%s", d)
		}

		stale := *running
		running.State, running.ExitCode, running.EndedAt = store.RunFailed, 3, at(5*time.Hour)
		if err := s.UpdateScheduleRun(ctx(t), running); err != nil {
			t.Fatalf("UpdateScheduleRun: %v", err)
		}
		if running.Version != 2 {
			t.Errorf("Version = %d, want 2", running.Version)
		}
		back, err := s.GetScheduleRun(ctx(t), "a", running.Number)
		if err != nil {
			t.Fatalf("GetScheduleRun: %v", err)
		}
		if d := diff(running, back); d != "" {
			t.Errorf("run after update (-want +got):\n%s", d)
		}
		if err := s.UpdateScheduleRun(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Errorf("stale UpdateScheduleRun = %v, want ErrConflict", err)
		}
		missing := newRun("a")
		missing.ID, missing.Version = 9999, 1
		if err := s.UpdateScheduleRun(ctx(t), missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateScheduleRun of a missing run = %v, want ErrNotFound", err)
		}
	})

	t.Run("Output", func(t *testing.T) {
		s := newStore(t)
		r := newRun("a")
		if err := s.CreateScheduleRun(ctx(t), r); err != nil {
			t.Fatalf("CreateScheduleRun: %v", err)
		}
		if out, err := s.ScheduleRunOutput(ctx(t), r.ID); err != nil || len(out) != 0 {
			t.Errorf("output of a new run = %q, %v; want none", out, err)
		}
		data := []byte("line 1\n\x00\xff binary\n")
		if err := s.SetScheduleRunOutput(ctx(t), r.ID, data); err != nil {
			t.Fatalf("SetScheduleRunOutput: %v", err)
		}
		// Updating the run's other fields keeps the output.
		r.State = store.RunFailed
		if err := s.UpdateScheduleRun(ctx(t), r); err != nil {
			t.Fatalf("UpdateScheduleRun: %v", err)
		}
		out, err := s.ScheduleRunOutput(ctx(t), r.ID)
		if err != nil {
			t.Fatalf("ScheduleRunOutput: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Errorf("output = %q, want %q", out, data)
		}
		if err := s.SetScheduleRunOutput(ctx(t), r.ID, []byte("new")); err != nil {
			t.Fatalf("SetScheduleRunOutput: %v", err)
		}
		if out, _ := s.ScheduleRunOutput(ctx(t), r.ID); string(out) != "new" {
			t.Errorf("output after replacing = %q, want new", out)
		}
		if err := s.SetScheduleRunOutput(ctx(t), 9999, data); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetScheduleRunOutput of a missing run = %v, want ErrNotFound", err)
		}
		if _, err := s.ScheduleRunOutput(ctx(t), 9999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ScheduleRunOutput of a missing run = %v, want ErrNotFound", err)
		}
	})

	t.Run("InTx", func(t *testing.T) {
		s := newStore(t)
		boom := errors.New("boom")
		err := s.WithTx(ctx(t), func(q store.Queries) error {
			if err := q.CreateSchedule(ctx(t), newSchedule("a", "ada")); err != nil {
				return err
			}
			r := newRun("a")
			if err := q.CreateScheduleRun(ctx(t), r); err != nil {
				return err
			}
			if _, err := q.GetScheduleRun(ctx(t), "a", r.Number); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want boom", err)
		}
		if _, err := s.GetSchedule(ctx(t), "a"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("schedule of a rolled back transaction: %v, want ErrNotFound", err)
		}
		runs, err := s.ListScheduleRuns(ctx(t), store.ScheduleRunFilter{})
		if err != nil || len(runs) != 0 {
			t.Errorf("runs of a rolled back transaction: %v, %v", runs, err)
		}
	})
}
