package ec2fake_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
)

// history renders a page of spot prices as "zone type price @minutes since t0".
func history(out *ec2.DescribeSpotPriceHistoryOutput, t0 time.Time) []string {
	var s []string
	for _, p := range out.SpotPriceHistory {
		s = append(s, fmt.Sprintf("%s %s %s %s @%v", aws.ToString(p.AvailabilityZone), p.InstanceType,
			p.ProductDescription, aws.ToString(p.SpotPrice), p.Timestamp.Sub(t0)))
	}
	return s
}

func TestDescribeSpotPriceHistory(t *testing.T) {
	t.Parallel()
	f, c, clk := newFake(t, ec2fake.Options{})
	t0 := clk.Now()
	ctx := context.Background()
	for _, p := range []struct {
		zone, typ string
		at        time.Duration
		micros    int64
	}{
		{"us-east-1a", "c5.large", -3 * time.Hour, 31_200},
		{"us-east-1a", "c5.large", -time.Hour, 29_800},
		{"us-east-1a", "c5.large", time.Hour, 40_000}, // not yet
		{"us-east-1b", "c5.large", -2 * time.Hour, 30_100},
		{"us-east-1a", "t3.micro", -30 * time.Minute, 3_120},
	} {
		if err := f.SetSpotPrice(region, p.zone, p.typ, t0.Add(p.at), p.micros); err != nil {
			t.Fatal(err)
		}
	}
	now := aws.Time(t0)
	for _, tc := range []struct {
		name string
		in   *ec2.DescribeSpotPriceHistoryInput
		want []string
	}{
		{name: "price in effect now, every zone", in: &ec2.DescribeSpotPriceHistoryInput{
			InstanceTypes: []types.InstanceType{"c5.large"}, ProductDescriptions: []string{"Linux/UNIX"}, StartTime: now, EndTime: now},
			want: []string{"us-east-1a c5.large Linux/UNIX 0.029800 @-1h0m0s", "us-east-1b c5.large Linux/UNIX 0.030100 @-2h0m0s"}},
		{name: "one zone by filter", in: &ec2.DescribeSpotPriceHistoryInput{
			Filters: []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-east-1b"}}}, StartTime: now, EndTime: now},
			want: []string{"us-east-1b c5.large Linux/UNIX 0.030100 @-2h0m0s"}},
		{name: "range: the changes in it and the one in effect at its start, newest first", in: &ec2.DescribeSpotPriceHistoryInput{
			AvailabilityZone: aws.String("us-east-1a"), InstanceTypes: []types.InstanceType{"c5.large"}, StartTime: aws.Time(t0.Add(-2 * time.Hour))},
			want: []string{"us-east-1a c5.large Linux/UNIX 0.029800 @-1h0m0s", "us-east-1a c5.large Linux/UNIX 0.031200 @-3h0m0s"}},
		{name: "other products have no history", in: &ec2.DescribeSpotPriceHistoryInput{ProductDescriptions: []string{"Windows"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.DescribeSpotPriceHistory(ctx, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, history(out, t0)); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}

	// Pagination: every change once, newest first, over pages of two.
	var all []string
	in := &ec2.DescribeSpotPriceHistoryInput{MaxResults: aws.Int32(2)}
	for range 5 {
		out, err := c.DescribeSpotPriceHistory(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, history(out, t0)...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	want := []string{
		"us-east-1a t3.micro Linux/UNIX 0.003120 @-30m0s", "us-east-1a c5.large Linux/UNIX 0.029800 @-1h0m0s",
		"us-east-1b c5.large Linux/UNIX 0.030100 @-2h0m0s", "us-east-1a c5.large Linux/UNIX 0.031200 @-3h0m0s",
	}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("paginated history (-want +got):\n%s", diff)
	}

	// The future change shows once its time has come.
	clk.Advance(time.Hour)
	out, err := c.DescribeSpotPriceHistory(ctx, &ec2.DescribeSpotPriceHistoryInput{
		AvailabilityZone: aws.String("us-east-1a"), InstanceTypes: []types.InstanceType{"c5.large"}, StartTime: aws.Time(clk.Now()), EndTime: aws.Time(clk.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if got := history(out, t0); len(got) != 1 || got[0] != "us-east-1a c5.large Linux/UNIX 0.040000 @1h0m0s" {
		t.Errorf("after the change: %v", got)
	}
}

func TestDescribeSpotPriceHistory_Validation(t *testing.T) {
	t.Parallel()
	f, c, clk := newFake(t, ec2fake.Options{})
	ctx := context.Background()
	t0 := clk.Now()
	for _, tc := range []struct {
		name string
		in   *ec2.DescribeSpotPriceHistoryInput
		code string
	}{
		{"unknown type", &ec2.DescribeSpotPriceHistoryInput{InstanceTypes: []types.InstanceType{"c5.huge"}}, "InvalidParameterValue"},
		{"unknown product", &ec2.DescribeSpotPriceHistoryInput{ProductDescriptions: []string{"Linux"}}, "InvalidParameterValue"},
		{"zone of another region", &ec2.DescribeSpotPriceHistoryInput{AvailabilityZone: aws.String("eu-west-1a")}, "InvalidParameterValue"},
		{"zone and zone id", &ec2.DescribeSpotPriceHistoryInput{AvailabilityZone: aws.String("us-east-1a"), AvailabilityZoneId: aws.String("use1-az1")}, "InvalidParameterCombination"},
		{"start after end", &ec2.DescribeSpotPriceHistoryInput{StartTime: aws.Time(t0), EndTime: aws.Time(t0.Add(-time.Second))}, "InvalidParameterValue"},
		{"max results 0", &ec2.DescribeSpotPriceHistoryInput{MaxResults: aws.Int32(0)}, "InvalidParameterValue"},
		{"max results 1001", &ec2.DescribeSpotPriceHistoryInput{MaxResults: aws.Int32(1001)}, "InvalidParameterValue"},
		{"bad token", &ec2.DescribeSpotPriceHistoryInput{NextToken: aws.String("nope")}, "InvalidPaginationToken"},
		{"unknown filter", &ec2.DescribeSpotPriceHistoryInput{Filters: []types.Filter{{Name: aws.String("spot-price-max"), Values: []string{"1"}}}}, "InvalidParameterValue"},
		{"filter without values", &ec2.DescribeSpotPriceHistoryInput{Filters: []types.Filter{{Name: aws.String("instance-type")}}}, "InvalidParameterValue"},
		{"dry run", &ec2.DescribeSpotPriceHistoryInput{DryRun: aws.Bool(true)}, "DryRunOperation"},
	} {
		_, err := c.DescribeSpotPriceHistory(ctx, tc.in)
		wantCode(t, tc.name, err, tc.code)
	}
	f.Deny(ec2fake.ActionDescribeSpotPriceHistory)
	_, err := c.DescribeSpotPriceHistory(ctx, nil)
	wantCode(t, "denied", err, "UnauthorizedOperation")

	for _, bad := range []struct{ zone, typ string }{{"us-east-1", "c5.large"}, {"us-east-1ab", "c5.large"}, {"eu-west-1a", "c5.large"}, {"us-east-1a", "c5.huge"}} {
		if err := f.SetSpotPrice(region, bad.zone, bad.typ, t0, 1); err == nil {
			t.Errorf("SetSpotPrice(%s, %s) accepted", bad.zone, bad.typ)
		}
	}
	if err := f.SetSpotPrice(region, "us-east-1a", "c5.large", t0, 0); err == nil {
		t.Error("SetSpotPrice with a zero price accepted")
	}
}

// RunInstances places instances in a zone of the region and compares a
// spot MaxPrice with the price in effect in that zone.
func TestRunInstances_SpotPriceOfTheZone(t *testing.T) {
	t.Parallel()
	f, c, clk := newFake(t, ec2fake.Options{})
	ctx := context.Background()
	if err := f.SetSpotPrice(region, "us-east-1b", "t3.micro", clk.Now().Add(-time.Minute), 9_000); err != nil {
		t.Fatal(err)
	}
	spot := func(zone, maxPrice string) *ec2.RunInstancesInput {
		in := runInput("", nil)
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot,
			SpotOptions: &types.SpotMarketOptions{MaxPrice: aws.String(maxPrice)}}
		if zone != "" {
			in.Placement = &types.Placement{AvailabilityZone: aws.String(zone)}
		}
		return in
	}
	// us-east-1a has no programmed price: 30 % of $0.0104 = $0.00312.
	if got := run(t, c, spot("", "0.005")); aws.ToString(got.Placement.AvailabilityZone) != ec2fake.DefaultZone(region) {
		t.Errorf("placed in %v, want %s", aws.ToString(got.Placement.AvailabilityZone), ec2fake.DefaultZone(region))
	}
	_, err := c.RunInstances(ctx, spot("us-east-1b", "0.005"))
	wantCode(t, "max price under the zone's price", err, "SpotMaxPriceTooLow")
	if got := run(t, c, spot("us-east-1b", "0.009")); aws.ToString(got.Placement.AvailabilityZone) != "us-east-1b" {
		t.Errorf("placed in %v, want us-east-1b", aws.ToString(got.Placement.AvailabilityZone))
	}
	_, err = c.RunInstances(ctx, spot("eu-west-1a", "0.009"))
	wantCode(t, "zone of another region", err, "InvalidParameterValue")
}

// The history call answers through a real *ec2.Client too.
func TestDescribeSpotPriceHistory_ThroughClient(t *testing.T) {
	t.Parallel()
	f, _, clk := newFake(t, ec2fake.Options{})
	if err := f.SetSpotPrice("eu-west-1", "eu-west-1c", "c5.large", clk.Now().Add(-time.Hour), 33_000); err != nil {
		t.Fatal(err)
	}
	client := ec2.New(ec2.Options{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	}, f.ClientOptions())
	out, err := client.DescribeSpotPriceHistory(context.Background(), &ec2.DescribeSpotPriceHistoryInput{StartTime: aws.Time(clk.Now())})
	if err != nil {
		t.Fatal(err)
	}
	if got := history(out, clk.Now()); len(got) != 1 || got[0] != "eu-west-1c c5.large Linux/UNIX 0.033000 @-1h0m0s" {
		t.Errorf("history through ec2.Client: %v", got)
	}
}
