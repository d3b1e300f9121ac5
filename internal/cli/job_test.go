package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/api"
)

// testJobs returns jobs in each kind of state: running on two nodes,
// queued, failed after a requeue, and cancelled before it started.
func testJobs() []api.Job {
	at := func(ago time.Duration) *time.Time { t := testNow.Add(-ago); return &t }
	code := 3
	return []api.Job{
		{
			ID: 1, Cluster: "demo", Owner: "alice", Name: "train", Argv: []string{"mpirun", "./train", "--epochs", "3"},
			Nodes: 2, TimeLimit: "2h0m0s", State: "running", SubmittedAt: testNow.Add(-10 * time.Minute),
			StartedAt: at(95 * time.Second), Attempt: 1,
			Assigned: []api.JobNode{
				{Rank: 0, Node: "demo-c1", Address: "127.0.0.1:2202"},
				{Rank: 1, Node: "demo-c2", Address: "127.0.0.1:2203"},
			},
			OutputBytes: 512,
		},
		{
			ID: 2, Cluster: "demo", Owner: "bob", Argv: []string{"hostname"},
			Nodes: 1, TimeLimit: "1h0m0s", State: "queued", SubmittedAt: testNow.Add(-125 * time.Second),
		},
		{
			ID: 3, Cluster: "lab", Owner: "alice", Name: "sweep", Argv: []string{"sh", "-c", "echo it's done; exit 3"},
			Nodes: 1, TimeLimit: "30m0s", State: "failed", Reason: "rank 0 exited with code 3",
			SubmittedAt: testNow.Add(-50 * time.Hour), StartedAt: at(49 * time.Hour), EndedAt: at(49*time.Hour - 2*time.Hour - 7*time.Minute),
			Attempt: 2, Requeues: 1, ExitCode: &code,
			Assigned:    []api.JobNode{{Rank: 0, Node: "lab-c3", Address: "127.0.0.1:2301"}},
			OutputBytes: 1048576, OutputTruncated: true,
		},
		{
			ID: 4, Cluster: "lab", Owner: "alice", Argv: []string{"true"},
			Nodes: 4, TimeLimit: "1h0m0s", State: "cancelled", Reason: "cancelled by alice",
			SubmittedAt: testNow.Add(-3 * time.Hour), EndedAt: at(2 * time.Hour),
		},
	}
}

func TestJobUsageErrors(t *testing.T) {
	t.Parallel()
	checkUsageErrors(t, []usageCase{
		{"job without subcommand", []string{"job"}, []string{"missing command: stratus job submit|list|show|logs|cancel"}},
		{"unknown job subcommand", []string{"job", "bogus"}, []string{`unknown command "bogus" for "stratus job"`}},
		{"submit without --", []string{"job", "submit", "demo", "hostname"}, []string{"put the command after --: stratus job submit demo -- hostname"}},
		{"submit without command", []string{"job", "submit", "demo"}, []string{"missing command"}},
		{"submit with nothing after --", []string{"job", "submit", "demo", "--"}, []string{"missing command after --"}},
		{"submit without cluster", []string{"job", "submit", "--", "hostname"}, []string{"missing CLUSTER before --"}},
		{"submit with two clusters", []string{"job", "submit", "a", "b", "--", "hostname"}, []string{`unexpected argument "b" before --`}},
		{"submit zero nodes", []string{"job", "submit", "demo", "--nodes", "0", "--", "hostname"}, []string{"--nodes must be at least 1, got 0", "Run 'stratus job submit --help'"}},
		{"submit nodes not a number", []string{"job", "submit", "demo", "--nodes", "two", "--", "hostname"}, []string{`invalid argument "two"`}},
		{"submit bad time limit", []string{"job", "submit", "demo", "--time-limit", "soon", "--", "hostname"}, []string{`--time-limit "soon": use a positive duration such as 30m, 2h or 1h30m`}},
		{"submit negative time limit", []string{"job", "submit", "demo", "--time-limit=-5m", "--", "hostname"}, []string{`--time-limit "-5m"`}},
		{"submit time limit in days", []string{"job", "submit", "demo", "--time-limit", "2d", "--", "hostname"}, []string{`--time-limit "2d"`}},
		{"list with two clusters", []string{"job", "list", "a", "b"}, []string{`unexpected argument "b"`}},
		{"show without ID", []string{"job", "show"}, []string{"missing job ID"}},
		{"show non-numeric ID", []string{"job", "show", "abc"}, []string{`job ID "abc": must be a positive whole number, such as 42`}},
		{"show zero ID", []string{"job", "show", "0"}, []string{`job ID "0": must be a positive whole number`}},
		{"show two IDs", []string{"job", "show", "1", "2"}, []string{`unexpected argument "2"`}},
		{"logs bad ID", []string{"job", "logs", "1.5"}, []string{`job ID "1.5"`}},
		{"logs bad output format", []string{"job", "logs", "1", "-o", "xml"}, []string{"use table, json or yaml"}},
		{"cancel bad ID", []string{"job", "cancel", "x7"}, []string{`job ID "x7"`}},
		{"cancel without ID", []string{"job", "cancel"}, []string{"missing job ID"}},
	})
}

