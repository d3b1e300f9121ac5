package health

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"probes:\n- url: http://x\n", "probes[0].name: required"},
		{"probes:\n- name: a\n  url: ftp://x\n", "probes[0].url: \"ftp://x\" is not an http"},
		{"probes:\n- name: a\n  url: http://x\n  status: 42\n", "probes[0].status: 42"},
		{"probes:\n- name: a\n  url: http://x\n  body: '('\n", "probes[0].body: not a regular expression"},
		{"probes:\n- name: a\n  url: http://x\n  timeout: 10s\n  interval: 1s\n", "probes[0].interval: 1s is shorter"},
		{"probes:\n- name: a\n  url: http://x\n  bogus: 1\n", "field bogus not found"},
		{"replicas:\n- name: m\n  members: [http://a]\n  value: {json: rev}\n", "replicas[0].members: need at least 2"},
		{"replicas:\n- name: m\n  members: [http://a, http://b]\n", "replicas[0].value: set exactly one"},
		{"replicas:\n- name: m\n  members: [http://a, http://b]\n  value: {regex: 'rev'}\n", "replicas[0].value.regex: needs a capture group"},
		{"replicas:\n- name: m\n  members: [http://a, http://b]\n  value: {header: X}\n  compare: oldest\n", "replicas[0].compare"},
		{"probes:\n- name: m\n  url: http://x\nreplicas:\n- name: m\n  members: [http://a, http://b]\n  value: {header: X}\n", "replicas[0].name: \"m\" is also the name of probes[0]"},
	} {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.yaml, err, tc.want)
		}
	}
	c, err := Parse([]byte("probes:\n- name: a\n  url: https://x/healthz\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Probes[0]; p.Status != 200 || p.Timeout != DefaultTimeout || p.Interval != DefaultInterval {
		t.Errorf("defaults not filled: %+v", p)
	}
	if _, err := Parse(nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestReference(t *testing.T) {
	ms := func(vals ...string) []MemberObservation {
		var out []MemberObservation
		for i, v := range vals {
			m := MemberObservation{URL: fmt.Sprint(i), Value: v}
			if v == "ERR" {
				m = MemberObservation{URL: fmt.Sprint(i), Err: "down"}
			}
			out = append(out, m)
		}
		return out
	}
	for _, tc := range []struct {
		name, compare string
		ms            []MemberObservation
		want          string
		ok            bool
	}{
		{"majority", CompareMajority, ms("a", "b", "b"), "b", true},
		{"majority tie goes highest", CompareMajority, ms("a", "b"), "b", true},
		{"errors ignored", CompareMajority, ms("ERR", "a", "ERR"), "a", true},
		{"none read", CompareMajority, ms("ERR", "ERR"), "", false},
		{"newest numeric", CompareNewest, ms("9", "10", "9"), "10", true},
		{"newest strings", CompareNewest, ms("v1", "v2", "v1"), "v2", true},
	} {
		got, ok := Reference(tc.ms, tc.compare)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Reference = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecide(t *testing.T) {
	t1 := t0.Add(time.Minute)
	probe := func(errMsg string) Observation {
		return Observation{Name: "web", Kind: KindProbe, Err: errMsg, Detail: "status 200"}
	}
	rep := func(vals ...string) Observation {
		o := Observation{Name: "m", Kind: KindReplicas, Compare: CompareMajority}
		for i, v := range vals {
			m := MemberObservation{URL: fmt.Sprintf("u%d", i), Value: v}
			if v == "ERR" {
				m = MemberObservation{URL: m.URL, Err: "down"}
			}
			o.Members = append(o.Members, m)
		}
		return o
	}
	type want struct {
		state  string
		since  time.Time
		events []string // kind/severity/member
	}
	for _, tc := range []struct {
		name string
		prev Observation // decided at t0 first ("" Name: no previous state)
		obs  Observation
		want want
	}{
		{"first ok probe: no event", Observation{}, probe(""), want{StateOK, t1, nil}},
		{"first failing probe", Observation{}, probe("status 500"), want{StateFailing, t1, []string{"check.failing/critical/"}}},
		{"ok to failing", probe(""), probe("status 500"), want{StateFailing, t1, []string{"check.failing/critical/"}}},
		{"failing stays failing: once", probe("x"), probe("y"), want{StateFailing, t0, nil}},
		{"failing to ok", probe("x"), probe(""), want{StateOK, t1, []string{"check.recovered/info/"}}},
		{"ok stays ok", probe(""), probe(""), want{StateOK, t0, nil}},
		{"replicas agree", Observation{}, rep("a", "a", "a"), want{StateOK, t1, nil}},
		{"member falls behind", rep("a", "a", "a"), rep("a", "b", "b"), want{StateBehind, t1, []string{"check.behind/warning/u0"}}},
		{"member stays behind", rep("a", "b", "b"), rep("a", "b", "b"), want{StateBehind, t0, nil}},
		{"member catches up", rep("a", "b", "b"), rep("b", "b", "b"), want{StateOK, t1, []string{"check.caught_up/info/u0"}}},
		{"member fails", rep("a", "a"), rep("a", "ERR"), want{StateBehind, t1, []string{"check.failing/critical/u1"}}},
		{"member recovers", rep("a", "ERR"), rep("a", "a"), want{StateOK, t1, []string{"check.recovered/info/u1"}}},
		{"all fail", rep("a", "a"), rep("ERR", "ERR"), want{StateFailing, t1, []string{"check.failing/critical/u0", "check.failing/critical/u1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prev *store.CheckState
			if tc.prev.Name != "" {
				p, _ := Decide(nil, tc.prev, t0)
				prev = &p
			}
			got, evs := Decide(prev, tc.obs, t1)
			if got.State != tc.want.state || !got.Since.Equal(tc.want.since) || !got.LastProbe.Equal(t1) {
				t.Errorf("state %s since %v (last %v), want %s since %v", got.State, got.Since, got.LastProbe, tc.want.state, tc.want.since)
			}
			var kinds []string
			for _, e := range evs {
				kinds = append(kinds, e.Kind+"/"+e.Severity+"/"+e.Member)
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tc.want.events) {
				t.Errorf("events %v, want %v", kinds, tc.want.events)
			}
		})
	}
	// A member behind keeps the time it fell behind.
	p, _ := Decide(nil, rep("a", "a", "a"), t0)
	p, _ = Decide(&p, rep("a", "b", "b"), t1)
	p, _ = Decide(&p, rep("a", "b", "b"), t1.Add(time.Hour))
	if m := p.Members[0]; m.State != StateBehind || !m.Since.Equal(t1) || m.Value != "a" {
		t.Errorf("member 0 = %+v, want behind since %v", m, t1)
	}
}

func TestReadValue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Revision", "r7")
		io.WriteString(w, `{"build":{"revision":"abc","n":3,"list":[{"id":"z"}]}} rev=42`)
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{Value{JSON: "build.revision"}, "abc"},
		{Value{JSON: "build.n"}, "3"},
		{Value{JSON: "build.list.0.id"}, "z"},
		{Value{Header: "X-Revision"}, "r7"},
	} {
		got, err := ReadValue(ctx, srv.Client(), srv.URL, tc.v, time.Second)
		if err != nil || got != tc.want {
			t.Errorf("ReadValue(%+v) = %q, %v; want %q", tc.v, got, err, tc.want)
		}
	}
	if _, err := ReadValue(ctx, srv.Client(), srv.URL, Value{JSON: "build.nope"}, time.Second); err == nil || !strings.Contains(err.Error(), "no field build.nope") {
		t.Errorf("missing field: %v", err)
	}
	c, err := Parse([]byte("replicas:\n- name: m\n  members: [http://a, http://b]\n  value: {regex: '\"revision\":\"(\\w+)\"'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadValue(ctx, srv.Client(), srv.URL, c.Replicas[0].Value, time.Second); err != nil || got != "abc" {
		t.Errorf("regex: %q, %v", got, err)
	}
}

// TestController probes httptest servers on a fake clock: a probe that
// starts failing, a mirror that falls behind, and one event per change.
func TestController(t *testing.T) {
	web, failing := webServer(t, http.StatusServiceUnavailable)
	rev, mirrors := replicaGroup(t, "revision", "v1")
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	defer slow.CloseClientConnections()
	cfg := fmt.Sprintf(`probes:
- name: web
  url: %s
  body: ok
  interval: 10s
- name: slow
  url: %s
  timeout: 100ms
  interval: 10s
replicas:
- name: mirrors
  members: [%s, %s, %s]
  value: {json: revision}
  interval: 10s
`, web.URL, slow.URL, mirrors[0].URL, mirrors[1].URL, mirrors[2].URL)
	c, err := Parse([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := sqlitetest.Open(t)
	clk := clock.NewFake(t0)
	up := map[string]bool{}
	ctl := &Controller{Store: st, Config: c, Clock: clk, Logger: slog.New(slog.DiscardHandler),
		OnState: func(check string, ok bool) { up[check] = ok }}
	pass := func() {
		t.Helper()
		if _, err := ctl.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	state := func(name string) *store.CheckState {
		t.Helper()
		s, err := st.GetCheckState(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pass()
	if s := state("web"); s.State != StateOK {
		t.Errorf("web = %+v, want ok", s)
	}
	if s := state("slow"); s.State != StateFailing || !strings.Contains(s.Detail, "no answer within 100ms") {
		t.Errorf("slow = %+v, want failing on its timeout", s)
	}
	if s := state("mirrors"); s.State != StateOK {
		t.Errorf("mirrors = %+v, want ok", s)
	}

	// Not due yet: nothing probed.
	failing.Store(true)
	rev[0].Store("v2")
	rev[1].Store("v2")
	clk.Advance(5 * time.Second)
	pass()
	if s := state("web"); s.State != StateOK || !s.LastProbe.Equal(t0) {
		t.Errorf("web probed before due: %+v", s)
	}
	clk.Advance(5 * time.Second)
	t1 := clk.Now()
	pass()
	clk.Advance(10 * time.Second)
	pass()
	if s := state("web"); s.State != StateFailing || !s.Since.Equal(t1) {
		t.Errorf("web = %+v, want failing since %v", s, t1)
	}
	m := state("mirrors")
	if m.State != StateBehind || m.Members[2].State != StateBehind || !m.Members[2].Since.Equal(t1) || m.Members[2].Value != "v1" {
		t.Errorf("mirrors = %+v, want member 2 behind since %v", m, t1)
	}
	if up["web"] || up["mirrors"] || up["slow"] {
		t.Errorf("OnState: %v, want all down", up)
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Kind+" "+strings.SplitN(e.Message, ":", 2)[0])
	}
	// Each change once although probed twice (order within a pass varies).
	sort.Strings(got)
	want := "[check.behind warning check.failing critical check.failing critical]"
	if fmt.Sprint(got) != want {
		t.Errorf("events %v, want %s", got, want)
	}
	hist, err := st.ListCheckResults(ctx, "web", 0)
	if err != nil || len(hist) != 3 {
		t.Errorf("web history: %d results, %v; want 3", len(hist), err)
	}
}
