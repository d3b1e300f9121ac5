// Package local is the embedded local provider: a small real cloud on this
// machine. An instance is a directory (its disk) and, when it was launched
// with an agent bootstrap, a detached `stratus agent` process that leads its
// own session, so instances outlive the control plane like VMs do.
//
// # State
//
// The cloud keeps its own state in Root, apart from the control plane's
// store:
//
//	Root/state.json           every instance and client token (written atomically)
//	Root/lock                 flock'ed around every load-modify-save
//	Root/behaviour.json       optional fault injection, re-read on every call
//	Root/instances/<id>/      an instance's disk: agent.json, agent.log, ...
//
// Every call takes the lock and loads the state afresh, so several Provider
// values and several processes (the control plane, a CLI or a test poking the
// cloud) can share one Root.
//
// # Instances
//
// Ids are "i-" and 17 random hex digits. Each live instance has a loopback
// address unique among live instances (127.100.0.1, 127.100.0.2, ...);
// nothing needs to listen on it. Instances go through EC2's states:
//
//	pending → running → stopping → stopped → pending → ...
//	any of them → shutting-down → terminated
//
// An instance is pending until its boot delay has passed on the provider's
// clock, then running. Stop records the instance stopping (Terminate:
// shutting-down) with the time it was asked, saves the state, sends SIGTERM
// to the instance's processes and returns; it does not wait for them, and
// nothing holds the root lock while they exit. Processes still there
// Options.KillGrace later get SIGKILL, from a goroutine of the process that
// asked and from any call that finds them. The transition completes on the
// first call that finds the processes gone and the stop delay passed: a
// stopped instance keeps its directory (Start starts the agent again), a
// terminated one loses it. So a stop or terminate whose caller died midway
// is finished by whoever calls next, a new Provider in another process
// included. Stop of a stopping instance is a no-op, Terminate of a stopping
// one proceeds to shutting-down, and Start of a stopping one fails with
// ErrIncorrectState (EC2's IncorrectInstanceState) until it is stopped.
//
// States are derived lazily on each call from the clock and the processes
// found, and persisted. Terminated instances stay listed for an hour, then
// are purged together with their client token. Before signalling a process
// the provider checks in /proc that it carries the instance id in its
// environment (STRATUS_INSTANCE_ID) or the instance directory on its
// command line, so a reused pid is never signalled.
//
// Launch is idempotent by client token per region: the token is persisted
// before the agent process starts, and a repeated Launch returns the
// instance in its current state, even terminated (until it is purged).
// Reusing a token with another type or market is an *provider.InvalidError.
//
// # Prices
//
// On-demand instances pay the catalog price. Spot instances pay
// min(max price, spot price), where the spot price is SpotPercent (30%) of
// the on-demand price, rounded down, and a max price of 0 means the
// on-demand price. So a spot launch is never refused for its price and never
// pays more than its max price. (EC2 would refuse a max price below the
// market; the local cloud is lenient so that requests such as the classic
// cf-create "ComputeSpotPrice": "0.03" for r4.large run.)
//
// Reclaim announces a spot interruption: it writes agent.InterruptionFile
// into the instance directory, and the instance is shutting-down once the
// clock passes InterruptionAt, then terminated as after Terminate.
//
// # Images, key pairs, security groups
//
// The cloud also implements provider.Resources, kept in state.json per
// region (instance profiles are global). Every region has a base image,
// name "stratus-base" and id "ami-local-base"; a copied image is pending
// for ImageCopyDelay (1s) on the clock, then available. Key fingerprints
// are "SHA256:" + the unpadded base64 SHA-256 of the key's blob, as
// ssh-keygen prints them. See resources.go.
//
// # Behaviour file
//
// Root/behaviour.json makes the cloud slow, flaky or full. It is re-read on
// every call; fields present replace the provider's Options:
//
//	{
//	  "boot_delay": "2s",         // pending → running after this long (Go duration)
//	  "stop_delay": "1s",         // stopping and shutting-down last at least this long
//	  "api_delay": "100ms",       // every call waits this long first (real time; honours ctx)
//	  "fail_rate": 0.1,           // probability 0..1 that a call fails with a retryable *InjectedError
//	  "fail_calls": ["launch"],   // calls fail_rate applies to; empty = all of
//	                              //   regions, launch, describe, start, stop, terminate,
//	                              //   and the resource calls (copy_image, ...: resources.go)
//	  "fail_after_effect": false, // true: the failure comes after the call took effect (lost response)
//	  "no_capacity": ["c5.large"] // Launch of these types returns *provider.CapacityError
//	}
//
// Unknown fields and out-of-range values make every call fail with an error
// naming the file. WriteBehaviour and ReadBehaviour write and read it.
package local

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/stratus-cloud/stratus/internal/agent"
	"github.com/stratus-cloud/stratus/internal/atomicfile"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// SpotPercent is the spot price as a percentage of the on-demand price.
