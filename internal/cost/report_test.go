package cost_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/local"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// usageStore holds usage periods of two owners' clusters, a stopped
// period and one still open, at prices that do not divide evenly.
func usageStore(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	for i, u := range []store.Usage{
		{Cluster: "lab", Owner: "ann", State: "running", PriceMicros: 10_400, Start: day0.Add(90 * time.Minute), End: day0.Add(26*time.Hour + 7*time.Second)},
		{Cluster: "lab", Owner: "ann", State: "stopped", VolumeGB: 8, Start: day0.Add(26*time.Hour + 7*time.Second), End: day0.Add(50 * time.Hour)},
		{Cluster: "sim", Owner: "bob", State: "running", Spot: true, PriceMicros: 3_333, Start: day0.Add(5*time.Hour + 59*time.Minute + 30*time.Second), End: day0.Add(6*time.Hour + 10*time.Second)},
		{Cluster: "sim", Owner: "bob", State: "running", PriceMicros: 96_000, Start: day0.Add(40*time.Hour + 13*time.Second)},
		{Cluster: "", Owner: "ann", State: "running", PriceMicros: 10_400, Start: day0.Add(3 * time.Hour), End: day0.Add(3*time.Hour + 20*time.Minute)},
	} {
		u.InstanceID, u.Type, u.Region = "i-"+string(rune('a'+i)), "t3.micro", "local-1"
		end := u.End
		u.End = time.Time{}
		if err := st.OpenUsage(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if !end.IsZero() {
			if err := st.CloseUsage(ctx, u.ID, end); err != nil {
				t.Fatal(err)
			}
		}
	}
	return st
}

// TestSeries_BucketsAddUpToTheReport checks, for ranges, steps, billing
// models and groupings, that the buckets of each key add up to the cost
// Report gives for the whole range, to the micro-dollar, and that buckets
// are aligned and cover the range.
func TestSeries_BucketsAddUpToTheReport(t *testing.T) {
	st := usageStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		billing      cost.Billing
		by, owner    string
		since, until time.Time
		step         time.Duration
		wantStep     time.Duration
		wantBuckets  int
		wantSince    time.Time
	}{
		{name: "hourly by cluster, short range picks hours", billing: cost.PerSecond, by: "cluster",
			since: day0, until: day0.Add(30 * time.Hour), wantStep: time.Hour, wantBuckets: 29, wantSince: day0.Add(90 * time.Minute)},
		{name: "daily by owner, long range picks days", billing: cost.PerSecond, by: "owner",
			since: day0.Add(-72 * time.Hour), until: day0.Add(60 * time.Hour), wantStep: 24 * time.Hour, wantBuckets: 3, wantSince: day0.Add(90 * time.Minute)},
		{name: "per-hour billing, 15-minute steps", billing: cost.PerHour, by: "cluster",
			since: day0.Add(5 * time.Hour), until: day0.Add(7 * time.Hour), step: 15 * time.Minute, wantStep: 15 * time.Minute, wantBuckets: 8, wantSince: day0.Add(5 * time.Hour)},
		{name: "one owner only", billing: cost.PerSecond, by: "cluster", owner: "bob",
			since: day0, until: day0.Add(45*time.Hour + 17*time.Second), step: 7 * time.Hour, wantStep: 7 * time.Hour, wantBuckets: 7, wantSince: day0.Add(5*time.Hour + 59*time.Minute + 30*time.Second)},
		{name: "range cutting periods", billing: cost.PerHour, by: "owner",
			since: day0.Add(2*time.Hour + 30*time.Minute), until: day0.Add(41 * time.Hour), wantStep: time.Hour, wantBuckets: 39, wantSince: day0.Add(2*time.Hour + 30*time.Minute)},
		{name: "nothing in range", billing: cost.PerSecond, by: "cluster",
			since: day0.Add(-10 * time.Hour), until: day0.Add(-time.Hour), wantStep: time.Hour, wantBuckets: 9, wantSince: day0.Add(-10 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &cost.Reporter{Store: st, Billing: tc.billing, Catalog: cost.DefaultCatalog()}
			s, err := r.Series(ctx, cost.SeriesQuery{Owner: tc.owner, By: tc.by, Since: tc.since, Until: tc.until, Step: tc.step})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := r.Report(ctx, cost.ReportQuery{Owner: tc.owner, By: tc.by, Since: tc.since, Until: tc.until})
			if err != nil {
				t.Fatal(err)
			}
			if s.Step != tc.wantStep || len(s.Buckets) != tc.wantBuckets || !s.Since.Equal(tc.wantSince) {
				t.Errorf("step %s, %d buckets, since %v; want %s, %d, %v", s.Step, len(s.Buckets), s.Since, tc.wantStep, tc.wantBuckets, tc.wantSince)
			}
			if s.Total.String() != rep.Total {
				t.Errorf("series total %s, report total %s", s.Total, rep.Total)
			}
			wantKeys := []string{}
			for _, row := range rep.Rows {
				if row.CostMicros != 0 {
					wantKeys = append(wantKeys, row.Key)
				}
				if got := s.Totals[row.Key]; int64(got) != row.CostMicros {
					t.Errorf("%s: series total %d, report %d", row.Key, got, row.CostMicros)
				}
			}
			if strings.Join(s.Keys, ",") != strings.Join(wantKeys, ",") {
				t.Errorf("keys %q, want %q (highest cost first)", s.Keys, wantKeys)
			}
			sum := map[string]cost.Micros{}
			var total cost.Micros
			for i, b := range s.Buckets {
				var bt cost.Micros
				for k, c := range b.Cost {
					sum[k] += c
					bt += c
				}
				total += bt
				if bt != b.Total {
					t.Errorf("bucket %d: total %d, keys add up to %d", i, b.Total, bt)
				}
				if i == 0 && !b.Start.Equal(s.Since) || i == len(s.Buckets)-1 && !b.End.Equal(tc.until) {
					t.Errorf("bucket %d [%v, %v) does not start or end the range [%v, %v)", i, b.Start, b.End, s.Since, tc.until)
				}
				if i > 0 {
					if !b.Start.Equal(s.Buckets[i-1].End) {
						t.Errorf("bucket %d starts at %v, the previous ended at %v", i, b.Start, s.Buckets[i-1].End)
					}
					if !b.Start.Truncate(s.Step).Equal(b.Start) {
						t.Errorf("bucket %d starts at %v, not a multiple of %s", i, b.Start, s.Step)
					}
				}
			}
			if total != s.Total {
				t.Errorf("buckets add up to %d, total %d", total, s.Total)
			}
			for k, c := range s.Totals {
				if sum[k] != c {
					t.Errorf("%s: buckets add up to %d, total %d", k, sum[k], c)
				}
			}
		})
	}
}

