package aws_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// spotSpec is a c5.large spot launch (on-demand $0.085/h) with max price
// maxMicros (0: none).
func spotSpec(token string, maxMicros int64) provider.LaunchSpec {
	s := testSpec()
	s.ClientToken, s.Type, s.Spot, s.MaxPriceMicros = token, "c5.large", true, maxMicros
	return s
}

func setSpot(t *testing.T, w *world, zone string, at time.Time, micros int64) {
	t.Helper()
	if err := w.fake.SetSpotPrice("us-east-1", zone, "c5.large", at, micros); err != nil {
		t.Fatal(err)
	}
}

func describeOne(t *testing.T, w *world, id string) provider.Instance {
	t.Helper()
	got, err := w.p.Describe(context.Background(), "us-east-1", provider.Filter{IDs: []string{id}})
	if err != nil || len(got) != 1 {
		t.Fatalf("Describe(%s) = %v, %v", id, got, err)
	}
	return got[0]
}

func TestSpot_PricePaidIsTheMarketPriceCapped(t *testing.T) {
	ctx := context.Background()
	var logs syncBuffer
	w := newWorld(t, ec2fake.Options{}, aws.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	h0 := w.clock.Now()
	zone := ec2fake.DefaultZone("us-east-1")
	setSpot(t, w, zone, h0.Add(-2*time.Hour), 31_200)
	setSpot(t, w, zone, h0.Add(-10*time.Minute), 29_800)
	// Another zone's price is not this instance's.
	if err := w.fake.SetSpotPrice("us-east-1", "us-east-1b", "c5.large", h0.Add(-time.Minute), 20_000); err != nil {
		t.Fatal(err)
	}

	in, err := w.p.Launch(ctx, spotSpec("spot-1", 50_000))
	if err != nil {
		t.Fatal(err)
	}
	if in.PriceMicros != 29_800 || !in.PriceSince.Equal(h0.Add(-10*time.Minute)) {
		t.Errorf("launched at %d µ$/h since %s, want the latest price at or before now: 29800 since %s", in.PriceMicros, in.PriceSince, h0.Add(-10*time.Minute))
	}
	noMax, err := w.p.Launch(ctx, spotSpec("spot-2", 0))
	if err != nil {
		t.Fatal(err)
	}
	if noMax.PriceMicros != 29_800 {
		t.Errorf("spot without max price at %d µ$/h, want 29800", noMax.PriceMicros)
	}
	calls := w.fake.Calls(ec2fake.ActionDescribeSpotPriceHistory)
	if calls != 1 {
		t.Errorf("%d DescribeSpotPriceHistory calls for two launches of one type and zone, want 1 (the price is kept for the TTL)", calls)
	}

	// The price rises above the max price: the instance pays its max; the
	// one without a max pays up to the on-demand price.
	setSpot(t, w, zone, h0.Add(time.Hour), 61_200)
	w.clock.Advance(70 * time.Minute)
	if got := describeOne(t, w, in.ID); got.PriceMicros != 50_000 || !got.PriceSince.Equal(h0.Add(time.Hour)) {
		t.Errorf("after the rise: %d µ$/h since %s, want the max price 50000 since %s", got.PriceMicros, got.PriceSince, h0.Add(time.Hour))
	}
	if got := describeOne(t, w, noMax.ID); got.PriceMicros != 61_200 {
		t.Errorf("no max price, after the rise: %d µ$/h, want 61200", got.PriceMicros)
	}
	setSpot(t, w, zone, h0.Add(75*time.Minute), 90_000)
	w.clock.Advance(aws.DefaultSpotPriceTTL)
	if got := describeOne(t, w, noMax.ID); got.PriceMicros != 85_000 {
		t.Errorf("no max price, market above on-demand: %d µ$/h, want the on-demand 85000", got.PriceMicros)
	}
	if strings.Contains(logs.String(), "spot price unknown") {
		t.Errorf("warned of an unknown price although EC2 knew it:\n%s", logs.String())
	}
	// One call covers every instance of a Describe.
	before := w.fake.Calls(ec2fake.ActionDescribeSpotPriceHistory)
	w.clock.Advance(aws.DefaultSpotPriceTTL)
	if _, err := w.p.Describe(ctx, "us-east-1", provider.Filter{}); err != nil {
		t.Fatal(err)
	}
	if n := w.fake.Calls(ec2fake.ActionDescribeSpotPriceHistory) - before; n != 1 {
		t.Errorf("Describe of two spot instances made %d history calls, want 1", n)
	}
}

func TestSpot_UnknownPriceFallsBackToTheCap(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		deny       bool
		maxMicros  int64
		wantPrice  int64
		wantReason string
	}{
		{name: "no history, max price", maxMicros: 50_000, wantPrice: 50_000, wantReason: "no Linux/UNIX spot price history"},
		{name: "no history, no max price: on-demand", wantPrice: 85_000, wantReason: "no Linux/UNIX spot price history"},
		{name: "history call refused", deny: true, maxMicros: 50_000, wantPrice: 50_000, wantReason: "DescribeSpotPriceHistory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			w := newWorld(t, ec2fake.Options{}, aws.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if tc.deny {
				setSpot(t, w, ec2fake.DefaultZone("us-east-1"), w.clock.Now().Add(-time.Hour), 31_200)
				w.fake.Deny(ec2fake.ActionDescribeSpotPriceHistory)
			}
			in, err := w.p.Launch(ctx, spotSpec("spot-1", tc.maxMicros))
			if err != nil {
				t.Fatalf("Launch failed for want of a spot price: %v", err)
			}
			if in.PriceMicros != tc.wantPrice || !in.PriceSince.IsZero() {
				t.Errorf("price %d since %s, want the cap %d and no time", in.PriceMicros, in.PriceSince, tc.wantPrice)
			}
			log := logs.String()
			if !strings.Contains(log, "spot price unknown") || !strings.Contains(log, in.ID) || !strings.Contains(log, tc.wantReason) {
				t.Errorf("log does not say that %s is charged its cap and why (%q):\n%s", in.ID, tc.wantReason, log)
			}
		})
	}
}

