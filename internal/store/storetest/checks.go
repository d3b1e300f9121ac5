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
}
