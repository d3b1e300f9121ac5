// Package ec2fake is a programmable in-memory fake of exactly the EC2 calls
// the aws provider makes (RunInstances, DescribeInstances, StartInstances,
// StopInstances, TerminateInstances, the image, key pair and security
// group calls described in resources.go, and the snapshot calls of
// snapshots.go), and of its IAM calls (iam.go),
// faithful to EC2's documented behaviour
// where the provider depends on it:
//
//   - RunInstances is idempotent by ClientToken (per region): the same token
//     returns the same reservation with its instances in their current state,
//     the same token with other parameters fails with
//     IdempotentParameterMismatch. Tokens longer than 64 characters are
//     InvalidParameterValue.
//   - Instances move pending → running, stopping → stopped and
//     shutting-down → terminated after delays on an injected clock; a
//     terminated instance stays listed for TerminatedRetention (an hour, as on
//     EC2), then disappears with its client token.
//   - DescribeInstances supports InstanceIds (unknown ids fail the whole call
//     with InvalidInstanceID.NotFound), filters instance-id,
//     instance-state-name, instance-type, tag:KEY, tag-key and tag-value (with
//     EC2's wildcards * and ? and \ escapes; values of one filter are ORed,
//     filters are ANDed),
//     and pagination with MaxResults (5 to 1000, and not together with
//     InstanceIds) and NextToken. An instance reports the KeyName,
//     SecurityGroupIds and IamInstanceProfile it was launched with (the
//     profile as an ARN, as EC2 does); the fake does not check that they
//     exist, except that with ProfileUnusableFor = n a profile made by
//     CreateInstanceProfile is refused by the next n RunInstances naming
//     it (InvalidParameterValue "Invalid IAM Instance Profile name", as EC2
//     answers while IAM's change has not reached it); SetProfileUnusable
//     sets that count for one profile.
//   - Eventual consistency: with HideNew = n, a new instance is missing from
//     the next n calls that would have named it (listed by DescribeInstances,
//     or passed by id to any call, which then fails with
//     InvalidInstanceID.NotFound).
//   - Start/Stop/Terminate follow EC2's state rules: stopping a pending,
//     shutting-down or terminated instance, or starting a stopping or
//     terminated one, is IncorrectInstanceState; a one-time spot instance
//     cannot be stopped (UnsupportedOperation); repeating a call on an
//     instance already in the target state succeeds.
//   - Faults on demand: RequestLimitExceeded for the next n calls (Throttle),
//     a capacity error code for an instance type (NoCapacity),
//     UnauthorizedOperation for an action (Deny), a spot price above a
//     request's MaxPrice (SpotMaxPriceTooLow), and spot reclaims (Reclaim).
//   - Spot price history (spothistory.go): SetSpotPrice programs the price
//     changes of a type in a zone; DescribeSpotPriceHistory lists them as EC2
//     does, and RunInstances compares a spot MaxPrice with the price in
//     effect in the instance's zone (Placement.AvailabilityZone, a zone of
//     the region; default DefaultZone).
//
// Errors are *smithy.GenericAPIError values with EC2's codes, so code that
// inspects smithy.APIError sees what it would see from the real service.
// Client returns the EC2 API of one region for direct use; ClientOptions
// makes a real *ec2.Client answer from the fake, below its retry and signing
// middleware (see middleware.go).
package ec2fake

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
)

// Actions the fake serves, as named in IAM and in the EC2 Query API.
const (
	ActionRunInstances       = "RunInstances"
	ActionDescribeInstances  = "DescribeInstances"
	ActionStartInstances     = "StartInstances"
	ActionStopInstances      = "StopInstances"
	ActionTerminateInstances = "TerminateInstances"
)

// OwnerID is the account id the fake reports.
const OwnerID = "123456789012"

// DefaultTerminatedRetention is how long EC2 keeps listing a terminated
// instance: about an hour.
const DefaultTerminatedRetention = time.Hour

// DefaultSpotPercent is the fake's spot price as a percentage of the
// on-demand price.
const DefaultSpotPercent = 30

