package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/schedule"
	"github.com/stratus-cloud/stratus/internal/store"
)

func newScheduleServer(t *testing.T) *server {
	t.Helper()
	return newServer(t, func(h *httpapi.Handler) {
		h.Schedules = &schedule.Service{Store: h.Store, Clock: clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
			Logger: h.Logger, Regions: []string{"local-1", "local-2"}, Billing: cost.PerSecond}
	})
}

// TestSchedules_OwnedLikeClusters: users see and change only their own
// schedules; an administrator sees all.
func TestSchedules_OwnedLikeClusters(t *testing.T) {
	t.Parallel()
	s := newScheduleServer(t)
	ctx := ctxTimeout(t, 10*time.Second)
	ann, bob, admin := s.client(annToken), s.client(bobToken), s.client(adminToken)
	created, err := ann.CreateSchedule(ctx, api.CreateScheduleRequest{Name: "nightly", Cron: "30 2 * * *",
		Timezone: "Europe/Paris", Rotate: []string{"local-2", "local-1"}, Argv: []string{"make", "report"}})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Owner != "ann" || created.NextTick == nil || !created.NextTick.Equal(time.Date(2030, 1, 1, 1, 30, 0, 0, time.UTC)) ||
		created.NextRegion != "local-2" || created.MaxRuntime != "1h0m0s" || created.State != "active" {
		t.Errorf("created = %+v", created)
	}
	_, err = ann.CreateSchedule(ctx, api.CreateScheduleRequest{Name: "nightly", Cron: "@daily", Region: "local-1", Argv: []string{"x"}})
	statusError(t, err, http.StatusConflict, "conflict")

	if list, err := bob.ListSchedules(ctx); err != nil || len(list) != 0 {
		t.Errorf("bob's list = %v, %v; want empty", list, err)
	}
	if list, err := admin.ListSchedules(ctx); err != nil || len(list) != 1 {
		t.Errorf("admin's list = %v, %v; want nightly", list, err)
	}
	_, err = bob.GetSchedule(ctx, "nightly")
	statusError(t, err, http.StatusNotFound, "not_found")
	_, err = bob.RunSchedule(ctx, "nightly")
	statusError(t, err, http.StatusNotFound, "not_found")
	_, err = bob.DeleteSchedule(ctx, "nightly")
	statusError(t, err, http.StatusNotFound, "not_found")

	run, err := admin.RunSchedule(ctx, "nightly")
	if err != nil || run.Number != 1 || run.State != "pending" || run.Trigger != "manual" {
		t.Fatalf("run now = %+v, %v", run, err)
	}
	_, err = ann.RunSchedule(ctx, "nightly")
	statusError(t, err, http.StatusConflict, "conflict")
	runs, err := ann.ListScheduleRuns(ctx, "nightly")
	if err != nil || len(runs) != 1 {
		t.Errorf("runs = %v, %v", runs, err)
	}
	if r, err := ann.GetScheduleRun(ctx, "nightly", 0); err != nil || r.Number != 1 {
		t.Errorf("latest run = %+v, %v", r, err)
	}
	_, err = ann.GetScheduleRun(ctx, "nightly", 7)
	statusError(t, err, http.StatusNotFound, "not_found")
	if out, err := ann.ScheduleRunOutput(ctx, "nightly", 1); err != nil || len(out.Output) != 0 {
		t.Errorf("output = %+v, %v", out, err)
	}

	// The run is pending: deleting waits for it (202), and the controller
	// removes the schedule; here, end the run as the controller would.
	del, err := ann.DeleteSchedule(ctx, "nightly")
	if err != nil || del.State != "deleting" {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	r, err := s.st.GetScheduleRun(ctx, "nightly", 1)
	if err != nil {
		t.Fatal(err)
	}
	r.State, r.EndedAt = store.RunCancelled, time.Now()
	if err := s.st.UpdateScheduleRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	del, err = ann.DeleteSchedule(ctx, "nightly")
	if err != nil || del.State != "deleted" {
		t.Fatalf("delete again = %+v, %v", del, err)
	}
	_, err = ann.GetSchedule(ctx, "nightly")
	statusError(t, err, http.StatusNotFound, "not_found")
}

func TestSchedules_InvalidRequestNamesFields(t *testing.T) {
	t.Parallel()
	s := newScheduleServer(t)
	ctx := ctxTimeout(t, 10*time.Second)
	_, err := s.client(annToken).CreateSchedule(ctx, api.CreateScheduleRequest{Name: "x", Cron: "* * * * 9",
		Timezone: "Nowhere/Land", Region: "local-7"})
	se := statusError(t, err, http.StatusBadRequest, "invalid")
	fields := map[string]string{}
	for _, f := range se.Body.Fields {
		fields[f.Field] = f.Message
	}
	for field, want := range map[string]string{
		"cron":     `day-of-week field "9": end of range (9) above maximum (7)`,
		"timezone": `unknown time zone "Nowhere/Land"`,
		"region":   `unknown region "local-7"; this provider has local-1, local-2`,
		"argv":     "give the command to run",
	} {
		if !strings.Contains(fields[field], want) {
			t.Errorf("field %s: %q, want …%s…", field, fields[field], want)
		}
	}
}