func TestReport_NoteSaysHowTheProviderPricesSpot(t *testing.T) {
	st := usageStore(t)
	q := cost.ReportQuery{Since: day0, Until: day0.Add(72 * time.Hour)}
	tests := []struct {
		name   string
		prov   any
		want   string
		absent []string
	}{
		{
			name:   "local: a flat share of the on-demand price",
			prov:   (*local.Provider)(nil),
			want:   "billing: per second (minimum 1m0s each time an instance starts); spot instances at the price paid: 30% of the on-demand price of their type (the local cloud's flat spot price), capped at their max price; stopped instances' disks at $0.08 per GB-month",
			absent: []string{"market"},
		},
		{
			name: "aws: the spot market price",
			prov: (*aws.Provider)(nil),
			want: "billing: per second (minimum 1m0s each time an instance starts); spot instances at the price paid: the spot market price of their type in their zone for the time it held, capped at their max price (charged at the max price, an upper bound, while the provider cannot read the market price); stopped instances' disks at $0.08 per GB-month",
		},
		{
			name:   "a provider that does not say",
			prov:   struct{}{},
			want:   "billing: per second (minimum 1m0s each time an instance starts); spot instances at the price paid; stopped instances' disks at $0.08 per GB-month",
			absent: []string{"market", "%"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &cost.Reporter{Store: st, Billing: cost.PerSecond, Catalog: cost.DefaultCatalog(), SpotPricing: cost.SpotPricingOf(tc.prov)}
			rep, err := r.Report(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tc.want}, rep.Notes); diff != "" {
				t.Errorf("notes mismatch (-want +got):\n%s", diff)
			}
			for _, a := range tc.absent {
				if strings.Contains(strings.Join(rep.Notes, "\n"), a) {
					t.Errorf("notes %q say %q", rep.Notes, a)
				}
			}
		})
	}
}

func TestSeries_Errors(t *testing.T) {
	r := &cost.Reporter{Store: usageStore(t), Billing: cost.PerSecond, Catalog: cost.DefaultCatalog()}
	for _, tc := range []struct {
		q    cost.SeriesQuery
		want string
	}{
		{cost.SeriesQuery{By: "type", Until: day0}, "by: must be cluster or owner"},
		{cost.SeriesQuery{By: "cluster"}, "until: required"},
		{cost.SeriesQuery{By: "cluster", Since: day0, Until: day0}, "since: 2026-03-01T00:00:00Z is not before until"},
		{cost.SeriesQuery{By: "cluster", Since: day0, Until: day0.Add(time.Hour), Step: -time.Minute}, "step: -1m0s is negative"},
		{cost.SeriesQuery{By: "cluster", Since: day0.Add(-365 * 24 * time.Hour), Until: day0.Add(time.Hour), Step: time.Minute}, "step: 1m0s makes"},
	} {
		_, err := r.Series(context.Background(), tc.q)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Series(%+v) = %v, want an error containing %q", tc.q, err, tc.want)
		}
	}
}

// ReportOf and SeriesOf over one read of every owner's usage give what
// Report and Series give from their own reads.
func TestReportOf_SeriesOf_MatchTheirReads(t *testing.T) {
	st := usageStore(t)
	ctx := context.Background()
	r := &cost.Reporter{Store: st, Billing: cost.PerSecond, Catalog: cost.DefaultCatalog()}
	all, err := st.ListUsage(ctx, store.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	until := day0.Add(45 * time.Hour)
	for _, owner := range []string{"", "bob"} {
		for _, by := range []string{"cluster", "owner"} {
			q := cost.ReportQuery{Owner: owner, By: by, Until: until}
			want, err := r.Report(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.ReportOf(all, q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ReportOf(owner %q, by %s) (-Report +ReportOf):\n%s", owner, by, diff)
			}
			sq := cost.SeriesQuery{Owner: owner, By: by, Since: day0, Until: until}
			wantS, err := r.Series(ctx, sq)
			if err != nil {
				t.Fatal(err)
			}
			gotS, err := r.SeriesOf(all, sq)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantS, gotS); diff != "" {
				t.Errorf("SeriesOf(owner %q, by %s) (-Series +SeriesOf):\n%s", owner, by, diff)
			}
		}
	}
	if _, err := r.ReportOf(all, cost.ReportQuery{By: "colour"}); err == nil {
		t.Error("ReportOf by colour: no error")
	}
	if _, err := r.SeriesOf(all, cost.SeriesQuery{By: "cluster"}); err == nil {
		t.Error("SeriesOf without until: no error")
	}
}
