package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/scheduler"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
	"github.com/stratus-cloud/stratus/internal/web"
)

const (
	annToken    = "stk_ann"
	bobToken    = "stk_bob"
	adminToken  = "stk_admin"
	evilToken   = "stk_evil"
	evilUser    = `<script>alert("u")</script>`
	evilMessage = `<img src=x onerror=alert(1)>`
)

type env struct {
	srv *httptest.Server
	st  store.Store
	svc *cluster.Service
}

// newEnv serves the API handler (which serves the pages at /) wired as
// internal/server does, over a SQLite store.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with adjust (if not nil) changing the handler
// before it serves.
func newEnvWith(t *testing.T, adjust func(h *httpapi.Handler)) *env {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	for _, tok := range []store.Token{
		{Hash: auth.Hash(annToken), User: "ann", Role: "user"},
		{Hash: auth.Hash(bobToken), User: "bob", Role: "user"},
		{Hash: auth.Hash(adminToken), User: "admin", Role: "admin"},
		{Hash: auth.Hash(evilToken), User: evilUser, Role: "user"},
	} {
		tok.CreatedAt = time.Now()
		if err := st.CreateToken(ctx, &tok); err != nil {
			t.Fatalf("create token: %v", err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	catalog := cost.DefaultCatalog()
	reporter := &cost.Reporter{Store: st, Billing: cost.PerSecond, Catalog: catalog}
	hub := dispatch.NewHub()
	svc := &cluster.Service{
		Store: st, Catalog: catalog, Template: spec.DefaultTemplate(),
		DefaultRegion: "local-1", Regions: []string{"local-1"},
		Clock: clock.Real{}, Logger: log, AgentSecret: "secret", HeartbeatTimeout: 30 * time.Second,
		CostSoFar: reporter.SoFar,
	}
	stopping := make(chan struct{})
	h := &httpapi.Handler{
		Store: st, Clusters: svc, Hub: hub, Logger: log, Stopping: stopping, Cost: reporter,
		Jobs:    &scheduler.Service{Store: st, Clock: clock.Real{}, Logger: log, Hub: hub},
		Version: api.Version{Version: "test", Installation: "inst-test", Provider: "fake"},
	}
	if adjust != nil {
		adjust(h)
	}
	h.Init()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stopping) })
	return &env{srv: srv, st: st, svc: svc}
}

func (e *env) create(t *testing.T, user, name string) api.Cluster {
	t.Helper()
	cl, err := e.svc.Create(context.Background(), cluster.Caller{User: user}, api.CreateClusterRequest{Name: name, Request: "compute: {min_nodes: 2, max_nodes: 2}\n"})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return cl
}