func TestJobSubmit(t *testing.T) {
	t.Parallel()
	fake := &fakeAPI{token: "tok"}
	srv := fake.start(t)

	r := runCLI(t, srv.URL, "tok", nil, "", "job", "submit", "demo", "--", "sh", "-c", "echo hi")
	if r.code != 0 || r.stdout != "1\n" || r.stderr != "" {
		t.Errorf("table: exit %d, stdout %q, stderr %q; want the ID alone", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, srv.URL, "tok", nil, "", "job", "submit", "--nodes", "4", "demo", "--time-limit", "90m", "--name", "train", "-o", "json", "--", "mpirun", "-o", "--nodes", "x")
	if r.code != 0 {
		t.Fatalf("json: exit %d, stderr %q", r.code, r.stderr)
	}
	var got api.Job
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("json: %v:\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(fake.jobs[1], got); diff != "" {
		t.Errorf("json job (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "tok", nil, "", "job", "submit", "lab", "-o", "yaml", "--", "true")
	var gotYAML api.Job
	if err := yaml.Unmarshal([]byte(r.stdout), &gotYAML); err != nil || r.code != 0 || gotYAML.ID != 3 || gotYAML.State != "queued" {
		t.Errorf("yaml: exit %d, %v:\n%s", r.code, err, r.stdout)
	}

	want := []fakeSubmit{
		{Cluster: "demo", Req: api.SubmitJobRequest{Argv: []string{"sh", "-c", "echo hi"}, Nodes: 1}},
		{Cluster: "demo", Req: api.SubmitJobRequest{Name: "train", Argv: []string{"mpirun", "-o", "--nodes", "x"}, Nodes: 4, TimeLimit: "90m"}},
		{Cluster: "lab", Req: api.SubmitJobRequest{Argv: []string{"true"}, Nodes: 1}},
	}
	if diff := cmp.Diff(want, fake.submits); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestJobServerErrors_ExitCodes(t *testing.T) {
	t.Parallel()
	invalid := &api.StatusError{Status: 400, Body: api.Error{Code: "invalid", Message: "invalid job", Fields: []api.FieldError{
		{Field: "nodes", Message: "cluster demo has at most 10 compute nodes"},
	}}}
	tests := []struct {
		name       string
		fail       map[string]*api.StatusError
		args       []string
		wantCode   int
		wantStderr string
	}{
		{
			name:       "submit rejected by the server",
			fail:       map[string]*api.StatusError{"POST /v1/clusters/{name}/jobs": invalid},
			args:       []string{"job", "submit", "demo", "--nodes", "50", "--", "hostname"},
			wantCode:   ExitInvalid,
			wantStderr: "stratus: submit job to cluster demo: invalid job\n  nodes: cluster demo has at most 10 compute nodes\n",
		},
		{
			name:       "submit to a missing cluster",
			fail:       map[string]*api.StatusError{"POST /v1/clusters/{name}/jobs": notFound("nope")},
			args:       []string{"job", "submit", "nope", "--", "hostname"},
			wantCode:   ExitNotFound,
			wantStderr: "stratus: submit job to cluster nope: cluster nope not found\n",
		},
		{
			name:       "list of a missing cluster",
			fail:       map[string]*api.StatusError{"GET /v1/jobs": notFound("nope")},
			args:       []string{"job", "list", "nope"},
			wantCode:   ExitNotFound,
			wantStderr: "stratus: list jobs of cluster nope: cluster nope not found\n",
		},
		{
			name:       "show a missing job",
			args:       []string{"job", "show", "7"},
			wantCode:   ExitNotFound,
			wantStderr: "stratus: job 7: job 7 not found\n",
		},
		{
			name:       "logs of a missing job",
			args:       []string{"job", "logs", "7", "--follow"},
			wantCode:   ExitNotFound,
			wantStderr: "stratus: job 7: job 7 not found\n",
		},
		{
			name:       "logs --ranks of a missing job",
			args:       []string{"job", "logs", "7", "--ranks"},
			wantCode:   ExitNotFound,
			wantStderr: "stratus: job 7: job 7 not found\n",
		},
		{
			name:       "cancel a missing job",
			args:       []string{"job", "cancel", "7"},
			wantCode:   ExitNotFound,
			wantStderr: "stratus: cancel job 7: job 7 not found\n",
		},
		{
			name:       "cancel an ended job",
			args:       []string{"job", "cancel", "3"},
			wantCode:   ExitConflict,
			wantStderr: "stratus: cancel job 3: job 3 has already ended (failed)\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := (&fakeAPI{fail: tc.fail, fakeJobs: fakeJobs{jobs: testJobs()}}).start(t)
			r := runCLI(t, srv.URL, "", nil, "", tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, tc.wantCode, r.stderr)
			}
			if diff := cmp.Diff(tc.wantStderr, r.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestJobList(t *testing.T) {
	t.Parallel()
	jobs := testJobs()
	srv := (&fakeAPI{fakeJobs: fakeJobs{jobs: jobs}}).start(t)

	r := runCLI(t, srv.URL, "", nil, "", "job", "list")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `ID  NAME   CLUSTER  OWNER  STATE      NODES  ATTEMPT  SUBMITTED  ELAPSED/WAIT
1   train  demo     alice  running    2      1        10m ago    1m35s
2   -      demo     bob    queued     1      0        2m ago     wait 2m05s
3   sweep  lab      alice  failed     1      2        2d ago     2h07m
4   -      lab      alice  cancelled  4      0        3h ago     -
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "", "job", "ls", "lab", "-o", "json")
	var got []api.Job
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if diff := cmp.Diff(jobs[2:], got); diff != "" {
		t.Errorf("json of cluster lab (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "", "job", "list", "-o", "yaml")
	var gotYAML []api.Job
	if err := yaml.Unmarshal([]byte(r.stdout), &gotYAML); err != nil || r.code != 0 {
		t.Fatalf("yaml: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if diff := cmp.Diff(jobs, gotYAML); diff != "" {
		t.Errorf("yaml (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "", "job", "list", "empty")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "No jobs.") {
		t.Errorf("empty table: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, srv.URL, "", nil, "", "job", "list", "empty", "-o", "json")
	if r.code != 0 || r.stdout != "[]\n" {
		t.Errorf("empty json: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestJobShow(t *testing.T) {
	t.Parallel()
	jobs := testJobs()
	srv := (&fakeAPI{fakeJobs: fakeJobs{jobs: jobs}}).start(t)

	r := runCLI(t, srv.URL, "", nil, "", "job", "show", "3")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `ID:          3
Name:        sweep
Cluster:     lab
Owner:       alice
Command:     sh -c 'echo it'\''s done; exit 3'
State:       failed
Reason:      rank 0 exited with code 3
Exit code:   3
Nodes:       1
Time limit:  30m0s
Submitted:   2025-02-27T10:00:00Z (2d ago)
Started:     2025-02-27T11:00:00Z (2d ago)
Ended:       2025-02-27T13:07:00Z (46h ago)
Elapsed:     2h07m
Attempt:     2 (requeued 1 time)
Output:      1048576 bytes (truncated: later output was not kept)

Ranks:
  RANK  NODE    ADDRESS
  0     lab-c3  127.0.0.1:2301
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("show failed job (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "", "job", "show", "2")
	want = `ID:          2
Cluster:     demo
Owner:       bob
Command:     hostname
State:       queued
Nodes:       1
Time limit:  1h0m0s
Submitted:   2025-03-01T11:57:55Z (2m ago)
Started:     -
Ended:       -
Elapsed:     wait 2m05s
Attempt:     0 (requeued 0 times)
Output:      0 bytes

Ranks:
  none
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("show queued job (-want +got):\n%s", diff)
	}

	for _, format := range []string{"json", "yaml"} {
		r = runCLI(t, srv.URL, "", nil, "", "job", "show", "1", "-o", format)
		var got api.Job
		var err error
		if format == "json" {
			err = json.Unmarshal([]byte(r.stdout), &got)
		} else {
			err = yaml.Unmarshal([]byte(r.stdout), &got)
		}
		if err != nil || r.code != 0 {
			t.Fatalf("%s: exit %d, %v:\n%s", format, r.code, err, r.stdout)
		}
		if diff := cmp.Diff(jobs[0], got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", format, diff)
		}
	}
}

func TestJobCancel(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{fakeJobs: fakeJobs{jobs: testJobs()}}).start(t)

	r := runCLI(t, srv.URL, "", nil, "", "job", "cancel", "2")
	want := `ID  NAME  CLUSTER  OWNER  STATE      NODES  ATTEMPT  SUBMITTED  ELAPSED/WAIT
2   -     demo     bob    cancelled  1      0        2m ago     -
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("table: exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}

	r = runCLI(t, srv.URL, "", nil, "", "job", "cancel", "1", "-o", "json")
	var got api.Job
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || got.ID != 1 || got.State != "cancelled" {
		t.Errorf("json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}

	// Cancelling again is a conflict.
	r = runCLI(t, srv.URL, "", nil, "", "job", "cancel", "1")
	if r.code != ExitConflict || r.stderr != "stratus: cancel job 1: job 1 has already ended (cancelled)\n" {
		t.Errorf("again: exit %d, stderr %q", r.code, r.stderr)
	}
}

// testOutput is output of a two-node job: lines split across chunks,
// ranks interleaved, both streams.
func testOutput() []api.OutputChunk {
	chunk := func(seq int64, rank int, stream, data string) api.OutputChunk {
		return api.OutputChunk{Seq: seq, Attempt: 1, Rank: rank, Stream: stream, Data: []byte(data)}
	}
	return []api.OutputChunk{
		chunk(1, 0, "stdout", "r0 line 1\nr0 li"),
		chunk(2, 1, "stdout", "r1 line 1\n"),
		chunk(3, 0, "stdout", "ne 2\n"),
		chunk(4, 1, "stderr", "r1 warning\n"),
		chunk(5, 1, "stdout", "r1 no newline"),
		chunk(6, 0, "stderr", "r0 error\n"),
	}
}

func TestJobLogs(t *testing.T) {
	t.Parallel()
	const (
		rawStdout = "r0 line 1\nr0 lir1 line 1\nne 2\nr1 no newline"
		rawStderr = "r1 warning\nr0 error\n"
	)
	tests := []struct {
		name                   string
		jobs                   []api.Job
		page                   int
		done                   bool
		args                   []string
		wantStdout, wantStderr string
		// wantAfter are the after= of the output requests.
		wantAfter []string
	}{
		{
			name:       "raw, paged until done",
			page:       2,
			done:       true,
			args:       []string{"job", "logs", "1"},
			wantStdout: rawStdout,
			wantStderr: rawStderr,
			wantAfter:  []string{"0", "2", "4"},
		},
		{
			name:       "raw, all so far of a running job",
			page:       4,
			args:       []string{"job", "logs", "1"},
			wantStdout: rawStdout,
			wantStderr: rawStderr,
			wantAfter:  []string{"0", "4", "6"},
		},
		{
			name: "--ranks prefixes whole lines of a multi-node job",
			page: 1,
			done: true,
			args: []string{"job", "logs", "--ranks", "1"},
			wantStdout: "[rank 0] r0 line 1\n[rank 1] r1 line 1\n[rank 0] r0 line 2\n" +
				"[rank 1] r1 no newline\n",
			wantStderr: "[rank 1] r1 warning\n[rank 0] r0 error\n",
			wantAfter:  []string{"0", "1", "2", "3", "4", "5"},
		},
		{
			name:       "--ranks leaves a one-node job raw",
			jobs:       []api.Job{{ID: 1, Cluster: "demo", Nodes: 1, State: "succeeded"}},
			done:       true,
			args:       []string{"job", "logs", "1", "--ranks"},
			wantStdout: rawStdout,
			wantStderr: rawStderr,
			wantAfter:  []string{"0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			jobs := tc.jobs
			if jobs == nil {
				jobs = testJobs()
			}
			fake := &fakeAPI{fakeJobs: fakeJobs{jobs: jobs, output: testOutput(), outputDone: tc.done, outputPage: tc.page}}
			srv := fake.start(t)
			r := runCLI(t, srv.URL, "", nil, "", tc.args...)
			if r.code != 0 {
				t.Errorf("exit %d", r.code)
			}
			if diff := cmp.Diff(tc.wantStdout, r.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, r.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			var after []string
			for _, q := range fake.outputReqs {
				after = append(after, q.Get("after"))
				if q.Has("wait") {
					t.Errorf("request %v waits without --follow", q)
				}
			}
			if diff := cmp.Diff(tc.wantAfter, after); diff != "" {
				t.Errorf("after= (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobLogs_Follow(t *testing.T) {
	t.Parallel()
	all := testOutput()
	fake := &fakeAPI{fakeJobs: fakeJobs{jobs: testJobs(), output: all[:2]}}
	fake.onOutput = func(n int) {
		switch n {
		case 2: // nothing new in the first waits, then the rest
			fake.output = all
		case 4: // the job fails: its exit code is not the CLI's
			fake.outputDone = true
			fake.jobs[0].State = "failed"
		}
	}
	srv := fake.start(t)
	r := runCLI(t, srv.URL, "", nil, "", "job", "logs", "1", "--follow")
	if r.code != 0 {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != "r0 line 1\nr0 lir1 line 1\nne 2\nr1 no newline" || r.stderr != "r1 warning\nr0 error\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	var reqs []string
	for _, q := range fake.outputReqs {
		reqs = append(reqs, q.Encode())
	}
	want := []string{"after=0&wait=25s", "after=2&wait=25s", "after=2&wait=25s", "after=6&wait=25s", "after=6&wait=25s"}
	if diff := cmp.Diff(want, reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestJobLogs_Structured(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{fakeJobs: fakeJobs{jobs: testJobs(), output: testOutput(), outputDone: true, outputPage: 4}}).start(t)

	r := runCLI(t, srv.URL, "", nil, "", "job", "logs", "1", "-o", "json", "--ranks")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("json: exit %d, stderr %q", r.code, r.stderr)
	}
	var got []api.OutputChunk
	for line := range strings.Lines(r.stdout) {
		var ch api.OutputChunk
		if err := json.Unmarshal([]byte(line), &ch); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, ch)
	}
	if diff := cmp.Diff(testOutput(), got); diff != "" {
		t.Errorf("json chunks (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "", "job", "logs", "1", "-o", "yaml")
	if r.code != 0 {
		t.Fatalf("yaml: exit %d, stderr %q", r.code, r.stderr)
	}
	dec := yaml.NewDecoder(strings.NewReader(r.stdout))
	var docs []logChunk
	for {
		var ch logChunk
		err := dec.Decode(&ch)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("yaml: %v:\n%s", err, r.stdout)
		}
		docs = append(docs, ch)
	}
	if len(docs) != 6 || docs[3] != (logChunk{Seq: 4, Attempt: 1, Rank: 1, Stream: "stderr", Data: "r1 warning\n"}) {
		t.Errorf("yaml documents: %+v\n%s", docs, r.stdout)
	}
}

// dropSome closes the connection of the requests whose (0-based) number
// drop reports, like a server that is restarting, and serves the others.
type dropSome struct {
	mu   sync.Mutex
	n    int
	drop func(n int) bool
	h    http.Handler
}

func (d *dropSome) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	drop := d.drop(d.n)
	d.n++
	d.mu.Unlock()
	if drop {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	d.h.ServeHTTP(w, r)
}

func TestJobLogs_FollowServerRestarting(t *testing.T) {
	t.Parallel()
	all := testOutput()
	fake := &fakeAPI{fakeJobs: fakeJobs{jobs: testJobs(), output: all[:3]}}
	fake.onOutput = func(n int) {
		if n == 1 {
			fake.output, fake.outputDone = all, true
		}
	}
	fsrv := fake.start(t)
	srv := httptest.NewServer(&dropSome{drop: func(n int) bool { return n == 1 || n == 2 }, h: fsrv.Config.Handler})
	t.Cleanup(srv.Close)

	r := runCLI(t, srv.URL, "", nil, "", "job", "logs", "1", "-f")
	if r.code != 0 {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stdout != "r0 line 1\nr0 lir1 line 1\nne 2\nr1 no newline" {
		t.Errorf("stdout %q", r.stdout)
	}
	if r.stderr != "stratus: server unreachable, retrying\nr1 warning\nr0 error\n" {
		t.Errorf("stderr %q", r.stderr)
	}

	// A server that never answered is not waited for.
	srv.Close()
	r = runCLI(t, srv.URL, "", nil, "", "job", "logs", "1", "-f")
	if r.code != ExitUnreachable {
		t.Errorf("unreachable: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestJobLogs_FollowInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := &fakeAPI{fakeJobs: fakeJobs{jobs: testJobs(), output: testOutput()}}
	fake.onOutput = func(n int) {
		if n == 2 {
			cancel()
		}
	}
	srv := fake.start(t)
	r := runCLIContext(t, ctx, srv.URL, "", nil, "", "job", "logs", "1", "--follow", "--ranks")
	if r.code != ExitInterrupted || !strings.HasSuffix(r.stderr, "stratus: interrupted\n") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	// The lines printed before the interruption are complete, and the
	// partial one is flushed.
	if !strings.HasPrefix(r.stdout, "[rank 0] r0 line 1\n") || !strings.Contains(r.stdout, "[rank 1] r1 no newline\n") {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestChunkPrinter_Prefix(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	p := newChunkPrinter(&out, &errOut, formatTable, true)
	for _, ch := range []api.OutputChunk{
		{Rank: 2, Stream: "stdout", Data: []byte("a\n\nb")},
		{Rank: 0, Stream: "stdout", Data: []byte("partial")},
		{Rank: 2, Stream: "stdout", Data: []byte("c\nd\n")},
		{Rank: 0, Stream: "", Data: []byte(" more")},
	} {
		if err := p.write(ch); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.flush(); err != nil {
		t.Fatal(err)
	}
	want := "[rank 2] a\n[rank 2] \n[rank 2] bc\n[rank 2] d\n[rank 0] partial more\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCompactDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{45 * time.Second, "45s"},
		{3*time.Minute + 5*time.Second, "3m05s"},
		{2*time.Hour + 7*time.Minute + 59*time.Second, "2h07m"},
		{47 * time.Hour, "47h00m"},
		{76 * time.Hour, "3d04h"},
	} {
		if got := compactDuration(tc.d); got != tc.want {
			t.Errorf("compactDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	got := shellQuote([]string{"python", "-u", "train.py", "--lr=0.1", "", "two words", "it's", "$HOME"})
	want := `python -u train.py --lr=0.1 '' 'two words' 'it'\''s' '$HOME'`
	if got != want {
		t.Errorf("shellQuote = %s, want %s", got, want)
	}
}
