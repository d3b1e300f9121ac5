package api

import (
	"context"
	"net/http"
)

// Customisation is the per-user customisation of a cluster's nodes, taken
// from the administrator's policy when the cluster is created: ssh public
// keys installed for the login user, and bootstrap scripts run once per
// instance, per role, in order.
type Customisation struct {
	// SSHKeys are authorized_keys lines.
	SSHKeys []string `json:"ssh_keys,omitempty"`
	// Head and Compute are the scripts of each role, in the order they run.
	Head    []BootstrapScript `json:"head,omitempty"`
	Compute []BootstrapScript `json:"compute,omitempty"`
}

// Empty reports whether c installs nothing.
func (c Customisation) Empty() bool {
	return len(c.SSHKeys) == 0 && len(c.Head) == 0 && len(c.Compute) == 0
}

// BootstrapScript is one script: its name (its path in the policy) and
// its content, which starts with "#!".
type BootstrapScript struct {
	Name    string `json:"name"`
	Content []byte `json:"content"`
}

// CustomisationSummary is what `cluster show` says of a cluster's
// customisation: key fingerprints and script names, never script bodies.
type CustomisationSummary struct {
	// SSHKeys are the keys' SHA-256 fingerprints with their comments.
	SSHKeys []string `json:"ssh_keys,omitempty" yaml:"ssh_keys,omitempty"`
	// HeadScripts and ComputeScripts name the scripts in the order they run.
	HeadScripts    []string `json:"head_scripts,omitempty" yaml:"head_scripts,omitempty"`
	ComputeScripts []string `json:"compute_scripts,omitempty" yaml:"compute_scripts,omitempty"`
}

// NodeCustomisation is what an agent installs and runs on its instance
// before it registers, from GET /v1/agent/customisation.
type NodeCustomisation struct {
	Cluster string   `json:"cluster"`
	Role    string   `json:"role"`
	Owner   string   `json:"owner"`
	SSHKeys []string `json:"ssh_keys,omitempty"`
	// Scripts run in this order; the first that fails stops the rest.
	Scripts []BootstrapScript `json:"scripts,omitempty"`
}

// CustomisationReport is what an agent reports of its customisation, to
// POST /v1/agent/customisation/report. It is sent once per instance
// (again only if the control plane did not take it).
type CustomisationReport struct {
	// KeysInstalled counts the ssh keys in the login user's
	// authorized_keys; KeysError says why they could not be installed.
	KeysInstalled int    `json:"keys_installed"`
	KeysFile      string `json:"keys_file,omitempty"`
	KeysError     string `json:"keys_error,omitempty"`
	// Results are the scripts run, in order; a failure ends the list.
	Results []ScriptResult `json:"results,omitempty"`
}

// ScriptResult is the outcome of one bootstrap script.
type ScriptResult struct {
	Name string `json:"name"`
	// ExitCode is the script's exit code: 128+N if killed by signal N,
	// 127 if it could not start.
	ExitCode int `json:"exit_code"`
	// TimedOut is set when the script was killed at its time limit.
	TimedOut bool `json:"timed_out,omitempty"`
	// Output is the tail of its output (stdout and stderr).
	Output string `json:"output,omitempty"`
}

// OK reports whether the script succeeded.
func (r ScriptResult) OK() bool { return r.ExitCode == 0 && !r.TimedOut }

// Customisation fetches what this agent's instance is to install and run.
func (c *Client) Customisation(ctx context.Context) (NodeCustomisation, error) {
	var out NodeCustomisation
	err := c.do(ctx, http.MethodGet, "/v1/agent/customisation", nil, &out)
	return out, err
}

// ReportCustomisation reports how this agent's customisation went.
// Repeating it is harmless: the control plane records the first.
func (c *Client) ReportCustomisation(ctx context.Context, r CustomisationReport) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/customisation/report", r, nil)
}