// Options configures a Fake. The zero value is usable.
type Options struct {
	// Clock drives every state transition. Default clock.Real{}.
	Clock clock.Clock
	// Catalog lists the instance types the fake knows and their on-demand
	// prices (spot prices derive from them). Default cost.DefaultCatalog().
	Catalog *cost.Catalog
	// Images are the AMI ids that exist; empty means every well-formed id
	// exists.
	Images []string
	// BootDelay is how long an instance stays pending; StopDelay stopping;
	// TerminateDelay shutting-down. Zero means the transition is seen by the
	// next call.
	BootDelay, StopDelay, TerminateDelay time.Duration
	// TerminatedRetention is how long a terminated instance stays listed.
	// Default DefaultTerminatedRetention.
	TerminatedRetention time.Duration
	// HideNew is how many calls miss a new instance (eventual consistency).
	HideNew int
	// SpotPercent is the spot price as a percentage of the on-demand price.
	// Default DefaultSpotPercent.
	SpotPercent int
	// CopyDelay is how long a copied image stays pending (resources.go).
	// Zero means it is available from the next call on.
	CopyDelay time.Duration
	// ProfileUnusableFor is how many RunInstances calls naming an instance
	// profile made by CreateInstanceProfile (iam.go) fail before EC2 can
	// use it, as IAM is eventually consistent: each fails with
	// InvalidParameterValue "Invalid IAM Instance Profile name" (or ARN),
	// as EC2 answers. Zero: usable at once.
	ProfileUnusableFor int
}

// Fake is an in-memory EC2. It is safe for concurrent use.
type Fake struct {
	opts  Options
	clock clock.Clock

	mu         sync.Mutex
	regions    map[string]*region
	seq        int64
	hideNew    int
	throttle   int
	noCapacity map[string]string // instance type → error code
	denied     map[string]bool   // action → UnauthorizedOperation
	calls      map[string]int    // action → calls received
	runInputs  []*ec2.RunInstancesInput
	spot       spotHistory // spot price changes (spothistory.go)
	rs         resources   // images, key pairs, groups, IAM (resources.go, iam.go)
}

type region struct {
	name      string
	instances map[string]*instance
	tokens    map[string]*tokenRecord
}

type tokenRecord struct {
	fingerprint string
	reservation string
	ids         []string
}

type instance struct {
	seq         int64
	id          string
	reservation string
	typ         string
	image       string
	subnet      string
	keyName     string
	groups      []string
	profile     string // the instance profile's ARN
	token       string
	privateIP   string
	spot        bool
	spotRequest string
	zone        string // availability zone
	tags        map[string]string

	state      types.InstanceStateName
	changedAt  time.Time // entered state
	doneAt     time.Time // a transitional state ends
	launchTime time.Time
	reason     string // StateTransitionReason
	stateCode  string // StateReason code
	stateMsg   string
	hidden     int
}

// New returns an empty fake.
func New(opts Options) *Fake {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Catalog == nil {
		opts.Catalog = cost.DefaultCatalog()
	}
	if opts.TerminatedRetention <= 0 {
		opts.TerminatedRetention = DefaultTerminatedRetention
	}
	if opts.SpotPercent <= 0 {
		opts.SpotPercent = DefaultSpotPercent
	}
	return &Fake{
		opts:       opts,
		clock:      opts.Clock,
		regions:    map[string]*region{},
		hideNew:    opts.HideNew,
		noCapacity: map[string]string{},
		denied:     map[string]bool{},
		calls:      map[string]int{},
	}
}

// Client is the EC2 API of one region of the fake. Its methods have the
// signatures of *ec2.Client's; optFns are accepted and ignored.
type Client struct {
	f      *Fake
	region string
}

// Client returns the API of region (regions spring into existence on first
// use, each with its own instances and client tokens).
func (f *Fake) Client(region string) *Client { return &Client{f: f, region: region} }

// Throttle makes the next n calls, of any action in any region, fail with
// RequestLimitExceeded.
func (f *Fake) Throttle(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = n
}

// NoCapacity makes RunInstances of typ fail with the error code (for example
// InsufficientInstanceCapacity, InstanceLimitExceeded, Unsupported); an
// empty code restores capacity.
func (f *Fake) NoCapacity(typ, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if code == "" {
		delete(f.noCapacity, typ)
		return
	}
	f.noCapacity[typ] = code
}

// Deny makes every call of action (for example "RunInstances") fail with
// UnauthorizedOperation; Allow undoes it.
func (f *Fake) Deny(action string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.denied[action] = true
}

// Allow undoes Deny.
func (f *Fake) Allow(action string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.denied, action)
}

