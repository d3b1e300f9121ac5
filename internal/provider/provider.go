// Package provider defines the interface stratus uses to talk to a cloud:
// instances today, and room for images, key pairs and security groups.
// Implementations live in child packages (fake, local, aws) and all pass the
// conformance suite in providertest.
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
)

// Tag keys that stratus puts on every resource it creates.
const (
	TagInstallation = "stratus:installation"
	TagCluster      = "stratus:cluster"
	TagRole         = "stratus:role"
	TagOwner        = "stratus:owner"
	TagNode         = "stratus:node"
)

// State is an instance's lifecycle state, as the provider reports it.
type State string

// Instance states. They follow EC2's: pending → running → stopping → stopped,
// and shutting-down → terminated from any of them.
const (
	StatePending      State = "pending"
	StateRunning      State = "running"
	StateStopping     State = "stopping"
	StateStopped      State = "stopped"
	StateShuttingDown State = "shutting-down"
	StateTerminated   State = "terminated"
)

// Gone reports whether an instance in state s no longer exists or bills.
func (s State) Gone() bool { return s == StateTerminated }

// AgentBootstrap is what a new instance needs to start its stratus agent and
// register with the control plane. Each provider delivers it its own way (a
// file in the local instance's directory, user-data on EC2).
type AgentBootstrap struct {
	// ServerURL is the control plane's URL as the instance reaches it.
	ServerURL string `json:"server_url"`
	// Token is the instance's own agent token. Secret: never log it.
	Token string `json:"token"`
}

// LaunchSpec describes one instance to launch.
type LaunchSpec struct {
	Region string
	// ClientToken makes Launch idempotent: a second Launch with the same
	// token returns the instance the first one made instead of a new one.
	ClientToken string
	Type        string
	// Image names the machine image; empty means the provider's default.
	Image        string
	RootVolumeGB int
	// Spot asks for spot capacity; MaxPriceMicros is the highest hourly price
	// in micro-dollars the caller will pay (0 means up to the on-demand price).
	Spot           bool
	MaxPriceMicros int64
	Tags           map[string]string
	Agent          AgentBootstrap
	// SecurityGroups, KeyName and InstanceProfile, when set, are the
	// security group ids, the key pair and the instance profile (a name
	// or an ARN) the instance is launched with, in place of the
	// provider's configured defaults for the region. They name resources
	// of the provider's Resources, such as those `region configure`
	// makes; a provider without such resources accepts and records them.
	SecurityGroups  []string
	KeyName         string
	InstanceProfile string
}

// Instance is a provider's view of one instance.
type Instance struct {
	ID      string
	Region  string
	Type    string
	State   State
	Address string
	Spot    bool
	// PriceMicros is the hourly price being paid, in micro-dollars: the
	// catalog's on-demand price, or the spot price for spot instances.
	PriceMicros int64
	// PriceSince is when PriceMicros took effect, where the provider knows
	// it and it may change while the instance runs (a spot market price);
	// zero otherwise.
	PriceSince   time.Time
	RootVolumeGB int
	Tags         map[string]string
	LaunchedAt   time.Time
	// StateChangedAt is when the instance entered State.
	StateChangedAt time.Time
	// InterruptionAt is set when the provider has announced that it will
	// reclaim this spot instance at that time.
	InterruptionAt time.Time
	// SecurityGroups (ids), KeyName and InstanceProfile (its name) are
	// what the instance was launched with, where the provider reports
	// them; empty when it has none.
	SecurityGroups  []string
	KeyName         string
	InstanceProfile string
}

// Filter selects instances in Describe. Every set field must match.
type Filter struct {
	// IDs, when not empty, restricts the result to these instance ids.
	IDs []string
	// Tags must all be present with these values. A value of "" matches any
	// value of a present key.
	Tags map[string]string
}

// Matches reports whether in matches f.
func (f Filter) Matches(in Instance) bool {
	if len(f.IDs) > 0 {
		found := false
		for _, id := range f.IDs {
			if id == in.ID {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for k, v := range f.Tags {
		got, ok := in.Tags[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// Provider is a cloud that runs instances. Every method takes a region; an
// unknown region is an *InvalidError.
type Provider interface {
	// Name is the provider's name: "local", "aws", "fake".
	Name() string
	// Billing is how the provider bills running instances.
	Billing() cost.Billing
	// Regions lists the regions this provider is configured for; the first is
	// the default.
	Regions(ctx context.Context) ([]string, error)
	// Launch starts an instance. Safe to repeat: a call with a ClientToken
	// already used returns the instance that token made, in its current
	// state. Returns a *CapacityError when the type has no capacity.
	Launch(ctx context.Context, spec LaunchSpec) (Instance, error)
	// Describe lists instances in region matching f. A just-terminated
	// instance may still be listed, in state terminated, for a while.
	Describe(ctx context.Context, region string, f Filter) ([]Instance, error)
	// Start starts a stopped instance. Starting a running one is a no-op.
	// ErrNotFound if the instance does not exist.
	Start(ctx context.Context, region, id string) error
	// Stop stops an instance, keeping its disk. Stopping a stopped one is a
	// no-op. ErrNotFound if the instance does not exist.
	Stop(ctx context.Context, region, id string) error
	// Terminate removes an instance and its disk. Safe to repeat: terminating
	// a terminated or unknown instance returns nil.
	Terminate(ctx context.Context, region, id string) error
}

// ErrNotFound means the resource does not exist.
var ErrNotFound = errors.New("not found")

// CapacityError means the provider has no capacity for the instance type
// right now; the caller may try another type or later.
type CapacityError struct {
	Region string
	Type   string
	Reason string
}

func (e *CapacityError) Error() string {
	return fmt.Sprintf("no capacity for %s in %s: %s", e.Type, e.Region, e.Reason)
}

// InvalidError means the request itself was wrong (unknown type, unknown
// region, bad spec) and repeating it will not help.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// IsCapacity reports whether err is or wraps a *CapacityError.
func IsCapacity(err error) bool {
	var ce *CapacityError
	return errors.As(err, &ce)
}

// KeyFingerprinter is implemented by a Resources whose key pairs report
// their fingerprint in a form of their own (EC2's); the key pairs of the
// others report KeyFingerprint's OpenSSH SHA-256 form.
type KeyFingerprinter interface {
	// KeyPairFingerprint returns the fingerprint a key pair imported from
	// publicKey reports, or an *InvalidError on "public_key" for a key the
	// provider cannot import.
	KeyPairFingerprint(publicKey []byte) (string, error)
}

// ReportedKeyFingerprint returns the fingerprint r's key pairs report for
// a key imported from publicKey.
func ReportedKeyFingerprint(r any, publicKey []byte) (string, error) {
	if kf, ok := r.(KeyFingerprinter); ok {
		return kf.KeyPairFingerprint(publicKey)
	}
	return KeyFingerprint(publicKey)
}

// InstanceProfile is an instance profile as the provider reports it.
type InstanceProfile struct {
	Name string
	// Roles are the profile's roles (one at most on EC2); a profile
	// without one gives its instances no permissions.
	Roles []string
	Tags  map[string]string
}

// InstanceProfileGetter is implemented by a Resources that can look an
// instance profile up without making it.
type InstanceProfileGetter interface {
	// GetInstanceProfile returns the profile name; ErrNotFound when there
	// is none.
	GetInstanceProfile(ctx context.Context, name string) (InstanceProfile, error)
}
