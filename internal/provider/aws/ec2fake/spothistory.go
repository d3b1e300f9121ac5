package ec2fake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/internal/cost"
)

// ActionDescribeSpotPriceHistory is the spot price history call.
const ActionDescribeSpotPriceHistory = "DescribeSpotPriceHistory"

// ProductLinux is the product description of Linux spot prices.
const ProductLinux = "Linux/UNIX"

// productDescriptions are the product descriptions EC2 accepts.
var productDescriptions = []string{
	"Linux/UNIX", "Linux/UNIX (Amazon VPC)", "SUSE Linux", "SUSE Linux (Amazon VPC)",
	"Red Hat Enterprise Linux", "Red Hat Enterprise Linux (Amazon VPC)",
	"Windows", "Windows (Amazon VPC)",
}

// spotHistory is the programmed spot price history of every region:
// price changes per zone, type and product, oldest first.
type spotHistory map[spotKey][]spotChange

type spotKey struct{ region, zone, typ, product string }

type spotChange struct {
	at     time.Time
	micros int64
}

// DefaultZone is the zone of region an instance is placed in when the
// request names none: the region's name and "a".
func DefaultZone(region string) string { return region + "a" }

// validZone reports whether zone is a zone of region: the region's name
// and one lowercase letter.
func validZone(region, zone string) bool {
	rest, ok := strings.CutPrefix(zone, region)
	return ok && len(rest) == 1 && rest[0] >= 'a' && rest[0] <= 'z'
}

