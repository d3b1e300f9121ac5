package ec2fake_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
)

const (
	region = "us-east-1"
	image  = "ami-0123456789abcdef0"
)

func newFake(t *testing.T, opts ec2fake.Options) (*ec2fake.Fake, *ec2fake.Client, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	opts.Clock = clk
	f := ec2fake.New(opts)
	return f, f.Client(region), clk
}

func runInput(token string, tags map[string]string) *ec2.RunInstancesInput {
	in := &ec2.RunInstancesInput{
		MinCount:     aws.Int32(1),
		MaxCount:     aws.Int32(1),
		ImageId:      aws.String(image),
		InstanceType: types.InstanceTypeT3Micro,
	}
	if token != "" {
		in.ClientToken = aws.String(token)
	}
	if len(tags) > 0 {
		ts := types.TagSpecification{ResourceType: types.ResourceTypeInstance}
		for k, v := range tags {
			ts.Tags = append(ts.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		in.TagSpecifications = []types.TagSpecification{ts}
	}
	return in
}

func run(t *testing.T, c *ec2fake.Client, in *ec2.RunInstancesInput) types.Instance {
	t.Helper()
	out, err := c.RunInstances(context.Background(), in)
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	if len(out.Instances) != 1 {
		t.Fatalf("RunInstances returned %d instances", len(out.Instances))
	}
	return out.Instances[0]
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Errorf("%s: %v, want EC2 error %s", what, err, code)
	}
}

func describeIDs(t *testing.T, c *ec2fake.Client, in *ec2.DescribeInstancesInput) []string {
	t.Helper()
	out, err := c.DescribeInstances(context.Background(), in)
	if err != nil {
		t.Fatalf("DescribeInstances: %v", err)
	}
	var ids []string
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			ids = append(ids, *i.InstanceId)
		}
	}
	return ids
}

func state(t *testing.T, f *ec2fake.Fake, id string) types.InstanceStateName {
	t.Helper()
	in, ok := f.Instance(region, id)
	if !ok {
		return "absent"
	}
	return in.State.Name
}

func TestClientTokenIdempotency(t *testing.T) {
	t.Parallel()
	f, c, _ := newFake(t, ec2fake.Options{})
	a := run(t, c, runInput("tok", map[string]string{"k": "v"}))
	b := run(t, c, runInput("tok", map[string]string{"k": "v"}))
	if *a.InstanceId != *b.InstanceId {
		t.Errorf("same token made %s and %s", *a.InstanceId, *b.InstanceId)
	}
	other := runInput("tok", map[string]string{"k": "v"})
	other.InstanceType = types.InstanceTypeT3Small
	_, err := c.RunInstances(context.Background(), other)
	wantCode(t, "same token, other type", err, "IdempotentParameterMismatch")
	// Tokens are per region.
	d := run(t, f.Client("eu-west-1"), runInput("tok", map[string]string{"k": "v"}))
	if *d.InstanceId == *a.InstanceId {
		t.Error("a token in another region returned the same instance")
	}
	e := run(t, c, runInput("", nil))
	g := run(t, c, runInput("", nil))
	if *e.InstanceId == *g.InstanceId {
		t.Error("two launches without a token made one instance")
	}
	_, err = c.RunInstances(context.Background(), runInput(fmt.Sprintf("%065d", 1), nil))
	wantCode(t, "65-character token", err, "InvalidParameterValue")
}

