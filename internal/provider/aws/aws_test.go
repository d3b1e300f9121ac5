package aws_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stratus-cloud/stratus/internal/awspolicy"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
)

var _ aws.EC2API = (*ec2fake.Client)(nil)

const testImage = "ami-0123456789abcdef0"

var testRegions = []aws.RegionConfig{
	{
		Name:             "us-east-1",
		SubnetID:         "subnet-0aaa",
		SecurityGroupIDs: []string{"sg-0aaa", "sg-0bbb"},
		KeyName:          "stratus",
		InstanceProfile:  "stratus-node",
		ImageID:          testImage,
	},
	{Name: "eu-west-1", ImageID: testImage, InstanceProfile: "arn:aws:iam::123456789012:instance-profile/stratus-node"},
}

// testUserData stands in for the cloud-init renderer.
func testUserData(b provider.AgentBootstrap) ([]byte, error) {
	return []byte("#cloud-config\n# server " + b.ServerURL + "\n"), nil
}

// world is a provider on a fake EC2 and a fake clock.
type world struct {
	p     *aws.Provider
	fake  *ec2fake.Fake
	clock *clock.Fake
}

func newWorld(t *testing.T, fo ec2fake.Options, po aws.Options) *world {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	fo.Clock = clk
	if fo.Images == nil {
		fo.Images = []string{testImage}
	}
	fake := ec2fake.New(fo)
	po.Clock = clk
	if po.Regions == nil {
		po.Regions = testRegions
	}
	if po.NewClient == nil {
		po.NewClient = func(region string) aws.EC2API { return fake.Client(region) }
	}
	if po.NewIAMClient == nil {
		po.NewIAMClient = func() aws.IAMAPI { return fake.IAM() }
	}
	if po.ConsistencyRetryDelay == 0 {
		po.ConsistencyRetryDelay = time.Millisecond
	}
	if po.UserData == nil {
		po.UserData = testUserData
	}
	p, err := aws.New(context.Background(), po)
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	return &world{p: p, fake: fake, clock: clk}
}

var worlds sync.Map // provider.Provider → *world

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			w := newWorld(t, ec2fake.Options{
				BootDelay:      3 * time.Second,
				StopDelay:      2 * time.Second,
				TerminateDelay: 2 * time.Second,
				// Every new instance is missed by the first call naming
				// it, as EC2 may do: the provider must cover for it.
				HideNew: 1,
			}, aws.Options{PageSize: 5})
			worlds.Store(provider.Provider(w.p), w)
			return w.p
		},
		Advance: func(p provider.Provider, d time.Duration) {
			w, _ := worlds.Load(p)
			w.(*world).clock.Advance(d)
		},
		Agent: provider.AgentBootstrap{ServerURL: "https://stratus.example:8443", Token: "agent-token"},
		SetNoCapacity: func(t *testing.T, p provider.Provider, typ string) {
			w, _ := worlds.Load(p)
			w.(*world).fake.NoCapacity(typ, "InsufficientInstanceCapacity")
		},
		// EC2's two-minute notice is not visible through DescribeInstances
		// (only to the instance and EventBridge), so the fake reclaims at
		// once, as DescribeInstances sees it after the notice: the
		// provider reports InterruptionAt from the state reason.
		Reclaim: func(t *testing.T, p provider.Provider, region, id string, _ time.Duration) error {
			w, _ := worlds.Load(p)
			return w.(*world).fake.Reclaim(region, id)
		},
	})
}

func testSpec() provider.LaunchSpec {
	return provider.LaunchSpec{
		Region:       "us-east-1",
		ClientToken:  "c1-node-3-gen-1",
		Type:         "t3.micro",
		RootVolumeGB: 30,
		Tags: map[string]string{
			provider.TagInstallation: "lab",
			provider.TagCluster:      "c1",
			provider.TagOwner:        "alice",
		},
		Agent: provider.AgentBootstrap{ServerURL: "https://cp.example", Token: "secret"},
	}
}