// SetSpotPrice records that the Linux/UNIX spot price of typ in zone (of
// region) became micros micro-dollars an hour at at. A type and zone with
// no price set have no history: DescribeSpotPriceHistory lists nothing for
// them, and RunInstances compares a spot request's MaxPrice with
// SpotPrice(typ) instead.
func (f *Fake) SetSpotPrice(region, zone, typ string, at time.Time, micros int64) error {
	if !validZone(region, zone) {
		return fmt.Errorf("ec2fake: %q is not a zone of region %s (the region's name and a letter)", zone, region)
	}
	if _, ok := f.opts.Catalog.Lookup(typ); !ok {
		return fmt.Errorf("ec2fake: unknown instance type %q", typ)
	}
	if micros <= 0 {
		return fmt.Errorf("ec2fake: spot price %d: must be positive", micros)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.spot == nil {
		f.spot = spotHistory{}
	}
	k := spotKey{region, zone, typ, ProductLinux}
	h := append(f.spot[k], spotChange{at: at.UTC().Truncate(time.Second), micros: micros})
	slices.SortStableFunc(h, func(a, b spotChange) int { return a.at.Compare(b.at) })
	f.spot[k] = h
	return nil
}

// spotPriceAt returns the Linux/UNIX spot price of typ in zone in effect
// at t: the programmed one, else SpotPrice(typ). The caller holds f.mu.
func (f *Fake) spotPriceAt(region, zone, typ string, t time.Time) int64 {
	h := f.spot[spotKey{region, zone, typ, ProductLinux}]
	for i := len(h) - 1; i >= 0; i-- {
		if !h[i].at.After(t) {
			return h[i].micros
		}
	}
	p, _ := f.SpotPrice(typ)
	return p
}

// DescribeSpotPriceHistory lists spot price changes as EC2 does: those in
// [StartTime, EndTime] (EndTime defaults to now; without StartTime the
// whole history) and, per zone, type and product, the last change at or
// before StartTime, which is the price in effect at StartTime; newest
// first. It checks its inputs as EC2 does: known instance types and
// product descriptions, a zone of the region, StartTime not after EndTime,
// MaxResults 1 to 1000, a valid NextToken, and the filters
// availability-zone, instance-type and product-description (the fake does
// not model zone ids: AvailabilityZoneId is refused).
func (c *Client) DescribeSpotPriceHistory(ctx context.Context, in *ec2.DescribeSpotPriceHistoryInput, _ ...func(*ec2.Options)) (*ec2.DescribeSpotPriceHistoryOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DescribeSpotPriceHistoryInput{}
	}
	if err := f.begin(ctx, ActionDescribeSpotPriceHistory, in.DryRun); err != nil {
		return nil, err
	}
	now := f.clock.Now()
	if in.AvailabilityZoneId != nil {
		if in.AvailabilityZone != nil {
			return nil, APIError("InvalidParameterCombination", "Only one of AvailabilityZone or AvailabilityZoneId can be specified")
		}
		return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid availability zone id: [%s]", aws.ToString(in.AvailabilityZoneId)))
	}
	zones := map[string]bool{}
	if in.AvailabilityZone != nil {
		z := aws.ToString(in.AvailabilityZone)
		if !validZone(c.region, z) {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid availability zone: [%s]", z))
		}
		zones[z] = true
	}
	typs := map[string]bool{}
	for _, t := range in.InstanceTypes {
		if _, ok := f.opts.Catalog.Lookup(string(t)); !ok {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for InstanceType.", t))
		}
		typs[string(t)] = true
	}
	products := map[string]bool{}
	for _, p := range in.ProductDescriptions {
		if !slices.Contains(productDescriptions, p) {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for ProductDescription.", p))
		}
		products[p] = true
	}
	// Filters narrow further: values of one filter are ORed, filters ANDed.
	var filters []func(spotKey) bool
	for _, flt := range in.Filters {
		name, values := aws.ToString(flt.Name), slices.Clone(flt.Values)
		if len(values) == 0 {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The filter '%s' has no values", name))
		}
		anyOf := func(s string) bool {
			return slices.ContainsFunc(values, func(v string) bool { return glob(v, s) })
		}
		switch name {
		case "availability-zone":
			filters = append(filters, func(k spotKey) bool { return anyOf(k.zone) })
		case "instance-type":
			filters = append(filters, func(k spotKey) bool { return anyOf(k.typ) })
		case "product-description":
			filters = append(filters, func(k spotKey) bool { return anyOf(k.product) })
		default:
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name))
		}
	}
	end := now
	if in.EndTime != nil {
		end = *in.EndTime
		if end.After(now) {
			end = now
		}
	}
	var start time.Time
	if in.StartTime != nil {
		start = *in.StartTime
		if in.EndTime != nil && start.After(*in.EndTime) {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The start time %s must not be after the end time %s", start.UTC().Format(time.RFC3339), in.EndTime.UTC().Format(time.RFC3339)))
		}
	}
	limit := 1000
	if in.MaxResults != nil {
		n := aws.ToInt32(in.MaxResults)
		if n < 1 || n > 1000 {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Value ( %d ) for parameter maxResults is invalid. Expecting a value between 1 and 1000.", n))
		}
		limit = int(n)
	}
	skip := 0
	if tok := aws.ToString(in.NextToken); tok != "" {
		n, ok := decodeToken(tok)
		if !ok {
			return nil, APIError("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
		}
		skip = int(n)
	}

	var all []types.SpotPrice
	for k, h := range f.spot {
		if k.region != c.region ||
			(len(zones) > 0 && !zones[k.zone]) || (len(typs) > 0 && !typs[k.typ]) ||
			(len(products) > 0 && !products[k.product]) ||
			slices.ContainsFunc(filters, func(m func(spotKey) bool) bool { return !m(k) }) {
			continue
		}
		for i, ch := range h {
			if ch.at.After(end) {
				break
			}
			inRange := !ch.at.Before(start)
			effective := !ch.at.After(start) && (i+1 == len(h) || h[i+1].at.After(start))
			if inRange || effective {
				all = append(all, types.SpotPrice{
					AvailabilityZone:   aws.String(k.zone),
					InstanceType:       types.InstanceType(k.typ),
					ProductDescription: types.RIProductDescription(k.product),
					SpotPrice:          aws.String(fmt.Sprintf("%d.%06d", ch.micros/cost.MicrosPerDollar, ch.micros%cost.MicrosPerDollar)),
					Timestamp:          aws.Time(ch.at),
				})
			}
		}
	}
	slices.SortFunc(all, func(a, b types.SpotPrice) int {
		if c := b.Timestamp.Compare(*a.Timestamp); c != 0 {
			return c
		}
		if c := strings.Compare(aws.ToString(a.AvailabilityZone), aws.ToString(b.AvailabilityZone)); c != 0 {
			return c
		}
		return strings.Compare(string(a.InstanceType), string(b.InstanceType))
	})
	out := &ec2.DescribeSpotPriceHistoryOutput{}
	if skip > len(all) {
		skip = len(all)
	}
	all = all[skip:]
	if len(all) > limit {
		out.NextToken = aws.String(encodeToken(int64(skip + limit)))
		all = all[:limit]
	}
	out.SpotPriceHistory = all
	return out, nil
}
