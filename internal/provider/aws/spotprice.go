package aws

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// The spot price paid.
//
// EC2 charges a running spot instance the spot market price of its type in
// its availability zone, never more than its max price (without one: the
// on-demand price), and the market price changes while instances run.
// DescribeInstances does not report it, so the provider reads it with
// DescribeSpotPriceHistory (product "Linux/UNIX", StartTime = EndTime =
// now, which answers the last price change at or before now) and reports
// it as Instance.PriceMicros, capped, with Instance.PriceSince the time of
// that change. Launch and every Describe report the current price, so the
// usage records start a new period, at the new price, from the time a
// change took effect.
//
// One call per region covers the types and zones of all the spot
// instances a Describe lists; answers are kept for Options.SpotPriceTTL on
// the provider's clock. When the call fails, or EC2 has no price for the
// type and zone, the instance is reported at its cap, the most it can
// cost, and the provider logs that it does so; the launch or describe
// itself never fails for it.

// DefaultSpotPriceTTL is how long a spot price read from EC2 is used before
// it is read again.
const DefaultSpotPriceTTL = 5 * time.Minute

// SpotProduct is the product description of the spot prices stratus pays:
// Linux.
const SpotProduct = "Linux/UNIX"

// maxSpotPages bounds the pages of one DescribeSpotPriceHistory.
const maxSpotPages = 20

// spotPriceTimeout bounds the reading of spot prices, retries included, so
// that a throttled or unreachable history call delays a launch or describe
// only this long (the price then falls back to the cap).
const spotPriceTimeout = 10 * time.Second

type spotKey struct{ region, zone, typ string }

// spotQuote is what EC2 said of one type in one zone.
type spotQuote struct {
	micros int64     // the market price; 0: unknown
	since  time.Time // when it took effect
	why    string    // why it is unknown
	read   time.Time // when EC2 was asked
}

// spotPrices caches spot quotes.
type spotPrices struct {
	ttl    time.Duration
	mu     sync.Mutex
	quotes map[spotKey]spotQuote
}

// zoneOf returns the availability zone EC2 reports for in.
func zoneOf(in types.Instance) string {
	if in.Placement == nil {
		return ""
	}
	return awssdk.ToString(in.Placement.AvailabilityZone)
}

// priceSpot sets PriceMicros and PriceSince of the spot instances among
// insts (zones[i] is the zone of insts[i]) to the spot price they pay now:
// the market price, capped at the PriceMicros toInstance gave them (the
// max price, else the on-demand price). Instances whose price is unknown
// keep the cap.
func (p *Provider) priceSpot(ctx context.Context, region string, c EC2API, insts []provider.Instance, zones []string) {
	need := map[spotKey][]string{} // → ids of the instances that need it
	for i, in := range insts {
		if in.Spot && in.State != provider.StateTerminated && in.PriceMicros > 0 {
			k := spotKey{region, zones[i], in.Type}
			need[k] = append(need[k], in.ID)
		}
	}
	if len(need) == 0 {
		return
	}
	quotes := p.spotQuotes(ctx, c, need)
	for i := range insts {
		in := &insts[i]
		q, ok := quotes[spotKey{region, zones[i], in.Type}]
		if !ok || !in.Spot || in.State == provider.StateTerminated || q.micros <= 0 {
			continue
		}
		in.PriceMicros = min(q.micros, in.PriceMicros)
		in.PriceSince = q.since
	}
}