const SpotPercent = 30

// TerminatedRetention is how long a terminated instance stays listed before
// it is purged from the state.
const TerminatedRetention = time.Hour

// Environment variables set on every agent process.
const (
	envInstanceID  = "STRATUS_INSTANCE_ID"
	envInstanceDir = "STRATUS_INSTANCE_DIR"
)

// AgentLog is the file in the instance directory that receives the agent's
// stdout and stderr.
const AgentLog = "agent.log"

// DefaultRegions are the regions of a local provider configured with none.
var DefaultRegions = []string{"local-1", "local-2", "local-3", "local-4", "local-5", "local-6"}

// Options configures a local provider. Root is required.
type Options struct {
	// Root is the cloud's own directory; created if missing.
	Root string
	// Regions offered; the first is the default. Default DefaultRegions.
	Regions []string
	// Catalog lists the types and on-demand prices. Default
	// cost.DefaultCatalog().
	Catalog *cost.Catalog
	// Clock decides every state change. Default clock.Real{}.
	Clock clock.Clock
	// Logger receives one line per lifecycle change. Default: discard.
	Logger *slog.Logger
	// AgentCommand returns the command that runs an instance's agent with
	// instanceDir as its directory. The provider sets its working directory,
	// stdio, environment additions and session. Default: this executable
	// with args "agent --instance-dir DIR".
	AgentCommand func(instanceDir string) *exec.Cmd
	// Billing is the billing model the provider reports. Default
	// cost.PerSecond (AWS's for Linux instances).
	Billing cost.Billing
	// BootDelay is how long instances stay pending; behaviour.json's
	// boot_delay overrides it.
	BootDelay time.Duration
	// StopDelay is the least time instances stay stopping or
	// shutting-down; behaviour.json's stop_delay overrides it. Default 0:
	// as long as their processes take to exit.
	StopDelay time.Duration
	// KillGrace is how long a stopping or shutting-down instance's
	// processes have after SIGTERM before they get SIGKILL. Default 3s.
	KillGrace time.Duration
}

// ErrIncorrectState is wrapped by the error of a call that the instance's
// state does not allow yet, such as Start of a stopping instance (EC2's
// IncorrectInstanceState); the same call may succeed once the transition
// has completed.
var ErrIncorrectState = errors.New("incorrect instance state")

// killWait is how long processes have to vanish after SIGKILL before a
// stop or terminate completes without them (and a warning is logged).
const killWait = time.Second

// Provider is the local cloud. It is safe for concurrent use, also with
// other Provider values and processes on the same Root.
type Provider struct {
	root      string
	billing   cost.Billing
	regions   []string
	catalog   *cost.Catalog
	clock     clock.Clock
	log       *slog.Logger
	agentCmd  func(string) *exec.Cmd
	bootDelay time.Duration
	stopDelay time.Duration
	killGrace time.Duration
}

var _ provider.Provider = (*Provider)(nil)

