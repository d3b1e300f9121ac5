// Package api holds stratus's HTTP API: the JSON wire types and a Go client.
// The CLI, the agent and the web page use only this package to talk to the
// control plane.
package api

import "time"

// ClusterSpec is the native cluster spec, and the merged spec a cluster
// carries. Requests in the cf-create format are converted to it.
type ClusterSpec struct {
	// Region to run in; empty means the provider's default region.
	Region  string      `json:"region,omitempty" yaml:"region,omitempty"`
	Head    HeadSpec    `json:"head" yaml:"head"`
	Compute ComputeSpec `json:"compute" yaml:"compute"`
}

// HeadSpec describes the head (login) node.
type HeadSpec struct {
	Type     string `json:"type" yaml:"type"`
	VolumeGB int    `json:"volume_gb" yaml:"volume_gb"`
}

// ComputeSpec describes the compute fleet.
type ComputeSpec struct {
	// Types lists the compute instance types, preferred first; later ones
	// are fallbacks when the provider has no capacity for earlier ones.
	Types        []string `json:"types" yaml:"types"`
	InitialNodes int      `json:"initial_nodes" yaml:"initial_nodes"`
	MinNodes     int      `json:"min_nodes" yaml:"min_nodes"`
	MaxNodes     int      `json:"max_nodes" yaml:"max_nodes"`
	VolumeGB     int      `json:"volume_gb" yaml:"volume_gb"`
	// SpotPrice, when set, makes compute nodes spot instances with this
	// maximum hourly price in dollars ("0.03").
	SpotPrice string `json:"spot_price,omitempty" yaml:"spot_price,omitempty"`
	// Autoscaling is "enabled" or "disabled".
	Autoscaling string `json:"autoscaling" yaml:"autoscaling"`
	// ScaleDown is the scale-down policy: stratus (default), immediate,
	// idle or billing-hour.
	ScaleDown string `json:"scale_down,omitempty" yaml:"scale_down,omitempty"`
	// IdleTimeout is the idle policy's timeout (a Go duration, "10m").
	IdleTimeout string `json:"idle_timeout,omitempty" yaml:"idle_timeout,omitempty"`
	// BatchWindow is how long queued work waits to be launched for, so
	// that a burst makes one decision (a Go duration, "10s").
	BatchWindow string `json:"batch_window,omitempty" yaml:"batch_window,omitempty"`
	// DefaultTimeLimit is the time limit of jobs submitted without one.
	DefaultTimeLimit string `json:"default_time_limit,omitempty" yaml:"default_time_limit,omitempty"`
	// MaxRequeues bounds how often a job goes back to the queue after its
	// node was lost.
	MaxRequeues int `json:"max_requeues" yaml:"max_requeues"`
}

// CreateClusterRequest asks for a new cluster. Request is the request file's
// text, in the cf-create JSON format or the native YAML/JSON spec; Filename
// (optional) is only used in error messages.
type CreateClusterRequest struct {
	Name     string `json:"name"`
	Request  string `json:"request"`
	Filename string `json:"filename,omitempty"`
}

// Cluster is a cluster as the API shows it.
type Cluster struct {
	Name  string `json:"name" yaml:"name"`
	Owner string `json:"owner" yaml:"owner"`
	// State is creating, running, stopping, stopped, starting, deleting or
	// failed.
	State string `json:"state" yaml:"state"`
	// Reason explains a failed state, or what creation is waiting for.
	Reason       string      `json:"reason,omitempty" yaml:"reason,omitempty"`
	LoginAddress string      `json:"login_address" yaml:"login_address"`
	CreatedAt    time.Time   `json:"created_at" yaml:"created_at"`
	Spec         ClusterSpec `json:"spec" yaml:"spec"`
	Instances    []Instance  `json:"instances" yaml:"instances"`
	// HourlyCost is what the cluster's instances cost per hour now, in
	// dollars as an exact decimal string.
	HourlyCost string `json:"hourly_cost" yaml:"hourly_cost"`
	// Nodes counts the cluster's nodes by progress.
	Nodes NodeCounts `json:"nodes" yaml:"nodes"`
	// CostSoFar is what the cluster has cost since it was created, in
	// dollars as an exact decimal string.
	CostSoFar string `json:"cost_so_far" yaml:"cost_so_far"`
	// Fleet says why the compute fleet has the size it has.
	Fleet string `json:"fleet,omitempty" yaml:"fleet,omitempty"`
	// Customisation is what the owner's policy entry installs on the
	// cluster's nodes, as captured at creation (show only).
	Customisation *CustomisationSummary `json:"customisation,omitempty" yaml:"customisation,omitempty"`
	// Events are the cluster's recent events, newest first (show only).
	Events []Event `json:"events,omitempty" yaml:"events,omitempty"`
}

