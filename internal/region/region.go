// Package region replicates a home region to other regions, checks
// regions for drift and clears what stratus made in them (capability 3).
//
// Configure makes every target region hold a copy of the home region's
// image, the same ssh key pair, a security group with the home group's
// rules, the instance profile, and one worker instance launched from the
// copied image and left stopped. Each region goes in parallel (bounded):
// Observe lists what the region holds, Plan (pure) decides per resource
// whether to create, keep, wait for, repair or remove it, and the steps
// are applied in order. Every resource is found by its tags, so a rerun
// after a failure finishes the job and a rerun after success creates
// nothing.
//
// Everything made is tagged with the installation (provider.TagInstallation),
// TagManagedBy=ManagedByRegion, the region set (TagRegionSet: the home
// region) and the owner; Clear removes exactly the resources with this
// installation's tags and never touches anything else. The configuration
// of each region is desired state, kept in the store (meta
// "region.config.REGION"), and Check compares a region with it.
//
// A region's worker is a node record (role worker, the region, no
// cluster), written before its instance is launched so that the garbage
// collector, which terminates tagged instances without a record, leaves it
// alone. It is launched with an agent bootstrap from the region's copied
// image, with the region's security group, key pair and instance profile;
// once its agent has registered it is stopped. Schedules start it, run a
// command and stop it, and launch it with WorkerLaunchSpec, the same spec,
// when they create or replace it.
package region

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Tags on the resources this package makes, beside provider.TagInstallation,
// provider.TagOwner and, on workers, provider.TagRole and provider.TagNode.
const (
	// TagManagedBy marks resources made by a part of stratus other than a
	// cluster; its value here is ManagedByRegion.
	TagManagedBy    = "stratus:managed-by"
	ManagedByRegion = "region"
	// TagRegionSet names the region set: its home region.
	TagRegionSet = "stratus:region-set"
	// TagSourceRegion and TagSourceImage say what an image copy is a copy of.
	TagSourceRegion = "stratus:source-region"
	TagSourceImage  = "stratus:source-image"
	// TagKeyFingerprint is Fingerprint of the imported public key.
	TagKeyFingerprint = "stratus:key-fingerprint"
)

// Defaults of a configure request.
const (
	DefaultImage           = "stratus-base"
	DefaultSecurityGroup   = "stratus"
	DefaultInstanceProfile = "stratus-worker"
	DefaultWorkerType      = "t3.micro"
	// DefaultKeyPrefix + the installation id is the key pair's default name.
	DefaultKeyPrefix = "stratus-"
	// WorkerVolumeGB is a worker's root volume.
	WorkerVolumeGB = 8
)

// DefaultRule is the rule of a home security group configure creates
// because none of that name exists: ssh from anywhere.
var DefaultRule = provider.Rule{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDR: "0.0.0.0/0"}

// Config is one region's configuration: what configure was asked to make
// of it. It is stored as JSON in the store's meta table.
type Config struct {
	Home            string `json:"home"`
	Image           string `json:"image"`
	KeyName         string `json:"key_name,omitempty"`
	PublicKey       string `json:"public_key,omitempty"`
	SecurityGroup   string `json:"security_group"`
	InstanceProfile string `json:"instance_profile"`
	WorkerType      string `json:"worker_type"`
	Owner           string `json:"owner"`
}

func configKey(region string) string { return "region.config." + region }