func TestRunInstancesValidation(t *testing.T) {
	t.Parallel()
	f, c, _ := newFake(t, ec2fake.Options{Images: []string{image}})
	for _, tc := range []struct {
		name string
		edit func(*ec2.RunInstancesInput)
		code string
	}{
		{"no MinCount", func(in *ec2.RunInstancesInput) { in.MinCount = nil }, "MissingParameter"},
		{"min above max", func(in *ec2.RunInstancesInput) { in.MinCount = aws.Int32(2) }, "InvalidParameterValue"},
		{"no image", func(in *ec2.RunInstancesInput) { in.ImageId = nil }, "MissingParameter"},
		{"malformed image", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("ubuntu") }, "InvalidAMIID.Malformed"},
		{"unknown image", func(in *ec2.RunInstancesInput) { in.ImageId = aws.String("ami-00000000") }, "InvalidAMIID.NotFound"},
		{"unknown type", func(in *ec2.RunInstancesInput) { in.InstanceType = "t9.huge" }, "InvalidParameterValue"},
		{"aws: tag", func(in *ec2.RunInstancesInput) {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("1")}}}}
		}, "InvalidParameterValue"},
		{"tag value too long", func(in *ec2.RunInstancesInput) {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}}}
		}, "InvalidParameterValue"},
		{"user data not base64", func(in *ec2.RunInstancesInput) { in.UserData = aws.String("#!/bin/sh") }, "InvalidParameterValue"},
		{"bad spot price", func(in *ec2.RunInstancesInput) {
			in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot, SpotOptions: &types.SpotMarketOptions{MaxPrice: aws.String("cheap")}}
		}, "InvalidParameterValue"},
		{"spot price too low", func(in *ec2.RunInstancesInput) {
			in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot, SpotOptions: &types.SpotMarketOptions{MaxPrice: aws.String("0.000001")}}
		}, "SpotMaxPriceTooLow"},
		{"dry run", func(in *ec2.RunInstancesInput) { in.DryRun = aws.Bool(true) }, "DryRunOperation"},
	} {
		in := runInput("", nil)
		tc.edit(in)
		_, err := c.RunInstances(context.Background(), in)
		wantCode(t, tc.name, err, tc.code)
	}
	if ids := describeIDs(t, c, &ec2.DescribeInstancesInput{}); len(ids) != 0 {
		t.Errorf("refused launches left instances %v", ids)
	}
	if got := len(f.RunInstancesInputs()); got != 12 {
		t.Errorf("RunInstancesInputs has %d entries, want 12", got)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, c, clk := newFake(t, ec2fake.Options{BootDelay: 10 * time.Second, StopDelay: 5 * time.Second, TerminateDelay: 5 * time.Second})
	id := *run(t, c, runInput("", nil)).InstanceId
	ids := []string{id}

	_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	wantCode(t, "stop pending", err, "IncorrectInstanceState")
	clk.Advance(10 * time.Second)
	if s := state(t, f, id); s != types.InstanceStateNameRunning {
		t.Fatalf("after boot delay: %s", s)
	}
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids}); err != nil {
		t.Errorf("start running: %v, want success", err)
	}
	out, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids})
	if err != nil || out.StoppingInstances[0].CurrentState.Name != types.InstanceStateNameStopping || out.StoppingInstances[0].PreviousState.Name != types.InstanceStateNameRunning {
		t.Fatalf("stop: %+v, %v", out, err)
	}
	_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids})
	wantCode(t, "start stopping", err, "IncorrectInstanceState")
	clk.Advance(5 * time.Second)
	in, _ := f.Instance(region, id)
	if in.State.Name != types.InstanceStateNameStopped || *in.StateTransitionReason != "User initiated (2026-11-02 09:00:10 GMT)" {
		t.Errorf("stopped instance: %s %q", in.State.Name, *in.StateTransitionReason)
	}
	clk.Advance(time.Minute)
	if _, err := c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatal(err)
	}
	in, _ = f.Instance(region, id)
	if in.State.Name != types.InstanceStateNamePending || !in.LaunchTime.Equal(clk.Now()) {
		t.Errorf("restarted: %s launched %v, want pending with LaunchTime now", in.State.Name, in.LaunchTime)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Fatal(err)
	}
	if s := state(t, f, id); s != types.InstanceStateNameShuttingDown {
		t.Errorf("after terminate: %s", s)
	}
	clk.Advance(5 * time.Second)
	if s := state(t, f, id); s != types.InstanceStateNameTerminated {
		t.Errorf("after terminate delay: %s", s)
	}
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); err != nil {
		t.Errorf("terminate terminated: %v, want success", err)
	}
	_, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids})
	wantCode(t, "start terminated", err, "IncorrectInstanceState")
	if got := describeIDs(t, c, &ec2.DescribeInstancesInput{}); !slices.Equal(got, ids) {
		t.Errorf("terminated instance not listed: %v", got)
	}
	clk.Advance(ec2fake.DefaultTerminatedRetention)
	if got := describeIDs(t, c, &ec2.DescribeInstancesInput{}); len(got) != 0 {
		t.Errorf("terminated instance still listed after an hour: %v", got)
	}
	_, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
	wantCode(t, "terminate purged", err, "InvalidInstanceID.NotFound")
	_, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-nope"}})
	wantCode(t, "malformed id", err, "InvalidInstanceID.Malformed")
}

func TestPurgeForgetsToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c, clk := newFake(t, ec2fake.Options{})
	a := *run(t, c, runInput("tok", nil)).InstanceId
	if _, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{a}}); err != nil {
		t.Fatal(err)
	}
	if b := *run(t, c, runInput("tok", nil)).InstanceId; b != a {
		t.Errorf("token of a terminated instance made %s, want %s", b, a)
	}
	clk.Advance(2 * time.Hour)
	if b := *run(t, c, runInput("tok", nil)).InstanceId; b == a {
		t.Error("token of a purged instance still returns it")
	}
}

func TestSpot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, c, _ := newFake(t, ec2fake.Options{})
	in := runInput("", nil)
	in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot}
	inst := run(t, c, in)
	if inst.InstanceLifecycle != types.InstanceLifecycleTypeSpot || inst.SpotInstanceRequestId == nil {
		t.Errorf("spot instance: lifecycle %q request %v", inst.InstanceLifecycle, inst.SpotInstanceRequestId)
	}
	id := *inst.InstanceId
	describeIDs(t, c, &ec2.DescribeInstancesInput{}) // running now
	_, err := c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
	wantCode(t, "stop one-time spot", err, "UnsupportedOperation")
	if err := f.Reclaim(region, id); err != nil {
		t.Fatal(err)
	}
	got, _ := f.Instance(region, id)
	if got.StateReason == nil || *got.StateReason.Code != "Server.SpotInstanceTermination" {
		t.Errorf("reclaimed instance state reason %+v", got.StateReason)
	}
	od := *run(t, c, runInput("", nil)).InstanceId
	if err := f.Reclaim(region, od); err == nil {
		t.Error("Reclaim of an on-demand instance succeeded")
	}
	if p, ok := f.SpotPrice("t3.micro"); !ok || p != 10_400*30/100 {
		t.Errorf("SpotPrice(t3.micro) = %d, %v", p, ok)
	}
}

func TestDescribePagination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c, _ := newFake(t, ec2fake.Options{})
	var all []string
	for range 12 {
		all = append(all, *run(t, c, runInput("", nil)).InstanceId)
	}
	for _, n := range []int32{4, 1001, 0} {
		_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(n)})
		wantCode(t, fmt.Sprintf("MaxResults %d", n), err, "InvalidParameterValue")
	}
	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), InstanceIds: all[:1]})
	wantCode(t, "MaxResults with InstanceIds", err, "InvalidParameterCombination")
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{NextToken: aws.String("bogus")})
	wantCode(t, "bad NextToken", err, "InvalidPaginationToken")

	var got []string
	pages := 0
	p := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range out.Reservations {
			for _, i := range r.Instances {
				got = append(got, *i.InstanceId)
			}
		}
	}
	if pages != 3 || !slices.Equal(got, all) {
		t.Errorf("%d pages listing %v, want 3 pages listing %v", pages, got, all)
	}
}