// SetHideNew sets how many calls miss each instance launched from now on.
func (f *Fake) SetHideNew(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hideNew = n
}

// Hide makes the next n calls that would name instance id in region miss
// it, as if EC2's eventual consistency had not caught up with it.
func (f *Fake) Hide(region, id string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in, ok := f.region(region).instances[id]; ok {
		in.hidden = n
	}
}

// Calls returns how many calls of action the fake has received, including
// failed ones.
func (f *Fake) Calls(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[action]
}

// RunInstancesInputs returns every RunInstances input received, in order
// (deep copies).
func (f *Fake) RunInstancesInputs() []*ec2.RunInstancesInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*ec2.RunInstancesInput, len(f.runInputs))
	for i, in := range f.runInputs {
		out[i] = cloneRunInput(in)
	}
	return out
}

// Instance returns the instance id in region as DescribeInstances would
// show it, ignoring HideNew, and whether it exists.
func (f *Fake) Instance(region, id string) (types.Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.derive()
	r := f.region(region)
	in, ok := r.instances[id]
	if !ok {
		return types.Instance{}, false
	}
	return in.view(), true
}

// SpotPrice returns the fake's hourly spot price of typ in micro-dollars.
func (f *Fake) SpotPrice(typ string) (int64, bool) {
	it, ok := f.opts.Catalog.Lookup(typ)
	if !ok {
		return 0, false
	}
	return max(int64(it.HourlyMicros)*int64(f.opts.SpotPercent)/100, 1), true
}

// Reclaim terminates spot instance id in region as EC2 does when it takes
// the capacity back: shutting-down, with the state reason
// Server.SpotInstanceTermination.
func (f *Fake) Reclaim(region, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.derive()
	in, ok := f.region(region).instances[id]
	if !ok {
		return fmt.Errorf("ec2fake: no instance %s in %s", id, region)
	}
	if !in.spot {
		return fmt.Errorf("ec2fake: %s is not a spot instance", id)
	}
	if in.state == types.InstanceStateNameShuttingDown || in.state == types.InstanceStateNameTerminated {
		return nil
	}
	now := f.clock.Now()
	in.setState(types.InstanceStateNameShuttingDown, now, now.Add(f.opts.TerminateDelay))
	in.reason = "Service initiated (" + now.UTC().Format(reasonTime) + " GMT)"
	in.stateCode = "Server.SpotInstanceTermination"
	in.stateMsg = "Server.SpotInstanceTermination: Spot instance termination"
	return nil
}

// reasonTime is the layout of the time in EC2's StateTransitionReason.
const reasonTime = "2006-01-02 15:04:05"

// APIError returns an EC2 error as the SDK presents it.
func APIError(code, message string) error {
	fault := smithy.FaultClient
	switch code {
	case "InsufficientInstanceCapacity", "InsufficientCapacity", "InternalError", "Unavailable":
		fault = smithy.FaultServer
	}
	return &smithy.GenericAPIError{Code: code, Message: message, Fault: fault}
}

func (f *Fake) region(name string) *region {
	r, ok := f.regions[name]
	if !ok {
		r = &region{name: name, instances: map[string]*instance{}, tokens: map[string]*tokenRecord{}}
		f.regions[name] = r
	}
	return r
}