// New returns a local provider on opts.Root, creating the directory if
// needed. Instances already in Root (made by earlier Provider values or other
// processes) are part of the cloud.
func New(opts Options) (*Provider, error) {
	if opts.Root == "" {
		return nil, errors.New("local provider: Options.Root is required")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("local provider: root: %w", err)
	}
	p := &Provider{
		root:      root,
		regions:   slices.Clone(opts.Regions),
		billing:   opts.Billing,
		catalog:   opts.Catalog,
		clock:     opts.Clock,
		log:       opts.Logger,
		agentCmd:  opts.AgentCommand,
		bootDelay: opts.BootDelay,
		stopDelay: opts.StopDelay,
		killGrace: opts.KillGrace,
	}
	if len(p.regions) == 0 {
		p.regions = slices.Clone(DefaultRegions)
	}
	seen := map[string]bool{}
	for _, r := range p.regions {
		if r == "" || seen[r] {
			return nil, fmt.Errorf("local provider: regions %q: names must be non-empty and distinct", p.regions)
		}
		seen[r] = true
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
	if p.bootDelay < 0 {
		return nil, errors.New("local provider: BootDelay must not be negative")
	}
	if p.stopDelay < 0 {
		return nil, errors.New("local provider: StopDelay must not be negative")
	}
	if p.killGrace <= 0 {
		p.killGrace = 3 * time.Second
	}
	if p.agentCmd == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local provider: find the stratus executable for agents: %w", err)
		}
		p.agentCmd = func(dir string) *exec.Cmd {
			return exec.Command(exe, "agent", "--instance-dir", dir)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, instancesDir), 0o700); err != nil {
		return nil, fmt.Errorf("local provider: %w", err)
	}
	return p, nil
}

// Root returns the cloud's directory (absolute).
func (p *Provider) Root() string { return p.root }

// InstanceDir returns the directory (disk) of instance id.
func (p *Provider) InstanceDir(id string) string {
	return filepath.Join(p.root, instancesDir, id)
}

// Name returns "local".
func (p *Provider) Name() string { return "local" }

// Billing implements provider.Provider.
func (p *Provider) Billing() cost.Billing {
	if p.billing.Name == "" {
		return cost.PerSecond
	}
	return p.billing
}

// Regions returns the configured regions.
func (p *Provider) Regions(ctx context.Context) ([]string, error) {
	if err := p.call(ctx, CallRegions, func(*cloudState, tx) error { return nil }); err != nil {
		return nil, err
	}
	return slices.Clone(p.regions), nil
}

// tx is one load-modify-save of the state: what an operation on it knows.
type tx struct {
	now       time.Time
	behaviour Behaviour
	bootDelay time.Duration
	stopDelay time.Duration
	dirty     *bool
	effects   *[]func()
}

func (c tx) changed() { *c.dirty = true }

// afterSave queues fn to run, still under the lock, once the state has
// been saved: a side effect (a signal) never comes before the state that
// explains it, and no other call sees the state before it has happened.
func (c tx) afterSave(fn func()) { *c.effects = append(*c.effects, fn) }

