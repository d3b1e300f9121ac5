package cost

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Reporter turns recorded usage periods into cost reports.
type Reporter struct {
	Store   store.Store
	Billing Billing
	Catalog *Catalog
	// SpotPricing says how the provider in use prices spot instances, in
	// the words of the report's note (SpotPricingOf); empty: the note says
	// only that they are charged at the price paid.
	SpotPricing string
}

// SpotPricer is a provider that can say, for cost reports, how it prices
// spot instances: a phrase that completes "spot instances at the price
// paid: …".
type SpotPricer interface {
	SpotPricing() string
}

// SpotPricingOf returns prov's SpotPricing if it is a SpotPricer, else "".
func SpotPricingOf(prov any) string {
	if sp, ok := prov.(SpotPricer); ok {
		return sp.SpotPricing()
	}
	return ""
}

// PeriodOf converts a stored usage period.
func PeriodOf(u *store.Usage) Period {
	p := Period{Running: u.State == "running", Start: u.Start, End: u.End, PriceMicros: Micros(u.PriceMicros), VolumeGB: u.VolumeGB}
	if b, err := ParseBilling(u.Billing); err == nil {
		p.Billing = b
	}
	return p
}

// ReportQuery selects what Report covers.
type ReportQuery struct {
	Cluster string
	// Owner, if set, restricts to that owner's clusters.
	Owner string
	// By is cluster, owner or type.
	By    string
	Since time.Time
	Until time.Time
}

// Report sums the cost of the matching usage periods within [Since, Until),
// grouped by q.By.
func (r *Reporter) Report(ctx context.Context, q ReportQuery) (api.Cost, error) {
	if q.By == "" {
		q.By = "cluster"
	}
	if q.By != "cluster" && q.By != "owner" && q.By != "type" {
		return api.Cost{}, fmt.Errorf("by: must be cluster, owner or type, got %q", q.By)
	}
	periods, err := r.Store.ListUsage(ctx, store.UsageFilter{Cluster: q.Cluster, Owner: q.Owner, Since: q.Since})
	if err != nil {
		return api.Cost{}, err
	}
	starts, err := r.runStarts(ctx, periods, q.Since)
	if err != nil {
		return api.Cost{}, err
	}
	return r.reportOf(periods, starts, q), nil
}

// runStarts returns RunStarts of periods read with Since: since, also
// reading the earlier periods of the spot instances whose run may have
// begun before since (a spot price change splits a run into periods, and
// those that ended by since are not in periods).
func (r *Reporter) runStarts(ctx context.Context, periods []*store.Usage, since time.Time) (map[int64]time.Time, error) {
	if since.IsZero() {
		return RunStarts(periods), nil
	}
	all := periods
	have := map[int64]bool{}
	for _, u := range periods {
		have[u.ID] = true
	}
	read := map[string]bool{}
	for _, u := range periods {
		if !u.Spot || u.State != "running" || u.Start.After(since) || read[u.InstanceID] {
			continue
		}
		read[u.InstanceID] = true
		past, err := r.Store.ListUsage(ctx, store.UsageFilter{InstanceID: u.InstanceID})
		if err != nil {
			return nil, err
		}
		for _, p := range past {
			if !have[p.ID] {
				have[p.ID] = true
				all = append(all, p)
			}
		}
	}
	return RunStarts(all), nil
}

// ReportOf is Report over usage periods already read (with
// store.UsageFilter{Owner: owner}, say: no Since, so that the periods of
// a run split by spot price changes are all there), so that one read
// serves several reports and series; periods q does not select are left
// out.
func (r *Reporter) ReportOf(periods []*store.Usage, q ReportQuery) (api.Cost, error) {
	if q.By == "" {
		q.By = "cluster"
	}
	if q.By != "cluster" && q.By != "owner" && q.By != "type" {
		return api.Cost{}, fmt.Errorf("by: must be cluster, owner or type, got %q", q.By)
	}
	return r.reportOf(selectUsage(periods, q.Cluster, q.Owner), RunStarts(periods), q), nil
}

// selectUsage returns the periods of cluster and owner (empty: any).
func selectUsage(periods []*store.Usage, cluster, owner string) []*store.Usage {
	var out []*store.Usage
	for _, u := range periods {
		if (cluster == "" || u.Cluster == cluster) && (owner == "" || u.Owner == owner) {
			out = append(out, u)
		}
	}
	return out
}