// begin counts a call and applies throttling and permissions, then brings
// every instance up to the clock. The caller holds f.mu.
func (f *Fake) begin(ctx context.Context, action string, dryRun *bool) error {
	f.calls[action]++
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.throttle > 0 {
		f.throttle--
		return APIError("RequestLimitExceeded", "Request limit exceeded.")
	}
	if f.denied[action] {
		return APIError("UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:iam::"+OwnerID+":user/stratus is not authorized to perform: ec2:"+action+" because no identity-based policy allows the ec2:"+action+" action. Encoded authorization failure message: ZmFrZQ")
	}
	if aws.ToBool(dryRun) {
		return APIError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	f.derive()
	return nil
}

// derive applies every transition that is due at the clock's now.
func (f *Fake) derive() {
	now := f.clock.Now()
	for _, r := range f.regions {
		for id, in := range r.instances {
			if !in.doneAt.IsZero() && !now.Before(in.doneAt) {
				switch in.state {
				case types.InstanceStateNamePending:
					in.setState(types.InstanceStateNameRunning, in.doneAt, time.Time{})
				case types.InstanceStateNameStopping:
					in.setState(types.InstanceStateNameStopped, in.doneAt, time.Time{})
				case types.InstanceStateNameShuttingDown:
					in.setState(types.InstanceStateNameTerminated, in.doneAt, time.Time{})
				}
			}
			if in.state == types.InstanceStateNameTerminated && now.Sub(in.changedAt) >= f.opts.TerminatedRetention {
				delete(r.instances, id)
				if t, ok := r.tokens[in.token]; ok && in.token != "" {
					t.ids = slices.DeleteFunc(t.ids, func(s string) bool { return s == id })
					if len(t.ids) == 0 {
						delete(r.tokens, in.token)
					}
				}
			}
		}
	}
}

func (in *instance) setState(s types.InstanceStateName, at, doneAt time.Time) {
	in.state = s
	in.changedAt = at
	in.doneAt = doneAt
}

// visible reports whether a call naming in sees it, consuming one miss if
// not.
func (in *instance) visible() bool {
	if in.hidden > 0 {
		in.hidden--
		return false
	}
	return true
}

var stateCodes = map[types.InstanceStateName]int32{
	types.InstanceStateNamePending:      0,
	types.InstanceStateNameRunning:      16,
	types.InstanceStateNameShuttingDown: 32,
	types.InstanceStateNameTerminated:   48,
	types.InstanceStateNameStopping:     64,
	types.InstanceStateNameStopped:      80,
}

func stateOf(s types.InstanceStateName) *types.InstanceState {
	return &types.InstanceState{Name: s, Code: aws.Int32(stateCodes[s])}
}

// view renders in as EC2 returns it.
func (in *instance) view() types.Instance {
	v := types.Instance{
		InstanceId:            aws.String(in.id),
		InstanceType:          types.InstanceType(in.typ),
		ImageId:               aws.String(in.image),
		State:                 stateOf(in.state),
		LaunchTime:            aws.Time(in.launchTime),
		StateTransitionReason: aws.String(in.reason),
		PrivateIpAddress:      aws.String(in.privateIP),
		ClientToken:           aws.String(in.token),
		RootDeviceType:        types.DeviceTypeEbs,
		MetadataOptions:       &types.InstanceMetadataOptionsResponse{HttpTokens: types.HttpTokensStateRequired},
		Placement:             &types.Placement{AvailabilityZone: aws.String(in.zone)},
	}
	if in.subnet != "" {
		v.SubnetId = aws.String(in.subnet)
	}
	if in.keyName != "" {
		v.KeyName = aws.String(in.keyName)
	}
	for _, g := range in.groups {
		v.SecurityGroups = append(v.SecurityGroups, types.GroupIdentifier{GroupId: aws.String(g)})
	}
	if in.profile != "" {
		v.IamInstanceProfile = &types.IamInstanceProfile{Arn: aws.String(in.profile)}
	}
	if in.spot {
		v.InstanceLifecycle = types.InstanceLifecycleTypeSpot
		v.SpotInstanceRequestId = aws.String(in.spotRequest)
	}
	if in.stateCode != "" {
		v.StateReason = &types.StateReason{Code: aws.String(in.stateCode), Message: aws.String(in.stateMsg)}
	}
	for _, k := range slices.Sorted(maps.Keys(in.tags)) {
		v.Tags = append(v.Tags, types.Tag{Key: aws.String(k), Value: aws.String(in.tags[k])})
	}
	return v
}

var (
	instanceIDRe = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)
	amiIDRe      = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
)

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)[:n]
}

