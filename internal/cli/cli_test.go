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
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/api"
)

// testCluster builds a running cluster with defaults; change what a test
// needs.
func testCluster(name string) api.Cluster {
	hb := testNow.Add(-5 * time.Second)
	return api.Cluster{
		Name:         name,
		Owner:        "alice",
		State:        "running",
		LoginAddress: "127.0.0.1:2201",
		CreatedAt:    testNow.Add(-3 * time.Minute),
		HourlyCost:   "0.312",
		Spec: api.ClusterSpec{
			Head:    api.HeadSpec{Type: "t3.small", VolumeGB: 50},
			Compute: api.ComputeSpec{Types: []string{"c5.large", "c5.xlarge"}, InitialNodes: 2, MaxNodes: 10, Autoscaling: "enabled"},
		},
		Nodes: api.NodeCounts{Total: 3, Running: 3, Registered: 2},
		Instances: []api.Instance{
			{ID: "i-001", Node: name + "-head", Role: "head", Type: "t3.small", State: "running", Address: "127.0.0.1:2201", Health: "registered", HourlyCost: "0.02", LastHeartbeat: &hb},
			{ID: "i-002", Node: name + "-c1", Role: "compute", Type: "c5.large", State: "running", Address: "127.0.0.1:2202", Spot: true, Health: "registered"},
			{ID: "", Node: name + "-c2", Role: "compute", Type: "c5.large", State: "launching", Health: "unregistered", LastError: "no capacity for c5.large"},
		},
		Events: []api.Event{
			{Time: testNow.Add(-30 * time.Second), Node: name + "-c1", Kind: "registered", Message: "agent registered"},
			{Time: testNow.Add(-3 * time.Minute), Kind: "created", Message: "cluster created"},
		},
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	checkUsageErrors(t, []usageCase{
		{"unknown command", []string{"bogus"}, []string{`stratus: unknown command "bogus" for "stratus"`, "Run 'stratus --help' for usage."}},
		{"unknown flag", []string{"cluster", "list", "--bogus"}, []string{"unknown flag: --bogus", "Run 'stratus cluster list --help'"}},
		{"bad output format", []string{"cluster", "list", "-o", "xml"}, []string{`"xml"`, "use table, json or yaml"}},
		{"bad output format on show", []string{"cluster", "show", "demo", "--output=csv"}, []string{"use table, json or yaml"}},
		{"create without -f", []string{"cluster", "create", "demo"}, []string{"missing -f FILE", "Run 'stratus cluster create --help'"}},
		{"create without name", []string{"cluster", "create", "-f", "x.json"}, []string{"missing NAME"}},
		{"create with two names", []string{"cluster", "create", "a", "b", "-f", "x.json"}, []string{`unexpected argument "b"`}},
		{"create --timeout without --wait", []string{"cluster", "create", "a", "-f", "x", "--timeout", "1m"}, []string{"--timeout applies only with --wait"}},
		{"create zero timeout", []string{"cluster", "create", "a", "-f", "x", "--wait", "--timeout", "0s"}, []string{"--timeout must be positive"}},
		{"create bad duration", []string{"cluster", "create", "a", "-f", "x", "--wait", "--timeout", "soon"}, []string{`invalid argument "soon"`}},
		{"show without name", []string{"cluster", "show"}, []string{"missing NAME"}},
		{"name that looks like a flag", []string{"cluster", "create", "-bad-", "-f", "x"}, []string{"unknown shorthand flag: 'b' in -bad-", "name or other argument that starts with -, put it after --"}},
		{"wait for something else", []string{"cluster", "wait", "demo", "--for", "stopped"}, []string{`--for "stopped": use running or deleted`}},
		{"delete --timeout without --wait", []string{"cluster", "delete", "a", "--timeout", "1m"}, []string{"--timeout applies only with --wait"}},
		{"exec without --", []string{"exec", "demo", "hostname"}, []string{"put the command after --: stratus exec demo -- hostname"}},
		{"exec without command", []string{"exec", "demo"}, []string{"missing command"}},
		{"exec with nothing after --", []string{"exec", "demo", "--"}, []string{"missing command after --"}},
		{"exec without name", []string{"exec", "--", "hostname"}, []string{"missing cluster NAME"}},
		{"cluster without subcommand", []string{"cluster"}, []string{"missing command: stratus cluster create|list|show|delete|stop|start|wait"}},
		{"list with an argument", []string{"cluster", "list", "extra"}, []string{`unexpected argument "extra"`}},
		{"agent without instance dir", []string{"agent"}, []string{"missing --instance-dir"}},
		{"serve negative boot delay", []string{"serve", "--boot-delay", "-1s"}, []string{"--boot-delay must not be negative"}},
		{"serve bad advertise URL", []string{"serve", "--advertise-url", "10.0.0.5"}, []string{"--advertise-url"}},
		{"bad server URL", []string{"--server", "ftp://x", "cluster", "list"}, []string{`server URL "ftp://x" from --server`}},
		{"missing --config file", []string{"--config", "/nonexistent/stratus.yaml", "cluster", "list"}, []string{"/nonexistent/stratus.yaml (from --config) does not exist"}},
	})
}

// checkUsageErrors runs each command line without a server and checks it
// is a usage error printed once, naming what is wrong.
func checkUsageErrors(t *testing.T, tests []usageCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "http://127.0.0.1:1", "", nil, "", tc.args...)
			if r.code != ExitUsage {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, ExitUsage, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "stratus: ") {
				t.Errorf("stderr %q does not start with \"stratus: \"", r.stderr)
			}
			if n := strings.Count(r.stderr, "stratus: "); n != 1 {
				t.Errorf("error printed %d times: %q", n, r.stderr)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not contain %q", r.stderr, want)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

type usageCase struct {
	name       string
	args       []string
	wantStderr []string
}

func TestOutputFormat_Set(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    outputFormat
		wantErr bool
	}{
		{"table", formatTable, false},
		{"json", formatJSON, false},
		{"YAML", formatYAML, false},
		{"xml", "", true},
		{"", "", true},
	} {
		var f outputFormat
		err := f.Set(tc.in)
		if (err != nil) != tc.wantErr || f != tc.want {
			t.Errorf("Set(%q) = %q, %v; want %q, error %v", tc.in, f, err, tc.want, tc.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "table, json or yaml") {
			t.Errorf("Set(%q) error %q does not name the allowed values", tc.in, err)
		}
	}
}

func TestAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ago  time.Duration
		want string
	}{
		{45 * time.Second, "45s"},
		{3*time.Minute + 59*time.Second, "3m"},
		{5 * time.Hour, "5h"},
		{47 * time.Hour, "47h"},
		{72 * time.Hour, "3d"},
		{-time.Minute, "0s"},
	} {
		if got := age(testNow, testNow.Add(-tc.ago)); got != tc.want {
			t.Errorf("age(%v ago) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := age(testNow, time.Time{}); got != "-" {
		t.Errorf("age(zero) = %q, want -", got)
	}
}

func TestClusterList_Table(t *testing.T) {
	t.Parallel()
	b := testCluster("beta")
	b.State, b.LoginAddress, b.HourlyCost = "creating", "", ""
	b.Owner = "bob"
	b.CreatedAt = testNow.Add(-50 * time.Hour)
	b.Nodes = api.NodeCounts{Total: 5, Pending: 5}
	fake := &fakeAPI{token: "tok", clusters: []api.Cluster{testCluster("alpha"), b}}
	srv := fake.start(t)

	r := runCLI(t, srv.URL, "tok", nil, "", "cluster", "list")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `NAME   OWNER  STATE     NODES  LOGIN           HOURLY  AGE
alpha  alice  running   2/3    127.0.0.1:2201  $0.312  3m
beta   bob    creating  0/5    -               -       2d
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestClusterList_Empty(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "No clusters") {
		t.Errorf("table: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, srv.URL, "", nil, "", "cluster", "list", "-o", "json")
	if r.code != 0 || r.stdout != "[]\n" {
		t.Errorf("json: exit %d, stdout %q, want []", r.code, r.stdout)
	}
}

func TestClusterList_JSON(t *testing.T) {
	t.Parallel()
	clusters := []api.Cluster{testCluster("alpha"), testCluster("beta")}
	srv := (&fakeAPI{clusters: clusters}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "list", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want, _ := json.MarshalIndent(clusters, "", "  ")
	if diff := cmp.Diff(string(want)+"\n", r.stdout); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.stdout, `"created_at": "2025-03-01T11:57:00Z"`) {
		t.Errorf("json has no RFC 3339 created_at:\n%s", r.stdout)
	}
}

func TestClusterList_YAML(t *testing.T) {
	t.Parallel()
	clusters := []api.Cluster{testCluster("alpha")}
	srv := (&fakeAPI{clusters: clusters}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "list", "-o", "yaml")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"- name: alpha\n", "  login_address: 127.0.0.1:2201\n", "initial_nodes: 2\n", "hourly_cost: \"0.312\"\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("yaml does not contain %q:\n%s", want, r.stdout)
		}
	}
	var got []api.Cluster
	if err := yaml.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("yaml does not parse: %v", err)
	}
	if diff := cmp.Diff(clusters, got); diff != "" {
		t.Errorf("yaml round trip (-want +got):\n%s", diff)
	}
}

func TestClusterShow_Table(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{clusters: []api.Cluster{testCluster("demo")}}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "show", "demo")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `Name:         demo
Owner:        alice
State:        running
Login:        127.0.0.1:2201
Created:      2025-03-01T11:57:00Z (3m ago)
Hourly cost:  $0.312
Nodes:        3 nodes — 0 pending, 3 running, 2 registered
Spec:         head t3.small 50GB; compute c5.large|c5.xlarge ×2 (min 0, max 10), autoscaling enabled; region default

Instances:
  ID     ROLE     TYPE      STATE      ADDRESS         SPOT  HEALTH
  i-001  head     t3.small  running    127.0.0.1:2201  no    registered
  i-002  compute  c5.large  running    127.0.0.1:2202  yes   registered
  -      compute  c5.large  launching  -               no    unregistered
  - (demo-c2): no capacity for c5.large

Events:
  AGE  KIND        NODE     MESSAGE
  30s  registered  demo-c1  agent registered
  3m   created     -        cluster created
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("show (-want +got):\n%s", diff)
	}
}

func TestClusterShow_JSONAndYAML(t *testing.T) {
	t.Parallel()
	c := testCluster("demo")
	srv := (&fakeAPI{clusters: []api.Cluster{c}}).start(t)

	r := runCLI(t, srv.URL, "", nil, "", "cluster", "show", "demo", "-o", "json")
	var gotJSON api.Cluster
	if err := json.Unmarshal([]byte(r.stdout), &gotJSON); err != nil || r.code != 0 {
		t.Fatalf("json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if diff := cmp.Diff(c, gotJSON); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "", "cluster", "show", "demo", "-o", "yaml")
	var gotYAML api.Cluster
	if err := yaml.Unmarshal([]byte(r.stdout), &gotYAML); err != nil || r.code != 0 {
		t.Fatalf("yaml: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if diff := cmp.Diff(c, gotYAML); diff != "" {
		t.Errorf("yaml (-want +got):\n%s", diff)
	}
}

func TestServerErrors_ExitCodes(t *testing.T) {
	t.Parallel()
	invalid := &api.StatusError{Status: 400, Body: api.Error{Code: "invalid", Message: "invalid cluster request demo.json", Fields: []api.FieldError{
		{Field: "head.type", Line: 3, Message: "unknown instance type \"t9.huge\""},
		{Field: "compute.max_nodes", Message: "must be at least min_nodes (4)"},
	}}}
	conflict := &api.StatusError{Status: 409, Body: api.Error{Code: "conflict", Message: "cluster demo already exists"}}
	internal := &api.StatusError{Status: 500, Body: api.Error{Code: "internal", Message: "database is locked"}}
	forbidden := &api.StatusError{Status: 403, Body: api.Error{Code: "forbidden", Message: "cluster demo belongs to bob"}}

	reqFile := filepath.Join(t.TempDir(), "demo.json")
	if err := os.WriteFile(reqFile, []byte(`{"head": {"type": "t9.huge"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		fail       map[string]*api.StatusError
		args       []string
		wantCode   int
		wantStderr []string
	}{
		{
			name:     "400 with field errors",
			fail:     map[string]*api.StatusError{"POST /v1/clusters": invalid},
			args:     []string{"cluster", "create", "demo", "-f", reqFile},
			wantCode: ExitInvalid,
			wantStderr: []string{
				"stratus: create cluster demo: invalid cluster request demo.json\n",
				"\n  head.type (line 3): unknown instance type \"t9.huge\"\n",
				"\n  compute.max_nodes: must be at least min_nodes (4)\n",
			},
		},
		{
			name:       "409 conflict",
			fail:       map[string]*api.StatusError{"POST /v1/clusters": conflict},
			args:       []string{"cluster", "create", "demo", "-f", reqFile},
			wantCode:   ExitConflict,
			wantStderr: []string{"stratus: create cluster demo: cluster demo already exists\n"},
		},
		{
			name:       "404 on show",
			args:       []string{"cluster", "show", "nope"},
			wantCode:   ExitNotFound,
			wantStderr: []string{"stratus: cluster nope: cluster nope not found\n"},
		},
		{
			name:       "404 on delete",
			args:       []string{"cluster", "delete", "nope"},
			wantCode:   ExitNotFound,
			wantStderr: []string{"cluster nope not found"},
		},
		{
			name:       "404 on exec",
			fail:       map[string]*api.StatusError{"POST /v1/clusters/{name}/exec": notFound("nope")},
			args:       []string{"exec", "nope", "--", "true"},
			wantCode:   ExitNotFound,
			wantStderr: []string{"stratus: exec on cluster nope: cluster nope not found\n"},
		},
		{
			name:       "403 forbidden",
			fail:       map[string]*api.StatusError{"DELETE /v1/clusters/{name}": forbidden},
			args:       []string{"cluster", "delete", "demo"},
			wantCode:   ExitUnauthorized,
			wantStderr: []string{"belongs to bob", "is not allowed to do this"},
		},
		{
			name:       "500",
			fail:       map[string]*api.StatusError{"GET /v1/clusters": internal},
			args:       []string{"cluster", "list"},
			wantCode:   ExitError,
			wantStderr: []string{"stratus: list clusters: database is locked\n"},
		},
		{
			name:       "unreadable request file",
			args:       []string{"cluster", "create", "demo", "-f", filepath.Join(t.TempDir(), "missing.json")},
			wantCode:   ExitError,
			wantStderr: []string{"read the cluster request", "missing.json"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := (&fakeAPI{token: "tok", fail: tc.fail}).start(t)
			r := runCLI(t, srv.URL, "tok", nil, "", tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", r.code, tc.wantCode, r.stderr)
			}
			if n := strings.Count(r.stderr, "stratus: "); n != 1 {
				t.Errorf("error printed %d times: %q", n, r.stderr)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q does not contain %q", r.stderr, want)
				}
			}
			if strings.Contains(r.stderr, "--help") {
				t.Errorf("server error shows the usage hint: %q", r.stderr)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{token: "right"}).start(t)

	r := runCLI(t, srv.URL, "", nil, "", "cluster", "list")
	if r.code != ExitUnauthorized || !strings.Contains(r.stderr, "No token given") || !strings.Contains(r.stderr, "admin.token") {
		t.Errorf("no token: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, srv.URL, "", map[string]string{"STRATUS_TOKEN": "wrong"}, "", "cluster", "list")
	if r.code != ExitUnauthorized || !strings.Contains(r.stderr, "The token from STRATUS_TOKEN was not accepted") {
		t.Errorf("wrong token: exit %d, stderr %q", r.code, r.stderr)
	}
	// The token in the data directory is used when nothing else is set.
	r = runCLI(t, srv.URL, "right", nil, "", "cluster", "list")
	if r.code != 0 {
		t.Errorf("token file: exit %d, stderr %q", r.code, r.stderr)
	}
	// --token beats the token file.
	r = runCLI(t, srv.URL, "wrong", nil, "", "--token", "right", "cluster", "list")
	if r.code != 0 {
		t.Errorf("--token: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{}).start(t)
	url := srv.URL
	srv.Close()
	r := runCLI(t, url, "", nil, "", "cluster", "show", "demo")
	if r.code != ExitUnreachable || !strings.Contains(r.stderr, "cannot reach the stratus server") || !strings.Contains(r.stderr, "stratus serve") || !strings.Contains(r.stderr, "(this URL is from STRATUS_URL)") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestServerURLFromDataDir(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{clusters: []api.Cluster{testCluster("demo")}}).start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "server.url"), []byte(srv.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "", map[string]string{"STRATUS_DATA": dir}, "", "cluster", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "demo") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestConfigFile(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{token: "cfgtok", clusters: []api.Cluster{testCluster("demo")}}).start(t)
	cfg := filepath.Join(t.TempDir(), "stratus.yaml")
	if err := os.WriteFile(cfg, []byte("server: "+srv.URL+"\ntoken: cfgtok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "", "", nil, "", "--config", cfg, "cluster", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "demo") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestClusterCreate_SendsRequest(t *testing.T) {
	t.Parallel()
	fake := &fakeAPI{}
	srv := fake.start(t)
	reqFile := filepath.Join(t.TempDir(), "demo.cf-create")
	text := `{"head_instance_type": "t3.small", "compute_nodes": 2}`
	if err := os.WriteFile(reqFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, srv.URL, "", nil, "", "cluster", "create", "demo", "-f", reqFile)
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantOut := "NAME  OWNER  STATE     NODES  LOGIN  HOURLY  AGE\ndemo  admin  creating  0/3    -      -       -\n"
	if diff := cmp.Diff(wantOut, r.stdout); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "name: from stdin\n", "cluster", "create", "demo2", "-f", "-", "-o", "json")
	if r.code != 0 {
		t.Fatalf("stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	var got api.Cluster
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Name != "demo2" || got.State != "creating" {
		t.Errorf("stdin: json output %q (%v)", r.stdout, err)
	}

	want := []api.CreateClusterRequest{
		{Name: "demo", Request: text, Filename: reqFile},
		{Name: "demo2", Request: "name: from stdin\n", Filename: "stdin"},
	}
	if diff := cmp.Diff(want, fake.created); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// progressing returns the GET answers of a cluster coming up: pending,
// partly running, then running.
func progressing(name string, last api.Cluster) []*api.Cluster {
	c1 := api.Cluster{Name: name, State: "creating", Nodes: api.NodeCounts{Total: 3, Pending: 3}, Reason: "launching instances"}
	c2 := api.Cluster{Name: name, State: "creating", Nodes: api.NodeCounts{Total: 3, Pending: 1, Running: 2, Registered: 1}}
	return []*api.Cluster{&c1, &c1, &c2, &c2, &last}
}

func writeRequest(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "req.yaml")
	if err := os.WriteFile(p, []byte("head: {type: t3.small}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClusterCreate_WaitRunning(t *testing.T) {
	t.Parallel()
	fake := &fakeAPI{gets: progressing("demo", testCluster("demo"))}
	srv := fake.start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "create", "demo", "-f", writeRequest(t), "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	// Not a terminal: one line per change, none repeated.
	wantErr := `creating demo: 3 nodes — 3 pending, 0 running, 0 registered
creating demo: 3 nodes — 3 pending, 0 running, 0 registered (launching instances)
creating demo: 3 nodes — 1 pending, 2 running, 1 registered
`
	if diff := cmp.Diff(wantErr, r.stderr); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	for _, want := range []string{"Cluster demo is running; log in at 127.0.0.1:2201.\n", "Login:        127.0.0.1:2201\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout %q does not contain %q", r.stdout, want)
		}
	}
}

func TestClusterCreate_WaitTerminal(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{gets: progressing("demo", testCluster("demo"))}).start(t)
	r := runCLI(t, srv.URL, "", map[string]string{"TEST_TTY": "1"}, "", "cluster", "create", "demo", "-f", writeRequest(t), "--wait", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantErr := "\rcreating demo: 3 nodes — 3 pending, 0 running, 0 registered\x1b[K" +
		"\rcreating demo: 3 nodes — 3 pending, 0 running, 0 registered (launching instances)\x1b[K" +
		"\rcreating demo: 3 nodes — 1 pending, 2 running, 1 registered\x1b[K\n"
	if diff := cmp.Diff(wantErr, r.stderr); diff != "" {
		t.Errorf("progress (-want +got):\n%q", diff)
	}
	var got api.Cluster
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.State != "running" {
		t.Errorf("stdout %q is not the running cluster as JSON (%v)", r.stdout, err)
	}
}

func TestClusterCreate_WaitFailed(t *testing.T) {
	t.Parallel()
	failed := api.Cluster{Name: "demo", State: "failed", Reason: "no capacity for t3.small in any zone"}
	srv := (&fakeAPI{gets: progressing("demo", failed)}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "create", "demo", "-f", writeRequest(t), "--wait")
	if r.code != ExitError {
		t.Errorf("exit %d, want %d", r.code, ExitError)
	}
	if !strings.Contains(r.stderr, "stratus: cluster demo failed: no capacity for t3.small in any zone\n") {
		t.Errorf("stderr %q does not give the reason", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.stdout)
	}
}

func TestClusterCreate_WaitTimeout(t *testing.T) {
	t.Parallel()
	stuck := api.Cluster{Name: "demo", State: "creating", Nodes: api.NodeCounts{Total: 3, Pending: 3}}
	srv := (&fakeAPI{gets: []*api.Cluster{&stuck}}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "create", "demo", "-f", writeRequest(t), "--wait", "--timeout", "50ms")
	if r.code != ExitTimeout {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, ExitTimeout, r.stderr)
	}
	if !strings.Contains(r.stderr, "stratus: cluster demo is not running after 50ms") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestClusterCreate_WaitInterrupted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stuck := api.Cluster{Name: "demo", State: "creating"}
	fake := &fakeAPI{gets: []*api.Cluster{&stuck}, onGet: func(n int) {
		if n == 2 {
			cancel()
		}
	}}
	srv := fake.start(t)
	r := runCLIContext(t, ctx, srv.URL, "", nil, "", "cluster", "create", "demo", "-f", writeRequest(t), "--wait")
	if r.code != ExitInterrupted || !strings.HasSuffix(r.stderr, "stratus: interrupted\n") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestClusterDelete(t *testing.T) {
	t.Parallel()
	c := testCluster("demo")
	deleting := c
	deleting.State = "deleting"
	deleting.Instances = []api.Instance{c.Instances[0], c.Instances[1]}
	deleting.Instances[1].State = "terminated"
	fake := &fakeAPI{clusters: []api.Cluster{c}, gets: []*api.Cluster{&deleting, &deleting, nil}}
	srv := fake.start(t)

	r := runCLI(t, srv.URL, "", nil, "", "cluster", "delete", "demo", "--wait")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	wantErr := "deleting demo: 3 instances remaining\ndeleting demo: 1 instance remaining\n"
	if diff := cmp.Diff(wantErr, r.stderr); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if r.stdout != "Cluster demo deleted.\n" {
		t.Errorf("stdout = %q", r.stdout)
	}

	r = runCLI(t, srv.URL, "", nil, "", "cluster", "delete", "demo", "-o", "json")
	var got api.Cluster
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 || got.State != "deleting" {
		t.Errorf("no wait: exit %d, stdout %q (%v)", r.code, r.stdout, err)
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	code := func(n int) *int { return &n }
	tests := []struct {
		name                   string
		frames                 []api.ExecFrame
		args                   []string
		stdin                  string
		wantCode               int
		wantStdout, wantStderr string
		wantReq                api.ExecRequest
	}{
		{
			name: "output split and exit code passed through",
			frames: []api.ExecFrame{
				{Stream: "stdout", Data: []byte("line 1\n")},
				{Stream: "stderr", Data: []byte("warning\n")},
				{Stream: "stdout", Data: []byte("line 2\n")},
				{Exit: code(3)},
			},
			args:       []string{"exec", "demo", "--", "sh", "-c", "echo hi; exit 3"},
			wantCode:   3,
			wantStdout: "line 1\nline 2\n",
			wantStderr: "warning\n",
			wantReq:    api.ExecRequest{Argv: []string{"sh", "-c", "echo hi; exit 3"}},
		},
		{
			name:       "success",
			frames:     []api.ExecFrame{{Stream: "stdout", Data: []byte("head\n")}, {Exit: code(0)}},
			args:       []string{"exec", "demo", "--", "hostname"},
			wantStdout: "head\n",
			wantReq:    api.ExecRequest{Argv: []string{"hostname"}},
		},
		{
			name:       "flags after -- belong to the command",
			frames:     []api.ExecFrame{{Exit: code(0)}},
			args:       []string{"exec", "demo", "--", "ls", "-o", "--stdin"},
			stdin:      "not sent",
			wantReq:    api.ExecRequest{Argv: []string{"ls", "-o", "--stdin"}},
			wantStdout: "",
		},
		{
			name:     "--stdin sends standard input",
			frames:   []api.ExecFrame{{Exit: code(0)}},
			args:     []string{"exec", "--stdin", "demo", "--", "wc", "-l"},
			stdin:    "a\nb\n",
			wantReq:  api.ExecRequest{Argv: []string{"wc", "-l"}, Stdin: []byte("a\nb\n")},
			wantCode: 0,
		},
		{
			name:       "command could not run",
			frames:     []api.ExecFrame{{Error: "exec: \"nope\": executable file not found in $PATH"}},
			args:       []string{"exec", "demo", "--", "nope"},
			wantCode:   ExitError,
			wantStderr: "stratus: exec on cluster demo: exec: \"nope\": executable file not found in $PATH\n",
			wantReq:    api.ExecRequest{Argv: []string{"nope"}},
		},
		{
			name:       "stream ends without exit code",
			frames:     []api.ExecFrame{{Stream: "stdout", Data: []byte("partial")}},
			args:       []string{"exec", "demo", "--", "sleep", "100"},
			wantCode:   ExitError,
			wantStdout: "partial",
			wantStderr: "stratus: exec on cluster demo: exec stream ended before the command's exit code arrived\n",
			wantReq:    api.ExecRequest{Argv: []string{"sleep", "100"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeAPI{execFrames: tc.frames}
			srv := fake.start(t)
			r := runCLI(t, srv.URL, "", nil, tc.stdin, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", r.code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantStdout, r.stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, r.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]api.ExecRequest{tc.wantReq}, fake.execs); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{token: "tok"}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "version")
	want := "stratus dev\nserver " + srv.URL + ": stratus v9.9.9, installation test-inst, provider local\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, stdout %q, want %q", r.code, r.stdout, want)
	}

	srv.Close()
	r = runCLI(t, srv.URL, "", nil, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "stratus dev\n") || !strings.Contains(r.stdout, "not answering") {
		t.Errorf("server down: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"nil", ctx, nil, ExitOK},
		{"plain", ctx, os.ErrPermission, ExitError},
		{"usage", ctx, usagef("x"), ExitUsage},
		{"wrapped 422", ctx, &api.StatusError{Status: 422}, ExitInvalid},
		{"401", ctx, &api.StatusError{Status: 401}, ExitUnauthorized},
		{"503", ctx, &api.StatusError{Status: 503}, ExitError},
		{"timeout", ctx, &timeoutError{}, ExitTimeout},
		{"exit status", ctx, &exitStatus{code: 42}, 42},
		{"exit status after cancel", cancelled, &exitStatus{code: 42}, 42},
		{"interrupted", cancelled, context.Canceled, ExitInterrupted},
	} {
		if got := exitCode(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: exitCode = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestClusterWait(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{gets: progressing("demo", testCluster("demo"))}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "wait", "demo", "--timeout", "1m")
	if r.code != 0 || !strings.Contains(r.stdout, "Cluster demo is running") {
		t.Errorf("running: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	wantErr := `creating demo: 3 nodes — 3 pending, 0 running, 0 registered (launching instances)
creating demo: 3 nodes — 1 pending, 2 running, 1 registered
`
	if diff := cmp.Diff(wantErr, r.stderr); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}

	srv = (&fakeAPI{}).start(t)
	r = runCLI(t, srv.URL, "", nil, "", "cluster", "wait", "gone", "--for", "deleted")
	if r.code != 0 || r.stdout != "Cluster gone deleted.\n" {
		t.Errorf("deleted: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, srv.URL, "", nil, "", "cluster", "wait", "gone")
	if r.code != ExitNotFound {
		t.Errorf("running, no such cluster: exit %d, want %d (stderr %q)", r.code, ExitNotFound, r.stderr)
	}
}

// dropFirst closes the connection of the first n requests without an
// answer, like a server that is restarting, then serves h.
type dropFirst struct {
	mu sync.Mutex
	n  int
	h  http.Handler
}

func (d *dropFirst) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	drop := d.n > 0
	d.n--
	d.mu.Unlock()
	if drop {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	d.h.ServeHTTP(w, r)
}

func TestClusterWait_ServerRestarting(t *testing.T) {
	t.Parallel()
	fake := (&fakeAPI{clusters: []api.Cluster{testCluster("demo")}}).start(t)
	srv := httptest.NewServer(&dropFirst{n: 2, h: fake.Config.Handler})
	t.Cleanup(srv.Close)
	r := runCLI(t, srv.URL, "", nil, "", "cluster", "wait", "demo")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if r.stderr != "waiting for demo: server unreachable, retrying\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
}
