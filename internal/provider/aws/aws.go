// Package aws is the AWS provider: stratus instances are EC2 instances,
// managed through github.com/aws/aws-sdk-go-v2.
//
// # Seam
//
// The provider calls EC2 only through EC2API (sdk.go), which lists exactly
// the calls it makes. Production uses *ec2.Client with the standard
// credential chain and the SDK's adaptive retryer; tests use ec2fake, a
// programmable fake of those calls that injects throttling, capacity and
// permission errors and eventual consistency. Policy returns the IAM policy
// those calls need.
//
// # Launch
//
// Launch is one RunInstances with ClientToken = LaunchSpec.ClientToken
// (tokens over EC2's 64 characters are replaced by a hash of themselves, so
// idempotency holds for any token), MinCount = MaxCount = 1, the region's
// subnet, security groups, key pair and instance profile, user-data from
// Options.UserData, a gp3 root volume of RootVolumeGB that is deleted with
// the instance, IMDSv2 required, the spec's tags on the instance and on its
// volume, and for spot a one-time request that terminates on interruption
// with MaxPrice = MaxPriceMicros in dollars (none: up to on-demand). Types
// are checked against the catalog before EC2 is asked.
//
// When the spec names an instance profile that EC2 refuses as unknown
// (InvalidParameterValue about iamInstanceProfile), the profile is taken
// for a new one IAM has not yet told EC2 about: the same request is
// repeated after doubling waits on Options.Clock for at most
// Options.ProfileWait (a minute) and within the context's deadline, then
// reported as an *provider.InvalidError on instance_profile naming it.
//
// Two facts EC2 does not return are kept in reserved tags on the instance
// and hidden from Instance.Tags: the root volume size (TagRootVolumeGB)
// and a spot max price (TagSpotMaxPrice).
//
// # Describe
//
// DescribeInstances with tag filters (tag:KEY, or tag-key for a "" value)
// and the instance-id filter (not InstanceIds, which fails the whole call
// when one id is unknown), paginated. Address is the private IP address.
//
// PriceMicros is the catalog's on-demand price; for spot instances it is the
// price paid now: the spot market price of the type in the instance's
// availability zone (DescribeSpotPriceHistory, spotprice.go), capped at the
// max price when one was set, else at the on-demand price, with PriceSince
// the time that price took effect. When EC2 cannot say the market price,
// a spot instance is reported at its cap, an upper bound, and a warning is
// logged.
// StateChangedAt is the time in StateTransitionReason ("User initiated
// (2026-01-02 15:04:05 GMT)") when there is one, else LaunchTime (which EC2
// resets when a stopped instance starts). InterruptionAt is set only once
// EC2 is reclaiming a spot instance (StateReason
// Server.SpotInstanceTermination), to the time of that transition: EC2
// announces interruptions two minutes ahead to the instance (instance
// metadata) and to EventBridge, not through DescribeInstances, so the
// advance notice itself comes from the agent.
//
// # Eventual consistency
//
// EC2 may not know an instance for a few seconds after RunInstances
// returned it. The provider remembers its own launches for
// Options.ConsistencyGrace: Describe lists such an instance (as Launch
// returned it, or as the provider's later calls left it) when EC2 does not
// yet, and Start, Stop and Terminate retry InvalidInstanceID.NotFound for it
// a few times before reporting a transient error (never "not found" or
// "already gone"). The memory is per process; after a restart the grace is
// lost, which only matters for launches in the last few seconds.
//
// # Errors
//
// EC2 error codes map to stratus's errors:
//
//	InsufficientInstanceCapacity, InstanceLimitExceeded,
//	VcpuLimitExceeded, SpotMaxPriceTooLow, MaxSpotInstanceCountExceeded,
//	InsufficientCapacity, Unsupported          → *provider.CapacityError
//	IdempotentParameterMismatch, InvalidParameterValue,
//	InvalidParameterCombination, InvalidAMIID.*, MissingParameter,
//	UnsupportedOperation, InvalidSubnetID.*, InvalidGroup.*,
//	InvalidKeyPair.*                             → *provider.InvalidError
//	UnauthorizedOperation, AuthFailure, Blocked  → *PermissionError
//	throttling codes after the retries           → wraps ErrThrottled
//	InvalidInstanceID.NotFound / .Malformed      → provider.ErrNotFound
//	                                               (Start, Stop); nil (Terminate)
//
// The retryer never repeats the first three groups (EC2 sends
// InsufficientInstanceCapacity as an HTTP 500, which the SDK would
// otherwise retry): the caller falls back to another type or reports.
package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// Reserved tags the provider sets on instances and hides from
// Instance.Tags. A LaunchSpec may not use them.
const (
	TagRootVolumeGB = "stratus:root-volume-gb"
	TagSpotMaxPrice = "stratus:spot-max-price-micros"
)