// call runs op on freshly loaded state under the root lock, after the
// behaviour file's delay and failures, and saves the state if op or the
// lazy derivation changed it.
func (p *Provider) call(ctx context.Context, name string, op func(*cloudState, tx) error) error {
	b, err := p.behaviour()
	if err != nil {
		return err
	}
	if b.APIDelay > 0 {
		t := time.NewTimer(time.Duration(b.APIDelay))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var injected error
	if b.FailRate > 0 && (len(b.FailCalls) == 0 || slices.Contains(b.FailCalls, name)) && rand.Float64() < b.FailRate {
		injected = &InjectedError{Call: name}
		if !b.FailAfterEffect {
			return injected
		}
	}
	if err := p.locked(b, op); err != nil {
		return err
	}
	return injected
}

// locked loads the state under the lock, derives it at the clock's now,
// runs op and saves if anything changed (also when op fails, so that work
// already done, such as a persisted client token, is kept), then runs the
// side effects queued with afterSave.
func (p *Provider) locked(b Behaviour, op func(*cloudState, tx) error) error {
	unlock, err := lockRoot(p.root)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := loadState(p.root)
	if err != nil {
		return err
	}
	dirty := false
	var effects []func()
	c := tx{now: p.clock.Now(), behaviour: b, bootDelay: p.bootDelay, stopDelay: p.stopDelay, dirty: &dirty, effects: &effects}
	if b.BootDelay != nil {
		c.bootDelay = time.Duration(*b.BootDelay)
	}
	if b.StopDelay != nil {
		c.stopDelay = time.Duration(*b.StopDelay)
	}
	p.derive(st, c)
	opErr := op(st, c)
	if dirty {
		if err := saveState(p.root, st); err != nil {
			return errors.Join(opErr, fmt.Errorf("save %s: %w", filepath.Join(p.root, stateFile), err))
		}
	}
	for _, fn := range effects {
		fn()
	}
	return opErr
}

// behaviour returns Options merged with the behaviour file.
func (p *Provider) behaviour() (Behaviour, error) {
	boot, stop := Duration(p.bootDelay), Duration(p.stopDelay)
	b := Behaviour{BootDelay: &boot, StopDelay: &stop}
	if _, err := readBehaviourInto(p.root, &b); err != nil {
		return b, err
	}
	return b, nil
}

// derive brings every instance up to the clock: due spot reclaims shut
// down, finished boots run, stops and terminations whose processes are
// gone complete, long-terminated instances are purged.
func (p *Provider) derive(st *cloudState, c tx) {
	for _, r := range st.Instances {
		if r.State != provider.StateTerminated && r.State != provider.StateShuttingDown &&
			!r.InterruptionAt.IsZero() && !c.now.Before(r.InterruptionAt) {
			p.shutDown(r, c, provider.StateShuttingDown, r.InterruptionAt, "spot reclaim")
		}
		if r.State == provider.StateStopping || r.State == provider.StateShuttingDown {
			p.settle(r, c)
		}
		if r.State == provider.StatePending && !c.now.Before(r.ReadyAt) {
			r.setState(provider.StateRunning, r.ReadyAt)
			r.ReadyAt = time.Time{}
			c.changed()
		}
		if r.State == provider.StateTerminated && c.now.Sub(r.StateChangedAt) >= TerminatedRetention {
			st.forget(r)
			c.changed()
		}
		// An accepted launch (or start) boots even if the process that
		// made the call died before starting the agent: the cloud, not its
		// caller, finishes it, as a real cloud would.
		if r.Agent && r.PID == 0 && (r.State == provider.StatePending || r.State == provider.StateRunning) {
			if err := p.startAgent(r); err != nil {
				p.log.Warn("cannot boot instance", "instance", r.ID, "err", err)
			} else {
				c.changed()
			}
		}
	}
}

func (p *Provider) checkRegion(region string) error {
	if !slices.Contains(p.regions, region) {
		return &provider.InvalidError{Field: "region", Reason: fmt.Sprintf("unknown region %q; the local provider has %v", region, p.regions)}
	}
	return nil
}

// Launch implements provider.Provider.
func (p *Provider) Launch(ctx context.Context, spec provider.LaunchSpec) (provider.Instance, error) {
	var out provider.Instance
	err := p.call(ctx, CallLaunch, func(st *cloudState, c tx) error {
		var err error
		out, err = p.launch(st, c, spec)
		return err
	})
	if err != nil {
		return provider.Instance{}, err
	}
	return out, nil
}

func (p *Provider) launch(st *cloudState, c tx, spec provider.LaunchSpec) (provider.Instance, error) {
	if err := p.checkRegion(spec.Region); err != nil {
		return provider.Instance{}, err
	}
	it, ok := p.catalog.Lookup(spec.Type)
	if !ok {
		reason := fmt.Sprintf("unknown instance type %q", spec.Type)
		if s := p.catalog.Suggest(spec.Type); len(s) > 0 {
			reason += fmt.Sprintf("; did you mean %v?", s)
		}
		return provider.Instance{}, &provider.InvalidError{Field: "type", Reason: reason}
	}
	if spec.RootVolumeGB < 0 {
		return provider.Instance{}, &provider.InvalidError{Field: "root_volume_gb", Reason: "must not be negative"}
	}
	if spec.MaxPriceMicros < 0 {
		return provider.Instance{}, &provider.InvalidError{Field: "max_price", Reason: "must not be negative"}
	}
	if spec.ClientToken != "" {
		if id, ok := st.token(spec.Region, spec.ClientToken); ok {
			if r := st.Instances[id]; r != nil {
				return p.relaunch(r, c, spec)
			}
		}
	}
	if slices.Contains(c.behaviour.NoCapacity, spec.Type) {
		return provider.Instance{}, &provider.CapacityError{Region: spec.Region, Type: spec.Type, Reason: "no_capacity in " + filepath.Join(p.root, BehaviourFile)}
	}
	price := int64(it.HourlyMicros)
	if spec.Spot {
		limit := spec.MaxPriceMicros
		if limit == 0 {
			limit = price
		}
		price = min(SpotPrice(it.HourlyMicros), limit)
	}
	addr, err := freeAddress(st)
	if err != nil {
		return provider.Instance{}, &provider.CapacityError{Region: spec.Region, Type: spec.Type, Reason: err.Error()}
	}
	id, err := newID(st)
	if err != nil {
		return provider.Instance{}, err
	}
	st.Seq++
	r := &record{
		ID:             id,
		Region:         spec.Region,
		Type:           spec.Type,
		State:          provider.StatePending,
		Address:        addr,
		Spot:           spec.Spot,
		PriceMicros:    price,
		RootVolumeGB:   spec.RootVolumeGB,
		Tags:           maps.Clone(spec.Tags),
		LaunchedAt:     c.now,
		StateChangedAt: c.now,
		ReadyAt:        c.now.Add(c.bootDelay),
		ClientToken:    spec.ClientToken,
		Agent:          spec.Agent.ServerURL != "",
		Seq:            st.Seq,
		// Recorded as given: they are reported, not enforced.
		SecurityGroups:  slices.Clone(spec.SecurityGroups),
		KeyName:         spec.KeyName,
		InstanceProfile: spec.InstanceProfile,
	}
	dir := p.InstanceDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return provider.Instance{}, fmt.Errorf("create instance directory: %w", err)
	}
	if r.Agent {
		cfg := agent.Config{
			InstanceID:      id,
			Region:          spec.Region,
			Address:         addr,
			ServerURL:       spec.Agent.ServerURL,
			Token:           spec.Agent.Token,
			BootDelayMillis: c.bootDelay.Milliseconds(),
		}
		if err := agent.WriteConfig(dir, cfg); err != nil {
			os.RemoveAll(dir)
			return provider.Instance{}, fmt.Errorf("write agent config for %s: %w", id, err)
		}
	}
	// Persist the instance and its token before starting anything, so that
	// a crash from here on leaves a record a repeated Launch finds.
	st.Instances[id] = r
	if spec.ClientToken != "" {
		st.setToken(spec.Region, spec.ClientToken, id)
	}
	if err := saveState(p.root, st); err != nil {
		os.RemoveAll(dir)
		st.forget(r)
		return provider.Instance{}, fmt.Errorf("save %s: %w", stateFile, err)
	}
	p.log.Info("launched instance", "instance", id, "region", r.Region, "type", r.Type, "spot", r.Spot, "address", addr)
	if r.Agent {
		if err := p.startAgent(r); err != nil {
			return r.instance(), err
		}
		c.changed()
	}
	return r.instance(), nil
}

