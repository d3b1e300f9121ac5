package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/stratus-cloud/stratus/internal/atomicfile"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// Files and directories inside Root.
const (
	stateFile    = "state.json"
	lockFile     = "lock"
	instancesDir = "instances"
)

const stateVersion = 1

// cloudState is the whole cloud, as persisted in Root/state.json.
type cloudState struct {
	Version   int                `json:"version"`
	Seq       int64              `json:"seq"`
	Instances map[string]*record `json:"instances"`
	// Tokens maps region → client token → instance id. An entry is written
	// before the instance's process is started and removed when the instance
	// is purged.
	Tokens map[string]map[string]string `json:"tokens"`
	// Resources holds images, key pairs, security groups and instance
	// profiles (resources.go); nil until the first is made.
	Resources *resourceState `json:"resources,omitempty"`
}

// record is one instance in the state file.
type record struct {
	ID             string            `json:"id"`
	Region         string            `json:"region"`
	Type           string            `json:"type"`
	State          provider.State    `json:"state"`
	Address        string            `json:"address,omitempty"`
	Spot           bool              `json:"spot,omitempty"`
	PriceMicros    int64             `json:"price_micros"`
	RootVolumeGB   int               `json:"root_volume_gb,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	LaunchedAt     time.Time         `json:"launched_at"`
	StateChangedAt time.Time         `json:"state_changed_at"`
	InterruptionAt time.Time         `json:"interruption_at,omitzero"`
	// ReadyAt is when a pending instance becomes running.
	ReadyAt time.Time `json:"ready_at,omitzero"`
	// While the instance is stopping or shutting-down: FinishAt is the
	// earliest time on the provider's clock the transition completes (it
	// was asked at StateChangedAt, plus the stop delay); KillAt is the
	// wall-clock time after which processes still running get SIGKILL (the
	// SIGTERM, plus the kill grace); KilledAt is when a call first sent
	// SIGKILL. All three are zero in every other state.
	FinishAt    time.Time `json:"finish_at,omitzero"`
	KillAt      time.Time `json:"kill_at,omitzero"`
	KilledAt    time.Time `json:"killed_at,omitzero"`
	ClientToken string    `json:"client_token,omitempty"`
	// Agent is true when the instance runs an agent process (its launch
	// carried a server URL).
	Agent bool `json:"agent,omitempty"`
	// PID is the agent process, which leads its own process group; 0 when
	// none is running.
	PID int   `json:"pid,omitempty"`
	Seq int64 `json:"seq"`
	// SecurityGroups, KeyName and InstanceProfile are the launch's, kept
	// as given (local instances have no network rules, ssh or role).
	SecurityGroups  []string `json:"security_groups,omitempty"`
	KeyName         string   `json:"key_name,omitempty"`
	InstanceProfile string   `json:"instance_profile,omitempty"`
}

func (r *record) instance() provider.Instance {
	tags := maps.Clone(r.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	return provider.Instance{
		ID:              r.ID,
		Region:          r.Region,
		Type:            r.Type,
		State:           r.State,
		Address:         r.Address,
		Spot:            r.Spot,
		PriceMicros:     r.PriceMicros,
		RootVolumeGB:    r.RootVolumeGB,
		Tags:            tags,
		LaunchedAt:      r.LaunchedAt,
		StateChangedAt:  r.StateChangedAt,
		InterruptionAt:  r.InterruptionAt,
		SecurityGroups:  slices.Clone(r.SecurityGroups),
		KeyName:         r.KeyName,
		InstanceProfile: r.InstanceProfile,
	}
}

func (r *record) setState(s provider.State, at time.Time) {
	r.State = s
	r.StateChangedAt = at
}

func newState() *cloudState {
	return &cloudState{
		Version:   stateVersion,
		Instances: map[string]*record{},
		Tokens:    map[string]map[string]string{},
	}
}

func (s *cloudState) token(region, token string) (string, bool) {
	id, ok := s.Tokens[region][token]
	return id, ok
}

func (s *cloudState) setToken(region, token, id string) {
	if s.Tokens[region] == nil {
		s.Tokens[region] = map[string]string{}
	}
	s.Tokens[region][token] = id
}

func (s *cloudState) forget(r *record) {
	delete(s.Instances, r.ID)
	if r.ClientToken != "" && s.Tokens[r.Region][r.ClientToken] == r.ID {
		delete(s.Tokens[r.Region], r.ClientToken)
		if len(s.Tokens[r.Region]) == 0 {
			delete(s.Tokens, r.Region)
		}
	}
}

// loadState reads root/state.json; a missing file is an empty cloud.
func loadState(root string) (*cloudState, error) {
	path := filepath.Join(root, stateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, err
	}
	s := newState()
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s has version %d; this stratus understands version %d", path, s.Version, stateVersion)
	}
	if s.Instances == nil {
		s.Instances = map[string]*record{}
	}
	if s.Tokens == nil {
		s.Tokens = map[string]map[string]string{}
	}
	return s, nil
}

func saveState(root string, s *cloudState) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(root, stateFile), append(data, '\n'), 0o600)
}

// lockRoot takes the exclusive lock on root/lock, blocking until it is free.
// flock locks belong to the open file, so this excludes other goroutines of
// this process as well as other processes.
func lockRoot(root string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(root, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
