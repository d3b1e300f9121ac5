package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// CheckMember is one member of a replica group, as last read.
type CheckMember struct {
	URL   string `json:"url"`
	Value string `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
	// State is ok, behind or failing, since Since.
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// Check is a health check's current state, from /v1/checks.
type Check struct {
	Name string `json:"name"`
	// Kind is probe or replicas.
	Kind string `json:"kind"`
	// State is ok, failing or behind, since Since.
	State     string        `json:"state"`
	Since     time.Time     `json:"since"`
	LastProbe time.Time     `json:"last_probe"`
	Detail    string        `json:"detail,omitempty"`
	Members   []CheckMember `json:"members,omitempty"`
}

// CheckResult is one probe of a check.
type CheckResult struct {
	Time    time.Time     `json:"time"`
	State   string        `json:"state"`
	Detail  string        `json:"detail,omitempty"`
	Members []CheckMember `json:"members,omitempty"`
}

// CheckDetail is a check with its recent history (newest first), from
// /v1/checks/{name}.
type CheckDetail struct {
	Check
	History []CheckResult `json:"history"`
}

// ListChecks returns every health check's state.
func (c *Client) ListChecks(ctx context.Context) ([]Check, error) {
	var out []Check
	err := c.do(ctx, http.MethodGet, "/v1/checks", nil, &out)
	return out, err
}

// GetCheck returns a health check with its recent history.
func (c *Client) GetCheck(ctx context.Context, name string) (CheckDetail, error) {
	var out CheckDetail
	err := c.do(ctx, http.MethodGet, "/v1/checks/"+url.PathEscape(name), nil, &out)
	return out, err
}
