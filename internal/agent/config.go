// Package agent is the stratus node agent: it runs on every instance,
// registers with the control plane using its own token, heartbeats, runs the
// commands and jobs it is given and streams their output back, and reports
// spot interruption notices.
package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stratus-cloud/stratus/internal/atomicfile"
)

// ConfigFile is the name of the agent's configuration file inside an
// instance directory (the local provider writes it at launch).
const ConfigFile = "agent.json"

// InterruptionFile, inside an instance directory, holds a spot interruption
// notice when the provider has announced one: JSON {"action":"terminate",
// "time":"<RFC 3339>"}, the shape of EC2's instance-action metadata.
const InterruptionFile = "spot-instance-action.json"

// Config is what an agent needs to know about its instance and its control
// plane.
type Config struct {
	InstanceID string `json:"instance_id"`
	Region     string `json:"region"`
	Address    string `json:"address"`
	ServerURL  string `json:"server_url"`
	// Token is the agent's own secret; never log it.
	Token string `json:"token"`
	// BootDelayMillis makes the agent wait this long before registering,
	// standing in for an instance's boot time.
	BootDelayMillis int64 `json:"boot_delay_ms,omitempty"`
	// LoginUser is the account whose ~/.ssh/authorized_keys receives the
	// cluster owner's keys (EC2: the image's user, like ec2-user). Empty:
	// the agent's home directory is the login user's.
	LoginUser string `json:"login_user,omitempty"`
}

// WriteConfig writes c to dir/agent.json with mode 0600.
func WriteConfig(dir string, c Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ConfigFile), data, 0o600)
}

// ReadConfig reads dir/agent.json.
func ReadConfig(dir string) (Config, error) {
	var c Config
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	if c.ServerURL == "" || c.Token == "" || c.InstanceID == "" {
		return c, fmt.Errorf("%s: instance_id, server_url and token are required", filepath.Join(dir, ConfigFile))
	}
	return c, nil
}
