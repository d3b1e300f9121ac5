package schedule

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/store"
)

func TestController_NotifiesFailedRunsOnly(t *testing.T) {
	h := newHarness(t, day(0, 29))
	h.create(api.CreateScheduleRequest{Name: "sync", Cron: "30 0,6 * * *", Region: "fake-1", MaxRuntime: "1h", Argv: []string{"job"}})
	c, ctx := h.controller()
	c.Notify = &notify.Outbox{Store: h.st, Clock: h.clk}

	h.agents.setMode("fail")
	h.clk.Set(day(0, 30))
	h.reconcile(c, ctx)
	h.waitEnded("sync", 1)
	h.agents.setMode("ok")
	h.clk.Set(day(6, 30))
	h.reconcile(c, ctx)
	h.waitEnded("sync", 2)
	h.reconcile(c, ctx)

	ns, err := h.st.ListNotifications(context.Background(), store.NotificationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1 {
		t.Fatalf("%d notifications, want 1 (the failed run only)", len(ns))
	}
	var ev struct {
		Kind, User, Schedule, Severity, Body string
		Data                                 map[string]string
	}
	if err := json.Unmarshal(ns[0].Payload, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != notify.ScheduleFailed || ev.User != "ada" || ev.Schedule != "sync" || ev.Severity != notify.Warning ||
		ev.Data["exit_code"] != "3" || ev.Data["run"] != "1" {
		t.Errorf("event %+v; want schedule.failed for ada's sync, run 1, exit code 3", ev)
	}
}