// spotQuotes returns the quotes of keys, from the cache or from one
// DescribeSpotPriceHistory for those missing or stale.
func (p *Provider) spotQuotes(ctx context.Context, c EC2API, need map[spotKey][]string) map[spotKey]spotQuote {
	now := p.clock.Now()
	out := map[spotKey]spotQuote{}
	var missing []spotKey
	p.spot.mu.Lock()
	for k := range need {
		if q, ok := p.spot.quotes[k]; ok && now.Sub(q.read) < p.spot.ttl && !q.read.After(now) {
			out[k] = q
		} else {
			missing = append(missing, k)
		}
	}
	p.spot.mu.Unlock()
	if len(missing) == 0 {
		return out
	}
	fresh := p.readSpotPrices(ctx, c, missing, now)
	p.spot.mu.Lock()
	if p.spot.quotes == nil {
		p.spot.quotes = map[spotKey]spotQuote{}
	}
	for k, q := range fresh {
		p.spot.quotes[k] = q
		out[k] = q
	}
	p.spot.mu.Unlock()
	for _, k := range slices.SortedFunc(maps.Keys(fresh), func(a, b spotKey) int {
		return cmp.Or(cmp.Compare(a.zone, b.zone), cmp.Compare(a.typ, b.typ))
	}) {
		if q := fresh[k]; q.micros <= 0 {
			p.log.Warn("spot price unknown: charging the instances their max price (or the on-demand price without one), an upper bound",
				"region", k.region, "zone", k.zone, "type", k.typ, "instances", need[k], "reason", q.why)
		}
	}
	return out
}

// readSpotPrices asks EC2 for the Linux/UNIX spot prices in effect at now
// of keys (all of one region).
func (p *Provider) readSpotPrices(ctx context.Context, c EC2API, keys []spotKey, now time.Time) map[spotKey]spotQuote {
	out := map[spotKey]spotQuote{}
	unknown := func(why string) map[spotKey]spotQuote {
		for _, k := range keys {
			if _, ok := out[k]; !ok {
				out[k] = spotQuote{why: why, read: now}
			}
		}
		return out
	}
	var typs []types.InstanceType
	var zones []string
	for _, k := range keys {
		if k.zone == "" {
			out[k] = spotQuote{why: "EC2 reports no availability zone for the instance", read: now}
			continue
		}
		if !slices.Contains(typs, types.InstanceType(k.typ)) {
			typs = append(typs, types.InstanceType(k.typ))
		}
		if !slices.Contains(zones, k.zone) {
			zones = append(zones, k.zone)
		}
	}
	if len(typs) == 0 {
		return out
	}
	slices.Sort(typs)
	slices.Sort(zones)
	in := &ec2.DescribeSpotPriceHistoryInput{
		InstanceTypes:       typs,
		ProductDescriptions: []string{SpotProduct},
		Filters:             []types.Filter{{Name: awssdk.String("availability-zone"), Values: zones}},
		StartTime:           awssdk.Time(now),
		EndTime:             awssdk.Time(now),
	}
	type found struct {
		micros int64
		at     time.Time
	}
	latest := map[spotKey]found{}
	region := keys[0].region
	ctx, cancel := context.WithTimeout(ctx, spotPriceTimeout)
	defer cancel()
	pages := ec2.NewDescribeSpotPriceHistoryPaginator(c, in)
	for n := 0; pages.HasMorePages(); n++ {
		if n == maxSpotPages {
			break
		}
		page, err := pages.NextPage(ctx)
		if err != nil {
			return unknown(mapError("DescribeSpotPriceHistory", region, "", err).Error())
		}
		for _, sp := range page.SpotPriceHistory {
			if string(sp.ProductDescription) != SpotProduct || sp.Timestamp == nil || sp.Timestamp.After(now) {
				continue
			}
			k := spotKey{region, awssdk.ToString(sp.AvailabilityZone), string(sp.InstanceType)}
			price, err := cost.ParseDollars(awssdk.ToString(sp.SpotPrice))
			if err != nil || price <= 0 {
				out[k] = spotQuote{why: fmt.Sprintf("EC2 reports the spot price %q, which is not a price in dollars", awssdk.ToString(sp.SpotPrice)), read: now}
				continue
			}
			if f, ok := latest[k]; !ok || sp.Timestamp.After(f.at) {
				latest[k] = found{int64(price), *sp.Timestamp}
			}
		}
	}
	for _, k := range keys {
		if f, ok := latest[k]; ok {
			out[k] = spotQuote{micros: f.micros, since: f.at, read: now}
		}
	}
	return unknown(fmt.Sprintf("EC2 has no %s spot price history for the type in the zone", SpotProduct))
}
