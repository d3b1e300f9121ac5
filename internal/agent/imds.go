package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

// DefaultIMDSURL is the address of the EC2 instance metadata service.
const DefaultIMDSURL = "http://169.254.169.254"

// ErrIMDSNotFound is returned (wrapped) when the metadata service answers
// 404: the item does not exist, for example no spot interruption is
// scheduled.
var ErrIMDSNotFound = errors.New("not found in instance metadata")

// RebalanceAction is the Notice action reported for an EC2 rebalance
// recommendation (the instance is at elevated risk of interruption; it has
// not been scheduled for one).
const RebalanceAction = "rebalance"

// IMDS is a client of the EC2 instance metadata service, version 2: every
// request carries a session token obtained with PUT /latest/api/token. The
// token is refreshed before it expires and whenever the service answers
// 401. The zero value is usable (it talks to DefaultIMDSURL); an IMDS is
// safe for concurrent use. Only IMDSv2 is spoken: instances must allow it
// (they do by default), and containers reaching IMDS through a bridge need a
// hop limit of 2.
type IMDS struct {
	// BaseURL is the service's address (default DefaultIMDSURL).
	BaseURL string
	// Client makes the requests (default: a client with a 5 s timeout).
	Client *http.Client
	// TokenTTL is the lifetime asked for each session token, between 1 s
	// and 6 h (default 6 h).
	TokenTTL time.Duration
	// PollInterval is how often WatchIMDS polls (default 5 s; EC2 posts
	// spot interruption notices two minutes ahead).
	PollInterval time.Duration
	// Logger, if set, receives WatchIMDS's warnings.
	Logger *slog.Logger

	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewIMDS returns a client of the metadata service at baseURL ("" means
// DefaultIMDSURL).
func NewIMDS(baseURL string) *IMDS { return &IMDS{BaseURL: baseURL} }

const (
	imdsTokenPath   = "/latest/api/token"
	imdsTTLHeader   = "X-aws-ec2-metadata-token-ttl-seconds"
	imdsTokenHeader = "X-aws-ec2-metadata-token"
	imdsMaxBody     = 1 << 20
	imdsMaxTTL      = 6 * time.Hour
)

var defaultIMDSClient = &http.Client{Timeout: 5 * time.Second}

func (m *IMDS) base() string {
	if m.BaseURL == "" {
		return DefaultIMDSURL
	}
	return strings.TrimRight(m.BaseURL, "/")
}

func (m *IMDS) client() *http.Client {
	if m.Client == nil {
		return defaultIMDSClient
	}
	return m.Client
}

func (m *IMDS) ttl() time.Duration {
	d := m.TokenTTL
	if d <= 0 || d > imdsMaxTTL {
		return imdsMaxTTL
	}
	return max(d.Truncate(time.Second), time.Second)
}

// sessionToken returns a token valid for a while yet, fetching a new one
// when there is none, when it expires within a tenth of its lifetime (at
// most a minute), or when force is set.
func (m *IMDS) sessionToken(ctx context.Context, force bool) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ttl := m.ttl()
	margin := min(ttl/10, time.Minute)
	if !force && m.token != "" && time.Until(m.expires) > margin {
		return m.token, nil
	}
	m.token = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, m.base()+imdsTokenPath, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(imdsTTLHeader, strconv.Itoa(int(ttl/time.Second)))
	start := time.Now()
	body, status, err := m.do(req)
	if err != nil {
		return "", fmt.Errorf("imds: get session token: %w", err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("imds: get session token: %s: %s", http.StatusText(status), snippet(body))
	}
	tok := strings.TrimSpace(string(body))
	if tok == "" {
		return "", errors.New("imds: get session token: empty token")
	}
	m.token, m.expires = tok, start.Add(ttl)
	return tok, nil
}

func (m *IMDS) do(req *http.Request) ([]byte, int, error) {
	resp, err := m.client().Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, imdsMaxBody))
	if err != nil {
		return nil, 0, err
	}
	return body, resp.StatusCode, nil
}

