package health

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/notify/notifytest"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

// TestController_NotifiesOncePerChange probes a web server and a replica
// group many times in each state: each change of state is one
// notification with its severity, the check, the member and its time.
func TestController_NotifiesOncePerChange(t *testing.T) {
	web, down := webServer(t, http.StatusInternalServerError)
	rev, mirrors := replicaGroup(t, "rev", "7")
	cfg, err := Parse([]byte(fmt.Sprintf(`probes:
- name: web
  url: %s
  interval: 10s
replicas:
- name: mirrors
  members: [%s, %s, %s]
  value: {json: rev}
  interval: 10s
`, web.URL, mirrors[0].URL, mirrors[1].URL, mirrors[2].URL)))
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	rec := &notifytest.Recorder{}
	ctl := &Controller{Store: sqlitetest.Open(t), Config: cfg, Clock: clk, Logger: slog.New(slog.DiscardHandler), Notify: rec}
	// probes runs n passes, 10 s apart, and returns the notifications.
	probes := func(n int) []notify.Event {
		t.Helper()
		passes(t, ctl, clk, n, 10*time.Second)
		return rec.Take()
	}
	type want struct{ severity, check, member, change string }
	check := func(step string, got []notify.Event, at time.Time, wants ...want) {
		t.Helper()
		if len(got) != len(wants) {
			t.Fatalf("%s: %d notifications, want %d: %+v", step, len(got), len(wants), got)
		}
		for _, w := range wants {
			found := false
			for _, e := range got {
				if e.Check == w.check && e.Data["member"] == w.member && e.Data["change"] == w.change {
					found = true
					if e.Kind != notify.CheckChanged || e.Severity != w.severity || !e.Time.Equal(at) ||
						e.Data["since"] != at.UTC().Format(time.RFC3339) || e.Key == "" || e.User != "" ||
						!strings.Contains(e.Subject, w.check) || !strings.Contains(e.Body, w.member) {
						t.Errorf("%s: notification %+v, want kind %s, severity %s, at %v, the check and member named", step, e, notify.CheckChanged, w.severity, at)
					}
				}
			}
			if !found {
				t.Errorf("%s: no notification %+v among %+v", step, w, got)
			}
		}
	}

	// Everything ok from the start, probed 5 times: nothing to tell.
	check("all ok", probes(5), t0)

	// The web server fails and one mirror falls behind: one critical and
	// one warning notification however often they are probed.
	down.Store(true)
	rev[0].Store("8")
	rev[1].Store("8")
	at := clk.Now()
	check("failing and behind", probes(6), at,
		want{notify.Critical, "web", "", "check.failing"},
		want{notify.Warning, "mirrors", mirrors[2].URL, "check.behind"})

	// Both come back: one info notification each.
	down.Store(false)
	rev[2].Store("8")
	at = clk.Now()
	check("recovered", probes(4), at,
		want{notify.Info, "web", "", "check.recovered"},
		want{notify.Info, "mirrors", mirrors[2].URL, "check.caught_up"})
	check("still ok", probes(3), at)
}

// TestController_PrunesHistory keeps the newest results and the recent
// ones, whichever are more.
func TestController_PrunesHistory(t *testing.T) {
	web, _ := webServer(t, http.StatusOK)
	cfg, err := Parse([]byte("probes:\n- name: web\n  url: " + web.URL + "\n  interval: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := sqlitetest.Open(t)
	clk := clock.NewFake(t0)
	ctl := &Controller{Store: st, Config: cfg, Clock: clk, Logger: slog.New(slog.DiscardHandler), KeepResults: 5, KeepFor: 2 * time.Hour}
	count := func() int {
		t.Helper()
		rs, err := st.ListCheckResults(ctx, "web", 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	// 30 probes 10 minutes apart (5 hours): the results of the last two
	// hours (12) stay, besides the one probe pruning waits for an hour.
	passes(t, ctl, clk, 30, 10*time.Minute)
	if n := count(); n < 12 || n > 12+6 {
		t.Errorf("after 5 hours: %d results, want the last 2 hours' (12) plus at most an hour's (6)", n)
	}
	// With a longer interval the newest 5 stay though older than 2 hours.
	ctl.KeepFor = time.Minute
	clk.Advance(2 * time.Hour)
	if _, err := ctl.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 5 {
		t.Errorf("after pruning to the newest 5: %d results", n)
	}
}

// With the server's outbox as notifier, a change's notification is written
// in the transaction that stores the change: one per change, however
// often probed.
func TestController_NotifiesThroughTheOutbox(t *testing.T) {
	web, down := webServer(t, http.StatusBadGateway)
	cfg, err := Parse([]byte("probes:\n- name: web\n  url: " + web.URL + "\n  interval: 10s\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := sqlitetest.Open(t)
	clk := clock.NewFake(t0)
	ctl := &Controller{Store: st, Config: cfg, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		Notify: &notify.Outbox{Store: st, Clock: clk}}
	down.Store(true)
	passes(t, ctl, clk, 4, 10*time.Second)
	down.Store(false)
	passes(t, ctl, clk, 3, 10*time.Second)
	ns, err := st.ListNotifications(context.Background(), store.NotificationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range ns {
		got = append(got, n.Kind+" "+string(n.Payload))
	}
	if len(ns) != 2 || !strings.Contains(got[0], `"critical"`) || !strings.Contains(got[1], `"info"`) || ns[0].Kind != notify.CheckChanged {
		t.Errorf("outbox holds %d notifications, want a critical one then an info one:\n%s", len(ns), strings.Join(got, "\n"))
	}
}
