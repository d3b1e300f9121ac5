package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/stratus-cloud/stratus/internal/atomicfile"
)

// BehaviourFile is the name of the fault-injection file inside Root.
const BehaviourFile = "behaviour.json"

// Call names, as used in a behaviour file's fail_calls.
const (
	CallRegions   = "regions"
	CallLaunch    = "launch"
	CallDescribe  = "describe"
	CallStart     = "start"
	CallStop      = "stop"
	CallTerminate = "terminate"
)

var callNames = append([]string{CallRegions, CallLaunch, CallDescribe, CallStart, CallStop, CallTerminate}, resourceCalls...)

// Behaviour tells the local cloud how to misbehave. It is read from
// Root/behaviour.json on every call; the fields present in the file replace
// the provider's Options (BootDelay and StopDelay have one), so a test or the
// CLI can change the cloud's behaviour while the control plane runs. See
// the package doc for the file format.
type Behaviour struct {
	// BootDelay is how long an instance stays pending after Launch or Start.
	// Nil keeps Options.BootDelay.
	BootDelay *Duration `json:"boot_delay,omitempty"`
	// StopDelay is the least time an instance stays stopping after Stop,
	// or shutting-down after Terminate or a spot reclaim, on the
	// provider's clock (it also waits for the instance's processes to
	// exit). Nil keeps Options.StopDelay.
	StopDelay *Duration `json:"stop_delay,omitempty"`
	// APIDelay is waited (in real time, honouring the context) before every
	// call, like a slow cloud API.
	APIDelay Duration `json:"api_delay,omitempty"`
	// FailRate is the probability, from 0 to 1, that a call fails with a
	// retryable *InjectedError.
	FailRate float64 `json:"fail_rate,omitempty"`
	// FailCalls limits FailRate to these calls (CallLaunch, ...). Empty
	// means every call.
	FailCalls []string `json:"fail_calls,omitempty"`
	// FailAfterEffect makes injected failures happen after the call took
	// effect, as when a response is lost: a failed launch still made its
	// instance.
	FailAfterEffect bool `json:"fail_after_effect,omitempty"`
	// NoCapacity lists instance types for which Launch returns a
	// *provider.CapacityError.
	NoCapacity []string `json:"no_capacity,omitempty"`
}

// Duration is a time.Duration written in JSON as a string such as "2s" or
// "150ms".
type Duration time.Duration

// MarshalJSON writes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string such as "2s".
func (d *Duration) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"2s\" or \"150ms\", got %s", data)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: use a form like \"2s\" or \"150ms\"", s)
	}
	*d = Duration(v)
	return nil
}

// Validate reports the first field of b that is out of range.
func (b Behaviour) Validate() error {
	if b.BootDelay != nil && *b.BootDelay < 0 {
		return errors.New("boot_delay must not be negative")
	}
	if b.StopDelay != nil && *b.StopDelay < 0 {
		return errors.New("stop_delay must not be negative")
	}
	if b.APIDelay < 0 {
		return errors.New("api_delay must not be negative")
	}
	if b.FailRate < 0 || b.FailRate > 1 {
		return fmt.Errorf("fail_rate %v must be between 0 and 1", b.FailRate)
	}
	for _, c := range b.FailCalls {
		if !slices.Contains(callNames, c) {
			return fmt.Errorf("fail_calls: unknown call %q (use %v)", c, callNames)
		}
	}
	return nil
}

// ReadBehaviour reads root/behaviour.json. A missing file is the zero
// Behaviour.
func ReadBehaviour(root string) (Behaviour, error) {
	var b Behaviour
	_, err := readBehaviourInto(root, &b)
	return b, err
}

// readBehaviourInto decodes the behaviour file over b, replacing only the
// fields the file sets. found is false when there is no file.
func readBehaviourInto(root string, b *Behaviour) (found bool, err error) {
	path := filepath.Join(root, BehaviourFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(b); err != nil {
		return true, fmt.Errorf("%s: %w (see the local provider's doc for the format)", path, err)
	}
	if err := b.Validate(); err != nil {
		return true, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// WriteBehaviour validates b and writes it to root/behaviour.json
// atomically; the provider picks it up on its next call. The zero Behaviour
// turns all faults off.
func WriteBehaviour(root string, b Behaviour) error {
	if err := b.Validate(); err != nil {
		return fmt.Errorf("behaviour: %w", err)
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(root, BehaviourFile), append(data, '\n'), 0o644)
}

// InjectedError is a failure the behaviour file asked for. It is
// retryable: Temporary reports true.
type InjectedError struct {
	Call string
}

func (e *InjectedError) Error() string {
	return fmt.Sprintf("local provider: injected failure of %s (fail_rate in %s); retry", e.Call, BehaviourFile)
}

// Temporary reports true: repeating the call may succeed.
func (e *InjectedError) Temporary() bool { return true }