// browser is a client with a cookie jar that does not follow redirects.
func (e *env) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *env) signIn(t *testing.T, token string) *http.Client {
	t.Helper()
	c := e.browser(t)
	resp, err := c.PostForm(e.srv.URL+"/signin", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: HTTP %d, want 303", resp.StatusCode)
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignIn(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t)
	code, body := get(t, c, e.srv.URL+"/")
	if code != http.StatusUnauthorized || !strings.Contains(body, `action="/signin"`) {
		t.Fatalf("unsigned / = %d, want 401 and the sign-in form:\n%s", code, body)
	}
	if !strings.Contains(body, `name="viewport"`) {
		t.Errorf("no viewport meta tag")
	}

	resp, err := c.PostForm(e.srv.URL+"/signin", url.Values{"token": {"stk_wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "not accepted") || len(resp.Cookies()) != 0 {
		t.Errorf("bad token: HTTP %d, cookies %v, want 401 with an error and no cookie:\n%s", resp.StatusCode, resp.Cookies(), b)
	}

	resp, err = c.PostForm(e.srv.URL+"/signin", url.Values{"token": {annToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("sign in: HTTP %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == web.CookieName {
			ck = k
		}
	}
	if ck == nil || ck.Value != annToken || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" {
		t.Fatalf("cookie = %+v, want the token, HttpOnly, SameSite=Strict, Path=/", ck)
	}
	code, body = get(t, c, e.srv.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, "ann") || !strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("signed-in / = %d, want 200 for ann with a refresh:\n%s", code, body)
	}

	// A cookie with a token that is not (or no longer) accepted shows the
	// form with an error.
	bad := e.browser(t)
	u, _ := url.Parse(e.srv.URL)
	bad.Jar.SetCookies(u, []*http.Cookie{{Name: web.CookieName, Value: "stk_revoked"}})
	code, body = get(t, bad, e.srv.URL+"/costs")
	if code != http.StatusUnauthorized || !strings.Contains(body, "not accepted") || !strings.Contains(body, `action="/signin"`) {
		t.Errorf("revoked cookie: %d, want 401 with the form and an error:\n%s", code, body)
	}

	// Signing out clears the cookie.
	resp, err = c.Post(e.srv.URL+"/signout", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code, _ := get(t, c, e.srv.URL+"/"); code != http.StatusUnauthorized {
		t.Errorf("after sign-out / = %d, want 401", code)
	}

	// The API keeps its routes.
	if code, body := get(t, c, e.srv.URL+"/v1/version"); code != http.StatusOK || !strings.Contains(body, "inst-test") {
		t.Errorf("/v1/version = %d %s", code, body)
	}
	if code, _ := get(t, c, e.srv.URL+"/v1/nothing"); code != http.StatusNotFound {
		t.Errorf("/v1/nothing = %d, want 404", code)
	}
}

func TestVisibility(t *testing.T) {
	e := newEnv(t)
	annlab := e.create(t, "ann", "annlab")
	boblab := e.create(t, "bob", "boblab")
	ann := e.signIn(t, annToken)

	code, body := get(t, ann, e.srv.URL+"/")
	if code != http.StatusOK {
		t.Fatalf("/ = %d:\n%s", code, body)
	}
	if !strings.Contains(body, `href="/clusters/annlab"`) || !strings.Contains(body, "creating") {
		t.Errorf("overview lacks annlab and its state:\n%s", body)
	}
	// Head and two compute nodes, none launched yet: 3 total, 3 pending.
	if !strings.Contains(body, `<td class="num">3</td>`) {
		t.Errorf("overview lacks the node count 3:\n%s", body)
	}
	if strings.Contains(body, "boblab") {
		t.Errorf("ann's overview shows bob's cluster:\n%s", body)
	}

	code, body = get(t, ann, e.srv.URL+"/clusters/annlab")
	if code != http.StatusOK || !strings.Contains(body, "Instances") || strings.Count(body, "launching") < 3 {
		t.Errorf("cluster page = %d, want its 3 instances:\n%s", code, body)
	}
	if len(annlab.Instances) != 3 {
		t.Fatalf("annlab has %d instances, want 3", len(annlab.Instances))
	}
	for _, in := range annlab.Instances {
		if !strings.Contains(body, "<td>"+in.Node+"</td><td>"+in.Role+"</td>") {
			t.Errorf("cluster page lacks instance %s (%s)", in.Node, in.Role)
		}
	}

	code, body = get(t, ann, e.srv.URL+"/clusters/boblab")
	if code != http.StatusNotFound || strings.Contains(body, boblab.Instances[0].Node) || !strings.Contains(body, "Not found") {
		t.Errorf("bob's cluster for ann = %d, want a 404 page:\n%s", code, body)
	}
	for _, p := range []string{"/events", "/costs"} {
		code, body = get(t, ann, e.srv.URL+p)
		if code != http.StatusOK || strings.Contains(body, "boblab") {
			t.Errorf("%s for ann = %d, shows bob's cluster:\n%s", p, code, body)
		}
	}
	if _, body := get(t, ann, e.srv.URL+"/events"); !strings.Contains(body, "annlab") {
		t.Errorf("events lack ann's cluster:\n%s", body)
	}

	admin := e.signIn(t, adminToken)
	_, body = get(t, admin, e.srv.URL+"/")
	if !strings.Contains(body, "annlab") || !strings.Contains(body, "boblab") {
		t.Errorf("admin's overview lacks a cluster:\n%s", body)
	}
	if code, _ := get(t, admin, e.srv.URL+"/clusters/boblab"); code != http.StatusOK {
		t.Errorf("admin's bob cluster = %d", code)
	}
	if code, _ := get(t, admin, e.srv.URL+"/jobs/12345"); code != http.StatusNotFound {
		t.Errorf("missing job = %d, want 404", code)
	}
}

func TestEscapes(t *testing.T) {
	e := newEnv(t)
	e.create(t, evilUser, "evil")
	if err := e.st.AppendEvent(context.Background(), &store.Event{Time: time.Now(), Cluster: "evil", Kind: "test", Message: evilMessage}); err != nil {
		t.Fatal(err)
	}
	c := e.signIn(t, evilToken)
	for _, p := range []string{"/", "/clusters/evil", "/events", "/costs"} {
		code, body := get(t, c, e.srv.URL+p)
		if code != http.StatusOK {
			t.Errorf("%s = %d:\n%s", p, code, body)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
			t.Errorf("%s has unescaped HTML:\n%s", p, body)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s lacks the escaped user name", p)
		}
	}
	if _, body := get(t, c, e.srv.URL+"/clusters/evil"); !strings.Contains(body, "&lt;img src=x") {
		t.Errorf("cluster page lacks the escaped event:\n%s", body)
	}
}

// The checks page shows each check's state and marks the replica that is
// behind, with its value.
func TestChecksPage_MarksTheLaggingReplica(t *testing.T) {
	e := newEnv(t)
	since := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, cs := range []*store.CheckState{
		{Name: "mirrors", Kind: "replicas", State: "behind", Since: since, LastProbe: since, Detail: "1 of 3 behind",
			Members: []store.CheckMember{
				{URL: "http://a.example/rev", Value: "r42", State: "ok", Since: since},
				{URL: "http://b.example/rev", Value: "r42", State: "ok", Since: since},
				{URL: "http://c.example/rev", Value: "r41", State: "behind", Since: since},
			}},
		{Name: "website", Kind: "probe", State: "failing", Since: since, LastProbe: since, Detail: "status 500"},
	} {
		if err := e.st.PutCheckState(context.Background(), cs); err != nil {
			t.Fatal(err)
		}
	}
	code, body := get(t, e.signIn(t, annToken), e.srv.URL+"/checks")
	if code != http.StatusOK {
		t.Fatalf("/checks = %d:\n%s", code, body)
	}
	for _, want := range []string{
		`<tr class="behind">`, "http://c.example/rev", "r41", `state-behind">behind`,
		"website", `state-failing">failing`, "status 500",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/checks lacks %q:\n%s", want, body)
		}
	}
	if strings.Count(body, `<tr class="behind">`) != 1 {
		t.Errorf("want exactly one member marked behind:\n%s", body)
	}
}
