package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

// fakeAPI is a small stand-in for the stratus HTTP API, enough to drive
// the CLI through the real api.Client. End-to-end tests of the real server
// live in testdata/script.
type fakeAPI struct {
	// token, when set, is the bearer token every call but version needs.
	token string

	mu       sync.Mutex
	clusters []api.Cluster
	// gets, when set, are the answers to successive GET /v1/clusters/{name}
	// (the last one repeats); a nil entry answers 404.
	gets    []*api.Cluster
	getN    int
	onGet   func(n int)
	fail    map[string]*api.StatusError // by route pattern
	created []api.CreateClusterRequest
	// execFrames are streamed back by exec; execs records the requests.
	execFrames []api.ExecFrame
	execs      []api.ExecRequest
	// fakeJobs serves the job and cost endpoints (fakejobs_test.go).
	fakeJobs
}

func (f *fakeAPI) start(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.token != "" && r.URL.Path != "/v1/version" && r.Header.Get("Authorization") != "Bearer "+f.token {
				writeAPIError(w, &api.StatusError{Status: 401, Body: api.Error{Code: "unauthorized", Message: "missing or unknown token"}})
				return
			}
			if se := f.fail[pattern]; se != nil {
				writeAPIError(w, se)
				return
			}
			h(w, r)
		})
	}
	handle("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Version{Version: "v9.9.9", Installation: "test-inst", Provider: "local"})
	})
	handle("GET /v1/clusters", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, f.clusters)
	})
	handle("POST /v1/clusters", func(w http.ResponseWriter, r *http.Request) {
		var req api.CreateClusterRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("create: decode request: %v", err)
		}
		f.created = append(f.created, req)
		writeJSON(w, 201, api.Cluster{Name: req.Name, Owner: "admin", State: "creating", Nodes: api.NodeCounts{Total: 3, Pending: 3}})
	})
	handle("GET /v1/clusters/{name}", func(w http.ResponseWriter, r *http.Request) {
		n := f.getN
		f.getN++
		if f.onGet != nil {
			f.onGet(n)
		}
		if f.gets != nil {
			c := f.gets[min(n, len(f.gets)-1)]
			if c == nil {
				writeAPIError(w, notFound(r.PathValue("name")))
				return
			}
			writeJSON(w, 200, c)
			return
		}
		for _, c := range f.clusters {
			if c.Name == r.PathValue("name") {
				writeJSON(w, 200, c)
				return
			}
		}
		writeAPIError(w, notFound(r.PathValue("name")))
	})
	handle("DELETE /v1/clusters/{name}", func(w http.ResponseWriter, r *http.Request) {
		for _, c := range f.clusters {
			if c.Name == r.PathValue("name") {
				c.State = "deleting"
				writeJSON(w, 200, c)
				return
			}
		}
		writeAPIError(w, notFound(r.PathValue("name")))
	})
	handle("POST /v1/clusters/{name}/exec", func(w http.ResponseWriter, r *http.Request) {
		var req api.ExecRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("exec: decode request: %v", err)
		}
		f.execs = append(f.execs, req)
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, fr := range f.execFrames {
			_ = enc.Encode(fr)
			w.(http.Flusher).Flush()
		}
	})
	f.jobRoutes(t, handle)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func notFound(name string) *api.StatusError {
	return &api.StatusError{Status: 404, Body: api.Error{Code: "not_found", Message: "cluster " + name + " not found"}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, se *api.StatusError) {
	writeJSON(w, se.Status, se.Body)
}

// testNow is the clock of every CLI test.
var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// cliRun is the result of one command line.
type cliRun struct {
	code           int
	stdout, stderr string
}

// runCLI runs args against the server at url, with token in the data
// directory's admin.token (when not empty), and extra environment.
func runCLI(t *testing.T, url, token string, extraEnv map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	return runCLIContext(t, context.Background(), url, token, extraEnv, stdin, args...)
}

func runCLIContext(t *testing.T, ctx context.Context, url, token string, extraEnv map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	dataDir := t.TempDir()
	if token != "" {
		if err := os.WriteFile(filepath.Join(dataDir, "admin.token"), []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"STRATUS_DATA": dataDir}
	if url != "" {
		vars["STRATUS_URL"] = url
	}
	for k, v := range extraEnv {
		vars[k] = v
	}
	var stdout, stderr bytes.Buffer
	e := &env{
		stdin:        bytes.NewBufferString(stdin),
		stdout:       &stdout,
		stderr:       &stderr,
		stderrTTY:    vars["TEST_TTY"] != "",
		getenv:       mapEnv(vars),
		readFile:     os.ReadFile,
		now:          func() time.Time { return testNow },
		pollInterval: time.Millisecond,
	}
	code := execute(ctx, args, e)
	return cliRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