// Defaults.
const (
	DefaultRootDeviceName   = "/dev/xvda"
	DefaultConsistencyGrace = 2 * time.Minute
	DefaultProfileWait      = time.Minute
	DefaultPageSize         = 1000
	// maxUserData is EC2's limit on user-data before base64.
	maxUserData = 16 * 1024
	// maxTokenLen is EC2's limit on a client token.
	maxTokenLen = 64
	// idsPerCall bounds the values of one instance-id filter.
	idsPerCall = 200
)

// RegionConfig is where and how instances start in one region.
type RegionConfig struct {
	// Name is the region, such as "us-east-1". Required.
	Name string
	// SubnetID places instances; empty means the default VPC's default
	// subnet.
	SubnetID string
	// VpcID is the VPC of the security groups the provider creates and
	// lists (provider.Resources); empty means the region's default VPC for
	// new groups and every VPC when listing. Set it with SubnetID when the
	// subnet is not in the default VPC.
	VpcID string
	// SecurityGroupIDs are attached to every instance whose LaunchSpec
	// names no groups; empty means the VPC's default group.
	SecurityGroupIDs []string
	// KeyName is the EC2 key pair for ssh of instances whose LaunchSpec
	// names none; empty means none.
	KeyName string
	// InstanceProfile is the IAM instance profile, by name or ARN
	// ("arn:..."), of instances whose LaunchSpec names none; empty means
	// none.
	InstanceProfile string
	// ImageID is the AMI used when a LaunchSpec names none.
	ImageID string
	// RootDeviceName is the AMI's root device. Default "/dev/xvda"
	// (Amazon Linux); Ubuntu and Debian AMIs use "/dev/sda1".
	RootDeviceName string
}

// Options configures the provider.
type Options struct {
	// Regions the provider works in; the first is the default. Required.
	Regions []RegionConfig
	// Catalog lists the instance types stratus may launch and their
	// on-demand prices. Default cost.DefaultCatalog().
	Catalog *cost.Catalog
	// Clock decides the consistency grace. Default clock.Real{}.
	Clock clock.Clock
	// Logger receives one line per launch, stop, start and terminate.
	// Default: discard.
	Logger *slog.Logger
	// NewClient returns the EC2 API of a region. Default: an *ec2.Client
	// from config.LoadDefaultConfig (standard credential chain) with an
	// adaptive retryer of MaxAttempts and MaxBackoff, Endpoint and
	// ClientOptions.
	NewClient func(region string) EC2API
	// NewIAMClient returns the IAM API (global), used by
	// EnsureInstanceProfile; it is called once, on first use. Default: an
	// *iam.Client made like the default EC2 clients (Endpoint and
	// ClientOptions do not apply).
	NewIAMClient func() IAMAPI
	// Endpoint is the base URL of an EC2-compatible endpoint, for the
	// default NewClient; empty means AWS's.
	Endpoint string
	// MaxAttempts bounds the attempts of one call, retries included, for
	// the default NewClient. Default DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff bounds the wait between attempts. Default
	// DefaultMaxBackoff.
	MaxBackoff time.Duration
	// ClientOptions are applied last to every *ec2.Client the default
	// NewClient makes (for example static credentials in tests).
	ClientOptions []func(*ec2.Options)
	// UserData renders the user-data that starts the agent on a new
	// instance; nil means no user-data.
	UserData func(provider.AgentBootstrap) ([]byte, error)
	// ConsistencyGrace is how long after a launch the provider covers for
	// EC2's eventual consistency. Default DefaultConsistencyGrace.
	ConsistencyGrace time.Duration
	// ConsistencyRetryDelay is the first wait (real time, doubling) before
	// Start, Stop or Terminate repeat a call that EC2 answered "not found"
	// for an instance launched within the grace. Default 250ms.
	ConsistencyRetryDelay time.Duration
	// PageSize is DescribeInstances' MaxResults, 5 to 1000. Default 1000.
	PageSize int32
	// SpotPriceTTL is how long a spot price read from EC2 is used before
	// it is read again. Default DefaultSpotPriceTTL.
	SpotPriceTTL time.Duration
	// ProfileWait bounds how long Launch keeps repeating a RunInstances
	// that EC2 refused because it does not know the spec's instance
	// profile yet (IAM is eventually consistent). Default
	// DefaultProfileWait.
	ProfileWait time.Duration
	// ProfileRetryDelay is the first wait, on Clock, before such a repeat;
	// it doubles up to 8 times itself. Default 1s.
	ProfileRetryDelay time.Duration
}