// RunInstances launches MaxCount instances.
func (c *Client) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.RunInstancesInput{}
	}
	f.runInputs = append(f.runInputs, cloneRunInput(in))
	if err := f.begin(ctx, ActionRunInstances, in.DryRun); err != nil {
		return nil, err
	}
	r := f.region(c.region)
	if in.MinCount == nil {
		return nil, APIError("MissingParameter", "The request must contain the parameter MinCount")
	}
	if in.MaxCount == nil {
		return nil, APIError("MissingParameter", "The request must contain the parameter MaxCount")
	}
	minCount, maxCount := aws.ToInt32(in.MinCount), aws.ToInt32(in.MaxCount)
	if minCount < 1 || maxCount < minCount {
		return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid count: MinCount %d, MaxCount %d", minCount, maxCount))
	}
	token := aws.ToString(in.ClientToken)
	if len(token) > 64 {
		return nil, APIError("InvalidParameterValue", "Value ("+token+") for parameter clientToken is invalid. The client token must be 64 or fewer ASCII characters.")
	}
	fp := fingerprint(in)
	if token != "" {
		if t, ok := r.tokens[token]; ok {
			if t.fingerprint != fp {
				return nil, APIError("IdempotentParameterMismatch", "Arguments on this idempotent request are inconsistent with arguments used in previous request(s).")
			}
			out := &ec2.RunInstancesOutput{ReservationId: aws.String(t.reservation), OwnerId: aws.String(OwnerID)}
			for _, id := range t.ids {
				if inst, ok := r.instances[id]; ok {
					out.Instances = append(out.Instances, inst.view())
				}
			}
			return out, nil
		}
	}
	image := aws.ToString(in.ImageId)
	switch {
	case image == "":
		return nil, APIError("MissingParameter", "The request must contain the parameter ImageId")
	case !amiIDRe.MatchString(image):
		return nil, APIError("InvalidAMIID.Malformed", fmt.Sprintf("Invalid id: %q (expecting \"ami-...\")", image))
	case len(f.opts.Images) > 0 && !slices.Contains(f.opts.Images, image):
		return nil, APIError("InvalidAMIID.NotFound", fmt.Sprintf("The image id '[%s]' does not exist", image))
	}
	typ := string(in.InstanceType)
	if typ == "" {
		typ = "m1.small" // EC2's default
	}
	if _, ok := f.opts.Catalog.Lookup(typ); !ok {
		return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for InstanceType.", typ))
	}
	zone := DefaultZone(c.region)
	if pl := in.Placement; pl != nil && aws.ToString(pl.AvailabilityZone) != "" {
		if zone = aws.ToString(pl.AvailabilityZone); !validZone(c.region, zone) {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid availability zone: [%s]", zone))
		}
	}
	spot := false
	if mo := in.InstanceMarketOptions; mo != nil {
		switch mo.MarketType {
		case "":
		case types.MarketTypeSpot:
			spot = true
		default:
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for MarketType.", mo.MarketType))
		}
		if spot && mo.SpotOptions != nil && mo.SpotOptions.MaxPrice != nil {
			maxPrice, err := cost.ParseDollars(*mo.SpotOptions.MaxPrice)
			if err != nil || maxPrice <= 0 {
				return nil, APIError("InvalidParameterValue", fmt.Sprintf("Invalid value '%s' for MaxPrice.", *mo.SpotOptions.MaxPrice))
			}
			spotPrice := f.spotPriceAt(c.region, zone, typ, f.clock.Now())
			if int64(maxPrice) < spotPrice {
				return nil, APIError("SpotMaxPriceTooLow", fmt.Sprintf(
					"Your Spot request price of %s is lower than the minimum required Spot request fulfillment price of %s.",
					*mo.SpotOptions.MaxPrice, cost.Micros(spotPrice)))
			}
		}
	}
	if code, ok := f.noCapacity[typ]; ok {
		return nil, APIError(code, capacityMessage(code, typ, c.region))
	}
	if err := f.profileUsable(in.IamInstanceProfile); err != nil {
		return nil, err
	}
	tags, err := tagSpecs(in.TagSpecifications, types.ResourceTypeInstance,
		types.ResourceTypeInstance, types.ResourceTypeVolume, types.ResourceTypeNetworkInterface, types.ResourceTypeSpotInstancesRequest)
	if err != nil {
		return nil, err
	}
	if ud := aws.ToString(in.UserData); ud != "" {
		raw, err := base64.StdEncoding.DecodeString(ud)
		if err != nil {
			return nil, APIError("InvalidParameterValue", "Invalid BASE64 encoding of user data.")
		}
		if len(raw) > 16*1024 {
			return nil, APIError("InvalidParameterValue", "User data is limited to 16384 bytes")
		}
	}
	now := f.clock.Now()
	res := &tokenRecord{fingerprint: fp, reservation: "r-" + randomHex(17)}
	out := &ec2.RunInstancesOutput{ReservationId: aws.String(res.reservation), OwnerId: aws.String(OwnerID)}
	for range maxCount {
		f.seq++
		id := "i-" + randomHex(17)
		for r.instances[id] != nil {
			id = "i-" + randomHex(17)
		}
		inst := &instance{
			seq:         f.seq,
			id:          id,
			reservation: res.reservation,
			typ:         typ,
			image:       image,
			subnet:      aws.ToString(in.SubnetId),
			keyName:     aws.ToString(in.KeyName),
			groups:      slices.Clone(in.SecurityGroupIds),
			profile:     profileARN(in.IamInstanceProfile),
			token:       token,
			privateIP:   fmt.Sprintf("10.0.%d.%d", (f.seq/250)%250, f.seq%250+4),
			spot:        spot,
			zone:        zone,
			tags:        maps.Clone(tags),
			launchTime:  now,
			hidden:      f.hideNew,
		}
		if spot {
			inst.spotRequest = "sir-" + randomHex(8)
		}
		inst.setState(types.InstanceStateNamePending, now, now.Add(f.opts.BootDelay))
		r.instances[id] = inst
		res.ids = append(res.ids, id)
		out.Instances = append(out.Instances, inst.view())
	}
	if token != "" {
		r.tokens[token] = res
	}
	return out, nil
}

