package agent_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/agent"
)

// fakeIMDS is an IMDSv2 server that insists on session tokens: a PUT to
// /latest/api/token must carry a TTL header of 1..21600 seconds, and a GET
// without a valid, unexpired token gets 401.
type fakeIMDS struct {
	t   *testing.T
	url string

	mu      sync.Mutex
	items   map[string]string // path → body; absent → 404
	tokens  map[string]time.Time
	puts    int
	gets    int
	badTTLs int
	n       int
}

func newFakeIMDS(t *testing.T) *fakeIMDS {
	f := &fakeIMDS{t: t, tokens: map[string]time.Time{}, items: map[string]string{
		"/latest/meta-data/instance-id":      "i-0abc123",
		"/latest/meta-data/placement/region": "eu-west-1",
		"/latest/meta-data/local-ipv4":       "10.0.1.17",
	}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeIMDS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f.puts++
		ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			f.badTTLs++
			http.Error(w, "bad ttl", http.StatusBadRequest)
			return
		}
		f.n++
		tok := "tok-" + strconv.Itoa(f.n)
		f.tokens[tok] = time.Now().Add(time.Duration(ttl) * time.Second)
		_, _ = w.Write([]byte(tok))
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	exp, ok := f.tokens[r.Header.Get("X-aws-ec2-metadata-token")]
	if !ok || time.Now().After(exp) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.gets++
	body, ok := f.items[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte(body))
}

func (f *fakeIMDS) set(path, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if body == "" {
		delete(f.items, path)
	} else {
		f.items[path] = body
	}
}

// revokeAll forgets every token, as a metadata service does when its tokens
// expire.
func (f *fakeIMDS) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

func (f *fakeIMDS) counts() (puts, gets, badTTLs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts, f.gets, f.badTTLs
}

const (
	spotPath      = "/latest/meta-data/spot/instance-action"
	rebalancePath = "/latest/meta-data/events/recommendations/rebalance"
)

func TestIMDSBasics(t *testing.T) {
	f := newFakeIMDS(t)
	m := agent.NewIMDS(f.url)
	ctx := context.Background()
	for name, get := range map[string]func(context.Context) (string, error){
		"i-0abc123": m.InstanceID, "eu-west-1": m.Region, "10.0.1.17": m.LocalIPv4,
	} {
		got, err := get(ctx)
		if err != nil || got != name {
			t.Errorf("got %q, %v; want %q", got, err, name)
		}
	}
	puts, gets, bad := f.counts()
	if puts != 1 || gets != 3 || bad != 0 {
		t.Errorf("PUTs %d, GETs %d, bad TTLs %d; want one token for three reads", puts, gets, bad)
	}
}

func TestIMDSWithoutTokenIsRejected(t *testing.T) {
	// The fake really requires the token: a plain GET gets 401.
	f := newFakeIMDS(t)
	resp, err := http.Get(f.url + "/latest/meta-data/instance-id")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET without token: %d, want 401", resp.StatusCode)
	}
}

func TestIMDSRefreshesTokenAfter401(t *testing.T) {
	f := newFakeIMDS(t)
	m := agent.NewIMDS(f.url)
	ctx := context.Background()
	if _, err := m.InstanceID(ctx); err != nil {
		t.Fatal(err)
	}
	f.revokeAll()
	got, err := m.Region(ctx)
	if err != nil || got != "eu-west-1" {
		t.Fatalf("Region after the token was revoked: %q, %v", got, err)
	}
	if puts, _, _ := f.counts(); puts != 2 {
		t.Errorf("PUTs = %d, want 2 (one new token after the 401)", puts)
	}
}

func TestIMDSRefreshesTokenBeforeExpiry(t *testing.T) {
	f := newFakeIMDS(t)
	m := &agent.IMDS{BaseURL: f.url, TokenTTL: time.Second}
	ctx := context.Background()
	if _, err := m.InstanceID(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the token has expired
	if _, err := m.InstanceID(ctx); err != nil {
		t.Fatal(err)
	}
	puts, gets, bad := f.counts()
	if puts != 2 || gets != 2 || bad != 0 {
		t.Errorf("PUTs %d, GETs %d, bad TTLs %d; want a fresh token fetched before the read, not after a 401", puts, gets, bad)
	}
}

func TestIMDSPersistent401(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			_, _ = w.Write([]byte("tok"))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, err := agent.NewIMDS(srv.URL).InstanceID(context.Background())
	if err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("err = %v, want Unauthorized after one retry", err)
	}
}

func TestIMDSTokenRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "IMDSv2 disabled", http.StatusForbidden)
	}))
	defer srv.Close()
	_, err := agent.NewIMDS(srv.URL).InstanceID(context.Background())
	if err == nil || !strings.Contains(err.Error(), "session token") {
		t.Fatalf("err = %v, want a session token error", err)
	}
}

