package cost

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Reporter turns recorded usage periods into cost reports.
type Reporter struct {
	Store   store.Store
	Billing Billing
	Catalog *Catalog
}

// PeriodOf converts a stored usage period.
func PeriodOf(u *store.Usage) Period {
	return Period{Running: u.State == "running", Start: u.Start, End: u.End, PriceMicros: Micros(u.PriceMicros), VolumeGB: u.VolumeGB}
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
		a := PeriodOf(u).Between(q.Since, q.Until, r.Billing, r.Catalog.StorageMicrosPerGBMonth)
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
	out.Notes = append(out.Notes, fmt.Sprintf("billing: per %s (minimum %s per running period); spot instances at the price paid; stopped instances' disks at $%s per GB-month",
		r.Billing.Name, r.Billing.Minimum, r.Catalog.StorageMicrosPerGBMonth))
	return out, nil
}

// SoFar returns what a cluster has cost from its start until now.
func (r *Reporter) SoFar(ctx context.Context, cluster string, now time.Time) (Micros, error) {
	periods, err := r.Store.ListUsage(ctx, store.UsageFilter{Cluster: cluster})
	if err != nil {
		return 0, err
	}
	var total Micros
	for _, u := range periods {
		total += PeriodOf(u).AccruedAt(now, r.Billing, r.Catalog.StorageMicrosPerGBMonth).Cost
	}
	return total, nil
}