// NodeCounts counts a cluster's nodes: Pending ones have no running
// instance yet, Running ones do, Registered ones have an agent that has
// registered. A registered node also counts as running.
type NodeCounts struct {
	Total      int `json:"total" yaml:"total"`
	Pending    int `json:"pending" yaml:"pending"`
	Running    int `json:"running" yaml:"running"`
	Registered int `json:"registered" yaml:"registered"`
	Unhealthy  int `json:"unhealthy" yaml:"unhealthy"`
}

// Instance is one node of a cluster.
type Instance struct {
	// ID is the provider's instance id; empty until the instance is launched.
	ID   string `json:"id" yaml:"id"`
	Node string `json:"node" yaml:"node"`
	// Role is head or compute.
	Role string `json:"role" yaml:"role"`
	Type string `json:"type" yaml:"type"`
	// State is the provider's state (pending, running, ..., terminated), or
	// "launching" before the provider has one.
	State   string `json:"state" yaml:"state"`
	Address string `json:"address" yaml:"address"`
	Spot    bool   `json:"spot" yaml:"spot"`
	// Health is registered, unregistered, unhealthy (heartbeats stopped)
	// or stopped (the instance is stopping or stopped).
	Health        string     `json:"health" yaml:"health"`
	HourlyCost    string     `json:"hourly_cost" yaml:"hourly_cost"`
	LastHeartbeat *time.Time `json:"last_heartbeat,omitempty" yaml:"last_heartbeat,omitempty"`
	LastError     string     `json:"last_error,omitempty" yaml:"last_error,omitempty"`
}

// Event is something that happened to a cluster.
type Event struct {
	Time    time.Time `json:"time" yaml:"time"`
	Node    string    `json:"node,omitempty" yaml:"node,omitempty"`
	Kind    string    `json:"kind" yaml:"kind"`
	Message string    `json:"message" yaml:"message"`
}

// ExecRequest runs a command on a cluster's head node.
type ExecRequest struct {
	Argv []string `json:"argv"`
	// Stdin, if set, is given to the command as its standard input.
	Stdin []byte `json:"stdin,omitempty"`
}

// ExecFrame is one line of an exec stream (newline-delimited JSON), from the
// agent to the control plane and from the control plane to the client.
// A frame carries output (Stream is "stdout" or "stderr", Data the bytes),
// or ends the stream: Exit set with the exit code, or Error with the reason
// the command could not run.
type ExecFrame struct {
	Stream string `json:"stream,omitempty"`
	Data   []byte `json:"data,omitempty"`
	Exit   *int   `json:"exit,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Error is the body of every error response.
type Error struct {
	// Code is a short word: invalid, not_found, conflict, unauthorized,
	// forbidden, unavailable, internal.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Fields lists per-field problems of an invalid request.
	Fields []FieldError `json:"fields,omitempty"`
}

// FieldError names a field of a request and the rule it broke.
type FieldError struct {
	Field string `json:"field"`
	// Line is the 1-based line in the request file, when known.
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Agent protocol.

// RegisterRequest is sent by an agent when it starts (and again after the
// control plane forgot it). It authenticates with its agent token.
type RegisterRequest struct {
	InstanceID string `json:"instance_id"`
	Address    string `json:"address"`
	Version    string `json:"version"`
}

// RegisterResponse tells the agent who it is and how often to heartbeat.
type RegisterResponse struct {
	Node              string `json:"node"`
	Cluster           string `json:"cluster"`
	Role              string `json:"role"`
	HeartbeatInterval string `json:"heartbeat_interval"`
}

// Work is what the control plane hands an agent that polls for work.
type Work struct {
	Execs []ExecAssignment `json:"execs,omitempty"`
	// Jobs are job ranks to start.
	Jobs []JobAssignment `json:"jobs,omitempty"`
	// Kill lists running job ranks to stop: their job ended, was cancelled
	// or requeued.
	Kill []JobRef `json:"kill,omitempty"`
}

// ExecAssignment is a command for the agent to run and stream back to
// /v1/agent/execs/{ID}/stream.
type ExecAssignment struct {
	ID    string   `json:"id"`
	Argv  []string `json:"argv"`
	Stdin []byte   `json:"stdin,omitempty"`
}

// Version is the server's version and identity, from GET /v1/version.
type Version struct {
	Version      string `json:"version"`
	Installation string `json:"installation"`
	Provider     string `json:"provider"`
}

// WhoAmI is the caller's identity, from GET /v1/whoami.
type WhoAmI struct {
	User string `json:"user"`
	Role string `json:"role"`
}
