package cost_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

// A spot run whose price changes is billed as one run: one minimum,
// units counted from the run's start, each period at its own price.
// Bills computed by hand.
func TestPeriod_RunSplitByPriceChange(t *testing.T) {
	s := day0
	const p1, p2 = cost.Micros(31_200), cost.Micros(40_000)
	tests := []struct {
		name       string
		b          cost.Billing
		change, to time.Duration // since s
		want1      cost.Micros
		want2      cost.Micros
		billed2    time.Duration
	}{
		{name: "per second, change after 90m, ends at 3h", b: cost.PerSecond, change: 90 * time.Minute, to: 3 * time.Hour,
			// 31200 × 1.5 = 46800; 40000 × 1.5 = 60000
			want1: 46_800, want2: 60_000, billed2: 90 * time.Minute},
		{name: "per second, change in the first minute, run of 50s", b: cost.PerSecond, change: 20 * time.Second, to: 50 * time.Second,
			// the minute at the first price: 31200 / 60 = 520; nothing more is owed
			want1: 520, want2: 0, billed2: 0},
		{name: "per second, change in the first minute, run of 100s", b: cost.PerSecond, change: 20 * time.Second, to: 100 * time.Second,
			// 520, then 40 s past the minute: 40000×100/3600 − 40000×60/3600 = 1111 − 667 = 444
			want1: 520, want2: 444, billed2: 40 * time.Second},
		{name: "per hour, change at 90m, ends at 3h", b: cost.PerHour, change: 90 * time.Minute, to: 3 * time.Hour,
			// the first two started hours at 31200, the third at 40000
			want1: 62_400, want2: 40_000, billed2: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := cost.Period{Running: true, Start: s, End: s.Add(tc.change), PriceMicros: p1}
			next := cost.Period{Running: true, Start: s.Add(tc.change), End: s.Add(tc.to), PriceMicros: p2, RunStart: s}
			end := s.Add(10 * time.Hour)
			a1, a2 := first.AccruedAt(end, tc.b, 0), next.AccruedAt(end, tc.b, 0)
			if a1.Cost != tc.want1 || a2.Cost != tc.want2 || a2.Billed != tc.billed2 {
				t.Errorf("periods cost %d and %d (second billed %s), want %d and %d (%s)", a1.Cost, a2.Cost, a2.Billed, tc.want1, tc.want2, tc.billed2)
			}
			if a2.Running != tc.to-tc.change {
				t.Errorf("second period ran %s, want %s", a2.Running, tc.to-tc.change)
			}
			// The run's billed time is the model's for its whole length.
			if got, want := a1.Billed+a2.Billed, tc.b.Billed(tc.to); got != want {
				t.Errorf("run billed %s, want %s", got, want)
			}
			// Windows add up to the whole.
			mid := s.Add(tc.change + (tc.to-tc.change)/3)
			if got := next.Between(s, mid, tc.b, 0).Cost + next.Between(mid, end, tc.b, 0).Cost; got != tc.want2 {
				t.Errorf("second period split at %s costs %d, want %d", mid.Sub(s), got, tc.want2)
			}
		})
	}
}

func TestRunStarts_ChainsContiguousRunningPeriods(t *testing.T) {
	at := func(m int) time.Time { return day0.Add(time.Duration(m) * time.Minute) }
	usage := []*store.Usage{
		// i-a: a run split twice (once where the old period had just
		// begun, leaving it empty), stopped, then a new run.
		{ID: 1, InstanceID: "i-a", State: "running", Start: at(0), End: at(30)},
		{ID: 2, InstanceID: "i-a", State: "running", Start: at(30), End: at(30)},
		{ID: 3, InstanceID: "i-a", State: "running", Start: at(30), End: at(50)},
		{ID: 4, InstanceID: "i-a", State: "stopped", Start: at(50), End: at(60)},
		{ID: 5, InstanceID: "i-a", State: "running", Start: at(60), End: at(70)},
		{ID: 6, InstanceID: "i-a", State: "running", Start: at(70)},
		// i-b: ends where i-a's first period does, but is another instance.
		{ID: 7, InstanceID: "i-b", State: "running", Start: at(30)},
		// i-c: billed per second, then per hour from where the model
		// changed: two runs; then a price change under the same model.
		{ID: 8, InstanceID: "i-c", State: "running", Start: at(0), End: at(10), Billing: "second"},
		{ID: 9, InstanceID: "i-c", State: "running", Start: at(10), End: at(20), Billing: "hour"},
		{ID: 10, InstanceID: "i-c", State: "running", Start: at(20), Billing: "hour"},
	}
	got := cost.RunStarts(usage)
	want := map[int64]time.Time{2: at(0), 3: at(0), 6: at(60), 10: at(10)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RunStarts (-want +got):\n%s", diff)
	}
}

// A report from a time after the run's first period ended still bills the
// later period as part of the run: the minute was owed by the first.
func TestReport_SinceAfterAPriceChange(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	s := day0
	for _, u := range []store.Usage{
		{State: "running", PriceMicros: 31_200, Start: s, End: s.Add(30 * time.Second)},
		{State: "running", PriceMicros: 40_000, Start: s.Add(30 * time.Second)},
	} {
		u.InstanceID, u.Cluster, u.Owner, u.Type, u.Region, u.Spot = "i-spot", "sim", "bob", "c5.large", "us-east-1", true
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
	r := &cost.Reporter{Store: st, Billing: cost.PerSecond, Catalog: cost.DefaultCatalog()}
	for _, tc := range []struct {
		since, until time.Duration
		want         int64
	}{
		{since: 30 * time.Second, until: 60 * time.Second, want: 0},                      // within the minute the first period paid
		{since: 30 * time.Second, until: 2 * time.Minute, want: 666},                     // 40000×120/3600 − 40000×60/3600 = 1333 − 667
		{since: 0, until: 2 * time.Minute, want: 520 + 666},                              // the minute at 31200, then 60 s at 40000
		{since: 90 * time.Minute, until: 90*time.Minute + time.Hour, want: 40_000},       // an hour well inside the run
		{since: 30 * time.Second, until: 30*time.Second + time.Hour, want: 40_333 - 667}, // 40000×3630/3600 − 40000×60/3600: the first 30 s were paid at 31200
	} {
		rep, err := r.Report(ctx, cost.ReportQuery{By: "cluster", Since: s.Add(tc.since), Until: s.Add(tc.until)})
		if err != nil {
			t.Fatal(err)
		}
		var got int64
		for _, row := range rep.Rows {
			got += row.CostMicros
		}
		if got != tc.want {
			t.Errorf("report [%s, %s) = %d µ$, want %d", tc.since, tc.until, got, tc.want)
		}
		so1, err := r.SoFar(ctx, "sim", time.Time{}, s.Add(tc.until))
		if err != nil {
			t.Fatal(err)
		}
		so0, err := r.SoFar(ctx, "sim", time.Time{}, s.Add(tc.since))
		if err != nil {
			t.Fatal(err)
		}
		if int64(so1-so0) != tc.want {
			t.Errorf("SoFar(%s) − SoFar(%s) = %d, want %d", tc.until, tc.since, so1-so0, tc.want)
		}
	}
}