// recordUsage returns a store and a function that records, as cluster c1
// of alice, the usage of every instance w's provider shows in us-east-1.
func recordUsage(t *testing.T, w *world) (*sqlite.Store, func()) {
	st := sqlitetest.Open(t)
	rec := &cluster.UsageRecorder{Store: st, Clock: w.clock}
	cl := &store.Cluster{Name: "c1", Owner: "alice"}
	return st, func() {
		t.Helper()
		insts, err := w.p.Describe(context.Background(), "us-east-1", provider.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if err := rec.Record(context.Background(), cl, insts); err != nil {
			t.Fatal(err)
		}
	}
}

// A spot instance launched on the fake is accounted, through the usage
// records, at the market price while each price held, capped at its max.
func TestSpot_AccountedPerPricePeriod(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	st, record := recordUsage(t, w)
	h0 := w.clock.Now()
	zone := ec2fake.DefaultZone("us-east-1")

	setSpot(t, w, zone, h0.Add(-time.Hour), 31_200)
	in, err := w.p.Launch(ctx, spotSpec("spot-1", 50_000))
	if err != nil {
		t.Fatal(err)
	}
	record()
	setSpot(t, w, zone, h0.Add(90*time.Minute), 40_000)
	w.clock.Advance(100 * time.Minute)
	record()
	record()                                             // repeating changes nothing
	setSpot(t, w, zone, h0.Add(150*time.Minute), 65_000) // above the max
	w.clock.Advance(60 * time.Minute)
	record()
	w.clock.Set(h0.Add(3 * time.Hour))
	if err := w.p.Terminate(ctx, "us-east-1", in.ID); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	record()

	usage, err := st.ListUsage(ctx, store.UsageFilter{InstanceID: in.ID})
	if err != nil {
		t.Fatal(err)
	}
	type period struct {
		Start, End time.Duration
		Price      int64
	}
	var got []period
	for _, u := range usage {
		got = append(got, period{u.Start.Sub(h0), u.End.Sub(h0), u.PriceMicros})
	}
	want := []period{
		{0, 90 * time.Minute, 31_200},
		{90 * time.Minute, 150 * time.Minute, 40_000},
		{150 * time.Minute, 3 * time.Hour, 50_000},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("usage periods (-want +got):\n%s", diff)
	}
	r := &cost.Reporter{Store: st, Billing: w.p.Billing(), Catalog: cost.DefaultCatalog()}
	total, err := r.SoFar(ctx, "c1", time.Time{}, h0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// 31200 × 1.5 + 40000 × 1 + 50000 × 0.5 = 46800 + 40000 + 25000
	if total != 111_800 {
		t.Errorf("cost so far %d µ$, want 111800", total)
	}
	rep, err := r.Report(ctx, cost.ReportQuery{Cluster: "c1", Since: h0.Add(2 * time.Hour), Until: h0.Add(3 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// 40000 × 0.5 + 50000 × 0.5
	if len(rep.Rows) != 1 || rep.Rows[0].CostMicros != 45_000 || rep.Rows[0].BilledSeconds != 3600 {
		t.Errorf("report of the third hour: %+v, want 45000 µ$ for 3600 billed seconds", rep.Rows)
	}
}

// A launch whose price could not be read is charged its max price until
// the price can be read; the market price then applies from when it took
// effect, replacing the upper bound for the time before.
func TestSpot_UpperBoundReplacedOnceThePriceIsKnown(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	st, record := recordUsage(t, w)
	h0 := w.clock.Now()
	setSpot(t, w, ec2fake.DefaultZone("us-east-1"), h0.Add(-time.Hour), 31_200)
	w.fake.Deny(ec2fake.ActionDescribeSpotPriceHistory)
	in, err := w.p.Launch(ctx, spotSpec("spot-1", 50_000))
	if err != nil {
		t.Fatal(err)
	}
	record()
	w.fake.Allow(ec2fake.ActionDescribeSpotPriceHistory)
	w.clock.Advance(aws.DefaultSpotPriceTTL)
	record()
	w.clock.Set(h0.Add(2 * time.Hour))
	if err := w.p.Terminate(ctx, "us-east-1", in.ID); err != nil {
		t.Fatal(err)
	}
	record()
	r := &cost.Reporter{Store: st, Billing: w.p.Billing(), Catalog: cost.DefaultCatalog()}
	total, err := r.SoFar(ctx, "c1", time.Time{}, h0.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// 31200 × 2: the first five minutes were first recorded at 50000.
	if total != 62_400 {
		t.Errorf("cost so far %d µ$, want 62400", total)
	}
}