// Get returns the metadata item at path (for example
// "/latest/meta-data/instance-id"). A 401 answer makes it fetch a new token
// and try once more; a 404 gives an error wrapping ErrIMDSNotFound.
func (m *IMDS) Get(ctx context.Context, path string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		tok, err := m.sessionToken(ctx, attempt > 0)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base()+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set(imdsTokenHeader, tok)
		body, status, err := m.do(req)
		if err != nil {
			return nil, fmt.Errorf("imds: GET %s: %w", path, err)
		}
		switch {
		case status == http.StatusOK:
			return body, nil
		case status == http.StatusNotFound:
			return nil, fmt.Errorf("imds: GET %s: %w", path, ErrIMDSNotFound)
		case status == http.StatusUnauthorized && attempt == 0:
			continue // the token expired or was revoked: get a new one
		default:
			return nil, fmt.Errorf("imds: GET %s: %s: %s", path, http.StatusText(status), snippet(body))
		}
	}
}

func (m *IMDS) getString(ctx context.Context, path string) (string, error) {
	b, err := m.Get(ctx, path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("imds: GET %s: empty answer", path)
	}
	return s, nil
}

// InstanceID returns the instance's id (i-...).
func (m *IMDS) InstanceID(ctx context.Context) (string, error) {
	return m.getString(ctx, "/latest/meta-data/instance-id")
}

// Region returns the instance's region (us-east-1, ...).
func (m *IMDS) Region(ctx context.Context) (string, error) {
	return m.getString(ctx, "/latest/meta-data/placement/region")
}

// LocalIPv4 returns the instance's private IPv4 address. An instance
// without one (IPv6-only subnet) gives an error wrapping ErrIMDSNotFound.
func (m *IMDS) LocalIPv4(ctx context.Context) (string, error) {
	return m.getString(ctx, "/latest/meta-data/local-ipv4")
}

// SpotInstanceAction returns the spot interruption scheduled for this
// instance: ok is false when there is none (the service answers 404).
// Action is "terminate", "stop" or "hibernate"; Time is when it happens.
func (m *IMDS) SpotInstanceAction(ctx context.Context) (n api.Notice, ok bool, err error) {
	const path = "/latest/meta-data/spot/instance-action"
	var v struct {
		Action string    `json:"action"`
		Time   time.Time `json:"time"`
	}
	b, ok, err := m.getOptionalJSON(ctx, path, &v)
	if !ok || err != nil {
		return n, false, err
	}
	if v.Action == "" || v.Time.IsZero() {
		return n, false, fmt.Errorf("imds: %s: malformed answer: action and time are required: %s", path, snippet(b))
	}
	return api.Notice{Action: v.Action, Time: v.Time}, true, nil
}

// RebalanceRecommendation returns the rebalance recommendation EC2 has
// made for this instance, as a Notice with Action RebalanceAction and the
// recommendation's time: ok is false when there is none (404).
func (m *IMDS) RebalanceRecommendation(ctx context.Context) (n api.Notice, ok bool, err error) {
	const path = "/latest/meta-data/events/recommendations/rebalance"
	var v struct {
		NoticeTime time.Time `json:"noticeTime"`
	}
	b, ok, err := m.getOptionalJSON(ctx, path, &v)
	if !ok || err != nil {
		return n, false, err
	}
	if v.NoticeTime.IsZero() {
		return n, false, fmt.Errorf("imds: %s: malformed answer: noticeTime is required: %s", path, snippet(b))
	}
	return api.Notice{Action: RebalanceAction, Time: v.NoticeTime}, true, nil
}

// getOptionalJSON decodes the JSON answer at path into v and returns its
// body: ok is false when there is none (the service answers 404).
func (m *IMDS) getOptionalJSON(ctx context.Context, path string, v any) (b []byte, ok bool, err error) {
	b, err = m.Get(ctx, path)
	if errors.Is(err, ErrIMDSNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, false, fmt.Errorf("imds: %s: malformed answer: %w", path, err)
	}
	return b, true, nil
}

// snippet returns the start of an answer body, for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.Quote(s)
}
