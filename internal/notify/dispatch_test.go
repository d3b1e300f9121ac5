package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
)

// spyStore is the SQLite store that counts prunes and unbounded delivery
// listings, and fails the updates of the deliveries failUpdate picks.
type spyStore struct {
	*sqlite.Store
	mu         sync.Mutex
	prunes     []time.Time
	unbounded  int
	failUpdate func(*store.Delivery) bool
}

func (s *spyStore) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	s.prunes = append(s.prunes, before)
	s.mu.Unlock()
	return s.Store.PruneNotifications(ctx, before)
}

func (s *spyStore) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	if f.Limit == 0 {
		s.mu.Lock()
		s.unbounded++
		s.mu.Unlock()
	}
	return s.Store.ListDeliveries(ctx, f)
}

func (s *spyStore) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	if s.failUpdate != nil && s.failUpdate(d) {
		return errors.New("disk full")
	}
	return s.Store.UpdateDelivery(ctx, d)
}

// syncBuffer is a log destination safe for the dispatcher's senders.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// logTo makes e's dispatcher log into a buffer it returns.
func (e *env) logTo() *syncBuffer {
	var buf syncBuffer
	e.disp.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	return &buf
}

func TestWebhook_URLSecretsStayOutOfLogsAndStore(t *testing.T) {
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close() // connection refused: net/http's error names the URL
	cfg, err := notify.Parse(fmt.Appendf(nil, `webhooks:
  - {name: ops, url: "%s/hooks/T0k3nPath?token=s3cr3t-query", secret: s, admin: true}
  - {url: "%s/x?token=s3cr3t-query", secret: s, admin: true}
`, busy.URL, goneURL))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	logs := e.logTo()
	if err := e.out.Notify(t.Context(), created("ubuntu@127.100.0.4")); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	ds := e.deliveries(t)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries, want 2", len(ds))
	}
	want := map[string]string{
		"ops":       "post to webhook ops (" + busy.URL + "): 503 Service Unavailable: busy",
		"webhook-2": "post to webhook webhook-2 (" + goneURL + "): ",
	}
	for _, d := range ds {
		if d.State != store.DeliveryPending || !strings.HasPrefix(d.LastError, want[d.Recipient]) || want[d.Recipient] == "" {
			t.Errorf("delivery to %q: %s, error %q; want pending, error starting %q", d.Recipient, d.State, d.LastError, want[d.Recipient])
		}
	}
	for _, secret := range []string{"s3cr3t-query", "T0k3nPath", "token="} {
		for _, d := range ds {
			if strings.Contains(d.Recipient+d.LastError, secret) {
				t.Errorf("the store holds %q: recipient %q, error %q", secret, d.Recipient, d.LastError)
			}
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs.String(), "to=ops") || !strings.Contains(logs.String(), "post to webhook webhook-2") {
		t.Errorf("the log does not name the webhooks:\n%s", logs)
	}
}