// reportOf sums periods (those of q's cluster and owner) within q's range;
// starts are their RunStarts.
func (r *Reporter) reportOf(periods []*store.Usage, starts map[int64]time.Time, q ReportQuery) api.Cost {
	type acc struct {
		Accrued
		instances map[string]bool
	}
	groups := map[string]*acc{}
	var total Micros
	for _, u := range periods {
		key := u.Cluster
		switch q.By {
		case "owner":
			key = u.Owner
		case "type":
			key = u.Type
			if u.Spot {
				key += " (spot)"
			}
		}
		g := groups[key]
		if g == nil {
			g = &acc{instances: map[string]bool{}}
			groups[key] = g
		}
		p := PeriodOf(u)
		p.RunStart = starts[u.ID]
		a := p.Between(q.Since, q.Until, r.Billing, r.Catalog.StorageMicrosPerGBMonth)
		g.Add(a)
		g.instances[u.InstanceID] = true
		total += a.Cost
	}
	out := api.Cost{Since: q.Since.UTC(), Until: q.Until.UTC(), By: q.By, Rows: []api.CostRow{}, Total: total.String()}
	for k, g := range groups {
		out.Rows = append(out.Rows, api.CostRow{
			Key: k, Cost: g.Cost.String(), CostMicros: int64(g.Cost),
			RunningSeconds: int64(g.Running / time.Second), BilledSeconds: int64(g.Billed / time.Second),
			StoppedSeconds: int64(g.Stopped / time.Second), Instances: len(g.instances),
		})
	}
	sort.Slice(out.Rows, func(i, j int) bool {
		if out.Rows[i].CostMicros != out.Rows[j].CostMicros {
			return out.Rows[i].CostMicros > out.Rows[j].CostMicros
		}
		return out.Rows[i].Key < out.Rows[j].Key
	})
	out.Notes = append(out.Notes, r.note(periods))
	return out
}

// note is the report's note on how its numbers are charged.
// Running periods are billed by the model they were recorded under, so the
// note names the models of the periods reported.
func (r *Reporter) note(periods []*store.Usage) string {
	models := map[string]Billing{}
	for _, u := range periods {
		if u.State == "running" {
			b := PeriodOf(u).Billing
			if b.Unit <= 0 {
				b = r.Billing
			}
			models[b.Name] = b
		}
	}
	if len(models) == 0 {
		models[r.Billing.Name] = r.Billing
	}
	var billing []string
	for _, name := range slices.Sorted(maps.Keys(models)) {
		b := models[name]
		billing = append(billing, fmt.Sprintf("per %s (minimum %s each time an instance starts)", b.Name, b.Minimum))
	}
	how := "billing: " + billing[0]
	if len(billing) > 1 {
		how = "billing: by the model each period was recorded under: " + strings.Join(billing, ", ")
	}
	spot := "spot instances at the price paid"
	if r.SpotPricing != "" {
		spot += ": " + r.SpotPricing
	}
	return fmt.Sprintf("%s; %s; stopped instances' disks at $%s per GB-month", how, spot, r.Catalog.StorageMicrosPerGBMonth)
}

// SoFar returns what a cluster created at created has cost from then until
// now. Usage that started before created is an earlier cluster's of the
// same name, and is left out.
func (r *Reporter) SoFar(ctx context.Context, cluster string, created, now time.Time) (Micros, error) {
	periods, err := r.Store.ListUsage(ctx, store.UsageFilter{Cluster: cluster})
	if err != nil {
		return 0, err
	}
	var total Micros
	starts := RunStarts(periods)
	for _, u := range periods {
		if u.Start.Before(created) {
			continue
		}
		p := PeriodOf(u)
		p.RunStart = starts[u.ID]
		total += p.AccruedAt(now, r.Billing, r.Catalog.StorageMicrosPerGBMonth).Cost
	}
	return total, nil
}

// SeriesQuery selects what Series covers.
type SeriesQuery struct {
	// Owner, if set, restricts to that owner's usage.
	Owner string
	// By is cluster or owner.
	By string
	// Since and Until are the range; Since moves up to the start of the
	// first usage in it (rounded down to the step), so a short history
	// is not drawn over empty days.
	Since, Until time.Time
	// Step is the width of a bucket; zero picks an hour when the range is
	// at most AutoHourly, else a day.
	Step time.Duration
}

// AutoHourly is the longest range a series with no step splits into hours.
const AutoHourly = 48 * time.Hour

// maxBuckets bounds a series.
const maxBuckets = 2000

// Series is cost over time: the range cut into buckets of Step (starting
// at multiples of Step since time.Time{}, i.e. at UTC hour or day
// boundaries for hours and days; the first and last cut to the range), each
// with the cost per key. Every number is exact: a bucket's cost is the
// usage's accrued cost at its end minus that at its start, so the
// buckets of a key add up to the key's total for the range, and the keys'
// totals to Total.
type Series struct {
	By           string
	Since, Until time.Time
	Step         time.Duration
	// Keys are the clusters or owners with a cost, the highest total first.
	Keys    []string
	Totals  map[string]Micros
	Total   Micros
	Buckets []Bucket
}