// profileARN is the ARN of the instance profile a launch names (by name
// or by ARN); "" when it names none.
func profileARN(p *types.IamInstanceProfileSpecification) string {
	switch {
	case p == nil:
		return ""
	case aws.ToString(p.Arn) != "":
		return aws.ToString(p.Arn)
	case aws.ToString(p.Name) != "":
		return "arn:aws:iam::" + OwnerID + ":instance-profile/" + aws.ToString(p.Name)
	}
	return ""
}

func capacityMessage(code, typ, region string) string {
	switch code {
	case "InsufficientInstanceCapacity":
		return fmt.Sprintf("We currently do not have sufficient %s capacity in the Availability Zone you requested (%sa). Our system will be working on provisioning additional capacity.", typ, region)
	case "InstanceLimitExceeded":
		return fmt.Sprintf("You have requested more instances than your current instance limit of 20 allows for the specified instance type %s.", typ)
	case "VcpuLimitExceeded":
		return "You have requested more vCPU capacity than your current vCPU limit of 32 allows for the instance bucket that the specified instance type belongs to."
	case "Unsupported":
		return fmt.Sprintf("Your requested instance type (%s) is not supported in your requested Availability Zone (%sa).", typ, region)
	case "MaxSpotInstanceCountExceeded":
		return "Max spot instance count exceeded"
	}
	return "no capacity for " + typ
}

// fingerprint identifies a RunInstances request apart from its token.
func fingerprint(in *ec2.RunInstancesInput) string {
	c := *in
	c.ClientToken = nil
	return jsonFingerprint(c)
}

func cloneRunInput(in *ec2.RunInstancesInput) *ec2.RunInstancesInput {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	var out ec2.RunInstancesInput
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return &out
}

// DescribeInstances lists instances.
func (c *Client) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.DescribeInstancesInput{}
	}
	if err := f.begin(ctx, ActionDescribeInstances, in.DryRun); err != nil {
		return nil, err
	}
	r := f.region(c.region)
	limit := 0
	if in.MaxResults != nil {
		if len(in.InstanceIds) > 0 {
			return nil, APIError("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
		}
		n := aws.ToInt32(in.MaxResults)
		if n < 5 || n > 1000 {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", n))
		}
		limit = int(n)
	}
	var after int64
	if tok := aws.ToString(in.NextToken); tok != "" {
		var ok bool
		if after, ok = decodeToken(tok); !ok {
			return nil, APIError("InvalidPaginationToken", "The specified pagination token is not valid or is expired.")
		}
	}
	matchers, err := compileFilters(in.Filters)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range in.InstanceIds {
		if !instanceIDRe.MatchString(id) {
			return nil, APIError("InvalidInstanceID.Malformed", fmt.Sprintf("Invalid id: %q", id))
		}
	}
	var wantIDs map[string]bool
	if len(in.InstanceIds) > 0 {
		wantIDs = map[string]bool{}
		for _, id := range in.InstanceIds {
			inst, ok := r.instances[id]
			if !ok || !inst.visible() {
				missing = append(missing, id)
			}
			wantIDs[id] = true
		}
	}
	if len(missing) > 0 {
		return nil, APIError("InvalidInstanceID.NotFound", fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", ")))
	}
	all := slices.SortedFunc(maps.Values(r.instances), func(a, b *instance) int { return int(a.seq - b.seq) })
	var page []*instance
	var next int64
	for _, inst := range all {
		if inst.seq <= after {
			continue
		}
		if wantIDs != nil && !wantIDs[inst.id] {
			continue
		}
		if !matchAll(matchers, inst) {
			continue
		}
		if limit > 0 && len(page) == limit {
			next = page[len(page)-1].seq
			break
		}
		if wantIDs == nil && !inst.visible() {
			continue
		}
		page = append(page, inst)
	}
	out := &ec2.DescribeInstancesOutput{}
	for _, inst := range page {
		n := len(out.Reservations)
		if n == 0 || aws.ToString(out.Reservations[n-1].ReservationId) != inst.reservation {
			out.Reservations = append(out.Reservations, types.Reservation{
				ReservationId: aws.String(inst.reservation),
				OwnerId:       aws.String(OwnerID),
			})
			n++
		}
		out.Reservations[n-1].Instances = append(out.Reservations[n-1].Instances, inst.view())
	}
	if next > 0 {
		out.NextToken = aws.String(encodeToken(next))
	}
	return out, nil
}

