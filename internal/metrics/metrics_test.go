package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/fleet"
	"github.com/stratus-cloud/stratus/internal/metrics"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
)

// scrape fetches /metrics and parses it with Prometheus's own text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics are not valid Prometheus text: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include want, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics_StateProviderReconcileAndFleet(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	now := clk.Now()
	for _, n := range []*store.Node{
		{ID: "n1", Cluster: "c", Role: store.RoleHead, Region: "fake-1", Type: "t3.micro", InstanceState: "running", CreatedAt: now},
		{ID: "n2", Cluster: "c", Role: store.RoleCompute, Region: "fake-1", Type: "c5.large", InstanceState: "running", CreatedAt: now},
		{ID: "n3", Cluster: "c", Role: store.RoleCompute, Region: "fake-1", Type: "c5.large", InstanceState: "running", CreatedAt: now},
	} {
		if err := st.CreateNode(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range []store.JobState{store.JobQueued, store.JobQueued, store.JobRunning} {
		j := &store.Job{Cluster: "c", Owner: "ann", Argv: []string{"true"}, Nodes: 1, TimeLimit: time.Hour, State: s,
			SubmittedAt: now.Add(-time.Duration(i+1) * time.Minute)}
		if err := st.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	u := &store.Usage{InstanceID: "i-1", Cluster: "c", Owner: "ann", Type: "c5.large", PriceMicros: 85000, State: "running", Start: now.Add(-2 * time.Hour)}
	if err := st.OpenUsage(ctx, u); err != nil {
		t.Fatal(err)
	}

	m := metrics.New(st, &cost.Reporter{Store: st, Billing: cost.PerSecond, Catalog: cost.DefaultCatalog()}, clk)
	p := fake.New(fake.Options{Clock: clk})
	p.SetNoCapacity("c5.large", true)
	ip := m.Provider(p)
	if _, err := ip.Launch(ctx, provider.LaunchSpec{Region: "fake-1", Type: "t3.micro", ClientToken: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ip.Launch(ctx, provider.LaunchSpec{Region: "fake-1", Type: "c5.large", ClientToken: "b"}); !provider.IsCapacity(err) {
		t.Fatalf("launch of a type without capacity: %v", err)
	}
	if _, err := ip.Describe(ctx, "fake-1", provider.Filter{}); err != nil {
		t.Fatal(err)
	}
	m.ObserveReconcile("cluster", 30*time.Millisecond, nil)
	m.ObserveReconcile("cluster", 10*time.Millisecond, errors.New("boom"))
	m.FleetDecision(fleet.Decision{Launch: []fleet.Launch{{Type: "t3.micro", Count: 3}}, Up: fleet.UpQueued})
	m.FleetDecision(fleet.Decision{Remove: []string{"a", "b", "c"}, Down: map[string]int{fleet.DownAboveMax: 1, fleet.DownNotNeeded: 2}})

	fams := scrape(t, m.Handler())
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"stratus_instances", map[string]string{"state": "running", "type": "c5.large", "role": "compute", "region": "fake-1"}, 2},
		{"stratus_instances", map[string]string{"type": "t3.micro", "role": "head"}, 1},
		{"stratus_jobs", map[string]string{"state": "queued"}, 2},
		{"stratus_jobs", map[string]string{"state": "running"}, 1},
		{"stratus_jobs", map[string]string{"state": "failed"}, 0},
		{"stratus_job_queue_wait_seconds", map[string]string{"cluster": "c"}, 120},
		// 2 h of c5.large at $0.085/h.
		{"stratus_cost_accrued_dollars", map[string]string{"cluster": "c"}, 0.17},
		{"stratus_provider_calls_total", map[string]string{"provider": "fake", "call": "launch"}, 2},
		{"stratus_provider_calls_total", map[string]string{"call": "describe"}, 1},
		{"stratus_provider_errors_total", map[string]string{"call": "launch", "kind": "capacity"}, 1},
		{"stratus_provider_call_duration_seconds", map[string]string{"call": "launch"}, 2},
		{"stratus_reconcile_duration_seconds", map[string]string{"controller": "cluster"}, 2},
		{"stratus_reconcile_errors_total", map[string]string{"controller": "cluster"}, 1},
		{"stratus_fleet_scale_decisions_total", map[string]string{"direction": "up", "reason": "queued"}, 3},
		{"stratus_fleet_scale_decisions_total", map[string]string{"direction": "down", "reason": "above_max"}, 1},
		{"stratus_fleet_scale_decisions_total", map[string]string{"direction": "down", "reason": "not_needed"}, 2},
		{"stratus_metrics_scrape_errors", nil, 0},
	} {
		got, ok := value(fams, tc.name, tc.labels)
		if !ok {
			t.Errorf("%s%v: no such sample", tc.name, tc.labels)
			continue
		}
		if got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	// Prometheus naming: counters end in _total, no camel case.
	for name, f := range fams {
		if f.GetType() == dto.MetricType_COUNTER && name[len(name)-6:] != "_total" {
			t.Errorf("counter %s does not end in _total", name)
		}
	}
}