func tagsOf(m map[string]string) []types.Tag {
	var out []types.Tag
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, types.Tag{Key: awssdk.String(k), Value: awssdk.String(m[k])})
	}
	return out
}

var ignoreSDKInternals = cmpopts.IgnoreUnexported(
	ec2.RunInstancesInput{}, types.BlockDeviceMapping{}, types.EbsBlockDevice{}, types.TagSpecification{},
	types.Tag{}, types.InstanceMarketOptionsRequest{}, types.SpotMarketOptions{},
	types.InstanceMetadataOptionsRequest{}, types.IamInstanceProfileSpecification{},
)

func TestLaunch_RunInstancesRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	spec := testSpec()
	spec.Spot = true
	spec.MaxPriceMicros = 52_000
	in, err := w.p.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	inputs := w.fake.RunInstancesInputs()
	if len(inputs) != 1 {
		t.Fatalf("RunInstances called %d times, want 1", len(inputs))
	}
	instanceTags := map[string]string{aws.TagRootVolumeGB: "30", aws.TagSpotMaxPrice: "52000"}
	for k, v := range spec.Tags {
		instanceTags[k] = v
	}
	want := &ec2.RunInstancesInput{
		ClientToken:      awssdk.String("c1-node-3-gen-1"),
		MinCount:         awssdk.Int32(1),
		MaxCount:         awssdk.Int32(1),
		InstanceType:     "t3.micro",
		ImageId:          awssdk.String(testImage),
		SubnetId:         awssdk.String("subnet-0aaa"),
		SecurityGroupIds: []string{"sg-0aaa", "sg-0bbb"},
		KeyName:          awssdk.String("stratus"),
		IamInstanceProfile: &types.IamInstanceProfileSpecification{
			Name: awssdk.String("stratus-node"),
		},
		UserData: awssdk.String(base64.StdEncoding.EncodeToString([]byte("#cloud-config\n# server https://cp.example\n"))),
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: awssdk.String("/dev/xvda"),
			Ebs: &types.EbsBlockDevice{
				VolumeSize:          awssdk.Int32(30),
				VolumeType:          types.VolumeTypeGp3,
				DeleteOnTermination: awssdk.Bool(true),
			},
		}},
		MetadataOptions: &types.InstanceMetadataOptionsRequest{
			HttpTokens:   types.HttpTokensStateRequired,
			HttpEndpoint: types.InstanceMetadataEndpointStateEnabled,
		},
		InstanceMarketOptions: &types.InstanceMarketOptionsRequest{
			MarketType: types.MarketTypeSpot,
			SpotOptions: &types.SpotMarketOptions{
				MaxPrice:                     awssdk.String("0.052"),
				SpotInstanceType:             types.SpotInstanceTypeOneTime,
				InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorTerminate,
			},
		},
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: tagsOf(instanceTags)},
			{ResourceType: types.ResourceTypeVolume, Tags: tagsOf(spec.Tags)},
		},
	}
	if diff := cmp.Diff(want, inputs[0], ignoreSDKInternals); diff != "" {
		t.Errorf("RunInstances input (-want +got):\n%s", diff)
	}
	if !in.Spot || in.PriceMicros != 52_000 || in.RootVolumeGB != 30 || in.State != provider.StatePending {
		t.Errorf("Launch returned %+v, want a pending spot instance at the max price 52000 with 30 GB", in)
	}
	if diff := cmp.Diff(spec.Tags, in.Tags); diff != "" {
		t.Errorf("Launch tags (-want +got), reserved tags must be hidden:\n%s", diff)
	}
}

