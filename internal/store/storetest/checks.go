package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testChecks(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("StatePutGetListDelete", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetCheckState(ctx(t), "web"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetCheckState of a missing check = %v, want ErrNotFound", err)
		}
		web := &store.CheckState{Name: "web", Kind: "probe", State: "ok", Since: at(0), LastProbe: at(time.Second), Detail: "200"}
		mirrors := &store.CheckState{Name: "mirrors", Kind: "replicas", State: "behind", Since: at(2 * time.Second), LastProbe: at(3 * time.Second),
			Members: []store.CheckMember{
				{URL: "http://a", Value: "v2", State: "ok", Since: at(0)},
				{URL: "http://b", Value: "v1", State: "behind", Since: at(2 * time.Second)},
				{URL: "http://c", Error: "timeout", State: "failing", Since: at(time.Second)},
			}}
		for _, c := range []*store.CheckState{web, mirrors} {
			if err := s.PutCheckState(ctx(t), c); err != nil {
				t.Fatalf("PutCheckState: %v", err)
			}
		}
		got, err := s.GetCheckState(ctx(t), "mirrors")
		if err != nil {
			t.Fatalf("GetCheckState: %v", err)
		}
		if d := diff(mirrors, got); d != "" {
			t.Errorf("GetCheckState (-want +got):\n%s", d)
		}
		web.State, web.Since, web.Detail = "failing", at(5*time.Second), "status 500"
		if err := s.PutCheckState(ctx(t), web); err != nil {
			t.Fatalf("PutCheckState (replace): %v", err)
		}
		all, err := s.ListCheckStates(ctx(t))
		if err != nil {
			t.Fatalf("ListCheckStates: %v", err)
		}
		if d := diff([]*store.CheckState{mirrors, web}, all); d != "" {
			t.Errorf("ListCheckStates (-want +got):\n%s", d)
		}
		if err := s.PutCheckState(ctx(t), &store.CheckState{}); err == nil {
			t.Errorf("PutCheckState with an empty name succeeded")
		}
		if err := s.DeleteCheckState(ctx(t), "web"); err != nil {
			t.Fatalf("DeleteCheckState: %v", err)
		}
		if err := s.DeleteCheckState(ctx(t), "web"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteCheckState = %v, want ErrNotFound", err)
		}
	})

	t.Run("Results", func(t *testing.T) {
		s := newStore(t)
		var want []*store.CheckResult // newest first
		var last int64
		for i, state := range []string{"ok", "failing", "ok"} {
			r := &store.CheckResult{Check: "web", Time: at(time.Duration(i) * time.Second), State: state, Detail: "d"}
			if i == 1 {
				r.Members = []store.CheckMember{{URL: "http://a", Value: "1", State: "ok", Since: at(0)}}
			}
			if err := s.AppendCheckResult(ctx(t), r); err != nil {
				t.Fatalf("AppendCheckResult: %v", err)
			}
			if r.ID <= last {
				t.Fatalf("result %d got ID %d, not above %d", i, r.ID, last)
			}
			last = r.ID
			want = append([]*store.CheckResult{r}, want...)
		}
		other := &store.CheckResult{Check: "other", State: "ok"}
		if err := s.AppendCheckResult(ctx(t), other); err != nil {
			t.Fatalf("AppendCheckResult: %v", err)
		}
		if !recent(other.Time) {
			t.Errorf("Time = %v, want now", other.Time)
		}
		got, err := s.ListCheckResults(ctx(t), "web", 0)
		if err != nil {
			t.Fatalf("ListCheckResults: %v", err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("ListCheckResults (-want +got):\n%s", d)
		}
		got, err = s.ListCheckResults(ctx(t), "web", 2)
		if err != nil {
			t.Fatalf("ListCheckResults limit 2: %v", err)
		}
		if d := diff(want[:2], got); d != "" {
			t.Errorf("ListCheckResults limit 2 (-want +got):\n%s", d)
		}
		if _, err := s.ListCheckResults(ctx(t), "web", -1); err == nil {
			t.Errorf("ListCheckResults with a negative limit succeeded")
		}
		if err := s.PutCheckState(ctx(t), &store.CheckState{Name: "web", Kind: "probe", State: "ok"}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteCheckState(ctx(t), "web"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.ListCheckResults(ctx(t), "web", 0); err != nil || len(got) != 0 {
			t.Errorf("after DeleteCheckState: %d results, %v; want none", len(got), err)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		s := newStore(t)
		// web: results at 0s, 1s, ... 9s; other: one old result.
		for i := range 10 {
			if err := s.AppendCheckResult(ctx(t), &store.CheckResult{Check: "web", Time: at(time.Duration(i) * time.Second), State: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AppendCheckResult(ctx(t), &store.CheckResult{Check: "other", Time: at(0), State: "ok"}); err != nil {
			t.Fatal(err)
		}
		times := func(check string) []time.Duration {
			t.Helper()
			rs, err := s.ListCheckResults(ctx(t), check, 0)
			if err != nil {
				t.Fatal(err)
			}
			var out []time.Duration
			for _, r := range rs {
				out = append(out, r.Time.Sub(at(0)))
			}
			return out
		}
		for _, tc := range []struct {
			name   string
			keep   int
			before time.Duration // from at(0); -1: the zero time
			gone   int64
			want   []time.Duration // newest first
		}{
			{"the zero time is older than everything", 0, -1, 0, []time.Duration{9e9, 8e9, 7e9, 6e9, 5e9, 4e9, 3e9, 2e9, 1e9, 0}},
			{"nothing older than before", 3, 0, 0, []time.Duration{9e9, 8e9, 7e9, 6e9, 5e9, 4e9, 3e9, 2e9, 1e9, 0}},
			{"older than 3s go", 2, 3 * time.Second, 3, []time.Duration{9e9, 8e9, 7e9, 6e9, 5e9, 4e9, 3e9}},
			{"the newest keep stay although old", 4, time.Hour, 3, []time.Duration{9e9, 8e9, 7e9, 6e9}},
			{"repeating changes nothing", 4, time.Hour, 0, []time.Duration{9e9, 8e9, 7e9, 6e9}},
			{"keep more than there are", 100, time.Hour, 0, []time.Duration{9e9, 8e9, 7e9, 6e9}},
			{"keep none", 0, 8 * time.Second, 2, []time.Duration{9e9, 8e9}},
		} {
			before := time.Time{}
			if tc.before >= 0 {
				before = at(tc.before)
			}
			n, err := s.PruneCheckResults(ctx(t), "web", tc.keep, before)
			if err != nil {
				t.Fatalf("%s: PruneCheckResults: %v", tc.name, err)
			}
			if n != tc.gone {
				t.Errorf("%s: pruned %d, want %d", tc.name, n, tc.gone)
			}
			if d := diff(tc.want, times("web")); d != "" {
				t.Errorf("%s: results left (-want +got):\n%s", tc.name, d)
			}
		}
		if d := diff([]time.Duration{0}, times("other")); d != "" {
			t.Errorf("another check's results changed (-want +got):\n%s", d)
		}
		if _, err := s.PruneCheckResults(ctx(t), "web", -1, at(time.Hour)); err == nil {
			t.Errorf("PruneCheckResults with a negative keep succeeded")
		}
	})
}