// Provider is the AWS provider. It is safe for concurrent use.
type Provider struct {
	regions    []RegionConfig
	byName     map[string]*RegionConfig
	clients    map[string]EC2API
	catalog    *cost.Catalog
	clock      clock.Clock
	log        *slog.Logger
	userData   func(provider.AgentBootstrap) ([]byte, error)
	grace      time.Duration
	retryDelay time.Duration
	pageSize   int32

	profileWait, profileDelay time.Duration

	mu     sync.Mutex
	recent map[recentKey]*recentLaunch

	res resourceState // provider.Resources (resources.go)

	spot spotPrices // the spot price paid (spotprice.go)
}

type recentKey struct{ region, id string }

type recentLaunch struct {
	at time.Time
	in provider.Instance
}

var _ provider.Provider = (*Provider)(nil)

// New returns a provider for opts.Regions. With the default NewClient it
// loads the AWS configuration (no call to AWS is made until the first
// operation).
func New(ctx context.Context, opts Options) (*Provider, error) {
	if len(opts.Regions) == 0 {
		return nil, errors.New("aws provider: Options.Regions: at least one region is required")
	}
	p := &Provider{
		regions:    slices.Clone(opts.Regions),
		byName:     map[string]*RegionConfig{},
		clients:    map[string]EC2API{},
		catalog:    opts.Catalog,
		clock:      opts.Clock,
		log:        opts.Logger,
		userData:   opts.UserData,
		grace:      opts.ConsistencyGrace,
		retryDelay: opts.ConsistencyRetryDelay,
		pageSize:   opts.PageSize,
		recent:     map[recentKey]*recentLaunch{},
	}
	if p.catalog == nil {
		p.catalog = cost.DefaultCatalog()
	}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.grace <= 0 {
		p.grace = DefaultConsistencyGrace
	}
	if p.retryDelay <= 0 {
		p.retryDelay = 250 * time.Millisecond
	}
	if p.pageSize == 0 {
		p.pageSize = DefaultPageSize
	}
	p.profileWait, p.profileDelay = opts.ProfileWait, opts.ProfileRetryDelay
	if p.profileWait <= 0 {
		p.profileWait = DefaultProfileWait
	}
	if p.profileDelay <= 0 {
		p.profileDelay = time.Second
	}
	if p.pageSize < 5 || p.pageSize > 1000 {
		return nil, fmt.Errorf("aws provider: Options.PageSize %d: must be 5 to 1000", p.pageSize)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	p.res.init(opts)
	p.spot.ttl = opts.SpotPriceTTL
	if p.spot.ttl <= 0 {
		p.spot.ttl = DefaultSpotPriceTTL
	}
	for i := range p.regions {
		rc := &p.regions[i]
		if rc.Name == "" {
			return nil, fmt.Errorf("aws provider: Options.Regions[%d].Name is empty", i)
		}
		if _, dup := p.byName[rc.Name]; dup {
			return nil, fmt.Errorf("aws provider: region %s is configured twice", rc.Name)
		}
		rc.SecurityGroupIDs = slices.Clone(rc.SecurityGroupIDs)
		if rc.RootDeviceName == "" {
			rc.RootDeviceName = DefaultRootDeviceName
		}
		p.byName[rc.Name] = rc
		var c EC2API
		if opts.NewClient != nil {
			c = opts.NewClient(rc.Name)
		} else {
			var err error
			if c, err = newClient(ctx, rc.Name, opts); err != nil {
				return nil, err
			}
		}
		if c == nil {
			return nil, fmt.Errorf("aws provider: NewClient(%q) returned nil", rc.Name)
		}
		p.clients[rc.Name] = c
	}
	return p, nil
}

// Name returns "aws".
func (p *Provider) Name() string { return "aws" }

// Billing returns per-second billing with a one-minute minimum (Linux
// on-demand and spot).
func (p *Provider) Billing() cost.Billing { return cost.PerSecond }

// Regions returns the configured regions.
func (p *Provider) Regions(context.Context) ([]string, error) {
	out := make([]string, len(p.regions))
	for i, r := range p.regions {
		out[i] = r.Name
	}
	return out, nil
}

func (p *Provider) region(name string) (*RegionConfig, EC2API, error) {
	rc, ok := p.byName[name]
	if !ok {
		names, _ := p.Regions(context.Background())
		return nil, nil, &provider.InvalidError{Field: "region", Reason: fmt.Sprintf("region %q is not configured for the aws provider; configured: %v", name, names)}
	}
	return rc, p.clients[name], nil
}

// Launch implements provider.Provider.
func (p *Provider) Launch(ctx context.Context, spec provider.LaunchSpec) (provider.Instance, error) {
	rc, c, err := p.region(spec.Region)
	if err != nil {
		return provider.Instance{}, err
	}
	in, err := p.runInput(rc, spec)
	if err != nil {
		return provider.Instance{}, err
	}
	out, err := p.runInstances(ctx, c, in, spec)
	if err != nil {
		return provider.Instance{}, err
	}
	if len(out.Instances) == 0 {
		return provider.Instance{}, fmt.Errorf("aws: ec2:RunInstances in %s returned no instance", spec.Region)
	}
	inst := out.Instances[0]
	if len(inst.Tags) == 0 {
		// Not every EC2-compatible service echoes tags: they are the
		// spec's, or EC2 would have refused the token.
		inst.Tags = instanceTags(spec)
	}
	got := p.toInstance(spec.Region, inst)
	one := []provider.Instance{got}
	p.priceSpot(ctx, spec.Region, c, one, []string{zoneOf(inst)})
	got = one[0]
	p.remember(got)
	p.log.Info("launched instance", "instance", got.ID, "region", got.Region, "type", got.Type, "spot", got.Spot, "state", got.State)
	return got, nil
}

// runInstances makes the RunInstances call in. When the spec names an
// instance profile and EC2 refuses it as unknown, the profile is likely
// new and IAM has not told EC2 of it yet: the same request (same client
// token) is repeated after waits on the clock that double, for at most
// ProfileWait and within ctx's deadline.
func (p *Provider) runInstances(ctx context.Context, c EC2API, in *ec2.RunInstancesInput, spec provider.LaunchSpec) (*ec2.RunInstancesOutput, error) {
	start := p.clock.Now()
	deadline := start.Add(p.profileWait)
	delay := p.profileDelay
	for {
		out, err := c.RunInstances(ctx, in)
		if err == nil {
			return out, nil
		}
		if spec.InstanceProfile == "" || !profileUnknown(err) {
			return nil, mapError("RunInstances", spec.Region, spec.Type, err)
		}
		now := p.clock.Now()
		wait := min(delay, deadline.Sub(now))
		if d, ok := ctx.Deadline(); ok && time.Until(d) <= wait {
			wait = 0 // the caller's deadline (wall time) comes first
		}
		if wait <= 0 {
			code, msg, _ := apiCode(err)
			return nil, &provider.InvalidError{Field: "instance_profile", Reason: fmt.Sprintf(
				"EC2 RunInstances in %s still refuses the instance profile %s after %s of retries (%s: %s); a new profile usually becomes usable within seconds: check that it exists in IAM and has a role",
				spec.Region, spec.InstanceProfile, now.Sub(start).Round(time.Millisecond), code, msg)}
		}
		p.log.Info("instance profile not usable yet; retrying", "instance_profile", spec.InstanceProfile, "region", spec.Region, "wait", wait)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("aws: ec2:RunInstances in %s: waiting for the instance profile %s to become usable: %w", spec.Region, spec.InstanceProfile, ctx.Err())
		case <-p.clock.After(wait):
		}
		delay = min(2*delay, 8*p.profileDelay)
	}
}