func TestLaunch_OnDemandOmitsMarketOptions(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	spec := testSpec()
	spec.Region = "eu-west-1"
	spec.RootVolumeGB = 0
	spec.MaxPriceMicros = 99 // ignored without Spot
	if _, err := w.p.Launch(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	got := w.fake.RunInstancesInputs()[0]
	if got.InstanceMarketOptions != nil {
		t.Errorf("on-demand launch has InstanceMarketOptions %+v", got.InstanceMarketOptions)
	}
	if got.BlockDeviceMappings[0].Ebs.VolumeSize != nil {
		t.Errorf("RootVolumeGB 0 sets VolumeSize %d, want the image's size", *got.BlockDeviceMappings[0].Ebs.VolumeSize)
	}
	if arn := awssdk.ToString(got.IamInstanceProfile.Arn); !strings.HasPrefix(arn, "arn:aws:iam::") || got.IamInstanceProfile.Name != nil {
		t.Errorf("instance profile ARN sent as %+v, want Arn only", got.IamInstanceProfile)
	}
	if got.SubnetId != nil || got.KeyName != nil || len(got.SecurityGroupIds) != 0 {
		t.Errorf("unconfigured subnet/key/groups sent: %v %v %v", got.SubnetId, got.KeyName, got.SecurityGroupIds)
	}
}

func TestLaunch_Validation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{
		Regions: []aws.RegionConfig{{Name: "us-east-1"}}, // no image
	})
	for _, tc := range []struct {
		name  string
		edit  func(*provider.LaunchSpec)
		field string
	}{
		{"unknown type", func(s *provider.LaunchSpec) { s.Type = "t3.mikro" }, "type"},
		{"no image", func(s *provider.LaunchSpec) {}, "image"},
		{"reserved tag", func(s *provider.LaunchSpec) { s.Tags[aws.TagSpotMaxPrice] = "1" }, "tags"},
		{"negative volume", func(s *provider.LaunchSpec) { s.RootVolumeGB = -1 }, "root_volume_gb"},
		{"unknown region", func(s *provider.LaunchSpec) { s.Region = "mars-1" }, "region"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec()
			tc.edit(&spec)
			_, err := w.p.Launch(context.Background(), spec)
			var ie *provider.InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("Launch: %v, want *provider.InvalidError on %s", err, tc.field)
			}
		})
	}
	if n := w.fake.Calls(ec2fake.ActionRunInstances); n != 0 {
		t.Errorf("invalid launches reached EC2 %d times", n)
	}
}

func TestLaunch_LongClientTokenStaysIdempotent(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	spec := testSpec()
	spec.ClientToken = strings.Repeat("cluster-c1/node-7/generation-3/", 4)
	a, err := w.p.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := w.p.Launch(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Errorf("same long token launched %s and %s", a.ID, b.ID)
	}
	if tok := awssdk.ToString(w.fake.RunInstancesInputs()[0].ClientToken); len(tok) > 64 || tok == spec.ClientToken {
		t.Errorf("client token sent as %q (%d chars), want a digest of at most 64", tok, len(tok))
	}
}

func TestClientToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tok      string
		verbatim bool
	}{
		{"c1-node-3-gen-1", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"café", false},
	} {
		got := aws.ClientToken(tc.tok)
		if (got == tc.tok) != tc.verbatim || len(got) > 64 {
			t.Errorf("ClientToken(%q) = %q, verbatim want %v", tc.tok, got, tc.verbatim)
		}
		if got != aws.ClientToken(tc.tok) {
			t.Errorf("ClientToken(%q) is not deterministic", tc.tok)
		}
	}
	if aws.ClientToken(strings.Repeat("a", 70)) == aws.ClientToken(strings.Repeat("a", 71)) {
		t.Error("two long tokens map to one EC2 token")
	}
}

func TestDescribe_PaginatesWithPageSize(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{PageSize: 5})
	ctx := context.Background()
	var want []string
	for i := range 12 {
		spec := testSpec()
		spec.ClientToken = fmt.Sprintf("tok-%d", i)
		in, err := w.p.Launch(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, in.ID)
	}
	before := w.fake.Calls(ec2fake.ActionDescribeInstances)
	got, err := w.p.Describe(ctx, "us-east-1", provider.Filter{Tags: map[string]string{provider.TagCluster: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
	}
	slices.Sort(ids)
	slices.Sort(want)
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("Describe ids (-want +got):\n%s", diff)
	}
	if calls := w.fake.Calls(ec2fake.ActionDescribeInstances) - before; calls != 3 {
		t.Errorf("12 instances in pages of 5 took %d DescribeInstances calls, want 3", calls)
	}
}

