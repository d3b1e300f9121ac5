package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/api"
)

func TestSchedule_UsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no cron", []string{"schedule", "create", "s", "--region", "r", "--", "true"}, "missing --cron"},
		{"no region", []string{"schedule", "create", "s", "--cron", "@daily", "--", "true"}, "missing --region or --rotate"},
		{"both", []string{"schedule", "create", "s", "--cron", "@daily", "--region", "a", "--rotate", "b,c", "--", "true"}, "not both"},
		{"bad max runtime", []string{"schedule", "create", "s", "--cron", "@daily", "--region", "a", "--max-runtime", "soon", "--", "true"}, `--max-runtime "soon"`},
		{"command without --", []string{"schedule", "create", "s", "true"}, "put the command after --"},
		{"no command", []string{"schedule", "create", "s", "--cron", "@daily", "--region", "a", "--"}, "missing command after --"},
		{"bad run number", []string{"schedule", "logs", "s", "first"}, `run number must be a positive whole number`},
		{"wait for what", []string{"schedule", "wait", "s", "--for", "done"}, `--for "done": use started or ended`},
		{"run --timeout without --wait", []string{"schedule", "run", "s", "--timeout", "1m"}, "--timeout applies only with --wait"},
		{"no subcommand", []string{"schedule"}, "missing command: stratus schedule create|list|show|delete|runs|run|logs|wait"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "http://127.0.0.1:1", "", nil, "", tc.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, ExitUsage, tc.want)
			}
		})
	}
}

// scheduleAPI answers the schedule endpoints the way the server does.
type scheduleAPI struct {
	mu     sync.Mutex
	create api.CreateScheduleRequest
	runs   []api.ScheduleRun
	polls  int
}

func (f *scheduleAPI) start(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/schedules", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if err := json.NewDecoder(r.Body).Decode(&f.create); err != nil {
			t.Errorf("create: %v", err)
		}
		next := time.Date(2030, 1, 1, 0, 30, 0, 0, time.UTC)
		writeJSON(w, http.StatusCreated, api.Schedule{Name: f.create.Name, Timezone: "UTC", NextTick: &next, NextRegion: "local-2"})
	})
	mux.HandleFunc("GET /v1/schedules/{name}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, api.Schedule{Name: r.PathValue("name")})
	})
	mux.HandleFunc("GET /v1/schedules/{name}/runs", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, http.StatusOK, f.runs)
	})
	mux.HandleFunc("POST /v1/schedules/{name}/run", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusAccepted, api.ScheduleRun{Schedule: r.PathValue("name"), Number: 3, State: "pending", Trigger: "manual"})
	})
	mux.HandleFunc("GET /v1/schedules/{name}/runs/{n}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.polls++
		run := f.runs[len(f.runs)-1]
		if f.polls < 3 {
			run.State, run.EndedAt, run.ExitCode = "running", nil, nil
		}
		writeJSON(w, http.StatusOK, run)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestScheduleCreate_SendsRequest(t *testing.T) {
	t.Parallel()
	f := &scheduleAPI{}
	url := f.start(t)
	r := runCLI(t, url, "tok", nil, "", "schedule", "create", "probes", "--cron", "30 0,6,12,18 * * *",
		"--rotate", "local-2,local-3", "--max-runtime", "10m", "--timezone", "Europe/Paris", "--", "sh", "-c", "echo $X")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := api.CreateScheduleRequest{Name: "probes", Cron: "30 0,6,12,18 * * *", Timezone: "Europe/Paris",
		Rotate: []string{"local-2", "local-3"}, MaxRuntime: "10m", Argv: []string{"sh", "-c", "echo $X"}}
	if d := cmp.Diff(want, f.create); d != "" {
		t.Errorf("request (-want +got):\n%s", d)
	}
	if r.stdout != "Schedule probes created: next tick 2030-01-01T00:30:00Z, in local-2.\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
}

func TestScheduleRuns_TableAndRunWait(t *testing.T) {
	t.Parallel()
	tick := time.Date(2030, 1, 1, 6, 30, 0, 0, time.UTC)
	end := tick.Add(41 * time.Second)
	three := 3
	f := &scheduleAPI{runs: []api.ScheduleRun{
		{Schedule: "probes", Number: 1, Trigger: "tick", Tick: &tick, State: "skipped", Reason: "run 0 was still running", EndedAt: &tick, Cost: "0.00"},
		{Schedule: "probes", Number: 2, Trigger: "tick", Tick: &tick, State: "failed", Region: "local-3", StartedAt: &tick,
			EndedAt: &end, ExitCode: &three, Cost: "0.000173", Reason: "the command exited with code 3"},
		{Schedule: "probes", Number: 3, Trigger: "manual", State: "failed", Region: "local-2", StartedAt: &tick,
			ExitCode: &three, Cost: "0.000173"}, // not ended: its worker is being stopped
	}}
	url := f.start(t)
	r := runCLI(t, url, "tok", nil, "", "schedule", "runs", "probes")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `RUN  TRIGGER  TICK                  STATE                     REGION   START                 END                   EXIT  COST       REASON
1    tick     2030-01-01T06:30:00Z  skipped                   -        -                     2030-01-01T06:30:00Z  -     $0.00      run 0 was still running
2    tick     2030-01-01T06:30:00Z  failed                    local-3  2030-01-01T06:30:00Z  2030-01-01T06:30:41Z  3     $0.000173  the command exited with code 3
3    manual   -                     failed (stopping worker)  local-2  2030-01-01T06:30:00Z  -                     3     $0.000173  -
`
	if d := cmp.Diff(want, r.stdout); d != "" {
		t.Errorf("runs table (-want +got):\n%s", d)
	}

	// run --wait waits for the end, shows the run, and fails as it did.
	f.runs[2].EndedAt = &end
	r = runCLI(t, url, "tok", nil, "", "schedule", "run", "probes", "--wait")
	if r.code != ExitError || !strings.Contains(r.stdout, "State:            failed\n") ||
		!strings.Contains(r.stderr, "run 3 of schedule probes failed") {
		t.Errorf("run --wait: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
