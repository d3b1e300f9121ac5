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
// nothing needs to listen on it. An instance is pending until its boot delay
// has passed on the provider's clock, then running; Stop kills its process
// group (SIGTERM, then SIGKILL after Options.KillGrace) and keeps its
// directory; Start starts the agent again; Terminate kills the processes and
// removes the directory. States are derived lazily on each call from the
// clock and persisted. Terminated instances stay listed for an hour, then
// are purged together with their client token. Before signalling a recorded
// pid the provider checks in /proc that the process still carries the
// instance id in its environment (STRATUS_INSTANCE_ID) or the instance
// directory on its command line, so a reused pid is never signalled.
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
// into the instance directory, and the instance is terminated once the clock
// passes InterruptionAt.
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
	// KillGrace is how long Stop and Terminate wait after SIGTERM before
	// SIGKILL. Default 3s.
	KillGrace time.Duration
}

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
	dirty     *bool
}

func (c tx) changed() { *c.dirty = true }

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
// already done, such as a persisted client token, is kept).
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
	c := tx{now: p.clock.Now(), behaviour: b, bootDelay: p.bootDelay, dirty: &dirty}
	if b.BootDelay != nil {
		c.bootDelay = time.Duration(*b.BootDelay)
	}
	p.derive(st, c)
	opErr := op(st, c)
	if dirty {
		if err := saveState(p.root, st); err != nil {
			return errors.Join(opErr, fmt.Errorf("save %s: %w", filepath.Join(p.root, stateFile), err))
		}
	}
	return opErr
}

// behaviour returns Options merged with the behaviour file.
func (p *Provider) behaviour() (Behaviour, error) {
	boot := Duration(p.bootDelay)
	b := Behaviour{BootDelay: &boot}
	if _, err := readBehaviourInto(p.root, &b); err != nil {
		return b, err
	}
	return b, nil
}

// derive brings every instance up to the clock: due spot reclaims
// terminate, finished boots run, long-terminated instances are purged.
func (p *Provider) derive(st *cloudState, c tx) {
	for _, r := range st.Instances {
		if r.State != provider.StateTerminated && !r.InterruptionAt.IsZero() && !c.now.Before(r.InterruptionAt) {
			p.terminate(r, r.InterruptionAt, "spot reclaim")
			c.changed()
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
		case provider.StateStopped:
			return nil
		}
		p.kill(r)
		r.setState(provider.StateStopped, c.now)
		r.ReadyAt = time.Time{}
		c.changed()
		p.log.Info("stopped instance", "instance", id, "region", region)
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
		if r.State != provider.StateTerminated {
			p.terminate(r, c.now, "terminate")
			c.changed()
		}
		return nil
	})
	return err
}

// terminate kills r's processes, removes its disk and marks it terminated
// at at.
func (p *Provider) terminate(r *record, at time.Time, why string) {
	p.kill(r)
	if err := os.RemoveAll(p.InstanceDir(r.ID)); err != nil {
		p.log.Warn("remove instance directory", "instance", r.ID, "err", err)
	}
	r.setState(provider.StateTerminated, at)
	r.Address = ""
	r.ReadyAt = time.Time{}
	p.log.Info("terminated instance", "instance", r.ID, "region", r.Region, "reason", why)
}

// Reclaim announces that the spot instance id in region will be reclaimed
// after notice: InterruptionAt becomes now+notice, the interruption notice
// (agent.InterruptionFile) is written into the instance directory for its
// agent, and the instance is terminated on the first call after the clock
// passes InterruptionAt. It is a test and demo hook: the behaviour file's
// delays and failures do not apply. Reclaiming an on-demand instance is an
// *provider.InvalidError; an unknown or terminated one is ErrNotFound.
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
		if r.State == provider.StateTerminated {
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

// kill stops every process of r: SIGTERM, then SIGKILL after the grace
// period. Only processes that carry r's identity are signalled, found by
// that identity rather than by the recorded pid alone.
func (p *Provider) kill(r *record) {
	pid := r.PID
	r.PID = 0
	dir := p.InstanceDir(r.ID)
	procs := instanceProcs(pid, r.ID, dir)
	if len(procs) == 0 {
		return
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		for _, proc := range procs {
			if err := syscall.Kill(proc, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
				p.log.Warn("signal agent", "instance", r.ID, "pid", proc, "signal", sig, "err", err)
			}
		}
		grace := p.killGrace
		if sig == syscall.SIGKILL {
			grace = time.Second
		}
		deadline := time.Now().Add(grace)
		for time.Now().Before(deadline) {
			if procs = instanceProcs(pid, r.ID, dir); len(procs) == 0 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	p.log.Warn("instance processes survived SIGKILL", "instance", r.ID, "pids", procs)
}
