package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// User is an API user, from /v1/users.
type User struct {
	Name      string    `json:"name"`
	Email     string    `json:"email,omitempty"`
	Role      string    `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

// CreateUserRequest is the body of POST /v1/users.
type CreateUserRequest struct {
	Name  string `json:"name"`
	Role  string `json:"role,omitempty"`
	Email string `json:"email,omitempty"`
}

// UserToken is a newly issued token: the only time it is shown.
type UserToken struct {
	User  string `json:"user"`
	Role  string `json:"role"`
	Token string `json:"token"`
}

// AuditEntry is one mutating API call, from GET /v1/audit.
type AuditEntry struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	User   string    `json:"user"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Object string    `json:"object,omitempty"`
	Status int       `json:"status"`
}

// CreateUser adds a user (admins only).
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, "/v1/users", req, &out)
	return out, err
}

// ListUsers lists the users (admins only).
func (c *Client) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	err := c.do(ctx, http.MethodGet, "/v1/users", nil, &out)
	return out, err
}

// CreateUserToken issues a new token for a user (admins only).
func (c *Client) CreateUserToken(ctx context.Context, name string) (UserToken, error) {
	var out UserToken
	err := c.do(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(name)+"/tokens", nil, &out)
	return out, err
}

// DisableUser disables a user: their tokens stop working (admins only).
func (c *Client) DisableUser(ctx context.Context, name string) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(name)+"/disable", nil, &out)
	return out, err
}

// Audit lists audit entries: an admin's all (or user's), a user's their own.
func (c *Client) Audit(ctx context.Context, user string, since time.Time) ([]AuditEntry, error) {
	v := url.Values{}
	if user != "" {
		v.Set("user", user)
	}
	if !since.IsZero() {
		v.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	path := "/v1/audit"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out []AuditEntry
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}