func encodeToken(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ec2fake:" + strconv.FormatInt(seq, 10)))
}

func decodeToken(tok string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "ec2fake:")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

type matcher func(*instance) bool

func compileFilters(filters []types.Filter) ([]matcher, error) {
	var out []matcher
	for _, flt := range filters {
		name := aws.ToString(flt.Name)
		values := slices.Clone(flt.Values)
		if len(values) == 0 {
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The filter '%s' has no values", name))
		}
		any := func(s string) bool {
			return slices.ContainsFunc(values, func(v string) bool { return glob(v, s) })
		}
		switch {
		case name == "instance-id":
			out = append(out, func(in *instance) bool { return any(in.id) })
		case name == "instance-state-name":
			out = append(out, func(in *instance) bool { return any(string(in.state)) })
		case name == "instance-type":
			out = append(out, func(in *instance) bool { return any(in.typ) })
		case name == "tag-key":
			out = append(out, func(in *instance) bool {
				for k := range in.tags {
					if any(k) {
						return true
					}
				}
				return false
			})
		case name == "tag-value":
			out = append(out, func(in *instance) bool {
				for _, v := range in.tags {
					if any(v) {
						return true
					}
				}
				return false
			})
		case strings.HasPrefix(name, "tag:") && len(name) > 4:
			key := name[4:]
			out = append(out, func(in *instance) bool {
				v, ok := in.tags[key]
				return ok && any(v)
			})
		default:
			return nil, APIError("InvalidParameterValue", fmt.Sprintf("The filter '%s' is invalid", name))
		}
	}
	return out, nil
}

func matchAll(ms []matcher, in *instance) bool {
	for _, m := range ms {
		if !m(in) {
			return false
		}
	}
	return true
}

// glob matches s against an EC2 filter value: * is any run of characters,
// ? zero or one character, and \ escapes the next character.
func glob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(p) {
			switch p[i] {
			case '*':
				for k := j; k <= len(t); k++ {
					if match(i+1, k) {
						return true
					}
				}
				return false
			case '?': // EC2: zero or one character
				return match(i+1, j) || (j < len(t) && match(i+1, j+1))
			case '\\':
				if i+1 < len(p) {
					i++
				}
				fallthrough
			default:
				if j == len(t) || t[j] != p[i] {
					return false
				}
			}
			i++
			j++
		}
		return j == len(t)
	}
	return match(0, 0)
}

// lookup resolves ids for a state-changing call: malformed and unknown
// (or not yet visible) ids fail the whole call.
func (f *Fake) lookup(r *region, ids []string) ([]*instance, error) {
	if len(ids) == 0 {
		return nil, APIError("MissingParameter", "The request must contain the parameter InstanceId")
	}
	var out []*instance
	var missing []string
	for _, id := range ids {
		if !instanceIDRe.MatchString(id) {
			return nil, APIError("InvalidInstanceID.Malformed", fmt.Sprintf("Invalid id: %q", id))
		}
		in, ok := r.instances[id]
		if !ok || !in.visible() {
			missing = append(missing, id)
			continue
		}
		out = append(out, in)
	}
	if len(missing) == 1 {
		return nil, APIError("InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", missing[0]))
	}
	if len(missing) > 1 {
		return nil, APIError("InvalidInstanceID.NotFound", fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", ")))
	}
	return out, nil
}