// profileUnknown reports whether err is EC2's answer to a launch naming an
// instance profile it does not know (InvalidParameterValue about
// iamInstanceProfile: "Invalid IAM Instance Profile name").
func profileUnknown(err error) bool {
	code, msg, ok := apiCode(err)
	if !ok {
		return false
	}
	msg = strings.ToLower(msg)
	return (code == "InvalidParameterValue" || code == "InvalidParameterValue.InstanceProfile") &&
		(strings.Contains(msg, "iaminstanceprofile") || strings.Contains(msg, "iam instance profile"))
}

// runInput validates spec and builds its RunInstances request.
func (p *Provider) runInput(rc *RegionConfig, spec provider.LaunchSpec) (*ec2.RunInstancesInput, error) {
	if _, ok := p.catalog.Lookup(spec.Type); !ok {
		reason := fmt.Sprintf("unknown instance type %q", spec.Type)
		if s := p.catalog.Suggest(spec.Type); len(s) > 0 {
			reason += fmt.Sprintf("; did you mean %v?", s)
		}
		return nil, &provider.InvalidError{Field: "type", Reason: reason}
	}
	if spec.RootVolumeGB < 0 {
		return nil, &provider.InvalidError{Field: "root_volume_gb", Reason: "must not be negative"}
	}
	if spec.MaxPriceMicros < 0 {
		return nil, &provider.InvalidError{Field: "max_price", Reason: "must not be negative"}
	}
	for _, k := range []string{TagRootVolumeGB, TagSpotMaxPrice} {
		if _, ok := spec.Tags[k]; ok {
			return nil, &provider.InvalidError{Field: "tags", Reason: fmt.Sprintf("tag %s is reserved for the aws provider", k)}
		}
	}
	image := spec.Image
	if image == "" {
		image = rc.ImageID
	}
	if image == "" {
		return nil, &provider.InvalidError{Field: "image", Reason: fmt.Sprintf("no image: the spec names none and region %s has no image_id configured", rc.Name)}
	}
	in := &ec2.RunInstancesInput{
		MinCount:         awssdk.Int32(1),
		MaxCount:         awssdk.Int32(1),
		InstanceType:     types.InstanceType(spec.Type),
		ImageId:          awssdk.String(image),
		SecurityGroupIds: slices.Clone(rc.SecurityGroupIDs),
		MetadataOptions: &types.InstanceMetadataOptionsRequest{
			HttpTokens:   types.HttpTokensStateRequired,
			HttpEndpoint: types.InstanceMetadataEndpointStateEnabled,
		},
		BlockDeviceMappings: []types.BlockDeviceMapping{{
			DeviceName: awssdk.String(rc.RootDeviceName),
			Ebs: &types.EbsBlockDevice{
				VolumeType:          types.VolumeTypeGp3,
				DeleteOnTermination: awssdk.Bool(true),
			},
		}},
	}
	if spec.RootVolumeGB > 0 {
		in.BlockDeviceMappings[0].Ebs.VolumeSize = awssdk.Int32(int32(min(spec.RootVolumeGB, 1<<30)))
	}
	if spec.ClientToken != "" {
		in.ClientToken = awssdk.String(clientToken(spec.ClientToken))
	}
	if rc.SubnetID != "" {
		in.SubnetId = awssdk.String(rc.SubnetID)
	}
	// The spec's group, key and profile (a configured region's) win over
	// the region's static ones.
	if len(spec.SecurityGroups) > 0 {
		in.SecurityGroupIds = slices.Clone(spec.SecurityGroups)
	}
	keyName, profile := rc.KeyName, rc.InstanceProfile
	if spec.KeyName != "" {
		keyName = spec.KeyName
	}
	if spec.InstanceProfile != "" {
		profile = spec.InstanceProfile
	}
	if keyName != "" {
		in.KeyName = awssdk.String(keyName)
	}
	if ip := profile; ip != "" {
		if len(ip) > 4 && ip[:4] == "arn:" {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Arn: awssdk.String(ip)}
		} else {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: awssdk.String(ip)}
		}
	}
	if p.userData != nil {
		ud, err := p.userData(spec.Agent)
		if err != nil {
			return nil, fmt.Errorf("aws: render user-data: %w", err)
		}
		if len(ud) > maxUserData {
			return nil, &provider.InvalidError{Field: "agent", Reason: fmt.Sprintf("user-data is %d bytes; EC2 allows %d", len(ud), maxUserData)}
		}
		if len(ud) > 0 {
			in.UserData = awssdk.String(base64.StdEncoding.EncodeToString(ud))
		}
	}
	if spec.Spot {
		so := &types.SpotMarketOptions{
			SpotInstanceType:             types.SpotInstanceTypeOneTime,
			InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorTerminate,
		}
		if spec.MaxPriceMicros > 0 {
			so.MaxPrice = awssdk.String(cost.Micros(spec.MaxPriceMicros).String())
		}
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot, SpotOptions: so}
	}
	in.TagSpecifications = append(in.TagSpecifications, types.TagSpecification{ResourceType: types.ResourceTypeInstance, Tags: instanceTags(spec)})
	if len(spec.Tags) > 0 {
		in.TagSpecifications = append(in.TagSpecifications, types.TagSpecification{ResourceType: types.ResourceTypeVolume, Tags: ec2Tags(spec.Tags)})
	}
	return in, nil
}

