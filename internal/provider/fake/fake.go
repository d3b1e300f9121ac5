// Package fake is a programmable in-memory provider.Provider for controller
// unit tests.
//
// Instances live in memory. Time comes from an injected clock: an instance is
// pending for the boot delay after Launch or Start and running afterwards, a
// reclaimed spot instance is terminated once the clock passes its
// InterruptionAt, and a terminated instance stays listed for an hour. All of
// that is derived on each call, so a test drives it by advancing a
// clock.Fake.
//
// Tests steer the fake with SetNoCapacity, SetSpotPrice, SetBootDelay,
// FailNext, FailNextAfterEffect and Reclaim, and observe it with Calls and
// Launches (for example to assert that a controller never launched twice).
//
// Prices, as in the local provider: on-demand instances pay the catalog
// price; spot instances pay min(max price, spot price), where the spot price
// is SpotPercent of on-demand unless SetSpotPrice changed it and a max price
// of 0 means the on-demand price.
package fake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// Method names, as used by Calls, FailNext and FailNextAfterEffect.
const (
	MethodRegions   = "Regions"
	MethodLaunch    = "Launch"
	MethodDescribe  = "Describe"
	MethodStart     = "Start"
	MethodStop      = "Stop"
	MethodTerminate = "Terminate"
)

// SpotPercent is the default spot price as a percentage of the on-demand
// price.
const SpotPercent = 30

// TerminatedRetention is how long a terminated instance stays listed.
const TerminatedRetention = time.Hour

// Options configures a fake provider. The zero value is usable.
type Options struct {
	// Clock is the time source. Default clock.Real{}.
	Clock clock.Clock
	// Regions the provider offers; the first is the default. Default
	// "fake-1", "fake-2".
	Regions []string
	// Catalog lists the types and on-demand prices. Default
	// cost.DefaultCatalog().
	Catalog *cost.Catalog
	// Billing is the billing model the provider reports. Default
	// cost.PerSecond (AWS's for Linux instances).
	Billing cost.Billing
	// BootDelay is how long an instance stays pending after Launch or Start.
	BootDelay time.Duration
}

// Provider is the fake. It is safe for concurrent use.
type Provider struct {
	clock   clock.Clock
	billing cost.Billing
	catalog *cost.Catalog
	regions []string

	mu         sync.Mutex
	bootDelay  time.Duration
	noCapacity map[string]bool
	spotPrice  map[string]int64
	failures   map[string][]failure
	calls      map[string]int
	launches   []provider.LaunchSpec
	instances  map[string]*instance
	tokens     map[string]string // region + "\x00" + token → id
	nextID     int
	nextAddr   int
	res        resources // images, key pairs, security groups: resources.go
}

var _ provider.Provider = (*Provider)(nil)

type failure struct {
	err   error
	after bool // the call takes effect, then returns err
}

type instance struct {
	provider.Instance
	readyAt time.Time // when a pending instance becomes running
	token   string
	seq     int
}

// New returns an empty fake provider.
func New(opts Options) *Provider {
	p := &Provider{
		clock:      opts.Clock,
		catalog:    opts.Catalog,
		regions:    slices.Clone(opts.Regions),
		billing:    opts.Billing,
		bootDelay:  opts.BootDelay,
		noCapacity: map[string]bool{},
		spotPrice:  map[string]int64{},
		failures:   map[string][]failure{},
		calls:      map[string]int{},
		instances:  map[string]*instance{},
		tokens:     map[string]string{},
	}
	if p.clock == nil {
		p.clock = clock.Real{}
	}
	if p.catalog == nil {
		p.catalog = cost.DefaultCatalog()
	}
	if len(p.regions) == 0 {
		p.regions = []string{"fake-1", "fake-2"}
	}
	return p
}

// Clock returns the provider's clock.
func (p *Provider) Clock() clock.Clock { return p.clock }