// beginChange begins a state-changing call (see begin) and resolves its
// instance ids in region (see lookup). The caller holds f.mu.
func (f *Fake) beginChange(ctx context.Context, action string, dryRun *bool, region string, ids []string) ([]*instance, error) {
	if err := f.begin(ctx, action, dryRun); err != nil {
		return nil, err
	}
	return f.lookup(f.region(region), ids)
}

func incorrectState(id, verb string) error {
	return APIError("IncorrectInstanceState", fmt.Sprintf("The instance '%s' is not in a state from which it can be %s.", id, verb))
}

type change struct {
	in   *instance
	prev types.InstanceStateName
}

func changes(cs []change) []types.InstanceStateChange {
	out := make([]types.InstanceStateChange, 0, len(cs))
	for _, c := range cs {
		out = append(out, types.InstanceStateChange{
			InstanceId:    aws.String(c.in.id),
			PreviousState: stateOf(c.prev),
			CurrentState:  stateOf(c.in.state),
		})
	}
	return out
}

// StartInstances starts stopped instances.
func (c *Client) StartInstances(ctx context.Context, in *ec2.StartInstancesInput, _ ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.StartInstancesInput{}
	}
	insts, err := f.beginChange(ctx, ActionStartInstances, in.DryRun, c.region, in.InstanceIds)
	if err != nil {
		return nil, err
	}
	for _, inst := range insts {
		switch inst.state {
		case types.InstanceStateNameStopping, types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated:
			return nil, incorrectState(inst.id, "started")
		}
	}
	now := f.clock.Now()
	var cs []change
	for _, inst := range insts {
		cs = append(cs, change{inst, inst.state})
		if inst.state == types.InstanceStateNameStopped {
			inst.setState(types.InstanceStateNamePending, now, now.Add(f.opts.BootDelay))
			inst.launchTime = now
			inst.reason = ""
			inst.stateCode, inst.stateMsg = "", ""
		}
	}
	return &ec2.StartInstancesOutput{StartingInstances: changes(cs)}, nil
}

// StopInstances stops running instances.
func (c *Client) StopInstances(ctx context.Context, in *ec2.StopInstancesInput, _ ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.StopInstancesInput{}
	}
	insts, err := f.beginChange(ctx, ActionStopInstances, in.DryRun, c.region, in.InstanceIds)
	if err != nil {
		return nil, err
	}
	for _, inst := range insts {
		switch inst.state {
		case types.InstanceStateNamePending, types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated:
			return nil, incorrectState(inst.id, "stopped")
		}
		if inst.spot {
			return nil, APIError("UnsupportedOperation", fmt.Sprintf("You can't stop the Spot Instance '%s' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests.", inst.id))
		}
	}
	now := f.clock.Now()
	var cs []change
	for _, inst := range insts {
		cs = append(cs, change{inst, inst.state})
		if inst.state == types.InstanceStateNameRunning {
			inst.setState(types.InstanceStateNameStopping, now, now.Add(f.opts.StopDelay))
			inst.reason = "User initiated (" + now.UTC().Format(reasonTime) + " GMT)"
			inst.stateCode, inst.stateMsg = "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"
		}
	}
	return &ec2.StopInstancesOutput{StoppingInstances: changes(cs)}, nil
}

// TerminateInstances terminates instances.
func (c *Client) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	f := c.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if in == nil {
		in = &ec2.TerminateInstancesInput{}
	}
	insts, err := f.beginChange(ctx, ActionTerminateInstances, in.DryRun, c.region, in.InstanceIds)
	if err != nil {
		return nil, err
	}
	now := f.clock.Now()
	var cs []change
	for _, inst := range insts {
		cs = append(cs, change{inst, inst.state})
		switch inst.state {
		case types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated:
		default:
			inst.setState(types.InstanceStateNameShuttingDown, now, now.Add(f.opts.TerminateDelay))
			inst.reason = "User initiated (" + now.UTC().Format(reasonTime) + " GMT)"
			inst.stateCode, inst.stateMsg = "Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"
		}
	}
	return &ec2.TerminateInstancesOutput{TerminatingInstances: changes(cs)}, nil
}