// instanceTags returns the tags of spec's instance: the spec's and the
// reserved ones.
func instanceTags(spec provider.LaunchSpec) []types.Tag {
	tags := maps.Clone(spec.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	tags[TagRootVolumeGB] = strconv.Itoa(spec.RootVolumeGB)
	if spec.Spot && spec.MaxPriceMicros > 0 {
		tags[TagSpotMaxPrice] = strconv.FormatInt(spec.MaxPriceMicros, 10)
	}
	return ec2Tags(tags)
}

func ec2Tags(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: awssdk.String(k), Value: awssdk.String(m[k])})
	}
	return out
}

// clientToken returns the EC2 client token for a stratus token: itself
// when EC2 accepts it (at most 64 ASCII characters), else a digest of it,
// so that any token stays idempotent.
func clientToken(tok string) string {
	ok := len(tok) <= maxTokenLen
	for i := 0; ok && i < len(tok); i++ {
		ok = tok[i] >= 0x20 && tok[i] < 0x7f
	}
	if ok {
		return tok
	}
	sum := sha256.Sum256([]byte(tok))
	return "sha256-" + hex.EncodeToString(sum[:])[:maxTokenLen-len("sha256-")]
}

// toInstance maps an EC2 instance in region to stratus's view.
func (p *Provider) toInstance(region string, in types.Instance) provider.Instance {
	out := provider.Instance{
		ID:      awssdk.ToString(in.InstanceId),
		Region:  region,
		Type:    string(in.InstanceType),
		Address: awssdk.ToString(in.PrivateIpAddress),
		Spot:    in.InstanceLifecycle == types.InstanceLifecycleTypeSpot,
		Tags:    map[string]string{},
	}
	if in.State != nil {
		out.State = mapState(in.State.Name)
	}
	var maxPrice int64
	for _, t := range in.Tags {
		k, v := awssdk.ToString(t.Key), awssdk.ToString(t.Value)
		switch k {
		case TagRootVolumeGB:
			out.RootVolumeGB, _ = strconv.Atoi(v)
		case TagSpotMaxPrice:
			maxPrice, _ = strconv.ParseInt(v, 10, 64)
		default:
			out.Tags[k] = v
		}
	}
	if price, ok := p.catalog.Price(out.Region, out.Type); ok {
		out.PriceMicros = int64(price)
	}
	if out.Spot && maxPrice > 0 {
		out.PriceMicros = maxPrice
	}
	if in.LaunchTime != nil {
		out.LaunchedAt = *in.LaunchTime
	}
	out.StateChangedAt = out.LaunchedAt
	if t, ok := transitionTime(awssdk.ToString(in.StateTransitionReason)); ok {
		out.StateChangedAt = t
	}
	if out.Spot && in.StateReason != nil && awssdk.ToString(in.StateReason.Code) == spotTerminationCode {
		out.InterruptionAt = out.StateChangedAt
	}
	out.KeyName = awssdk.ToString(in.KeyName)
	for _, g := range in.SecurityGroups {
		out.SecurityGroups = append(out.SecurityGroups, awssdk.ToString(g.GroupId))
	}
	if in.IamInstanceProfile != nil {
		// EC2 reports the profile's ARN: its name is the ARN's last part.
		arn := awssdk.ToString(in.IamInstanceProfile.Arn)
		out.InstanceProfile = arn[strings.LastIndex(arn, "/")+1:]
	}
	return out
}