// SetBootDelay changes the boot delay for instances launched or started
// from now on.
func (p *Provider) SetBootDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bootDelay = d
}

// SetNoCapacity makes Launch of typ fail with a *provider.CapacityError (in
// every region) while none is true.
func (p *Provider) SetNoCapacity(typ string, none bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if none {
		p.noCapacity[typ] = true
	} else {
		delete(p.noCapacity, typ)
	}
}

// SetSpotPrice sets the hourly spot price of typ for launches from now on.
// A price of 0 restores the default (SpotPercent of on-demand).
func (p *Provider) SetSpotPrice(typ string, micros int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if micros <= 0 {
		delete(p.spotPrice, typ)
	} else {
		p.spotPrice[typ] = micros
	}
}

// FailNext makes the next n calls of method return err without taking
// effect. Failures queue up behind earlier ones.
func (p *Provider) FailNext(method string, n int, err error) {
	p.inject(method, n, failure{err: err})
}

// FailNextAfterEffect makes the next n calls of method take effect and then
// return err, as when a response is lost on the way back: a Launch still
// creates the instance (and records its client token).
func (p *Provider) FailNextAfterEffect(method string, n int, err error) {
	p.inject(method, n, failure{err: err, after: true})
}

func (p *Provider) inject(method string, n int, f failure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.failures[method] = append(p.failures[method], f)
	}
}

// Calls returns how many times method has been called, failed calls
// included.
func (p *Provider) Calls(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

// ResetCalls sets every call count to zero and forgets recorded launches.
func (p *Provider) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.calls)
	p.launches = nil
}

// Launches returns a copy of every LaunchSpec passed to Launch, in order,
// failed calls included.
func (p *Provider) Launches() []provider.LaunchSpec {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]provider.LaunchSpec, len(p.launches))
	for i, s := range p.launches {
		s.Tags = maps.Clone(s.Tags)
		out[i] = s
	}
	return out
}

// Reclaim announces that the spot instance id in region will be reclaimed
// after notice: Describe reports InterruptionAt = now+notice, and once the
// clock passes it the instance is terminated. It fails for an unknown,
// terminated or on-demand instance.
func (p *Provider) Reclaim(ctx context.Context, region, id string, notice time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.checkRegion(region); err != nil {
		return err
	}
	now := p.clock.Now()
	p.advance(now)
	in, err := p.find(region, id)
	if err != nil {
		return err
	}
	if !in.Spot {
		return &provider.InvalidError{Field: "id", Reason: fmt.Sprintf("instance %s is not a spot instance", id)}
	}
	in.InterruptionAt = now.Add(notice)
	p.advance(now)
	return nil
}

// Name returns "fake".
func (p *Provider) Name() string { return "fake" }

// Billing implements provider.Provider.
func (p *Provider) Billing() cost.Billing {
	if p.billing.Name == "" {
		return cost.PerSecond
	}
	return p.billing
}

// Regions returns the configured regions.
func (p *Provider) Regions(ctx context.Context) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := p.begin(ctx, MethodRegions)
	if err != nil {
		return nil, err
	}
	return slices.Clone(p.regions), f.result()
}

// Launch implements provider.Provider.
func (p *Provider) Launch(ctx context.Context, spec provider.LaunchSpec) (provider.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rec := spec
	rec.Tags = maps.Clone(spec.Tags)
	p.launches = append(p.launches, rec)
	f, err := p.begin(ctx, MethodLaunch)
	if err != nil {
		return provider.Instance{}, err
	}
	now := p.clock.Now()
	p.advance(now)
	in, err := p.launch(spec, now)
	if err != nil {
		return provider.Instance{}, err
	}
	return in, f.result()
}