// relaunch answers a Launch whose client token made r already.
func (p *Provider) relaunch(r *record, c tx, spec provider.LaunchSpec) (provider.Instance, error) {
	if r.Type != spec.Type || r.Spot != spec.Spot {
		return provider.Instance{}, &provider.InvalidError{Field: "client_token", Reason: fmt.Sprintf(
			"token %q made instance %s (%s, spot %v); it cannot be reused for %s, spot %v",
			spec.ClientToken, r.ID, r.Type, r.Spot, spec.Type, spec.Spot)}
	}
	// A crash between persisting the token and starting the agent leaves an
	// instance without its process; the retry finishes the launch.
	if r.Agent && r.PID == 0 && (r.State == provider.StatePending || r.State == provider.StateRunning) {
		if err := p.startAgent(r); err != nil {
			return r.instance(), err
		}
		c.changed()
	}
	return r.instance(), nil
}

// SpotPrice is the local cloud's hourly spot price for a type whose
// on-demand price is onDemand: SpotPercent of it, at least one micro-dollar.
func SpotPrice(onDemand cost.Micros) int64 {
	return max(int64(onDemand)*SpotPercent/100, 1)
}

func newID(st *cloudState) (string, error) {
	for {
		b := make([]byte, 9)
		if _, err := crand.Read(b); err != nil {
			return "", err
		}
		id := "i-" + hex.EncodeToString(b)[:17]
		if _, dup := st.Instances[id]; !dup {
			return id, nil
		}
	}
}