// spotTerminationCode is the StateReason code of a spot instance that EC2
// reclaimed.
const spotTerminationCode = "Server.SpotInstanceTermination"

// mapState maps an EC2 instance state name to stratus's; the names are the
// same, and unknown names are kept as they are.
func mapState(s types.InstanceStateName) provider.State {
	switch s {
	case types.InstanceStateNamePending:
		return provider.StatePending
	case types.InstanceStateNameRunning:
		return provider.StateRunning
	case types.InstanceStateNameStopping:
		return provider.StateStopping
	case types.InstanceStateNameStopped:
		return provider.StateStopped
	case types.InstanceStateNameShuttingDown:
		return provider.StateShuttingDown
	case types.InstanceStateNameTerminated:
		return provider.StateTerminated
	}
	return provider.State(s)
}

var transitionRe = regexp.MustCompile(`\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)`)

// transitionTime extracts the time from a StateTransitionReason such as
// "User initiated (2026-01-02 15:04:05 GMT)".
func transitionTime(reason string) (time.Time, bool) {
	m := transitionRe.FindStringSubmatch(reason)
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("2006-01-02 15:04:05", m[1])
	return t, err == nil
}

// remember records an instance this provider launched, for the grace.
func (p *Provider) remember(in provider.Instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	for k, r := range p.recent {
		if now.Sub(r.at) > p.grace {
			delete(p.recent, k)
		}
	}
	k := recentKey{in.Region, in.ID}
	if r, ok := p.recent[k]; ok {
		r.in = cloneInstance(in)
		return
	}
	p.recent[k] = &recentLaunch{at: now, in: cloneInstance(in)}
}