func (p *Provider) launch(spec provider.LaunchSpec, now time.Time) (provider.Instance, error) {
	if err := p.checkRegion(spec.Region); err != nil {
		return provider.Instance{}, err
	}
	it, ok := p.catalog.Lookup(spec.Type)
	if !ok {
		return provider.Instance{}, &provider.InvalidError{Field: "type", Reason: fmt.Sprintf("unknown instance type %q", spec.Type)}
	}
	if spec.RootVolumeGB < 0 {
		return provider.Instance{}, &provider.InvalidError{Field: "root_volume_gb", Reason: "must not be negative"}
	}
	if spec.MaxPriceMicros < 0 {
		return provider.Instance{}, &provider.InvalidError{Field: "max_price", Reason: "must not be negative"}
	}
	key := spec.Region + "\x00" + spec.ClientToken
	if spec.ClientToken != "" {
		if id, ok := p.tokens[key]; ok {
			in := p.instances[id]
			if in.Type != spec.Type || in.Spot != spec.Spot {
				return provider.Instance{}, &provider.InvalidError{Field: "client_token", Reason: fmt.Sprintf("token %q was used for instance %s (%s, spot %v) with other parameters", spec.ClientToken, id, in.Type, in.Spot)}
			}
			return in.snapshot(), nil
		}
	}
	if p.noCapacity[spec.Type] {
		return provider.Instance{}, &provider.CapacityError{Region: spec.Region, Type: spec.Type, Reason: "insufficient capacity (fake)"}
	}
	price := int64(it.HourlyMicros)
	if spec.Spot {
		limit := spec.MaxPriceMicros
		if limit == 0 {
			limit = price
		}
		price = min(p.spotPriceOf(spec.Type, price), limit)
	}
	p.nextID++
	p.nextAddr++
	in := &instance{
		Instance: provider.Instance{
			ID:             fmt.Sprintf("i-%017x", p.nextID),
			Region:         spec.Region,
			Type:           spec.Type,
			State:          provider.StatePending,
			Address:        fmt.Sprintf("10.0.%d.%d", p.nextAddr/250, p.nextAddr%250+1),
			Spot:           spec.Spot,
			PriceMicros:    price,
			RootVolumeGB:   spec.RootVolumeGB,
			Tags:           maps.Clone(spec.Tags),
			LaunchedAt:     now,
			StateChangedAt: now,
			// Recorded as given; the fake does not check they exist.
			SecurityGroups:  slices.Clone(spec.SecurityGroups),
			KeyName:         spec.KeyName,
			InstanceProfile: spec.InstanceProfile,
		},
		readyAt: now.Add(p.bootDelay),
		token:   spec.ClientToken,
		seq:     p.nextID,
	}
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	p.instances[in.ID] = in
	if spec.ClientToken != "" {
		p.tokens[key] = in.ID
	}
	return in.snapshot(), nil
}

func (p *Provider) spotPriceOf(typ string, onDemand int64) int64 {
	if sp, ok := p.spotPrice[typ]; ok {
		return sp
	}
	return max(onDemand*SpotPercent/100, 1)
}

// Describe implements provider.Provider.
func (p *Provider) Describe(ctx context.Context, region string, f provider.Filter) ([]provider.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fl, err := p.begin(ctx, MethodDescribe)
	if err != nil {
		return nil, err
	}
	if err := p.checkRegion(region); err != nil {
		return nil, err
	}
	p.advance(p.clock.Now())
	var found []*instance
	for _, in := range p.instances {
		if in.Region == region && f.Matches(in.Instance) {
			found = append(found, in)
		}
	}
	slices.SortFunc(found, func(a, b *instance) int { return a.seq - b.seq })
	out := make([]provider.Instance, 0, len(found))
	for _, in := range found {
		out = append(out, in.snapshot())
	}
	return out, fl.result()
}

// Start implements provider.Provider.
func (p *Provider) Start(ctx context.Context, region, id string) error {
	return p.change(ctx, MethodStart, region, id, func(in *instance, now time.Time) error {
		switch in.State {
		case provider.StateStopped, provider.StateStopping:
			in.setState(provider.StatePending, now)
			in.readyAt = now.Add(p.bootDelay)
		case provider.StateTerminated, provider.StateShuttingDown:
			return fmt.Errorf("start %s: instance is terminated: %w", id, provider.ErrNotFound)
		}
		return nil
	})
}

