package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

// TestServe_Checks runs the real binary with a checks file over httptest
// servers on loopback: three mirrors of which one serves an older
// revision, a probe that passes and one that fails. `stratus check list
// -o json` must show the lagging mirror and the failing probe.
func TestServe_Checks(t *testing.T) {
	mirror := func(rev string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{"build":{"revision":%q}}`, rev)
		}))
		t.Cleanup(s.Close)
		return s
	}
	m1, m2, m3 := mirror("r2"), mirror("r1"), mirror("r2")
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "healthy") }))
	t.Cleanup(okSrv.Close)
	badSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(badSrv.Close)

	dir := t.TempDir()
	checks := filepath.Join(dir, "checks.yaml")
	if err := os.WriteFile(checks, []byte(fmt.Sprintf(`probes:
- name: api
  url: %s/healthz
  body: healthy
  timeout: 1s
  interval: 1s
- name: broken
  url: %s/
  timeout: 1s
  interval: 1s
replicas:
- name: mirrors
  members: [%s, %s, %s]
  value: {json: build.revision}
  timeout: 1s
  interval: 1s
`, okSrv.URL, badSrv.URL, m1.URL, m2.URL, m3.URL)), 0o600); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := append(os.Environ(), "HOME="+filepath.Join(dir, "home"), "STRATUS_URL=", "STRATUS_TOKEN=", "STRATUS_CONFIG=", "STRATUS_DATA=")
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "stratus"), "serve", "--listen", addr, "--checks", checks)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	var checksOut []api.Check
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := exec.Command(filepath.Join(binDir, "stratus"), "check", "list", "-o", "json")
		list.Dir, list.Env = dir, env
		b, err := list.Output()
		if err == nil {
			checksOut = nil
			if err := json.Unmarshal(b, &checksOut); err != nil {
				t.Fatalf("check list -o json: %v\n%s", err, b)
			}
			if len(checksOut) == 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("checks not reported in time (last: %v %s):\n%s", err, b, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	byName := map[string]api.Check{}
	for _, c := range checksOut {
		byName[c.Name] = c
	}
	if c := byName["api"]; c.State != "ok" || c.Kind != "probe" {
		t.Errorf("api = %+v, want an ok probe", c)
	}
	if c := byName["broken"]; c.State != "failing" || !strings.Contains(c.Detail, "status 500") {
		t.Errorf("broken = %+v, want failing with status 500", c)
	}
	m := byName["mirrors"]
	if m.State != "behind" || len(m.Members) != 3 {
		t.Fatalf("mirrors = %+v, want behind with 3 members", m)
	}
	for i, want := range []struct{ url, value, state string }{{m1.URL, "r2", "ok"}, {m2.URL, "r1", "behind"}, {m3.URL, "r2", "ok"}} {
		got := m.Members[i]
		if got.URL != want.url || got.Value != want.value || got.State != want.state || got.Since.IsZero() {
			t.Errorf("mirrors member %d = %+v, want %s at %s, %s", i, got, want.url, want.value, want.state)
		}
	}

	// The table and show work too, and the change was logged once.
	show := exec.Command(filepath.Join(binDir, "stratus"), "check", "show", "mirrors")
	show.Dir, show.Env = dir, env
	b, err := show.CombinedOutput()
	if err != nil || !strings.Contains(string(b), m2.URL) || !strings.Contains(string(b), "History") {
		t.Errorf("check show mirrors: %v\n%s", err, b)
	}
	if !strings.Contains(out.String(), "is behind") {
		t.Errorf("server log lacks the behind event:\n%s", out.String())
	}
}