// recentLaunches returns the instances launched in region within the grace
// (and forgets older ones).
func (p *Provider) recentLaunches(region string) []provider.Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	var out []provider.Instance
	for k, r := range p.recent {
		if now.Sub(r.at) > p.grace {
			delete(p.recent, k)
			continue
		}
		if k.region == region {
			out = append(out, cloneInstance(r.in))
		}
	}
	return out
}

// launchedWithin returns how long ago id was launched by this provider, if
// that is within the grace.
func (p *Provider) launchedWithin(region, id string) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.recent[recentKey{region, id}]
	if !ok {
		return 0, false
	}
	age := p.clock.Now().Sub(r.at)
	return age, age <= p.grace
}

// setRecentState records a state change this provider caused on a recent
// launch, so that a synthesised Describe entry does not contradict it.
func (p *Provider) setRecentState(region, id string, s provider.State) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.recent[recentKey{region, id}]; ok {
		r.in.State = s
		r.in.StateChangedAt = p.clock.Now()
	}
}

func cloneInstance(in provider.Instance) provider.Instance {
	in.Tags = maps.Clone(in.Tags)
	return in
}

// Describe implements provider.Provider.
func (p *Provider) Describe(ctx context.Context, region string, f provider.Filter) ([]provider.Instance, error) {
	_, c, err := p.region(region)
	if err != nil {
		return nil, err
	}
	base := tagFilters(f.Tags)
	var batches [][]types.Filter
	if len(f.IDs) == 0 {
		batches = [][]types.Filter{base}
	} else {
		ids := slices.Compact(slices.Sorted(slices.Values(f.IDs)))
		for chunk := range slices.Chunk(ids, idsPerCall) {
			batch := append(slices.Clone(base), types.Filter{Name: awssdk.String("instance-id"), Values: chunk})
			batches = append(batches, batch)
		}
	}
	var out []provider.Instance
	var zones []string // of out's instances, for their spot price
	seen := map[string]bool{}
	for _, filters := range batches {
		pages := ec2.NewDescribeInstancesPaginator(c, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: awssdk.Int32(p.pageSize)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, mapError("DescribeInstances", region, "", err)
			}
			for _, res := range page.Reservations {
				for _, inst := range res.Instances {
					in := p.toInstance(region, inst)
					if in.ID == "" || seen[in.ID] || !f.Matches(in) {
						continue
					}
					seen[in.ID] = true
					out = append(out, in)
					zones = append(zones, zoneOf(inst))
				}
			}
		}
	}
	p.priceSpot(ctx, region, c, out, zones)
	for _, in := range p.recentLaunches(region) {
		if !seen[in.ID] && f.Matches(in) {
			seen[in.ID] = true
			out = append(out, in)
		}
	}
	return out, nil
}