// Service configures, checks and clears regions. Its methods are safe for
// concurrent use; configure and clear of one region are serialised.
type Service struct {
	Store     store.Store
	Provider  provider.Provider
	Resources provider.Resources
	// Catalog, if set, validates the worker type up front.
	Catalog *cost.Catalog
	Clock   clock.Clock
	Logger  *slog.Logger
	// Installation tags everything; AgentSecret derives workers' agent
	// tokens; AdvertiseURL is the control plane's URL as agents reach it.
	Installation string
	AgentSecret  string
	AdvertiseURL string
	// Busy, if set, reports whether a worker is in use (a schedule's run
	// is on it); configure then leaves its instance running.
	Busy func(ctx context.Context, node string) (bool, error)
	// Parallel bounds how many regions are worked on at once (default 6).
	Parallel int
	// PollInterval is how often waits look again (default 250ms).
	PollInterval time.Duration
	// ImageTimeout bounds the wait for a copy to become available
	// (default 30m); WorkerTimeout the wait for a worker's agent to
	// register and for its instance to stop (default 10m).
	ImageTimeout  time.Duration
	WorkerTimeout time.Duration

	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (s *Service) parallel() int {
	if s.Parallel > 0 {
		return s.Parallel
	}
	return 6
}

func (s *Service) poll() time.Duration {
	if s.PollInterval > 0 {
		return s.PollInterval
	}
	return 250 * time.Millisecond
}

func (s *Service) imageTimeout() time.Duration {
	if s.ImageTimeout > 0 {
		return s.ImageTimeout
	}
	return 30 * time.Minute
}

func (s *Service) workerTimeout() time.Duration {
	if s.WorkerTimeout > 0 {
		return s.WorkerTimeout
	}
	return 10 * time.Minute
}

func (s *Service) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// lock serialises configure and clear of one region.
func (s *Service) lock(region string) func() {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = map[string]*sync.Mutex{}
	}
	m := s.locks[region]
	if m == nil {
		m = &sync.Mutex{}
		s.locks[region] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// ErrUnsupported means the provider has no images, key pairs or security
// groups (it does not implement provider.Resources).
var ErrUnsupported = errors.New("this provider cannot manage regions")

func (s *Service) ready() error {
	if s.Resources == nil {
		return ErrUnsupported
	}
	return nil
}

func invalid(field, format string, args ...any) error {
	return &provider.InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// checkRegions validates a list of region names against the provider's,
// naming any unknown one, and returns it without duplicates.
func (s *Service) checkRegions(ctx context.Context, regions []string) ([]string, error) {
	if len(regions) == 0 {
		return nil, invalid("regions", "name at least one region")
	}
	known, err := s.Provider.Regions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the provider's regions: %w", err)
	}
	var out []string
	for _, r := range regions {
		if !slices.Contains(known, r) {
			return nil, invalid("regions", "unknown region %q; the %s provider has %s", r, s.Provider.Name(), strings.Join(known, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// loadConfig returns a region's stored configuration; ok is false when it
// has none.
func (s *Service) loadConfig(ctx context.Context, region string) (Config, bool, error) {
	v, err := s.Store.GetMeta(ctx, configKey(region))
	if errors.Is(err, store.ErrNotFound) || (err == nil && v == "") {
		return Config{}, false, nil
	}
	if err != nil {
		return Config{}, false, err
	}
	var c Config
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return Config{}, false, fmt.Errorf("stored configuration of %s is damaged: %w", region, err)
	}
	return c, true, nil
}

// WorkerType returns the worker type configured for region, read with q
// (which may be a transaction's); "" when the region is not configured.
func (s *Service) WorkerType(ctx context.Context, q store.Queries, region string) (string, error) {
	v, err := q.GetMeta(ctx, configKey(region))
	if errors.Is(err, store.ErrNotFound) || (err == nil && v == "") {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var c Config
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return "", fmt.Errorf("stored configuration of %s is damaged: %w", region, err)
	}
	return c.WorkerType, nil
}

func (s *Service) saveConfig(ctx context.Context, region string, c *Config) error {
	v := ""
	if c != nil {
		data, err := json.Marshal(c)
		if err != nil {
			return err
		}
		v = string(data)
	}
	return s.Store.SetMeta(ctx, configKey(region), v)
}

// Fingerprint returns the OpenSSH SHA-256 fingerprint of an ssh public key
// line ("TYPE BASE64 [COMMENT]"): "SHA256:" and the unpadded base64 of the
// SHA-256 of the key blob. A malformed key is an *provider.InvalidError on
// public_key saying what is wrong.
func Fingerprint(publicKey []byte) (string, error) {
	bad := func(reason string) error {
		return invalid("public_key", "%s; give an OpenSSH public key such as the contents of ~/.ssh/id_ed25519.pub", reason)
	}
	fields := strings.Fields(string(bytes.TrimSpace(publicKey)))
	if len(fields) < 2 {
		return "", bad("not an ssh public key (want \"TYPE BASE64 [COMMENT]\")")
	}
	if strings.Contains(string(publicKey), "PRIVATE KEY") {
		return "", bad("this is a private key: give the .pub file")
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil || len(blob) < 4 {
		return "", bad("the key's second field is not base64 key data")
	}
	n := binary.BigEndian.Uint32(blob)
	if uint64(n) >= uint64(len(blob)-4) || string(blob[4:4+n]) != fields[0] {
		return "", bad(fmt.Sprintf("the key's data does not match its type %q", fields[0]))
	}
	sum := sha256.Sum256(blob)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

// tags returns the tags of a resource this package makes.
func (s *Service) tags(home, owner string, extra ...string) map[string]string {
	t := map[string]string{
		provider.TagInstallation: s.Installation,
		TagManagedBy:             ManagedByRegion,
		TagRegionSet:             home,
		provider.TagOwner:        owner,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		t[extra[i]] = extra[i+1]
	}
	return t
}

func (s *Service) ours() provider.Filter {
	return provider.Filter{Tags: map[string]string{provider.TagInstallation: s.Installation, TagManagedBy: ManagedByRegion}}
}

// forEach runs fn for every region, at most s.parallel() at once, and
// returns the results in the regions' order.
func forEach[T any](s *Service, regions []string, fn func(region string) T) []T {
	out := make([]T, len(regions))
	sem := make(chan struct{}, s.parallel())
	var wg sync.WaitGroup
	for i, r := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = fn(r)
		}()
	}
	wg.Wait()
	return out
}

// sleep waits for the poll interval on the clock, or until ctx ends.
func (s *Service) sleep(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.Clock.After(s.poll()):
		return nil
	}
}
