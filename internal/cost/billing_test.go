package cost

import (
	"testing"
	"time"
)

func TestBilling_Billed(t *testing.T) {
	tests := []struct {
		name string
		b    Billing
		d    time.Duration
		want time.Duration
	}{
		{"per second: zero is free", PerSecond, 0, 0},
		{"per second: under the minimum bills 60s", PerSecond, 10 * time.Second, time.Minute},
		{"per second: just over the minimum", PerSecond, 61 * time.Second, 61 * time.Second},
		{"per second: fractions round up", PerSecond, 90*time.Second + time.Millisecond, 91 * time.Second},
		{"per hour: one second bills an hour", PerHour, time.Second, time.Hour},
		{"per hour: exactly an hour", PerHour, time.Hour, time.Hour},
		{"per hour: a started hour bills in full", PerHour, time.Hour + time.Second, 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Billed(tc.d); got != tc.want {
				t.Errorf("Billed(%v) = %v, want %v", tc.d, got, tc.want)
			}
		})
	}
}

// Bills computed by hand.
func TestBilling_Charge(t *testing.T) {
	r4 := Micros(133000) // r4.large, $0.133/h
	tests := []struct {
		name string
		b    Billing
		d    time.Duration
		want Micros
	}{
		// 60 s minimum: 133000 × 60 / 3600 = 2216.67 → 2217.
		{"per second, 10 s", PerSecond, 10 * time.Second, 2217},
		// 1 h 30 min: 133000 × 1.5 = 199500.
		{"per second, 90 min", PerSecond, 90 * time.Minute, 199500},
		// 1 h 30 min 1 s: 199500 + 133000/3600 = 199536.94 → 199537.
		{"per second, 90 min 1 s", PerSecond, 90*time.Minute + time.Second, 199537},
		{"per hour, 90 min", PerHour, 90 * time.Minute, 266000},
		{"per hour, 1 s", PerHour, time.Second, 133000},
		// 30 days of per-second billing: 720 h × 133000.
		{"per second, 30 days", PerSecond, 30 * 24 * time.Hour, 95760000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Charge(r4, tc.d); got != tc.want {
				t.Errorf("Charge(%v) = %d, want %d", tc.d, got, tc.want)
			}
		})
	}
}

func TestStorageCharge(t *testing.T) {
	// 16 GB at $0.08/GB-month for 30 days: 16 × 80000 = 1280000.
	if got := StorageCharge(16, 80000, 30*24*time.Hour); got != 1280000 {
		t.Errorf("30 days = %d, want 1280000", got)
	}
	// For one hour: 1280000 / 720 = 1777.78 → 1778.
	if got := StorageCharge(16, 80000, time.Hour); got != 1778 {
		t.Errorf("1 hour = %d, want 1778", got)
	}
	if got := StorageCharge(0, 80000, time.Hour); got != 0 {
		t.Errorf("0 GB = %d, want 0", got)
	}
}

func TestBilling_PaidUntil(t *testing.T) {
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	if got, want := PerHour.PaidUntil(start, start.Add(70*time.Minute)), start.Add(2*time.Hour); !got.Equal(want) {
		t.Errorf("per hour after 70 min: %v, want %v", got, want)
	}
	if got, want := PerSecond.PaidUntil(start, start.Add(10*time.Second)), start.Add(time.Minute); !got.Equal(want) {
		t.Errorf("per second after 10 s: %v, want %v", got, want)
	}
	if got, want := PerSecond.PaidUntil(start, start.Add(5*time.Minute)), start.Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("per second after 5 min: %v, want %v", got, want)
	}
}

func TestMicros_StringAndParse(t *testing.T) {
	for _, tc := range []struct {
		m    Micros
		want string
	}{{0, "0.00"}, {133000, "0.133"}, {1500000, "1.50"}, {1, "0.000001"}, {-2217, "-0.002217"}} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", tc.m, got, tc.want)
		}
	}
	for _, tc := range []struct {
		in   string
		want Micros
		ok   bool
	}{{"0.03", 30000, true}, {"1", 1000000, true}, {".5", 500000, true}, {"0.0000001", 0, false}, {"-1", 0, false}, {"1e3", 0, false}, {"", 0, false}, {"1.", 0, false}} {
		got, err := ParseDollars(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseDollars(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCatalog_RegionPrices(t *testing.T) {
	c, err := ParseCatalog([]byte(`
types:
  - {name: t3.micro, vcpus: 2, memory_gib: 1, hourly_micros: 10400}
region_prices:
  eu-west-1: {t3.micro: 11400}
`))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Price("eu-west-1", "t3.micro"); p != 11400 {
		t.Errorf("eu-west-1 price = %d, want 11400", p)
	}
	if p, _ := c.Price("us-east-1", "t3.micro"); p != 10400 {
		t.Errorf("us-east-1 price = %d, want the base 10400", p)
	}
	if _, ok := c.Price("eu-west-1", "x9.huge"); ok {
		t.Error("an unknown type has a price")
	}
	if _, err := ParseCatalog([]byte("types: [{name: a.b, hourly_micros: 1}]\nregion_prices: {r: {c.d: 5}}")); err == nil {
		t.Error("a region price for a type not in types was accepted")
	}
}
