package cost

import (
	"slices"
	"testing"
	"time"
)

// catalogRegions are the regions the shipped catalog prices on their own;
// every other region gets the types' us-east-1 base price.
var catalogRegions = []string{
	"us-east-2", "us-west-1", "us-west-2", "ca-central-1",
	"eu-west-1", "eu-west-2", "eu-central-1",
	"ap-south-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1",
}

func TestDefaultCatalog_RegionPricesNameKnownTypesWithPositivePrices(t *testing.T) {
	c := DefaultCatalog()
	for region, prices := range c.RegionPrices {
		if !slices.Contains(catalogRegions, region) {
			t.Errorf("region_prices lists %s, which the shipped catalog does not claim to cover", region)
		}
		for typ, p := range prices {
			base, ok := c.Lookup(typ)
			if !ok {
				t.Errorf("region_prices.%s.%s: no such type in types", region, typ)
				continue
			}
			if p <= 0 {
				t.Errorf("region_prices.%s.%s = %d, want a positive price", region, typ, p)
			}
			// Regional prices of these types lie within a third of the
			// base either way; a price outside that lost or gained a digit.
			if p*3 < base.HourlyMicros*2 || p*2 > base.HourlyMicros*3 {
				t.Errorf("region_prices.%s.%s = %d, implausible against the base %d", region, typ, p, base.HourlyMicros)
			}
		}
	}
}

func TestDefaultCatalog_CoveredRegionsPriceEveryType(t *testing.T) {
	c := DefaultCatalog()
	for _, region := range catalogRegions {
		prices, ok := c.RegionPrices[region]
		if !ok {
			t.Errorf("region_prices has no %s", region)
			continue
		}
		for _, typ := range c.Names() {
			if _, ok := prices[typ]; !ok {
				t.Errorf("region_prices.%s has no %s; a covered region prices every type, or it would silently get the us-east-1 price", region, typ)
			}
		}
	}
}

// Within these families each size is twice the one before, in every region;
// a transcription slip breaks the pattern.
func TestDefaultCatalog_SizesDoubleWithinFamily(t *testing.T) {
	c := DefaultCatalog()
	families := [][]string{
		{"t3.nano", "t3.micro", "t3.small", "t3.medium", "t3.large", "t3.xlarge", "t3.2xlarge"},
		{"m5.large", "m5.xlarge", "m5.2xlarge", "m5.4xlarge"},
		{"c5.large", "c5.xlarge", "c5.2xlarge", "c5.4xlarge"},
		{"r4.large", "r4.xlarge", "r4.2xlarge"},
		{"r5.large", "r5.xlarge", "r5.2xlarge"},
	}
	for _, region := range append([]string{"us-east-1"}, catalogRegions...) {
		for _, fam := range families {
			for i := 1; i < len(fam); i++ {
				small, ok1 := c.Price(region, fam[i-1])
				big, ok2 := c.Price(region, fam[i])
				if !ok1 || !ok2 {
					t.Fatalf("%s or %s is not in the catalog", fam[i-1], fam[i])
				}
				if big != 2*small {
					t.Errorf("%s: %s = %d, want twice %s = %d", region, fam[i], big, fam[i-1], 2*small)
				}
			}
		}
	}
}

func TestDefaultCatalog_SourcedPrices(t *testing.T) {
	c := DefaultCatalog()
	tests := []struct {
		region, typ string
		want        Micros
	}{
		{"us-east-1", "m5.large", 96000},
		{"us-east-1", "t2.small", 23000},
		{"us-east-2", "c5.xlarge", 170000},
		{"us-west-1", "t2.micro", 13800},
		{"us-west-2", "r5.2xlarge", 504000},
		{"ca-central-1", "r5.xlarge", 276000},
		{"eu-west-1", "m5.large", 107000},
		{"eu-west-2", "t3.medium", 47200},
		{"eu-central-1", "r4.large", 160050},
		{"ap-south-1", "c5.2xlarge", 340000},
		{"ap-southeast-1", "m5.4xlarge", 960000},
		{"ap-southeast-2", "t3.2xlarge", 422400},
		{"ap-northeast-1", "t3.micro", 13600},
		// Not covered: the us-east-1 base applies.
		{"sa-east-1", "m5.large", 96000},
		{"local-1", "t3.micro", 10400},
	}
	for _, tc := range tests {
		got, ok := c.Price(tc.region, tc.typ)
		if !ok || got != tc.want {
			t.Errorf("Price(%s, %s) = %d, %v; want %d", tc.region, tc.typ, got, ok, tc.want)
		}
	}
}

func TestDefaultCatalog_ChargeInRegion(t *testing.T) {
	c := DefaultCatalog()
	p, ok := c.Price("eu-west-1", "m5.large")
	if !ok {
		t.Fatal("m5.large has no eu-west-1 price")
	}
	for _, tc := range []struct {
		d    time.Duration
		want Micros
	}{
		{time.Hour, 107000},               // $0.107
		{30 * time.Second, 1783},          // the 60-second minimum: 107000/60
		{90 * time.Minute, 160500},        // an hour and a half
		{time.Hour + time.Second, 107030}, // 3601 s × 107000 / 3600, rounded
	} {
		if got := PerSecond.Charge(p, tc.d); got != tc.want {
			t.Errorf("per-second charge for %v of m5.large in eu-west-1 = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestDefaultCatalog_BaseIsUSEast1(t *testing.T) {
	c := DefaultCatalog()
	if _, ok := c.RegionPrices["us-east-1"]; ok {
		t.Error("region_prices lists us-east-1; its prices are the types' base prices")
	}
	if c.Source == "" {
		t.Error("the catalog does not say where its prices come from")
	}
}