// Bucket is one step of a series.
type Bucket struct {
	Start, End time.Time
	// Cost by key; a key with no cost in the bucket is absent.
	Cost  map[string]Micros
	Total Micros
}

// Series returns the cost of the matching usage over time, per bucket and
// key. Its errors name the field at fault.
func (r *Reporter) Series(ctx context.Context, q SeriesQuery) (Series, error) {
	if err := q.check(); err != nil {
		return Series{}, err
	}
	periods, err := r.Store.ListUsage(ctx, store.UsageFilter{Owner: q.Owner, Since: q.Since})
	if err != nil {
		return Series{}, err
	}
	starts, err := r.runStarts(ctx, periods, q.Since)
	if err != nil {
		return Series{}, err
	}
	return r.seriesOf(periods, starts, q)
}

// SeriesOf is Series over usage periods already read (see ReportOf);
// periods of other owners than q's are left out.
func (r *Reporter) SeriesOf(periods []*store.Usage, q SeriesQuery) (Series, error) {
	if err := q.check(); err != nil {
		return Series{}, err
	}
	return r.seriesOf(selectUsage(periods, "", q.Owner), RunStarts(periods), q)
}

// check says what is wrong with q, naming the field.
func (q SeriesQuery) check() error {
	switch {
	case q.By != "cluster" && q.By != "owner":
		return fmt.Errorf("by: must be cluster or owner, got %q", q.By)
	case q.Until.IsZero():
		return fmt.Errorf("until: required")
	case !q.Since.Before(q.Until):
		return fmt.Errorf("since: %s is not before until %s", q.Since.UTC().Format(time.RFC3339), q.Until.UTC().Format(time.RFC3339))
	case q.Step < 0:
		return fmt.Errorf("step: %s is negative", q.Step)
	}
	return nil
}

// seriesOf buckets periods (those of q's owner) over q's range; starts
// are their RunStarts.
func (r *Reporter) seriesOf(periods []*store.Usage, starts map[int64]time.Time, q SeriesQuery) (Series, error) {
	// The range starts at the first usage in it.
	first := q.Until
	for _, u := range periods {
		start := u.Start
		if start.Before(q.Since) {
			start = q.Since
		}
		if (u.End.IsZero() || u.End.After(start)) && start.Before(first) {
			first = start
		}
	}
	since := q.Since
	if first.After(since) && first.Before(q.Until) {
		since = first
	}
	step := q.Step
	if step == 0 {
		step = 24 * time.Hour
		if q.Until.Sub(since) <= AutoHourly {
			step = time.Hour
		}
	}
	if n := q.Until.Sub(since.Truncate(step)) / step; n >= maxBuckets {
		return Series{}, fmt.Errorf("step: %s makes %d buckets of the range; at most %d", step, n+1, maxBuckets)
	}
	s := Series{By: q.By, Since: since.UTC(), Until: q.Until.UTC(), Step: step, Totals: map[string]Micros{}}
	// time.Truncate rounds down to a multiple of step since the zero
	// time, which for whole hours and days is UTC-aligned.
	for start := since.Truncate(step); start.Before(q.Until); start = start.Add(step) {
		b := Bucket{Start: start, End: start.Add(step), Cost: map[string]Micros{}}
		if b.Start.Before(since) {
			b.Start = since
		}
		if b.End.After(q.Until) {
			b.End = q.Until
		}
		b.Start, b.End = b.Start.UTC(), b.End.UTC()
		s.Buckets = append(s.Buckets, b)
	}
	for _, u := range periods {
		key := u.Cluster
		if q.By == "owner" {
			key = u.Owner
		}
		p := PeriodOf(u)
		p.RunStart = starts[u.ID]
		for i := range s.Buckets {
			b := &s.Buckets[i]
			c := p.Between(b.Start, b.End, r.Billing, r.Catalog.StorageMicrosPerGBMonth).Cost
			if c == 0 {
				continue
			}
			b.Cost[key] += c
			b.Total += c
			s.Totals[key] += c
			s.Total += c
		}
	}
	for k := range s.Totals {
		s.Keys = append(s.Keys, k)
	}
	sort.Slice(s.Keys, func(i, j int) bool {
		if a, b := s.Totals[s.Keys[i]], s.Totals[s.Keys[j]]; a != b {
			return a > b
		}
		return s.Keys[i] < s.Keys[j]
	})
	return s, nil
}
