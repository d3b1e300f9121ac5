package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/notify/smtptest"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)

// env is a store, a fake clock, an outbox and a dispatcher on a config.
type env struct {
	st    *sqlite.Store
	path  string
	clk   *clock.Fake
	out   *notify.Outbox
	disp  *notify.Dispatcher
	woken int
}

func newEnv(t *testing.T, cfg *notify.Config) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stratus.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, path: path, clk: clock.NewFake(t0)}
	e.out = &notify.Outbox{Store: st, Clock: e.clk, Wake: func() { e.woken++ }}
	e.disp = &notify.Dispatcher{Store: st, Config: cfg, Clock: e.clk, Logger: slog.New(slog.DiscardHandler)}
	return e
}

func (e *env) addUser(t *testing.T, name, email, role string, disabled bool) {
	t.Helper()
	if err := e.st.CreateUser(t.Context(), &store.User{Name: name, Email: email, Role: role, Disabled: disabled}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) pass(t *testing.T) {
	t.Helper()
	if _, err := e.disp.Reconcile(t.Context()); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
}

func (e *env) deliveries(t *testing.T) []*store.Delivery {
	t.Helper()
	ds, err := e.st.ListDeliveries(t.Context(), store.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// startSMTP starts a real SMTP server (STARTTLS, AUTH PLAIN) and returns
// it with a config loaded from a file that trusts its certificate.
func startSMTP(t *testing.T, extra string) (*smtptest.Server, *notify.Config) {
	t.Helper()
	srv, err := smtptest.Start(smtptest.Options{Username: "stratus", Password: "s3cret pass"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", string(srv.CertPEM))
	write("smtp.password", "s3cret pass\n")
	write("notify.yaml", fmt.Sprintf(`smtp:
  host: 127.0.0.1
  port: %d
  starttls: required
  username: stratus
  password_file: smtp.password
  from: "Stratus <stratus@example.org>"
  ca_file: ca.pem
  timeout: 10s
admin_email: ops@example.org
%s`, srv.Port, extra))
	cfg, err := notify.Load(filepath.Join(dir, "notify.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return srv, cfg
}

func created(login string) notify.Event {
	return notify.Event{
		Kind: notify.ClusterCreated, User: "ann", Cluster: "demo", Subject: "Cluster demo is running",
		Body: "Your cluster demo is running.\nLog in: ssh " + login, Time: t0,
		Data: map[string]string{"login": login},
	}
}

// parse reads a message and decodes its quoted-printable body.
func parse(t *testing.T, data []byte) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("message is not RFC 5322: %v\n%s", err, data)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return msg, string(body)
}

func TestMail_StartTLSAuthToUserAndAdmins(t *testing.T) {
	srv, cfg := startSMTP(t, "")
	e := newEnv(t, cfg)
	e.addUser(t, "ann", "ann@example.org", "user", false)
	e.addUser(t, "boss", "boss@example.org", "admin", false)
	e.addUser(t, "bob", "bob@example.org", "user", false)

	if err := e.out.Notify(t.Context(), created("ubuntu@127.100.0.7")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if e.woken != 1 {
		t.Errorf("Notify woke the dispatcher %d times, want 1", e.woken)
	}
	e.pass(t)

	msgs := srv.Messages()
	var to []string
	for _, m := range msgs {
		to = append(to, m.To...)
		if !m.TLS || m.User != "stratus" {
			t.Errorf("message to %v: TLS %v, authenticated as %q; want STARTTLS and AUTH as stratus", m.To, m.TLS, m.User)
		}
		if m.From != "stratus@example.org" {
			t.Errorf("envelope sender %q, want stratus@example.org", m.From)
		}
	}
	slices.Sort(to) // sent in parallel
	if d := cmp.Diff([]string{"ann@example.org", "boss@example.org", "ops@example.org"}, to); d != "" {
		t.Fatalf("recipients (-want +got):\n%s", d)
	}
	var admin smtptest.Message
	for _, m := range msgs {
		if m.To[0] == "ops@example.org" {
			admin = m
		}
	}
	msg, body := parse(t, admin.Data)
	h := msg.Header
	if got := h.Get("Subject"); got != "Cluster demo is running" {
		t.Errorf("Subject = %q", got)
	}
	if got := h.Get("To"); got != "<ops@example.org>" {
		t.Errorf("To = %q", got)
	}
	if got := h.Get("From"); got != `"Stratus" <stratus@example.org>` {
		t.Errorf("From = %q", got)
	}
	if d, err := h.Date(); err != nil || !d.Equal(t0) {
		t.Errorf("Date = %v, %v; want %v", d, err, t0)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<stratus.") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID = %q", id)
	}
	for _, want := range []string{"ssh ubuntu@127.100.0.7", "login:    ubuntu@127.100.0.7", "Cluster:  demo"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	for _, d := range e.deliveries(t) {
		if d.State != store.DeliverySent || d.Attempts != 1 || !d.SentAt.Equal(t0) {
			t.Errorf("delivery %+v: want sent at the first attempt", d)
		}
	}
	// Another pass sends nothing again.
	e.pass(t)
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("after a second pass %d messages, want still 3", n)
	}
}

func TestMail_NonASCIISubjectIsEncoded(t *testing.T) {
	srv, cfg := startSMTP(t, "")
	e := newEnv(t, cfg)
	ev := notify.Event{Kind: notify.BudgetWarning, Subject: "Budget at 80 % — ann\r\nBcc: evil@example.org", Body: "Spent: 80 €"}
	if err := e.out.Notify(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	msg, body := parse(t, msgs[0].Data)
	if msg.Header.Get("Bcc") != "" {
		t.Errorf("a newline in the subject injected a header")
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subj != "Budget at 80 % — ann Bcc: evil@example.org" {
		t.Errorf("Subject decodes to %q, %v", subj, err)
	}
	if !strings.Contains(body, "Spent: 80 €") {
		t.Errorf("body %q lacks the UTF-8 text", body)
	}
}

func TestMail_WrongPasswordIsRetried(t *testing.T) {
	srv, cfg := startSMTP(t, "")
	cfg.SMTP.Password = "wrong"
	e := newEnv(t, cfg)
	if err := e.out.Notify(t.Context(), notify.Event{Kind: notify.ClusterDeleted, Cluster: "demo"}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	ds := e.deliveries(t)
	if len(ds) != 1 || ds[0].State != store.DeliveryPending || ds[0].Attempts != 1 || !strings.Contains(ds[0].LastError, "AUTH") {
		t.Fatalf("deliveries %+v: want one pending after a failed AUTH", ds[0])
	}
	if len(srv.Messages()) != 0 {
		t.Errorf("a message was accepted without authentication")
	}
}

func TestRetry_BackoffThenDeliveredOnce(t *testing.T) {
	srv, cfg := startSMTP(t, "")
	e := newEnv(t, cfg)
	srv.FailNext(2)
	if err := e.out.Notify(t.Context(), notify.Event{Kind: notify.ClusterFailed, Cluster: "demo", Body: "launch failed"}); err != nil {
		t.Fatal(err)
	}
	e.pass(t) // attempt 1 fails
	ds := e.deliveries(t)
	if want := t0.Add(10 * time.Second); ds[0].Attempts != 1 || !ds[0].NextAttempt.Equal(want) || !strings.Contains(ds[0].LastError, "451") {
		t.Fatalf("after the first failure: %+v; want attempt 1, next at %v, the server's 451", ds[0], want)
	}
	res, err := e.disp.Reconcile(t.Context()) // not due: nothing tried
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != 10*time.Second {
		t.Errorf("RequeueAfter = %v, want the 10s to the retry", res.RequeueAfter)
	}
	if ds := e.deliveries(t); ds[0].Attempts != 1 {
		t.Fatalf("a delivery was tried before it was due: %+v", ds[0])
	}
	e.clk.Advance(10 * time.Second)
	e.pass(t) // attempt 2 fails: next after 20s
	ds = e.deliveries(t)
	if want := t0.Add(30 * time.Second); ds[0].Attempts != 2 || !ds[0].NextAttempt.Equal(want) {
		t.Fatalf("after the second failure: %+v; want next at %v", ds[0], want)
	}
	e.clk.Advance(20 * time.Second)
	e.pass(t)
	e.clk.Advance(time.Hour)
	e.pass(t)
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages accepted, want exactly 1", n)
	}
	if ds := e.deliveries(t); ds[0].State != store.DeliverySent || ds[0].Attempts != 3 || ds[0].LastError != "" {
		t.Errorf("delivery %+v: want sent at the third attempt", ds[0])
	}
}

func TestRetry_GivesUpAfterAttempts(t *testing.T) {
	srv, cfg := startSMTP(t, "retry: {initial: 1s, max: 2s, attempts: 3}\n")
	e := newEnv(t, cfg)
	srv.FailNext(100)
	if err := e.out.Notify(t.Context(), notify.Event{Kind: notify.ClusterDeleted, Cluster: "demo"}); err != nil {
		t.Fatal(err)
	}
	var nexts []time.Time
	for range 5 {
		e.pass(t)
		ds := e.deliveries(t)
		nexts = append(nexts, ds[0].NextAttempt)
		e.clk.Advance(2 * time.Second)
	}
	ds := e.deliveries(t)
	if ds[0].State != store.DeliveryGaveUp || ds[0].Attempts != 3 {
		t.Fatalf("delivery %+v: want given up after 3 attempts", ds[0])
	}
	want := []time.Time{t0.Add(time.Second), t0.Add(2*time.Second + 2*time.Second), {}, {}, {}}
	if d := cmp.Diff(want, nexts); d != "" {
		t.Errorf("next attempts (-want +got):\n%s", d)
	}
}

func TestBackoff(t *testing.T) {
	r := notify.Retry{Initial: 10 * time.Second, Max: time.Hour, Attempts: 12}
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{{1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {8, 1280 * time.Second}, {9, 2560 * time.Second}, {10, time.Hour}, {50, time.Hour}} {
		if got := r.Backoff(tc.attempts); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}

func TestOutbox_Dedup(t *testing.T) {
	srv, cfg := startSMTP(t, "")
	e := newEnv(t, cfg)
	ev := notify.Event{Kind: notify.BudgetWarning, Key: "budget.warning/ann/2026-11", Subject: "80 %"}
	for range 3 {
		if err := e.out.Notify(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	// Without a key, the same event at the same time is the same event.
	for range 2 {
		if err := e.out.Notify(t.Context(), created("x@127.0.0.1")); err != nil {
			t.Fatal(err)
		}
	}
	e.pass(t)
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages, want 2 (one per distinct event)", n)
	}
	if e.woken != 2 {
		t.Errorf("woken %d times, want 2 (only for events added)", e.woken)
	}
}

func TestOutbox_InTxRollsBackWithTheChange(t *testing.T) {
	e := newEnv(t, &notify.Config{})
	boom := errors.New("boom")
	err := e.st.WithTx(t.Context(), func(q store.Queries) error {
		if err := notify.InTx(t.Context(), e.out, q, created("a")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTx = %v", err)
	}
	ns, err := e.st.ListNotifications(t.Context(), store.NotificationFilter{})
	if err != nil || len(ns) != 0 {
		t.Fatalf("notifications after a rolled-back transaction: %v, %v", ns, err)
	}
	err = e.st.WithTx(t.Context(), func(q store.Queries) error { return notify.InTx(t.Context(), e.out, q, created("a")) })
	if err != nil {
		t.Fatal(err)
	}
	if ns, _ := e.st.ListNotifications(t.Context(), store.NotificationFilter{}); len(ns) != 1 {
		t.Fatalf("notifications after a committed transaction: %d, want 1", len(ns))
	}
	var got []notify.Event
	fn := notify.Func(func(_ context.Context, ev notify.Event) error { got = append(got, ev); return nil })
	if err := notify.InTx(t.Context(), fn, nil, created("b")); err != nil || len(got) != 1 {
		t.Errorf("InTx with a plain Notifier: %v, %d events", err, len(got))
	}
	if err := notify.InTx(t.Context(), nil, nil, created("c")); err != nil {
		t.Errorf("InTx with a nil Notifier: %v", err)
	}
	if err := e.out.Notify(t.Context(), notify.Event{}); err == nil {
		t.Errorf("Notify of an event without a kind succeeded")
	}
}

func TestOutbox_SurvivesRestart(t *testing.T) {
	srv, cfg := startSMTP(t, "")
	e := newEnv(t, cfg)
	if err := e.out.Notify(t.Context(), created("ubuntu@127.100.0.9")); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	// A new control plane on the same database delivers what was pending.
	st, err := sqlite.Open(t.Context(), e.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := &notify.Dispatcher{Store: st, Config: cfg, Clock: e.clk, Logger: slog.New(slog.DiscardHandler)}
	if _, err := d.Reconcile(t.Context()); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].To[0] != "ops@example.org" {
		t.Fatalf("after the restart: %d messages (%v), want the admin's one", len(msgs), msgs)
	}
	_, body := parse(t, msgs[0].Data)
	if !strings.Contains(body, "ubuntu@127.100.0.9") {
		t.Errorf("body lacks the login address:\n%s", body)
	}
}

func TestRecipients(t *testing.T) {
	cfg, err := notify.Parse([]byte(`smtp: {host: mail.example.org, from: stratus@example.org}
admin_email: ops@example.org
webhooks:
  - {url: "https://hooks.example.org/ann", secret: a, user: ann}
  - {url: "https://hooks.example.org/bob", secret: b, user: bob}
  - {url: "https://hooks.example.org/all", secret: c, admin: true, name: all}
  - {url: "https://hooks.example.org/all", secret: d, admin: true, name: all-too}
  - {url: "https://hooks.example.org/carl", secret: e, user: carl}
`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	e.addUser(t, "ann", "ann@example.org", "user", false)
	e.addUser(t, "bob", "", "user", false)
	e.addUser(t, "boss", "ops@example.org", "admin", false) // same address as admin_email: once
	e.addUser(t, "gone", "gone@example.org", "admin", true)
	e.addUser(t, "carl", "carl@example.org", "user", true)
	type r struct{ Channel, To string }
	get := func(user string) []r {
		ds, err := e.disp.Recipients(t.Context(), e.st, user)
		if err != nil {
			t.Fatal(err)
		}
		var out []r
		for _, d := range ds {
			out = append(out, r{d.Channel, d.Recipient})
		}
		return out
	}
	for _, tc := range []struct {
		user string
		want []r
	}{
		// Webhooks go by name: two with the same URL are two deliveries.
		{"ann", []r{{"email", "ann@example.org"}, {"email", "ops@example.org"}, {"webhook", "webhook-1"}, {"webhook", "all"}, {"webhook", "all-too"}}},
		{"bob", []r{{"email", "ops@example.org"}, {"webhook", "webhook-2"}, {"webhook", "all"}, {"webhook", "all-too"}}},
		{"", []r{{"email", "ops@example.org"}, {"webhook", "all"}, {"webhook", "all-too"}}},
		// A disabled user gets neither mail nor webhook posts.
		{"carl", []r{{"email", "ops@example.org"}, {"webhook", "all"}, {"webhook", "all-too"}}},
	} {
		if d := cmp.Diff(tc.want, get(tc.user)); d != "" {
			t.Errorf("recipients of %q's event (-want +got):\n%s", tc.user, d)
		}
	}
}

// hookReceiver is a webhook endpoint that verifies signatures; it fails
// the first fail requests with a 503.
type hookReceiver struct {
	secret string
	now    func() time.Time
	mu     sync.Mutex
	fail   int
	got    []map[string]any
	errs   []error
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := notify.Verify(h.secret, r.Header, body, h.now(), 5*time.Minute); err != nil {
		h.errs = append(h.errs, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if h.fail > 0 {
		h.fail--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		h.errs = append(h.errs, err)
	}
	h.got = append(h.got, m)
	w.WriteHeader(http.StatusNoContent)
}

func TestWebhook_SignedAndRetried(t *testing.T) {
	clk := clock.NewFake(t0)
	good := &hookReceiver{secret: "hook-secret", now: clk.Now, fail: 1}
	wrong := &hookReceiver{secret: "other", now: clk.Now}
	gs, ws := httptest.NewServer(good), httptest.NewServer(wrong)
	defer gs.Close()
	defer ws.Close()
	cfg, err := notify.Parse(fmt.Appendf(nil, `webhooks:
  - {url: %q, secret: hook-secret, user: ann}
  - {url: %q, secret: not-other, admin: true}
retry: {initial: 5s}
`, gs.URL, ws.URL))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, cfg)
	e.clk = clk
	e.out.Clock, e.disp.Clock = clk, clk
	if err := e.out.Notify(t.Context(), created("ubuntu@127.100.0.3")); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	clk.Advance(5 * time.Second)
	e.pass(t)
	if len(good.errs) != 0 {
		t.Fatalf("the receiver rejected a signature: %v", good.errs)
	}
	if len(good.got) != 1 {
		t.Fatalf("the receiver got %d events, want 1 (after one 503)", len(good.got))
	}
	ev := good.got[0]
	if ev["kind"] != notify.ClusterCreated || ev["cluster"] != "demo" || ev["user"] != "ann" {
		t.Errorf("event %v", ev)
	}
	if data, _ := ev["data"].(map[string]any); data["login"] != "ubuntu@127.100.0.3" {
		t.Errorf("event data %v lacks the login address", ev["data"])
	}
	if len(wrong.errs) != 2 || len(wrong.got) != 0 {
		t.Errorf("a receiver with another secret: %d rejected, %d accepted; want 2 rejected (both attempts)", len(wrong.errs), len(wrong.got))
	}
	var states []string
	for _, d := range e.deliveries(t) {
		states = append(states, fmt.Sprintf("%s %s %d", d.Recipient, d.State, d.Attempts))
	}
	want := []string{"webhook-1 sent 2", "webhook-2 pending 2"}
	if d := cmp.Diff(want, states); d != "" {
		t.Errorf("deliveries (-want +got):\n%s", d)
	}
}

func TestVerify_RejectsTamperingAndReplay(t *testing.T) {
	body := []byte(`{"kind":"cluster.created"}`)
	h := http.Header{}
	h.Set(notify.HeaderTimestamp, fmt.Sprint(t0.Unix()))
	h.Set(notify.HeaderSignature, notify.Sign("k", fmt.Sprint(t0.Unix()), body))
	if err := notify.Verify("k", h, body, t0, time.Minute); err != nil {
		t.Fatalf("Verify of a good request: %v", err)
	}
	if err := notify.Verify("k", h, []byte(`{"kind":"cluster.deleted"}`), t0, time.Minute); err == nil {
		t.Errorf("a changed body verified")
	}
	if err := notify.Verify("k", h, body, t0.Add(time.Hour), time.Minute); err == nil {
		t.Errorf("an hour-old request verified")
	}
	h.Set(notify.HeaderTimestamp, fmt.Sprint(t0.Unix()+1))
	if err := notify.Verify("k", h, body, t0, time.Minute); err == nil {
		t.Errorf("a request with a changed timestamp verified")
	}
}

// configFor writes a notifications file for srv (its certificate trusted)
// with the given smtp settings besides host, port, from and ca_file.
func configFor(t *testing.T, srv *smtptest.Server, smtp string) *notify.Config {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("smtp:\n  host: 127.0.0.1\n  port: %d\n  from: stratus@example.org\n  ca_file: ca.pem\n  timeout: 10s\n%sadmin_email: ops@example.org\n", srv.Port, smtp)
	if err := os.WriteFile(filepath.Join(dir, "n.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := notify.Load(filepath.Join(dir, "n.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

func TestMail_ImplicitTLS(t *testing.T) {
	srv, err := smtptest.Start(smtptest.Options{Username: "u", Password: "p", ImplicitTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	e := newEnv(t, configFor(t, srv, "  tls: true\n  username: u\n  password: p\n"))
	if err := e.out.Notify(t.Context(), notify.Event{Kind: notify.ClusterDeleted, Cluster: "demo"}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	msgs := srv.Messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "u" {
		t.Fatalf("messages %+v; want one over TLS, authenticated as u", msgs)
	}
}

func TestMail_StartTLSModesAgainstAServerWithoutTLS(t *testing.T) {
	srv, err := smtptest.Start(smtptest.Options{NoTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		name, smtp string
		sent       bool
		err        string
	}{
		{"required", "  starttls: required\n", false, "does not offer STARTTLS"},
		{"opportunistic", "  starttls: opportunistic\n", true, ""},
		{"opportunistic with credentials", "  starttls: opportunistic\n  username: u\n  password: p\n", false, "not sending credentials over a connection without TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.Messages())
			e := newEnv(t, configFor(t, srv, tc.smtp))
			if err := e.out.Notify(t.Context(), notify.Event{Kind: notify.ClusterDeleted, Cluster: "demo"}); err != nil {
				t.Fatal(err)
			}
			e.pass(t)
			sent := len(srv.Messages()) > before
			d := e.deliveries(t)[0]
			if sent != tc.sent || !strings.Contains(d.LastError, tc.err) {
				t.Errorf("sent %v, delivery %s with error %q; want sent %v, error with %q", sent, d.State, d.LastError, tc.sent, tc.err)
			}
		})
	}
}