func TestDescribe_Filters(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	ctx := context.Background()
	launch := func(tok string, tags map[string]string) string {
		spec := testSpec()
		spec.ClientToken = tok
		spec.Tags = tags
		in, err := w.p.Launch(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return in.ID
	}
	a := launch("a", map[string]string{"team": "x*", "role": "head"})
	b := launch("b", map[string]string{"team": "xy", "role": "compute"})
	c := launch("c", map[string]string{"team": "xy"})
	for _, tc := range []struct {
		name string
		f    provider.Filter
		want []string
	}{
		{"literal wildcard value", provider.Filter{Tags: map[string]string{"team": "x*"}}, []string{a}},
		{"value", provider.Filter{Tags: map[string]string{"team": "xy"}}, []string{b, c}},
		{"any value", provider.Filter{Tags: map[string]string{"role": ""}}, []string{a, b}},
		{"two any values", provider.Filter{Tags: map[string]string{"role": "", "team": ""}}, []string{a, b}},
		{"ids and tags", provider.Filter{IDs: []string{a, c}, Tags: map[string]string{"team": "xy"}}, []string{c}},
		{"unknown id", provider.Filter{IDs: []string{"i-0123456789abcdef0", b}}, []string{b}},
	} {
		got, err := w.p.Describe(ctx, "us-east-1", tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var ids []string
		for _, in := range got {
			ids = append(ids, in.ID)
		}
		slices.Sort(ids)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(ids, want) {
			t.Errorf("%s: Describe(%+v) = %v, want %v", tc.name, tc.f, ids, want)
		}
	}
}

func TestConsistency_NewInstanceNotTreatedAsGone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, ec2fake.Options{HideNew: 3, TerminateDelay: time.Minute}, aws.Options{})
	in, err := w.p.Launch(ctx, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	// EC2 does not list it yet: Describe reports it as launched.
	got, err := w.p.Describe(ctx, "us-east-1", provider.Filter{IDs: []string{in.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != in.ID || got[0].State != provider.StatePending {
		t.Fatalf("Describe right after launch = %+v, want %s pending", got, in.ID)
	}
	// Terminate retries EC2's "not found" for its own launch.
	if err := w.p.Terminate(ctx, "us-east-1", in.ID); err != nil {
		t.Fatalf("Terminate right after launch: %v", err)
	}
	if fi, ok := w.fake.Instance("us-east-1", in.ID); !ok || fi.State.Name != types.InstanceStateNameShuttingDown {
		t.Fatalf("after Terminate EC2 has %s in state %v, want shutting-down", in.ID, fi.State)
	}
}

func TestConsistency_StillMissingIsTransient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, ec2fake.Options{HideNew: 100}, aws.Options{ConsistencyGrace: time.Minute})
	in, err := w.p.Launch(ctx, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Terminate": func() error { return w.p.Terminate(ctx, "us-east-1", in.ID) },
		"Stop":      func() error { return w.p.Stop(ctx, "us-east-1", in.ID) },
	} {
		err := call()
		if err == nil || errors.Is(err, provider.ErrNotFound) || !strings.Contains(err.Error(), "eventual consistency") {
			t.Errorf("%s of an instance EC2 does not list yet: %v, want a transient eventual-consistency error", name, err)
		}
	}
	if fi, _ := w.fake.Instance("us-east-1", in.ID); fi.State.Name == types.InstanceStateNameShuttingDown {
		t.Error("instance terminated although every call missed it")
	}
	// After the grace, "not found" means not found again, and Describe stops
	// inventing the instance.
	w.clock.Advance(2 * time.Minute)
	w.fake.SetHideNew(0)
	if err := w.p.Start(ctx, "us-east-1", "i-0123456789abcdef0"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Start of an unknown id: %v, want ErrNotFound", err)
	}
	spec := testSpec()
	spec.ClientToken = "other"
	other, err := w.p.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(2 * time.Minute)
	got, err := w.p.Describe(ctx, "us-east-1", provider.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.ID == in.ID {
			t.Errorf("Describe still synthesises %s after the grace", in.ID)
		}
	}
	if len(got) != 0 && got[0].ID != other.ID {
		t.Errorf("Describe = %+v", got)
	}
}

func TestDescribe_SynthesisedStateFollowsOwnCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, ec2fake.Options{TerminateDelay: time.Hour}, aws.Options{})
	in, err := w.p.Launch(ctx, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.p.Terminate(ctx, "us-east-1", in.ID); err != nil {
		t.Fatal(err)
	}
	w.fake.Hide("us-east-1", in.ID, 1) // EC2 flaps: the next list misses it
	got, err := w.p.Describe(ctx, "us-east-1", provider.Filter{IDs: []string{in.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].State != provider.StateShuttingDown {
		t.Errorf("Describe after Terminate, missed by EC2 = %+v, want shutting-down as the provider left it", got)
	}
}

func TestStop_SpotIsInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	spec := testSpec()
	spec.Spot = true
	in, err := w.p.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	var ie *provider.InvalidError
	if err := w.p.Stop(ctx, "us-east-1", in.ID); !errors.As(err, &ie) {
		t.Errorf("Stop of a one-time spot instance: %v, want *provider.InvalidError", err)
	}
}

func TestPermissionError_DirectFake(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	w.fake.Deny(ec2fake.ActionDescribeInstances)
	_, err := w.p.Describe(context.Background(), "us-east-1", provider.Filter{})
	var pe *aws.PermissionError
	if !errors.As(err, &pe) || pe.Action != "ec2:DescribeInstances" {
		t.Fatalf("Describe denied: %v, want *aws.PermissionError for ec2:DescribeInstances", err)
	}
	for _, want := range []string{"ec2:DescribeInstances", "stratus aws policy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestThrottled_DirectFake(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ec2fake.Options{}, aws.Options{})
	w.fake.Throttle(1)
	err := w.p.Stop(context.Background(), "us-east-1", "i-0123456789abcdef0")
	if !errors.Is(err, aws.ErrThrottled) || !strings.Contains(err.Error(), "lower the request rate") {
		t.Errorf("throttled Stop: %v, want ErrThrottled with advice", err)
	}
}

func apiErr(code string) error {
	return &smithy.OperationError{ServiceID: "EC2", OperationName: "RunInstances",
		Err: &smithy.GenericAPIError{Code: code, Message: "message for " + code}}
}

func TestMapError(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, err error)
	capacity := func(t *testing.T, err error) {
		var ce *provider.CapacityError
		if !errors.As(err, &ce) || ce.Region != "us-east-1" || ce.Type != "c5.large" || !strings.Contains(ce.Reason, "message for") {
			t.Errorf("got %v (%T), want *provider.CapacityError for c5.large in us-east-1", err, err)
		}
	}
	invalid := func(field string) check {
		return func(t *testing.T, err error) {
			var ie *provider.InvalidError
			if !errors.As(err, &ie) || ie.Field != field {
				t.Errorf("got %v (%T), want *provider.InvalidError on %s", err, err, field)
			}
		}
	}
	permission := func(t *testing.T, err error) {
		var pe *aws.PermissionError
		if !errors.As(err, &pe) || pe.Action != "ec2:RunInstances" || !strings.Contains(err.Error(), "ec2:RunInstances") {
			t.Errorf("got %v (%T), want *aws.PermissionError naming ec2:RunInstances", err, err)
		}
	}
	notFound := func(t *testing.T, err error) {
		if !errors.Is(err, provider.ErrNotFound) {
			t.Errorf("got %v, want provider.ErrNotFound", err)
		}
	}
	throttled := func(t *testing.T, err error) {
		if !errors.Is(err, aws.ErrThrottled) || provider.IsCapacity(err) {
			t.Errorf("got %v, want ErrThrottled", err)
		}
	}
	other := func(t *testing.T, err error) {
		var ae smithy.APIError
		if !errors.As(err, &ae) || provider.IsCapacity(err) || errors.Is(err, provider.ErrNotFound) || !strings.Contains(err.Error(), "us-east-1") {
			t.Errorf("got %v, want the API error wrapped with the region", err)
		}
	}
	for _, tc := range []struct {
		code  string
		check check
	}{
		{"InsufficientInstanceCapacity", capacity},
		{"InstanceLimitExceeded", capacity},
		{"VcpuLimitExceeded", capacity},
		{"SpotMaxPriceTooLow", capacity},
		{"MaxSpotInstanceCountExceeded", capacity},
		{"InsufficientCapacity", capacity},
		{"Unsupported", capacity},
		{"IdempotentParameterMismatch", invalid("client_token")},
		{"InvalidParameterValue", invalid("request")},
		{"InvalidParameterCombination", invalid("request")},
		{"InvalidAMIID.NotFound", invalid("image")},
		{"InvalidAMIID.Malformed", invalid("image")},
		{"InvalidAMIID.Unavailable", invalid("image")},
		{"InvalidSubnetID.NotFound", invalid("region.subnet_id")},
		{"InvalidGroup.NotFound", invalid("region.security_group_ids")},
		{"InvalidKeyPair.NotFound", invalid("region.key_name")},
		{"UnauthorizedOperation", permission},
		{"AuthFailure", permission},
		{"Blocked", permission},
		{"InvalidInstanceID.NotFound", notFound},
		{"InvalidInstanceID.Malformed", notFound},
		{"RequestLimitExceeded", throttled},
		{"Throttling", throttled},
		{"IncorrectInstanceState", other},
		{"InternalError", other},
	} {
		t.Run(tc.code, func(t *testing.T) {
			tc.check(t, aws.MapError("RunInstances", "us-east-1", "c5.large", apiErr(tc.code)))
		})
	}
	t.Run("retries exhausted", func(t *testing.T) {
		err := &smithy.OperationError{ServiceID: "EC2", OperationName: "DescribeInstances",
			Err: &retry.MaxAttemptsError{Attempt: 8, Err: &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded."}}}
		got := aws.MapError("DescribeInstances", "us-east-1", "", err)
		throttled(t, got)
		if !strings.Contains(got.Error(), "retry budget ran out") {
			t.Errorf("message %q does not say the retries ran out", got)
		}
	})
	t.Run("not an API error", func(t *testing.T) {
		cause := errors.New("dial tcp: connection refused")
		got := aws.MapError("RunInstances", "us-east-1", "t3.micro", cause)
		if !errors.Is(got, cause) || !strings.Contains(got.Error(), "ec2:RunInstances in us-east-1") {
			t.Errorf("got %v", got)
		}
	})
	t.Run("nil", func(t *testing.T) {
		if got := aws.MapError("RunInstances", "us-east-1", "", nil); got != nil {
			t.Errorf("got %v, want nil", got)
		}
	})
}

func TestMapState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   types.InstanceStateName
		want provider.State
	}{
		{types.InstanceStateNamePending, provider.StatePending},
		{types.InstanceStateNameRunning, provider.StateRunning},
		{types.InstanceStateNameStopping, provider.StateStopping},
		{types.InstanceStateNameStopped, provider.StateStopped},
		{types.InstanceStateNameShuttingDown, provider.StateShuttingDown},
		{types.InstanceStateNameTerminated, provider.StateTerminated},
		{"hibernating", provider.State("hibernating")},
	} {
		if got := aws.MapState(tc.in); got != tc.want {
			t.Errorf("MapState(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTransitionTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		reason string
		want   time.Time
		ok     bool
	}{
		{"User initiated (2026-01-02 15:04:05 GMT)", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), true},
		{"Service initiated (2026-11-30 23:59:59 GMT)", time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC), true},
		{"User initiated", time.Time{}, false},
		{"", time.Time{}, false},
		{"User initiated (yesterday GMT)", time.Time{}, false},
	} {
		got, ok := aws.TransitionTime(tc.reason)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("TransitionTime(%q) = %v, %v; want %v, %v", tc.reason, got, ok, tc.want, tc.ok)
		}
	}
}

func TestStateChangedAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, ec2fake.Options{BootDelay: time.Second}, aws.Options{})
	in, err := w.p.Launch(ctx, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	if !in.StateChangedAt.Equal(w.clock.Now()) || !in.LaunchedAt.Equal(w.clock.Now()) {
		t.Errorf("new instance: LaunchedAt %v StateChangedAt %v, want %v", in.LaunchedAt, in.StateChangedAt, w.clock.Now())
	}
	w.clock.Advance(time.Hour)
	stopAt := w.clock.Now()
	if err := w.p.Stop(ctx, "us-east-1", in.ID); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	got, _ := w.p.Describe(ctx, "us-east-1", provider.Filter{IDs: []string{in.ID}})
	if len(got) != 1 || got[0].State != provider.StateStopped || !got[0].StateChangedAt.Equal(stopAt) {
		t.Errorf("stopped instance: %+v, want stopped with StateChangedAt %v", got, stopAt)
	}
}

