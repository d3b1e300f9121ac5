package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client talks to a stratus control plane.
type Client struct {
	// BaseURL is the server's URL, such as http://127.0.0.1:7070.
	BaseURL string
	// Token authenticates every call. Secret: never logged.
	Token string
	// HTTP is the client used for calls; nil means a client without timeout
	// (calls are bounded by their contexts).
	HTTP *http.Client
}

// NewClient returns a client for the server at baseURL using token.
func NewClient(baseURL, token string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Token: token}
}

// StatusError is an error response from the server.
type StatusError struct {
	Status int
	Body   Error
}

func (e *StatusError) Error() string {
	var b strings.Builder
	b.WriteString(e.Body.Message)
	if b.Len() == 0 {
		b.WriteString(http.StatusText(e.Status))
	}
	for _, f := range e.Body.Fields {
		b.WriteString("\n  ")
		switch {
		case f.Field != "" && f.Line > 0:
			fmt.Fprintf(&b, "%s (line %d): ", f.Field, f.Line)
		case f.Field != "":
			b.WriteString(f.Field + ": ")
		case f.Line > 0:
			// A problem with the whole document, such as a syntax error.
			fmt.Fprintf(&b, "line %d: ", f.Line)
		}
		b.WriteString(f.Message)
	}
	return b.String()
}

// IsNotFound reports whether err is a 404 from the server.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsConflict reports whether err is a 409 from the server.
func IsConflict(err error) bool { return hasStatus(err, http.StatusConflict) }

func hasStatus(err error, status int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Status == status
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// do sends a JSON request and decodes a JSON response into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the stratus server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return err
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode response of %s %s: %w", method, path, err)
	}
	return nil
}

func checkResponse(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	se := &StatusError{Status: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if json.Unmarshal(data, &se.Body) != nil || se.Body.Message == "" {
		se.Body.Message = strings.TrimSpace(string(data))
	}
	return se
}

// Version returns the server's version and identity. It needs no token.
func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
	return v, err
}

// WhoAmI returns the identity the token stands for.
func (c *Client) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var w WhoAmI
	err := c.do(ctx, http.MethodGet, "/v1/whoami", nil, &w)
	return w, err
}

// CreateCluster asks for a new cluster; the returned cluster is creating.
func (c *Client) CreateCluster(ctx context.Context, req CreateClusterRequest) (Cluster, error) {
	var out Cluster
	err := c.do(ctx, http.MethodPost, "/v1/clusters", req, &out)
	return out, err
}

// ListClusters lists the clusters the caller may see.
func (c *Client) ListClusters(ctx context.Context) ([]Cluster, error) {
	var out []Cluster
	err := c.do(ctx, http.MethodGet, "/v1/clusters", nil, &out)
	return out, err
}

// GetCluster returns one cluster with its recent events.
func (c *Client) GetCluster(ctx context.Context, name string) (Cluster, error) {
	var out Cluster
	err := c.do(ctx, http.MethodGet, "/v1/clusters/"+url.PathEscape(name), nil, &out)
	return out, err
}

// DeleteCluster starts deleting a cluster; it is gone once GetCluster
// returns not found.
func (c *Client) DeleteCluster(ctx context.Context, name string) (Cluster, error) {
	var out Cluster
	err := c.do(ctx, http.MethodDelete, "/v1/clusters/"+url.PathEscape(name), nil, &out)
	return out, err
}

// Exec runs argv on the cluster's head node, copying its output to stdout
// and stderr as it comes, and returns its exit code.
func (c *Client) Exec(ctx context.Context, cluster string, req ExecRequest, stdout, stderr io.Writer) (int, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return 0, err
	}
	hreq, err := c.newRequest(ctx, http.MethodPost, "/v1/clusters/"+url.PathEscape(cluster)+"/exec", bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	resp, err := c.httpClient().Do(hreq)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the stratus server at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return 0, err
	}
	return CopyExecStream(resp.Body, stdout, stderr)
}

// CopyExecStream reads ExecFrames from r, writing output to stdout and
// stderr, until the frame that ends the stream; it returns the exit code.
func CopyExecStream(r io.Reader, stdout, stderr io.Writer) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		var f ExecFrame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return 0, fmt.Errorf("bad exec frame: %w", err)
		}
		switch {
		case f.Error != "":
			return 0, errors.New(f.Error)
		case f.Exit != nil:
			return *f.Exit, nil
		case f.Stream == "stderr":
			if _, err := stderr.Write(f.Data); err != nil {
				return 0, err
			}
		default:
			if _, err := stdout.Write(f.Data); err != nil {
				return 0, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("exec stream broken: %w", err)
	}
	return 0, errors.New("exec stream ended before the command's exit code arrived")
}

// Agent calls. They authenticate with the agent's own token.

// Register registers an agent with the control plane.
func (c *Client) Register(ctx context.Context, req RegisterRequest) (RegisterResponse, error) {
	var out RegisterResponse
	err := c.do(ctx, http.MethodPost, "/v1/agent/register", req, &out)
	return out, err
}

// Heartbeat tells the control plane the agent is alive.
func (c *Client) Heartbeat(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/heartbeat", struct{}{}, nil)
}

// PollWork waits up to wait for work for this agent.
func (c *Client) PollWork(ctx context.Context, wait time.Duration) (Work, error) {
	var out Work
	err := c.do(ctx, http.MethodGet, "/v1/agent/work?wait="+url.QueryEscape(wait.String()), nil, &out)
	return out, err
}

// StreamExec sends a command's output frames, read from frames until it is
// closed, to the control plane.
func (c *Client) StreamExec(ctx context.Context, execID string, frames io.Reader) error {
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/agent/execs/"+url.PathEscape(execID)+"/stream", frames)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return checkResponse(resp)
}