// freeAddress returns the lowest loopback address in 127.100.0.0/16 that no
// live instance holds.
func freeAddress(st *cloudState) (string, error) {
	used := map[string]bool{}
	for _, r := range st.Instances {
		if r.State != provider.StateTerminated && r.Address != "" {
			used[r.Address] = true
		}
	}
	for n := 0; n < 256*254; n++ {
		a := fmt.Sprintf("127.100.%d.%d", n/254, n%254+1)
		if !used[a] {
			return a, nil
		}
	}
	return "", errors.New("every address in 127.100.0.0/16 is taken")
}

// Describe implements provider.Provider.
func (p *Provider) Describe(ctx context.Context, region string, f provider.Filter) ([]provider.Instance, error) {
	var out []provider.Instance
	err := p.call(ctx, CallDescribe, func(st *cloudState, c tx) error {
		if err := p.checkRegion(region); err != nil {
			return err
		}
		var rs []*record
		for _, r := range st.Instances {
			if r.Region == region && f.Matches(r.instance()) {
				rs = append(rs, r)
			}
		}
		slices.SortFunc(rs, func(a, b *record) int { return int(a.Seq - b.Seq) })
		out = make([]provider.Instance, 0, len(rs))
		for _, r := range rs {
			out = append(out, r.instance())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// find returns instance id in region, or ErrNotFound.
func (p *Provider) find(st *cloudState, region, id string) (*record, error) {
	if err := p.checkRegion(region); err != nil {
		return nil, err
	}
	r := st.Instances[id]
	if r == nil || r.Region != region {
		return nil, fmt.Errorf("instance %s in %s: %w", id, region, provider.ErrNotFound)
	}
	return r, nil
}

// Start implements provider.Provider.
func (p *Provider) Start(ctx context.Context, region, id string) error {
	err := p.call(ctx, CallStart, func(st *cloudState, c tx) error {
		r, err := p.find(st, region, id)
		if err != nil {
			return err
		}
		switch r.State {
		case provider.StateTerminated, provider.StateShuttingDown:
			return fmt.Errorf("start %s: the instance is terminated: %w", id, provider.ErrNotFound)
		case provider.StateStopping:
			return fmt.Errorf("start %s: the instance is still stopping; start it once it is stopped: %w", id, ErrIncorrectState)
		case provider.StatePending, provider.StateRunning:
			if r.Agent && r.PID == 0 {
				// An earlier Start or Launch failed to start the agent.
				c.changed()
				return p.startAgent(r)
			}
			return nil
		}
		r.setState(provider.StatePending, c.now)
		r.ReadyAt = c.now.Add(c.bootDelay)
		c.changed()
		p.log.Info("starting instance", "instance", id, "region", region)
		if r.Agent {
			p.updateBootDelay(r, c.bootDelay)
			return p.startAgent(r)
		}
		return nil
	})
	return err
}

// Stop implements provider.Provider.
func (p *Provider) Stop(ctx context.Context, region, id string) error {
	err := p.call(ctx, CallStop, func(st *cloudState, c tx) error {
		r, err := p.find(st, region, id)
		if err != nil {
			return err
		}
		switch r.State {
		case provider.StateTerminated, provider.StateShuttingDown:
			return fmt.Errorf("stop %s: the instance is terminated: %w", id, provider.ErrNotFound)
		case provider.StateStopped, provider.StateStopping:
			return nil
		}
		p.shutDown(r, c, provider.StateStopping, c.now, "stop")
		return nil
	})
	return err
}

// Terminate implements provider.Provider.
func (p *Provider) Terminate(ctx context.Context, region, id string) error {
	err := p.call(ctx, CallTerminate, func(st *cloudState, c tx) error {
		r, err := p.find(st, region, id)
		if errors.Is(err, provider.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if r.State != provider.StateTerminated && r.State != provider.StateShuttingDown {
			p.shutDown(r, c, provider.StateShuttingDown, c.now, "terminate")
		}
		return nil
	})
	return err
}

// shutDown moves r to state to (stopping or shutting-down), asked at at.
// Once the state is saved its processes get SIGTERM, and a goroutine gives
// those still there at KillAt SIGKILL; settle completes the transition.
// An instance already stopping keeps its KillAt: its processes have had
// their SIGTERM.
func (p *Provider) shutDown(r *record, c tx, to provider.State, at time.Time, why string) {
	signalled := r.State == provider.StateStopping && !r.KillAt.IsZero()
	r.setState(to, at)
	r.ReadyAt = time.Time{}
	r.FinishAt = at.Add(c.stopDelay)
	c.changed()
	p.log.Info("instance "+string(to), "instance", r.ID, "region", r.Region, "reason", why)
	if signalled {
		return
	}
	r.KillAt, r.KilledAt = time.Now().Add(p.killGrace), time.Time{}
	if !r.Agent && r.PID == 0 {
		return // no process was ever started
	}
	id, pid, dir, killAt := r.ID, r.PID, p.InstanceDir(r.ID), r.KillAt
	c.afterSave(func() {
		procs := p.signal(id, instanceProcs(pid, id, dir), syscall.SIGTERM)
		if len(procs) > 0 {
			go p.killLater(id, dir, procs, killAt)
		}
	})
}

// killLater gives the processes procs of instance id SIGKILL at at, those
// of them that still run and still belong to the instance. It runs in a
// goroutine of the process that asked for the stop or terminate; if that
// process dies first, settle does the same on the next call.
func (p *Provider) killLater(id, dir string, procs []int, at time.Time) {
	time.Sleep(time.Until(at))
	var left []int
	for _, pid := range procs {
		if ownedBy(pid, id, dir) {
			left = append(left, pid)
		}
	}
	p.signal(id, left, syscall.SIGKILL)
}

// settle completes r's stop or termination once its processes are gone
// and its stop delay has passed on the clock: stopped keeps the directory,
// terminated removes it and frees the address. Processes still there after
// KillAt get SIGKILL; if some survive killWait after that, the transition
// completes without them, with a warning. Whichever call comes first does
// this, so it needs no process of the one that asked.
func (p *Provider) settle(r *record, c tx) {
	if r.Agent || r.PID != 0 {
		if procs := instanceProcs(r.PID, r.ID, p.InstanceDir(r.ID)); len(procs) > 0 {
			now := time.Now()
			switch {
			case now.Before(r.KillAt):
				return
			case r.KilledAt.IsZero() || now.Before(r.KilledAt.Add(killWait)):
				p.signal(r.ID, procs, syscall.SIGKILL)
				if r.KilledAt.IsZero() {
					r.KilledAt = now
					c.changed()
				}
				return
			}
			p.log.Warn("instance processes survived SIGKILL", "instance", r.ID, "pids", procs)
		}
	}
	if c.now.Before(r.FinishAt) {
		return
	}
	r.PID = 0
	r.FinishAt, r.KillAt, r.KilledAt = time.Time{}, time.Time{}, time.Time{}
	c.changed()
	if r.State == provider.StateStopping {
		r.setState(provider.StateStopped, c.now)
		p.log.Info("stopped instance", "instance", r.ID, "region", r.Region)
		return
	}
	if err := os.RemoveAll(p.InstanceDir(r.ID)); err != nil {
		p.log.Warn("remove instance directory", "instance", r.ID, "err", err)
	}
	r.setState(provider.StateTerminated, c.now)
	r.Address = ""
	p.log.Info("terminated instance", "instance", r.ID, "region", r.Region)
}

// Reclaim announces that the spot instance id in region will be reclaimed
// after notice: InterruptionAt becomes now+notice, the interruption notice
// (agent.InterruptionFile) is written into the instance directory for its
// agent, and the instance is shutting-down from the first call after the
// clock passes InterruptionAt, then terminated as after Terminate. It is a
// test and demo hook: the behaviour file's delays and failures do not
// apply. Reclaiming an on-demand instance is an *provider.InvalidError; an
// unknown, shutting-down or terminated one is ErrNotFound.
func (p *Provider) Reclaim(ctx context.Context, region, id string, notice time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := p.behaviour()
	if err != nil {
		return err
	}
	return p.locked(b, func(st *cloudState, c tx) error {
		r, err := p.find(st, region, id)
		if err != nil {
			return err
		}
		if r.State == provider.StateTerminated || r.State == provider.StateShuttingDown {
			return fmt.Errorf("reclaim %s: the instance is terminated: %w", id, provider.ErrNotFound)
		}
		if !r.Spot {
			return &provider.InvalidError{Field: "id", Reason: fmt.Sprintf("instance %s is on-demand; only spot instances are reclaimed", id)}
		}
		at := c.now.Add(notice)
		data, err := json.Marshal(struct {
			Action string `json:"action"`
			Time   string `json:"time"`
		}{"terminate", at.UTC().Format(time.RFC3339)})
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(p.InstanceDir(id), agent.InterruptionFile), append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("write interruption notice: %w", err)
		}
		r.InterruptionAt = at
		c.changed()
		p.log.Info("spot interruption announced", "instance", id, "region", region, "at", at)
		p.derive(st, c) // a notice of 0 reclaims at once
		return nil
	})
}

// updateBootDelay rewrites the agent config's boot delay before a restart.
func (p *Provider) updateBootDelay(r *record, d time.Duration) {
	dir := p.InstanceDir(r.ID)
	data, err := os.ReadFile(filepath.Join(dir, agent.ConfigFile))
	if err != nil {
		return
	}
	var cfg agent.Config
	if json.Unmarshal(data, &cfg) != nil {
		return
	}
	cfg.BootDelayMillis = d.Milliseconds()
	if err := agent.WriteConfig(dir, cfg); err != nil {
		p.log.Warn("update agent config", "instance", r.ID, "err", err)
	}
}

// startAgent starts r's agent detached: its own session, stdio to
// agent.log and /dev/null, working directory the instance directory. The
// process is reaped by a goroutine while this process lives (so a killed
// agent does not linger as a zombie) and adopted by init after that.
func (p *Provider) startAgent(r *record) error {
	dir := p.InstanceDir(r.ID)
	// An agent started by a process that died before recording its pid is
	// still this instance's agent: adopt it rather than start a second.
	if procs := instanceProcs(0, r.ID, dir); len(procs) > 0 {
		r.PID = procs[0]
		return nil
	}
	cmd := p.agentCmd(dir)
	cmd.Dir = dir
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	logf, err := os.OpenFile(filepath.Join(dir, AgentLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start agent for %s: %w", r.ID, err)
	}
	defer logf.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(slices.Clip(env), envInstanceID+"="+r.ID, envInstanceDir+"="+dir)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setsid = true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start agent for %s: %w", r.ID, err)
	}
	r.PID = cmd.Process.Pid
	go cmd.Wait() //nolint:errcheck // reaping only; the agent's exit status is in its log
	p.log.Info("started agent", "instance", r.ID, "pid", r.PID)
	return nil
}

// signal sends sig to the processes procs of instance id and returns
// them.
func (p *Provider) signal(id string, procs []int, sig syscall.Signal) []int {
	for _, proc := range procs {
		if err := syscall.Kill(proc, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			p.log.Warn("signal instance process", "instance", id, "pid", proc, "signal", sig, "err", err)
		}
	}
	return procs
}