func TestNew_Options(t *testing.T) {
	t.Parallel()
	fake := ec2fake.New(ec2fake.Options{})
	nc := func(r string) aws.EC2API { return fake.Client(r) }
	for _, tc := range []struct {
		name string
		opts aws.Options
	}{
		{"no regions", aws.Options{NewClient: nc}},
		{"empty region", aws.Options{NewClient: nc, Regions: []aws.RegionConfig{{}}}},
		{"duplicate region", aws.Options{NewClient: nc, Regions: []aws.RegionConfig{{Name: "a"}, {Name: "a"}}}},
		{"page size", aws.Options{NewClient: nc, Regions: []aws.RegionConfig{{Name: "a"}}, PageSize: 4}},
	} {
		if _, err := aws.New(context.Background(), tc.opts); err == nil {
			t.Errorf("%s: New succeeded", tc.name)
		}
	}
	p, err := aws.New(context.Background(), aws.Options{NewClient: nc, Regions: testRegions})
	if err != nil {
		t.Fatal(err)
	}
	regions, _ := p.Regions(context.Background())
	if p.Name() != "aws" || p.Billing().Name != "second" || !slices.Equal(regions, []string{"us-east-1", "eu-west-1"}) {
		t.Errorf("Name %q Billing %+v Regions %v", p.Name(), p.Billing(), regions)
	}
}

func TestPolicy_CoversEveryCall(t *testing.T) {
	t.Parallel()
	var doc struct {
		Statement []struct {
			Action any
		}
	}
	policy := awspolicy.ControlPlane(awspolicy.Options{Installation: "abc", InstanceRoleARN: "arn:aws:iam::123456789012:role/stratus-node"})
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		t.Fatalf("Policy is not JSON: %v", err)
	}
	granted := map[string]bool{}
	for _, s := range doc.Statement {
		switch a := s.Action.(type) {
		case string:
			granted[a] = true
		case []any:
			for _, x := range a {
				granted[x.(string)] = true
			}
		}
	}
	api := reflect.TypeFor[aws.EC2API]()
	for i := range api.NumMethod() {
		action := "ec2:" + api.Method(i).Name
		if !granted[action] {
			t.Errorf("Policy does not grant %s, which EC2API calls", action)
		}
		if !slices.Contains(aws.Actions, action) {
			t.Errorf("Actions lacks %s", action)
		}
	}
	for _, a := range []string{"ec2:CreateTags", "iam:PassRole"} {
		if !granted[a] {
			t.Errorf("Policy does not grant %s", a)
		}
	}
}