func TestDescribeFilters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, c, _ := newFake(t, ec2fake.Options{})
	a := *run(t, c, runInput("", map[string]string{"Name": "head-1", "team": "a*"})).InstanceId
	b := *run(t, c, runInput("", map[string]string{"Name": "node-1", "team": "ab"})).InstanceId
	d := *run(t, c, runInput("", map[string]string{"Other": "x"})).InstanceId
	filter := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	for _, tc := range []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"tag value", []types.Filter{filter("tag:Name", "node-1")}, []string{b}},
		{"values are ORed", []types.Filter{filter("tag:Name", "node-1", "head-1")}, []string{a, b}},
		{"filters are ANDed", []types.Filter{filter("tag:Name", "node-1", "head-1"), filter("tag:team", "ab")}, []string{b}},
		{"wildcard", []types.Filter{filter("tag:Name", "*-1")}, []string{a, b}},
		{"question mark is zero or one", []types.Filter{filter("tag:team", "a?")}, []string{a, b}},
		{"escaped wildcard", []types.Filter{filter("tag:team", `a\*`)}, []string{a}},
		{"tag-key", []types.Filter{filter("tag-key", "Other")}, []string{d}},
		{"instance-id", []types.Filter{filter("instance-id", a, "i-0123456789abcdef0")}, []string{a}},
		{"state", []types.Filter{filter("instance-state-name", "running")}, []string{a, b, d}}, // BootDelay 0
	} {
		got := describeIDs(t, c, &ec2.DescribeInstancesInput{Filters: tc.filters})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("colour", "red")}})
	wantCode(t, "unknown filter", err, "InvalidParameterValue")
	_, err = c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{a, "i-0123456789abcdef0"}})
	wantCode(t, "unknown id", err, "InvalidInstanceID.NotFound")
}

func TestEventualConsistency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, c, _ := newFake(t, ec2fake.Options{HideNew: 2})
	id := *run(t, c, runInput("", nil)).InstanceId
	if got := describeIDs(t, c, &ec2.DescribeInstancesInput{}); len(got) != 0 {
		t.Errorf("first describe lists %v, want the new instance missing", got)
	}
	_, err := c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
	wantCode(t, "terminate while hidden", err, "InvalidInstanceID.NotFound")
	if got := describeIDs(t, c, &ec2.DescribeInstancesInput{}); !slices.Equal(got, []string{id}) {
		t.Errorf("third call lists %v, want %s", got, id)
	}
	f.SetHideNew(0)
	if got := describeIDs(t, c, &ec2.DescribeInstancesInput{InstanceIds: []string{*run(t, c, runInput("", nil)).InstanceId}}); len(got) != 1 {
		t.Errorf("with HideNew 0 a new instance is missing: %v", got)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f, c, _ := newFake(t, ec2fake.Options{})
	f.Throttle(2)
	for i := range 2 {
		_, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
		wantCode(t, fmt.Sprintf("throttled call %d", i), err, "RequestLimitExceeded")
	}
	if _, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Errorf("third call: %v", err)
	}
	f.NoCapacity("t3.micro", "InsufficientInstanceCapacity")
	_, err := c.RunInstances(ctx, runInput("", nil))
	wantCode(t, "no capacity", err, "InsufficientInstanceCapacity")
	f.NoCapacity("t3.micro", "")
	run(t, c, runInput("", nil))
	f.Deny(ec2fake.ActionRunInstances)
	_, err = c.RunInstances(ctx, runInput("", nil))
	wantCode(t, "denied", err, "UnauthorizedOperation")
	f.Allow(ec2fake.ActionRunInstances)
	run(t, c, runInput("", nil))
	if n := f.Calls(ec2fake.ActionRunInstances); n != 4 {
		t.Errorf("Calls(RunInstances) = %d, want 4", n)
	}
}

// TestClientOptions drives the fake through a real *ec2.Client.
func TestClientOptions(t *testing.T) {
	t.Parallel()
	f, _, _ := newFake(t, ec2fake.Options{})
	client := ec2.New(ec2.Options{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	}, f.ClientOptions())
	ctx := context.Background()
	out, err := client.RunInstances(ctx, runInput("", nil))
	if err != nil {
		t.Fatalf("RunInstances through ec2.Client: %v", err)
	}
	id := *out.Instances[0].InstanceId
	// The SDK filled in an idempotency token.
	if in := f.RunInstancesInputs()[0]; aws.ToString(in.ClientToken) == "" {
		t.Error("the SDK's idempotency token did not reach the fake")
	}
	if _, ok := f.Instance("eu-west-1", id); !ok {
		t.Errorf("instance %s is not in the client's region", id)
	}
	_, err = client.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantCode(t, "stop unknown through ec2.Client", err, "InvalidInstanceID.NotFound")
}
