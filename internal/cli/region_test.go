package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stratus-cloud/stratus/api"
)

// regionAPI answers the region endpoints with canned responses and
// records the requests.
type regionAPI struct {
	mu        sync.Mutex
	calls     []string
	configure api.RegionConfigureRequest
	confResp  api.RegionConfigureResponse
	checkResp api.RegionCheckResponse
}

func (f *regionAPI) start(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/regions/configure", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, "configure")
		if err := json.NewDecoder(r.Body).Decode(&f.configure); err != nil {
			t.Errorf("configure: %v", err)
		}
		writeJSON(w, 200, f.confResp)
	})
	mux.HandleFunc("POST /v1/regions/check", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, "check")
		writeJSON(w, 200, f.checkResp)
	})
	mux.HandleFunc("POST /v1/regions/clear", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, "clear")
		writeJSON(w, 200, api.RegionClearResponse{})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestRegionConfigure_SendsKeyAndFailsWhenARegionFailed(t *testing.T) {
	f := &regionAPI{confResp: api.RegionConfigureResponse{Home: "local-1", Regions: []api.RegionResult{
		{Region: "local-2", OK: true, Steps: []api.RegionStep{{Region: "local-2", Step: "image", Name: "stratus-base", ID: "ami-1", Result: "created"}}},
		{Region: "local-3", OK: false, Steps: []api.RegionStep{{Region: "local-3", Step: "image", Name: "stratus-base", Result: "failed", Reason: "throttled"}}},
	}}}
	url := f.start(t)
	key := filepath.Join(t.TempDir(), "id.pub")
	if err := os.WriteFile(key, []byte("ssh-ed25519 AAAA me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, url, "tok", nil, "", "region", "configure", "local-2", "local-3", "--from", "local-1",
		"--key-file", key, "--worker-type", "t3.small", "--security-group", "web")
	if r.code != ExitError {
		t.Errorf("exit %d, want %d; stderr %s", r.code, ExitError, r.stderr)
	}
	want := api.RegionConfigureRequest{Regions: []string{"local-2", "local-3"}, Home: "local-1",
		PublicKey: "ssh-ed25519 AAAA me\n", WorkerType: "t3.small", SecurityGroup: "web"}
	if got := f.configure; strings.Join(got.Regions, ",") != "local-2,local-3" || got.Home != want.Home ||
		got.PublicKey != want.PublicKey || got.WorkerType != want.WorkerType || got.SecurityGroup != want.SecurityGroup {
		t.Errorf("request = %+v, want %+v", got, want)
	}
	for _, line := range []string{"local-2  image  stratus-base  ami-1  created", "local-3  image  stratus-base  -      failed   throttled"} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("stdout lacks %q:\n%s", line, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "configure failed in local-3 (1 of 2 regions)") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestRegionConfigure_NeedsFromAndRegions(t *testing.T) {
	for _, args := range [][]string{{"region", "configure", "local-2"}, {"region", "configure", "--from", "local-1"}, {"region", "check"}} {
		r := runCLI(t, "http://127.0.0.1:1", "tok", nil, "", args...)
		if r.code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, r.code, ExitUsage, r.stderr)
		}
	}
}

func TestRegionCheck_DriftExitsOne(t *testing.T) {
	f := &regionAPI{checkResp: api.RegionCheckResponse{Regions: []api.RegionCheck{
		{Region: "local-2", Configured: true, Home: "local-1", Resources: []api.RegionResource{{Kind: "security_group", Name: "stratus", ID: "sg-1"}},
			Drift: []api.RegionDrift{{Kind: "security_group", Name: "stratus", ID: "sg-1", Problem: "rules changed: missing tcp 22 from 0.0.0.0/0"}}},
		{Region: "local-3", Configured: true, Home: "local-1", Resources: []api.RegionResource{}, Drift: []api.RegionDrift{}},
	}}}
	r := runCLI(t, f.start(t), "tok", nil, "", "region", "check", "local-2", "local-3")
	if r.code != ExitError {
		t.Errorf("exit %d, want %d", r.code, ExitError)
	}
	if !strings.Contains(r.stdout, "rules changed: missing tcp 22 from 0.0.0.0/0") || !strings.Contains(r.stdout, "No drift in local-3.") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "stratus region configure local-2 --from local-1") {
		t.Errorf("stderr does not say how to repair: %s", r.stderr)
	}
}

func TestRegionClear_RefusesWithoutTerminalOrYes(t *testing.T) {
	f := &regionAPI{}
	url := f.start(t)
	r := runCLI(t, url, "tok", nil, "yes\n", "region", "clear", "local-2")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "pass --yes") {
		t.Errorf("exit %d, stderr %q; want a usage error asking for --yes", r.code, r.stderr)
	}
	if len(f.calls) != 0 {
		t.Errorf("calls without confirmation: %v", f.calls)
	}
	r = runCLI(t, url, "tok", nil, "", "region", "clear", "local-2", "--yes")
	if r.code != ExitOK || strings.Join(f.calls, ",") != "clear" {
		t.Errorf("with --yes: exit %d, calls %v, stderr %s", r.code, f.calls, r.stderr)
	}
}

// The confirmation of `region clear`: yes (or y) clears; anything else,
// an empty answer or the end of the input removes nothing. The instance
// profile, which clear leaves, is not among what it offers to remove.
func TestRegionClear_Confirmation(t *testing.T) {
	for _, tc := range []struct {
		answer string
		clears bool
	}{
		{"yes\n", true},
		{"YES\n", true},
		{"  y  \n", true},
		{"yes", true}, // the answer without its newline, then end of input
		{"no\n", false},
		{"yes please\n", false},
		{"\n", false},
		{"", false},
		{"nyes\n", false},
	} {
		f := &regionAPI{checkResp: api.RegionCheckResponse{Regions: []api.RegionCheck{{Region: "local-2", Configured: true, Resources: []api.RegionResource{
			{Kind: "image", Name: "stratus-base", ID: "img-1"}, {Kind: "key_pair", Name: "stratus-i1", ID: "SHA256:x"},
			{Kind: "instance_profile", Name: "stratus-worker", State: "exists"},
		}}}}}
		c := api.NewClient(f.start(t), "tok")
		var stdout, stderr strings.Builder
		e := &env{stdin: strings.NewReader(tc.answer), stdout: &stdout, stderr: &stderr}
		err := runRegionClear(context.Background(), regionClearOptions{Regions: []string{"local-2"}, Output: formatTable}, c, e)
		want := "check"
		if tc.clears {
			want = "check,clear"
		}
		if got := strings.Join(f.calls, ","); got != want {
			t.Errorf("answer %q: calls %s, want %s", tc.answer, got, want)
		}
		if tc.clears && err != nil {
			t.Errorf("answer %q: %v", tc.answer, err)
		}
		if !tc.clears && (err == nil || !strings.Contains(err.Error(), "nothing was removed")) {
			t.Errorf("answer %q: error %v, want one saying nothing was removed", tc.answer, err)
		}
		if !strings.Contains(stderr.String(), "Remove these 2 resources from local-2?") || strings.Contains(stderr.String(), "instance_profile") {
			t.Errorf("answer %q: prompt\n%s\nwant the image and the key pair only", tc.answer, stderr.String())
		}
	}
}
