package cli

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/api"
)

func testCost() api.Cost {
	return api.Cost{
		Since: testNow.Add(-7 * 24 * time.Hour),
		Until: testNow,
		By:    "cluster",
		Rows: []api.CostRow{
			{Key: "demo", Cost: "12.345678", CostMicros: 12345678, RunningSeconds: 3*86400 + 4*3600, BilledSeconds: 3*86400 + 5*3600, StoppedSeconds: 0, Instances: 5},
			{Key: "lab", Cost: "0.5", CostMicros: 500000, RunningSeconds: 95, BilledSeconds: 3600, StoppedSeconds: 7200, Instances: 1},
		},
		Total: "12.845678",
		Notes: []string{"billing: per hour (minimum 1h per running period)", "spot instances at the price paid"},
	}
}

func TestCostUsageErrors(t *testing.T) {
	t.Parallel()
	since := []string{"--since", "use an RFC 3339 time (2026-11-01T00:00:00Z), a date (2026-11-01) or a duration back from now (24h, 7d)"}
	checkUsageErrors(t, []usageCase{
		{"bad --by", []string{"cost", "--by", "region"}, []string{`--by "region": use cluster, owner or type`, "Run 'stratus cost --help'"}},
		{"bad --since", []string{"cost", "--since", "yesterday"}, append([]string{`--since "yesterday"`}, since...)},
		{"zero --since", []string{"cost", "--since", "0s"}, since},
		{"negative --since", []string{"cost", "--since", "-24h"}, since},
		{"--since without unit", []string{"cost", "--since", "7"}, since},
		{"bad date", []string{"cost", "--since", "2026-13-01"}, since},
		{"argument", []string{"cost", "demo"}, []string{`unexpected argument "demo"`}},
	})
}

func TestParseSince(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-01T00:00:00Z", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T09:30:00+02:00", time.Date(2026, 11, 1, 7, 30, 0, 0, time.UTC)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"24h", testNow.Add(-24 * time.Hour)},
		{"90m", testNow.Add(-90 * time.Minute)},
		{"7d", testNow.Add(-7 * 24 * time.Hour)},
		{"1d12h", testNow.Add(-36 * time.Hour)},
		{" 2d ", testNow.Add(-48 * time.Hour)},
	} {
		got, err := parseSince(tc.in, testNow)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "yesterday", "0s", "0d", "-1h", "7", "d", "7dd", "d7", "2026-13-01", "2026-11-01 10:00", "99999999999999999999d"} {
		if got, err := parseSince(in, testNow); err == nil {
			t.Errorf("parseSince(%q) = %v, want an error", in, got)
		}
	}
}

func TestCost_Table(t *testing.T) {
	t.Parallel()
	fake := &fakeAPI{token: "tok", fakeJobs: fakeJobs{cost: testCost()}}
	srv := fake.start(t)
	r := runCLI(t, srv.URL, "tok", nil, "", "cost", "--since", "7d")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	want := `KEY    COST        RUNNING  BILLED  STOPPED  INSTANCES
demo   $12.345678  3d04h    3d05h   0s       5
lab    $0.5        1m35s    1h00m   2h00m    1
TOTAL  $12.845678  3d04h    3d06h   2h00m    6

By cluster, from 2025-02-22T12:00:00Z to 2025-03-01T12:00:00Z.
Note: billing: per hour (minimum 1h per running period)
Note: spot instances at the price paid
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]url.Values{{"by": {"cluster"}, "since": {"2025-02-22T12:00:00Z"}}}, fake.costReqs); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
}

func TestCost_Empty(t *testing.T) {
	t.Parallel()
	srv := (&fakeAPI{fakeJobs: fakeJobs{cost: api.Cost{By: "owner", Until: testNow, Total: "0"}}}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cost", "--by", "owner")
	want := `KEY    COST  RUNNING  BILLED  STOPPED  INSTANCES
TOTAL  $0    0s       0s      0s       0

By owner, from the first recorded usage to 2025-03-01T12:00:00Z.
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("exit %d, stderr %q, stdout:\n%s", r.code, r.stderr, r.stdout)
	}
	r = runCLI(t, srv.URL, "", nil, "", "cost", "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"rows": []`) {
		t.Errorf("json: exit %d, stdout %s", r.code, r.stdout)
	}
}

func TestCost_Structured(t *testing.T) {
	t.Parallel()
	rep := testCost()
	fake := &fakeAPI{fakeJobs: fakeJobs{cost: rep}}
	srv := fake.start(t)

	r := runCLI(t, srv.URL, "", nil, "", "cost", "--cluster", "demo", "--by", "type", "--since", "2026-11-01", "-o", "json")
	var got api.Cost
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("json: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if diff := cmp.Diff(rep, got); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}

	r = runCLI(t, srv.URL, "", nil, "", "cost", "-o", "yaml")
	var gotYAML api.Cost
	if err := yaml.Unmarshal([]byte(r.stdout), &gotYAML); err != nil || r.code != 0 {
		t.Fatalf("yaml: exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	if diff := cmp.Diff(rep, gotYAML); diff != "" {
		t.Errorf("yaml (-want +got):\n%s", diff)
	}

	want := []url.Values{
		{"cluster": {"demo"}, "by": {"type"}, "since": {"2026-11-01T00:00:00Z"}},
		{"by": {"cluster"}},
	}
	if diff := cmp.Diff(want, fake.costReqs); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestCost_ServerErrors(t *testing.T) {
	t.Parallel()
	invalid := &api.StatusError{Status: 400, Body: api.Error{Code: "invalid", Message: "by: must be cluster, owner or type"}}
	srv := (&fakeAPI{fail: map[string]*api.StatusError{"GET /v1/cost": notFound("nope")}}).start(t)
	r := runCLI(t, srv.URL, "", nil, "", "cost", "--cluster", "nope")
	if r.code != ExitNotFound || r.stderr != "stratus: cost of cluster nope: cluster nope not found\n" {
		t.Errorf("404: exit %d, stderr %q", r.code, r.stderr)
	}
	srv = (&fakeAPI{fail: map[string]*api.StatusError{"GET /v1/cost": invalid}}).start(t)
	r = runCLI(t, srv.URL, "", nil, "", "cost")
	if r.code != ExitInvalid || r.stderr != "stratus: cost: by: must be cluster, owner or type\n" {
		t.Errorf("400: exit %d, stderr %q", r.code, r.stderr)
	}
}