func TestWebhook_UnknownNameIsGivenUp(t *testing.T) {
	cfg, err := notify.Parse([]byte("webhooks:\n  - {url: 'http://127.0.0.1:1/x', secret: s, admin: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	logs := e.logTo()
	n := &store.Notification{Key: "k", Kind: notify.ClusterDeleted, Payload: json.RawMessage(`{"kind":"cluster.deleted"}`), CreatedAt: t0}
	if _, err := e.st.AddNotification(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	// A delivery recorded for a webhook no longer configured, one by a
	// URL (as they once were) among them.
	ds := []*store.Delivery{
		{Channel: notify.ChannelWebhook, Recipient: "renamed", State: store.DeliveryPending, NextAttempt: t0},
		{Channel: notify.ChannelWebhook, Recipient: "https://hooks.example.org/x?token=s3cr3t", State: store.DeliveryPending, NextAttempt: t0},
	}
	if err := e.st.ExpandNotification(t.Context(), n.ID, ds); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	got := e.deliveries(t)
	wantErr := []string{`no webhook named "renamed" is configured`, `no webhook named "https://hooks.example.org" is configured`}
	for i, d := range got {
		if d.State != store.DeliveryGaveUp || d.Attempts != 1 || !strings.Contains(d.LastError, wantErr[i]) {
			t.Errorf("delivery %d: %s after %d attempts, error %q; want given up at once with %q", i, d.State, d.Attempts, d.LastError, wantErr[i])
		}
	}
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("the log holds the token:\n%s", logs)
	}
	res, err := e.disp.Reconcile(t.Context())
	if err != nil || res.RequeueAfter != 0 {
		t.Errorf("a pass with nothing pending = %+v, %v; want no requeue", res, err)
	}
}

func TestWebhook_SameURLTwoSecretsEachSigned(t *testing.T) {
	var (
		mu     sync.Mutex
		signed = map[string]int{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		for _, secret := range []string{"first", "second"} {
			if notify.Verify(secret, r.Header, body, t0, time.Minute) == nil {
				signed[secret]++
			}
		}
	}))
	defer srv.Close()
	cfg, err := notify.Parse(fmt.Appendf(nil, "webhooks:\n  - {url: %q, secret: first, admin: true}\n  - {url: %q, secret: second, admin: true}\n", srv.URL, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	if err := e.out.Notify(t.Context(), created("a@127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	mu.Lock()
	defer mu.Unlock()
	if signed["first"] != 1 || signed["second"] != 1 {
		t.Errorf("posts verified per secret: %v; want one with each", signed)
	}
}

func TestDispatcher_WarnsOnceAboutUnknownWebhookUsers(t *testing.T) {
	cfg, err := notify.Parse([]byte("webhooks:\n  - {name: ann-hook, url: 'http://127.0.0.1:1/a', secret: s, user: ann}\n  - {name: nobody-hook, url: 'http://127.0.0.1:1/n', secret: s, user: nobody}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	e.addUser(t, "ann", "", "user", false)
	logs := e.logTo()
	e.pass(t)
	e.pass(t)
	out := logs.String()
	if n := strings.Count(out, "webhook names a user stratus does not know"); n != 1 {
		t.Errorf("%d warnings, want 1 (first pass only):\n%s", n, out)
	}
	if !strings.Contains(out, "webhook=nobody-hook user=nobody") || strings.Contains(out, "ann-hook") {
		t.Errorf("the warning should name nobody-hook only:\n%s", out)
	}
}

// TestDeliver_ErrorsFromAllSenders runs under -race in CI: errors of the
// pass itself and of its senders are collected together.
func TestDeliver_ErrorsFromAllSenders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	var hooks strings.Builder
	for i := range 4 {
		fmt.Fprintf(&hooks, "  - {name: h%d, url: %q, secret: s, admin: true}\n", i, srv.URL)
	}
	cfg, err := notify.Parse([]byte("webhooks:\n" + hooks.String()))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	good := &store.Notification{Key: "good", Kind: notify.ClusterDeleted, Payload: json.RawMessage(`{"kind":"cluster.deleted"}`), CreatedAt: t0}
	bad := &store.Notification{Key: "bad", Kind: notify.ClusterDeleted, Payload: json.RawMessage(`[1]`), CreatedAt: t0}
	for _, n := range []*store.Notification{good, bad} {
		if _, err := e.st.AddNotification(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	spy := &spyStore{Store: e.st, failUpdate: func(d *store.Delivery) bool { return d.Notification == good.ID }}
	e.disp.Store = spy
	_, err = e.disp.Reconcile(t.Context())
	if err == nil || strings.Count(err.Error(), "disk full") != 4 {
		t.Fatalf("Reconcile = %v; want the 4 senders' failures to record", err)
	}
	ds, err := e.st.ListDeliveries(t.Context(), store.DeliveryFilter{Notification: bad.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.State != store.DeliveryGaveUp || !strings.Contains(d.LastError, "is not an event") {
			t.Errorf("delivery of a payload that is no event: %s, %q; want given up", d.State, d.LastError)
		}
	}
	if len(ds) != 4 {
		t.Errorf("%d deliveries of the bad notification, want 4", len(ds))
	}
}

func TestDispatcher_PrunesHourlyAfterRetention(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	cfg, err := notify.Parse(fmt.Appendf(nil, "webhooks:\n  - {url: %q, secret: s, admin: true}\n", srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	spy := &spyStore{Store: e.st}
	e.disp.Store = spy
	if err := e.out.Notify(t.Context(), created("a@127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		ns, err := e.st.ListNotifications(t.Context(), store.NotificationFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return len(ns)
	}
	e.pass(t) // delivers, and prunes (nothing old yet)
	e.pass(t) // within the hour: no prune
	e.clk.Advance(59 * time.Minute)
	e.pass(t)
	if len(spy.prunes) != 1 || !spy.prunes[0].Equal(t0.Add(-notify.DefaultRetention)) {
		t.Fatalf("prunes %v; want one, of what is older than %v", spy.prunes, t0.Add(-notify.DefaultRetention))
	}
	e.clk.Advance(time.Minute)
	e.pass(t)
	if len(spy.prunes) != 2 || count() != 1 {
		t.Fatalf("after an hour: %d prunes, %d notifications; want 2 prunes, the notification kept", len(spy.prunes), count())
	}
	e.clk.Advance(30 * 24 * time.Hour)
	e.pass(t)
	if count() != 0 {
		t.Errorf("a sent notification older than 30 days was kept")
	}
	if spy.unbounded != 0 {
		t.Errorf("the dispatcher listed deliveries without a limit %d times", spy.unbounded)
	}
}

func TestDispatcher_Retention(t *testing.T) {
	cfg, err := notify.Parse([]byte("webhooks:\n  - {url: 'http://127.0.0.1:1/x', secret: s, admin: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	spy := &spyStore{Store: e.st}
	e.disp.Store, e.disp.Retention = spy, 24*time.Hour
	e.pass(t)
	if len(spy.prunes) != 1 || !spy.prunes[0].Equal(t0.Add(-24*time.Hour)) {
		t.Errorf("prunes %v; want one of what is older than a day", spy.prunes)
	}
}
