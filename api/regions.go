package api

import (
	"context"
	"net/http"
)

// RegionConfigureRequest asks the control plane to replicate the home
// region's image, key pair, security group and instance profile to every
// region in Regions and to give each one worker instance, left stopped
// (POST /v1/regions/configure, admin only). Empty fields take the
// defaults documented on each.
type RegionConfigureRequest struct {
	Regions []string `json:"regions"`
	// Home is the region the image and security group are copied from.
	Home string `json:"home"`
	// Image names the image in the home region to copy (default: the
	// provider's base image, "stratus-base").
	Image string `json:"image,omitempty"`
	// PublicKey is an ssh public key line (the text of a .pub file) to
	// import into every region; empty imports no key.
	PublicKey string `json:"public_key,omitempty"`
	// KeyName is the key pair's name (default "stratus-" + the
	// installation id).
	KeyName string `json:"key_name,omitempty"`
	// SecurityGroup names the home region's group whose rules are copied
	// (default "stratus"); if the home region has none by that name, it is
	// created there with the rule tcp 22 from 0.0.0.0/0.
	SecurityGroup string `json:"security_group,omitempty"`
	// InstanceProfile is the instance profile (and role) workers get
	// (default "stratus-worker").
	InstanceProfile string `json:"instance_profile,omitempty"`
	// WorkerType is the worker's instance type (default "t3.micro").
	WorkerType string `json:"worker_type,omitempty"`
}

// Region step kinds.
const (
	RegionStepImage           = "image"
	RegionStepKeyPair         = "key_pair"
	RegionStepSecurityGroup   = "security_group"
	RegionStepInstanceProfile = "instance_profile"
	RegionStepWorker          = "worker"
	// RegionStepSnapshot is a snapshot an image copy left behind (aws).
	RegionStepSnapshot = "snapshot"
)

// Region step results.
const (
	RegionCreated  = "created"
	RegionFound    = "found"
	RegionRepaired = "repaired"
	RegionRemoved  = "removed"
	RegionFailed   = "failed"
	RegionSkipped  = "skipped"
)

// RegionStep is what one step did to one resource in one region.
type RegionStep struct {
	Region string `json:"region" yaml:"region"`
	// Step is image, key_pair, security_group, instance_profile, worker
	// or snapshot.
	Step string `json:"step" yaml:"step"`
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	ID   string `json:"id,omitempty" yaml:"id,omitempty"`
	// Result is created, found, repaired, removed, failed or skipped.
	Result string `json:"result" yaml:"result"`
	Reason string `json:"reason,omitempty" yaml:"reason,omitempty"`
}

// RegionResult is what configure or clear did in one region. OK is false
// when any step failed.
type RegionResult struct {
	Region string       `json:"region" yaml:"region"`
	OK     bool         `json:"ok" yaml:"ok"`
	Steps  []RegionStep `json:"steps" yaml:"steps"`
}

// RegionConfigureResponse answers a configure: the steps taken in the
// home region (its security group, when configure had to create it) and
// the result in every target region.
type RegionConfigureResponse struct {
	Home      string         `json:"home" yaml:"home"`
	HomeSteps []RegionStep   `json:"home_steps,omitempty" yaml:"home_steps,omitempty"`
	Regions   []RegionResult `json:"regions" yaml:"regions"`
}

// RegionsRequest names the regions to check or clear
// (POST /v1/regions/check, POST /v1/regions/clear; admin only).
type RegionsRequest struct {
	Regions []string `json:"regions"`
}

// RegionResource is one resource stratus manages in a region.
type RegionResource struct {
	// Kind is image, key_pair, security_group or worker.
	Kind  string `json:"kind" yaml:"kind"`
	Name  string `json:"name,omitempty" yaml:"name,omitempty"`
	ID    string `json:"id,omitempty" yaml:"id,omitempty"`
	State string `json:"state,omitempty" yaml:"state,omitempty"`
}

// RegionDrift is one difference between a region and what configure
// would make of it.
type RegionDrift struct {
	Kind    string `json:"kind" yaml:"kind"`
	Name    string `json:"name,omitempty" yaml:"name,omitempty"`
	ID      string `json:"id,omitempty" yaml:"id,omitempty"`
	Problem string `json:"problem" yaml:"problem"`
}

// RegionCheck is the state of one region: every stratus-managed resource
// in it and the drift from its configuration.
type RegionCheck struct {
	Region string `json:"region" yaml:"region"`
	// Configured is false when configure never ran for the region (or
	// clear undid it); then every managed resource in it is drift.
	Configured bool             `json:"configured" yaml:"configured"`
	Home       string           `json:"home,omitempty" yaml:"home,omitempty"`
	Resources  []RegionResource `json:"resources" yaml:"resources"`
	Drift      []RegionDrift    `json:"drift" yaml:"drift"`
	// Error is set when the region could not be checked.
	Error string `json:"error,omitempty" yaml:"error,omitempty"`
}

// RegionCheckResponse answers a check.
type RegionCheckResponse struct {
	Regions []RegionCheck `json:"regions" yaml:"regions"`
}

// RegionClearResponse answers a clear: what was removed in each region.
type RegionClearResponse struct {
	Regions []RegionResult `json:"regions" yaml:"regions"`
}

// ConfigureRegions replicates the home region to the target regions and
// waits until every step is done or failed.
func (c *Client) ConfigureRegions(ctx context.Context, req RegionConfigureRequest) (RegionConfigureResponse, error) {
	var out RegionConfigureResponse
	err := c.do(ctx, http.MethodPost, "/v1/regions/configure", req, &out)
	return out, err
}

// CheckRegions lists what stratus manages in regions and its drift.
func (c *Client) CheckRegions(ctx context.Context, regions []string) (RegionCheckResponse, error) {
	var out RegionCheckResponse
	err := c.do(ctx, http.MethodPost, "/v1/regions/check", RegionsRequest{Regions: regions}, &out)
	return out, err
}

// ClearRegions removes everything stratus made in regions.
func (c *Client) ClearRegions(ctx context.Context, regions []string) (RegionClearResponse, error) {
	var out RegionClearResponse
	err := c.do(ctx, http.MethodPost, "/v1/regions/clear", RegionsRequest{Regions: regions}, &out)
	return out, err
}
