// Package metrics exposes stratus's Prometheus metrics at /metrics: the
// state of instances and jobs read from the store at each scrape, provider
// API calls (a decorator around the provider), reconcile loops, fleet
// decisions and the cost accrued.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/fleet"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Metrics holds stratus's metrics and their registry.
type Metrics struct {
	Registry *prometheus.Registry

	providerCalls     *prometheus.CounterVec
	providerErrors    *prometheus.CounterVec
	providerLatency   *prometheus.HistogramVec
	reconcileDuration *prometheus.HistogramVec
	reconcileErrors   *prometheus.CounterVec
	fleetDecisions    *prometheus.CounterVec
	checkUp           *prometheus.GaugeVec
}

// New makes the metrics; the state gauges are read from st (and the cost
// from reporter, if set) at each scrape.
func New(st store.Store, reporter *cost.Reporter, clk clock.Clock) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_provider_calls_total", Help: "Provider API calls, by provider and call.",
		}, []string{"provider", "call"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_provider_errors_total", Help: "Provider API calls that failed, by provider, call and kind (capacity, invalid, not_found, other).",
		}, []string{"provider", "call", "kind"}),
		providerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stratus_provider_call_duration_seconds", Help: "Provider API call latency.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"provider", "call"}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stratus_reconcile_duration_seconds", Help: "Duration of one reconcile pass, by controller.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"controller"}),
		reconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_reconcile_errors_total", Help: "Reconcile passes that returned an error, by controller.",
		}, []string{"controller"}),
		fleetDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stratus_fleet_scale_decisions_total", Help: "Compute nodes added (direction up) or removed (down) by the fleet planner, by reason.",
		}, []string{"direction", "reason"}),
		checkUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stratus_check_up", Help: "1 if the health check is ok, 0 if it is failing or a replica is behind.",
		}, []string{"check"}),
	}
	m.Registry.MustRegister(m.providerCalls, m.providerErrors, m.providerLatency, m.reconcileDuration,
		m.reconcileErrors, m.fleetDecisions, m.checkUp, &stateCollector{store: st, reporter: reporter, clock: clk},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// ObserveReconcile records one reconcile pass.
func (m *Metrics) ObserveReconcile(controller string, d time.Duration, err error) {
	m.reconcileDuration.WithLabelValues(controller).Observe(d.Seconds())
	if err != nil {
		m.reconcileErrors.WithLabelValues(controller).Inc()
	}
}

// FleetDecision records the nodes a fleet decision added and removed, by
// reason (the decision's codes: a small fixed set).
func (m *Metrics) FleetDecision(d fleet.Decision) {
	added := 0
	for _, l := range d.Launch {
		added += l.Count
	}
	if added > 0 {
		m.fleetDecisions.WithLabelValues("up", d.Up).Add(float64(added))
	}
	for reason, n := range d.Down {
		m.fleetDecisions.WithLabelValues("down", reason).Add(float64(n))
	}
}

// CheckUp records whether a health check is ok.
func (m *Metrics) CheckUp(check string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.checkUp.WithLabelValues(check).Set(v)
}

// errorKind sorts a provider error for the errors metric.
func errorKind(err error) string {
	var inv *provider.InvalidError
	switch {
	case provider.IsCapacity(err):
		return "capacity"
	case errors.As(err, &inv):
		return "invalid"
	case errors.Is(err, provider.ErrNotFound):
		return "not_found"
	default:
		return "other"
	}
}

// observe records one provider call.
func (m *Metrics) observe(prov, call string, start time.Time, err error) {
	m.providerCalls.WithLabelValues(prov, call).Inc()
	m.providerLatency.WithLabelValues(prov, call).Observe(time.Since(start).Seconds())
	if err != nil {
		m.providerErrors.WithLabelValues(prov, call, errorKind(err)).Inc()
	}
}

// stateCollector reads instances, jobs and cost from the store at scrape.
type stateCollector struct {
	store    store.Store
	reporter *cost.Reporter
	clock    clock.Clock
}

var (
	instancesDesc = prometheus.NewDesc("stratus_instances", "Instances stratus keeps records of, by state, region, type and role.",
		[]string{"state", "region", "type", "role"}, nil)
	jobsDesc = prometheus.NewDesc("stratus_jobs", "Jobs by state.", []string{"state"}, nil)
	waitDesc = prometheus.NewDesc("stratus_job_queue_wait_seconds", "How long the oldest queued job of each cluster has waited.",
		[]string{"cluster"}, nil)
	costDesc = prometheus.NewDesc("stratus_cost_accrued_dollars", "What instances have cost so far, by cluster (empty: region workers).",
		[]string{"cluster"}, nil)
	scrapeErrDesc = prometheus.NewDesc("stratus_metrics_scrape_errors", "1 if reading the store for this scrape failed.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- instancesDesc
	ch <- jobsDesc
	ch <- waitDesc
	ch <- costDesc
	ch <- scrapeErrDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := 0.0
	now := c.clock.Now()

	nodes, err := c.store.ListNodes(ctx, store.NodeFilter{})
	if err != nil {
		failed = 1
	}
	type key struct{ state, region, typ, role string }
	counts := map[key]int{}
	for _, n := range nodes {
		state := n.InstanceState
		if state == "" {
			state = "launching"
		}
		counts[key{state, n.Region, n.Type, string(n.Role)}]++
	}
	for k, v := range counts {
		ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(v), k.state, k.region, k.typ, k.role)
	}

	jobs, err := c.store.ListJobs(ctx, store.JobFilter{})
	if err != nil {
		failed = 1
	}
	byState := map[store.JobState]int{}
	oldest := map[string]time.Time{}
	for _, j := range jobs {
		byState[j.State]++
		if j.State == store.JobQueued {
			if t, ok := oldest[j.Cluster]; !ok || j.SubmittedAt.Before(t) {
				oldest[j.Cluster] = j.SubmittedAt
			}
		}
	}
	for _, s := range []store.JobState{store.JobQueued, store.JobRunning, store.JobSucceeded, store.JobFailed, store.JobCancelled, store.JobTimedOut} {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(byState[s]), string(s))
	}
	for cl, t := range oldest {
		ch <- prometheus.MustNewConstMetric(waitDesc, prometheus.GaugeValue, now.Sub(t).Seconds(), cl)
	}

	if c.reporter != nil {
		rep, err := c.reporter.Report(ctx, cost.ReportQuery{By: "cluster", Until: now})
		if err != nil {
			failed = 1
		}
		for _, r := range rep.Rows {
			ch <- prometheus.MustNewConstMetric(costDesc, prometheus.GaugeValue, float64(r.CostMicros)/cost.MicrosPerDollar, r.Key)
		}
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, failed)
}