// tagFilters returns EC2 filters for the tag part of a stratus filter: a
// tag:KEY filter per valued tag, and one tag-key filter for the first key
// with an empty value (the rest are checked client-side, since several
// tag-key filters are not documented to AND).
func tagFilters(tags map[string]string) []types.Filter {
	var out []types.Filter
	anyKey := false
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		v := tags[k]
		switch {
		case v != "":
			out = append(out, types.Filter{Name: awssdk.String("tag:" + k), Values: []string{escapeFilter(v)}})
		case !anyKey:
			anyKey = true
			out = append(out, types.Filter{Name: awssdk.String("tag-key"), Values: []string{escapeFilter(k)}})
		}
	}
	return out
}

// escapeFilter escapes EC2 filter wildcards (* and ?) and backslashes so
// that a value matches literally.
func escapeFilter(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Start implements provider.Provider.
func (p *Provider) Start(ctx context.Context, region, id string) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	var out *ec2.StartInstancesOutput
	err = p.consistent(ctx, region, id, "StartInstances", func() (err error) {
		out, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}})
		return err
	})
	if err != nil {
		return err
	}
	p.changed(region, id, out.StartingInstances, "started instance")
	return nil
}

// Stop implements provider.Provider.
func (p *Provider) Stop(ctx context.Context, region, id string) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	var out *ec2.StopInstancesOutput
	err = p.consistent(ctx, region, id, "StopInstances", func() (err error) {
		out, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
		return err
	})
	if err != nil {
		return err
	}
	p.changed(region, id, out.StoppingInstances, "stopped instance")
	return nil
}

// Terminate implements provider.Provider.
func (p *Provider) Terminate(ctx context.Context, region, id string) error {
	_, c, err := p.region(region)
	if err != nil {
		return err
	}
	var out *ec2.TerminateInstancesOutput
	err = p.consistent(ctx, region, id, "TerminateInstances", func() (err error) {
		out, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		return err
	})
	if errors.Is(err, provider.ErrNotFound) {
		return nil // never existed, or terminated long ago
	}
	if err != nil {
		return err
	}
	p.changed(region, id, out.TerminatingInstances, "terminated instance")
	return nil
}

// consistent runs call, an EC2 call naming instance id, and maps its error.
// For an instance this provider launched within the grace, "not found" is
// EC2's eventual consistency: the call is repeated after growing waits, and
// if EC2 still does not know the instance the result is a transient error,
// never provider.ErrNotFound.
func (p *Provider) consistent(ctx context.Context, region, id, action string, call func() error) error {
	delay := p.retryDelay
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil {
			return nil
		}
		age, recent := p.launchedWithin(region, id)
		if !isNotFound(err) || !recent {
			return mapError(action, region, "", err)
		}
		if attempt == 5 {
			return fmt.Errorf("aws: ec2:%s in %s: EC2 does not list instance %s yet, %v after this provider launched it (eventual consistency); try again shortly: %w", action, region, id, age.Round(time.Millisecond), err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay *= 2
	}
}

func (p *Provider) changed(region, id string, changes []types.InstanceStateChange, msg string) {
	for _, ch := range changes {
		if awssdk.ToString(ch.InstanceId) != id || ch.CurrentState == nil {
			continue
		}
		s := mapState(ch.CurrentState.Name)
		p.setRecentState(region, id, s)
		p.log.Info(msg, "instance", id, "region", region, "state", s)
	}
}