// Stop implements provider.Provider.
func (p *Provider) Stop(ctx context.Context, region, id string) error {
	return p.change(ctx, MethodStop, region, id, func(in *instance, now time.Time) error {
		switch in.State {
		case provider.StatePending, provider.StateRunning, provider.StateStopping:
			in.setState(provider.StateStopped, now)
		case provider.StateTerminated, provider.StateShuttingDown:
			return fmt.Errorf("stop %s: instance is terminated: %w", id, provider.ErrNotFound)
		}
		return nil
	})
}

// Terminate implements provider.Provider.
func (p *Provider) Terminate(ctx context.Context, region, id string) error {
	err := p.change(ctx, MethodTerminate, region, id, func(in *instance, now time.Time) error {
		if in.State != provider.StateTerminated {
			in.terminate(now)
		}
		return nil
	})
	if errors.Is(err, provider.ErrNotFound) {
		return nil
	}
	return err
}

func (p *Provider) change(ctx context.Context, method, region, id string, fn func(in *instance, now time.Time) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := p.begin(ctx, method)
	if err != nil {
		return err
	}
	if err := p.checkRegion(region); err != nil {
		return err
	}
	now := p.clock.Now()
	p.advance(now)
	in, err := p.find(region, id)
	if err != nil {
		return err
	}
	if err := fn(in, now); err != nil {
		return err
	}
	return f.result()
}

// begin counts a call and pops an injected failure. A failure that applies
// before the call's effect is returned as err; one that applies after is
// returned in f.
func (p *Provider) begin(ctx context.Context, method string) (f failure, err error) {
	p.calls[method]++
	if err := ctx.Err(); err != nil {
		return failure{}, err
	}
	q := p.failures[method]
	if len(q) == 0 {
		return failure{}, nil
	}
	f, p.failures[method] = q[0], q[1:]
	if !f.after {
		return failure{}, f.err
	}
	return f, nil
}

func (f failure) result() error {
	if f.after {
		return f.err
	}
	return nil
}

func (p *Provider) checkRegion(region string) error {
	if !slices.Contains(p.regions, region) {
		return &provider.InvalidError{Field: "region", Reason: fmt.Sprintf("unknown region %q (have %v)", region, p.regions)}
	}
	return nil
}

func (p *Provider) find(region, id string) (*instance, error) {
	in, ok := p.instances[id]
	if !ok || in.Region != region {
		return nil, fmt.Errorf("instance %s in %s: %w", id, region, provider.ErrNotFound)
	}
	return in, nil
}

// advance derives every instance's state at now: boots finish, due spot
// reclaims terminate, long-terminated instances are forgotten.
func (p *Provider) advance(now time.Time) {
	for id, in := range p.instances {
		if in.State != provider.StateTerminated && !in.InterruptionAt.IsZero() && !now.Before(in.InterruptionAt) {
			in.terminate(in.InterruptionAt)
		}
		if in.State == provider.StatePending && !now.Before(in.readyAt) {
			in.setState(provider.StateRunning, in.readyAt)
		}
		if in.State == provider.StateTerminated && now.Sub(in.StateChangedAt) >= TerminatedRetention {
			delete(p.instances, id)
			if in.token != "" {
				delete(p.tokens, in.Region+"\x00"+in.token)
			}
		}
	}
}

func (in *instance) setState(s provider.State, at time.Time) {
	in.State = s
	in.StateChangedAt = at
}

func (in *instance) terminate(at time.Time) {
	in.setState(provider.StateTerminated, at)
	in.Address = ""
}

func (in *instance) snapshot() provider.Instance {
	out := in.Instance
	out.Tags = maps.Clone(in.Tags)
	out.SecurityGroups = slices.Clone(in.SecurityGroups)
	return out
}
