package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's chromium. In CI it must be there (.ci/run
// installs it); elsewhere the test says how to get it and skips.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs Debian's chromium before the tests")
	}
	t.Skip("chromium is not installed: run `apt-get install chromium` (as .ci/run does) to run the browser test")
	return ""
}

// TestBrowser_StatusPage starts stratus with a cluster, a job, health
// checks against HTTP servers on loopback (one replica behind) and a
// configured region, opens the status page in headless Chromium, signs
// in, and checks what is shown: the overview, the cluster's nodes, the
// lagging replica, the region's resources and the cost chart. With
// STRATUS_SCREENSHOT=FILE it saves a screenshot of the overview there.
func TestBrowser_StatusPage(t *testing.T) {
	chrome := chromium(t)
	dir := t.TempDir()

	// Three mirrors; the third serves an older revision.
	rev := func(r string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, `{"revision": %q}`, r)
		}))
		t.Cleanup(s.Close)
		return s
	}
	m1, m2, m3 := rev("r42"), rev("r42"), rev("r41")
	checks := fmt.Sprintf(`replicas:
  - name: mirrors
    members: [%s, %s, %s]
    value: {json: revision}
    interval: 1s
    timeout: 1s
`, m1.URL, m2.URL, m3.URL)
	checksFile := filepath.Join(dir, "checks.yaml")
	spec := filepath.Join(dir, "lab.yaml")
	key := filepath.Join(dir, "id.pub")
	for path, data := range map[string]string{
		checksFile: checks,
		key:        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKixAMZdFG7dgQ7LwRMoxRkEg9qJ3QDw687iIgPvGTAT me@example\n",
		spec:       "head: {type: t3.micro}\ncompute: {types: [t3.micro], initial_nodes: 1, max_nodes: 2}\n",
	} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	bin := filepath.Join(binDir, "stratus")
	var out strings.Builder
	serve := exec.Command(bin, "serve", "--listen", addr, "--checks", checksFile)
	serve.Dir, serve.Stdout, serve.Stderr = dir, &out, &out
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
		terminateAll(filepath.Join(dir, "stratus-data", "cloud"))
	})
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "STRATUS_URL=http://"+addr)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("stratus %v: %v\n%s\nserver:\n%s", args, err, b, out.String())
		}
		return string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "stratus-data", "server.url")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	run("cluster", "create", "lab", "-f", spec, "--wait", "--timeout", "60s")
	run("job", "submit", "lab", "--name", "align", "--", "sleep", "30")
	run("region", "configure", "local-2", "--from", "local-1", "--key-file", "id.pub", "--key-name", "ops")
	token, err := os.ReadFile(filepath.Join(dir, "stratus-data", "admin.token"))
	if err != nil {
		t.Fatal(err)
	}

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "chromium")), chromedp.WindowSize(1200, 800))
	defer cancel()
	// The protocol bindings may not know every field a newer Chromium sends;
	// such events are of no interest here, other errors are logged.
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Log(msg)
		}
	}))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	base := "http://" + addr
	var overview, clusterPage, checksPage, regionsPage, costsPage string
	var shot []byte
	err = chromedp.Run(ctx,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(`input[name="token"]`),
		chromedp.SendKeys(`input[name="token"]`, strings.TrimSpace(string(token))),
		chromedp.Submit(`input[name="token"]`),
		chromedp.WaitVisible(`a[href="/clusters/lab"]`),
		chromedp.Text(`main`, &overview),
		chromedp.FullScreenshot(&shot, 100),
		chromedp.Navigate(base+"/clusters/lab"),
		chromedp.WaitVisible(`main table`),
		chromedp.Text(`main`, &clusterPage),
	)
	if err != nil {
		t.Fatalf("browser: %v\nserver:\n%s", err, out.String())
	}
	// The checks controller probes every second: wait for the laggard.
	deadline = time.Now().Add(30 * time.Second)
	for {
		err = chromedp.Run(ctx, chromedp.Navigate(base+"/checks"), chromedp.WaitVisible(`main`), chromedp.Text(`main`, &checksPage))
		if err != nil {
			t.Fatalf("browser: %v", err)
		}
		if strings.Contains(checksPage, "behind") || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	var behindRows int
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll("tr.behind").length`, &behindRows)); err != nil {
		t.Fatal(err)
	}
	var regionLink bool
	var local2, chartBars int
	var legend []string
	err = chromedp.Run(ctx,
		chromedp.Evaluate(`!!document.querySelector('nav a[href="/regions"]')`, &regionLink),
		chromedp.Navigate(base+"/regions"),
		chromedp.WaitVisible(`#region-local-2`),
		chromedp.Text(`main`, &regionsPage),
		chromedp.Evaluate(`document.querySelectorAll("#region-local-2 tbody tr").length`, &local2),
		chromedp.Navigate(base+"/costs"),
		chromedp.WaitVisible(`svg.chart`),
		chromedp.Text(`main`, &costsPage),
		chromedp.Evaluate(`document.querySelectorAll("svg.chart rect").length`, &chartBars),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("ul.legend .key")).map(e => e.textContent)`, &legend),
	)
	if err != nil {
		t.Fatalf("browser: %v\nserver:\n%s", err, out.String())
	}

	for _, want := range []string{"lab", "running", "admin"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q:\n%s", want, overview)
		}
	}
	for _, want := range []string{"head", "compute", "t3.micro", "registered", "align"} {
		if !strings.Contains(clusterPage, want) {
			t.Errorf("cluster page lacks %q:\n%s", want, clusterPage)
		}
	}
	if behindRows != 1 || !strings.Contains(checksPage, m3.URL) || !strings.Contains(checksPage, "r41") {
		t.Errorf("checks page: %d rows marked behind, want 1 (the mirror at %s serving r41):\n%s", behindRows, m3.URL, checksPage)
	}
	// local-2 holds the image copy, the key pair, the group and the
	// stopped worker, as configured, and the instance profile exists: in
	// sync.
	if !regionLink || local2 != 5 || !strings.Contains(regionsPage, "in sync") || !strings.Contains(regionsPage, "ops") ||
		!strings.Contains(regionsPage, "Configured from local-1") || !strings.Contains(regionsPage, "exists, role stratus-worker") {
		t.Errorf("regions page: nav link %v, %d resources in local-2 (want 5), want it in sync:\n%s", regionLink, local2, regionsPage)
	}
	// The cluster has run: a bar in each chart at least, the cluster in
	// the legend of the chart by cluster, its owner (admin) in the one by
	// owner.
	if chartBars < 2 || !slices.Contains(legend, "lab") || !slices.Contains(legend, "admin") {
		t.Errorf("costs page: %d bars, legend %q; want the cluster lab and the owner admin:\n%s", chartBars, legend, costsPage)
	}
	if len(shot) == 0 {
		t.Error("no screenshot")
	}
	if path := os.Getenv("STRATUS_SCREENSHOT"); path != "" {
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