func TestIMDSNotices(t *testing.T) {
	f := newFakeIMDS(t)
	m := agent.NewIMDS(f.url)
	ctx := context.Background()

	if _, ok, err := m.SpotInstanceAction(ctx); ok || err != nil {
		t.Errorf("no spot action: ok %v, err %v", ok, err)
	}
	if _, ok, err := m.RebalanceRecommendation(ctx); ok || err != nil {
		t.Errorf("no rebalance: ok %v, err %v", ok, err)
	}
	if _, err := m.Get(ctx, "/latest/meta-data/nothing"); !errors.Is(err, agent.ErrIMDSNotFound) {
		t.Errorf("Get of a missing item: %v, want ErrIMDSNotFound", err)
	}

	f.set(spotPath, `{"action": "terminate", "time": "2026-03-04T05:06:07Z"}`)
	f.set(rebalancePath, `{"noticeTime": "2026-03-04T05:00:00Z"}`)
	n, ok, err := m.SpotInstanceAction(ctx)
	want := api.Notice{Action: "terminate", Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	if !ok || err != nil || n.Action != want.Action || !n.Time.Equal(want.Time) {
		t.Errorf("spot action: %+v, %v, %v; want %+v", n, ok, err, want)
	}
	n, ok, err = m.RebalanceRecommendation(ctx)
	want = api.Notice{Action: "rebalance", Time: time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)}
	if !ok || err != nil || n.Action != want.Action || !n.Time.Equal(want.Time) {
		t.Errorf("rebalance: %+v, %v, %v; want %+v", n, ok, err, want)
	}

	for _, body := range []string{`{"action":`, `not json`, `{"action":"terminate"}`, `{"action":"terminate","time":"soon"}`} {
		f.set(spotPath, body)
		if _, ok, err := m.SpotInstanceAction(ctx); ok || err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("spot action %s: ok %v, err %v; want a malformed-answer error", body, ok, err)
		}
	}
	for _, body := range []string{`[`, `{}`} {
		f.set(rebalancePath, body)
		if _, ok, err := m.RebalanceRecommendation(ctx); ok || err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("rebalance %s: ok %v, err %v; want a malformed-answer error", body, ok, err)
		}
	}
}

func TestLoadEC2Config(t *testing.T) {
	f := newFakeIMDS(t)
	dir := t.TempDir()
	// What the bootstrap script writes: no instance id, region or address.
	if err := os.WriteFile(filepath.Join(dir, agent.ConfigFile), []byte(`{"server_url":"https://cp.example:8443","token":"sat_x","instance_id":"","region":"","address":""}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := agent.LoadEC2Config(context.Background(), dir, agent.NewIMDS(f.url))
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Config{InstanceID: "i-0abc123", Region: "eu-west-1", Address: "10.0.1.17", ServerURL: "https://cp.example:8443", Token: "sat_x"}
	if c != want {
		t.Errorf("config = %+v, want %+v", c, want)
	}

	// IPv6-only: no local IPv4 address.
	f.set("/latest/meta-data/local-ipv4", "")
	if c, err := agent.LoadEC2Config(context.Background(), dir, agent.NewIMDS(f.url)); err != nil || c.Address != "" {
		t.Errorf("without local-ipv4: %+v, %v", c, err)
	}

	f.set("/latest/meta-data/placement/region", "")
	if _, err := agent.LoadEC2Config(context.Background(), dir, agent.NewIMDS(f.url)); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("without region: err = %v", err)
	}

	if err := os.WriteFile(filepath.Join(dir, agent.ConfigFile), []byte(`{"server_url":"https://cp.example:8443"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.LoadEC2Config(context.Background(), dir, agent.NewIMDS(f.url)); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("without token: err = %v", err)
	}
	if _, err := agent.LoadEC2Config(context.Background(), t.TempDir(), agent.NewIMDS(f.url)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("without agent.json: err = %v", err)
	}
}

func TestWatchIMDS(t *testing.T) {
	f := newFakeIMDS(t)
	m := &agent.IMDS{BaseURL: f.url, PollInterval: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan api.Notice, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		agent.WatchIMDS(ctx, m, func(n api.Notice) { got <- n })
	}()
	next := func() api.Notice {
		t.Helper()
		select {
		case n := <-got:
			return n
		case <-time.After(5 * time.Second):
			t.Fatal("no notice reported")
			return api.Notice{}
		}
	}
	// quiet waits a few polls and checks nothing more was reported.
	quiet := func() {
		t.Helper()
		_, gets0, _ := f.counts()
		for {
			if _, gets, _ := f.counts(); gets >= gets0+6 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		select {
		case n := <-got:
			t.Fatalf("unexpected notice %+v", n)
		default:
		}
	}

	quiet()
	f.set(rebalancePath, `{"noticeTime":"2026-03-04T05:00:00Z"}`)
	if n := next(); n.Action != "rebalance" || !n.Time.Equal(time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)) {
		t.Errorf("first notice %+v, want the rebalance recommendation", n)
	}
	quiet() // reported once, though still there
	f.set(spotPath, `{"action":"garbage`)
	quiet() // a malformed answer reports nothing and does not stop the watch
	f.set(spotPath, `{"action":"terminate","time":"2026-03-04T05:02:00Z"}`)
	if n := next(); n.Action != "terminate" || !n.Time.Equal(time.Date(2026, 3, 4, 5, 2, 0, 0, time.UTC)) {
		t.Errorf("second notice %+v, want the spot termination", n)
	}
	f.revokeAll() // tokens expire: the watch carries on
	quiet()
	f.set(spotPath, `{"action":"stop","time":"2026-03-04T05:03:00Z"}`)
	if n := next(); n.Action != "stop" {
		t.Errorf("third notice %+v, want the changed spot action", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchIMDS did not return after its context ended")
	}
}
