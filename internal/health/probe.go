package health

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxBody bounds what is read of a response body.
const maxBody = 1 << 20

// fetch GETs url within timeout and returns its status, headers and body
// (at most maxBody bytes).
func fetch(ctx context.Context, client *http.Client, url string, timeout time.Duration) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return 0, nil, nil, fmt.Errorf("no answer within %s", timeout)
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read body: %w", err)
	}
	return resp.StatusCode, resp.Header, body, nil
}

// RunProbe probes p once: detail describes a pass, errMsg a failure.
func RunProbe(ctx context.Context, client *http.Client, p Probe) (detail, errMsg string) {
	status, _, body, err := fetch(ctx, client, p.URL, p.Timeout)
	if err != nil {
		return "", err.Error()
	}
	if status != p.Status {
		return "", fmt.Sprintf("status %d, want %d", status, p.Status)
	}
	if p.bodyRE != nil && !p.bodyRE.Match(body) {
		return "", fmt.Sprintf("body does not match %q", p.Body)
	}
	return fmt.Sprintf("status %d", status), ""
}

// ReadValue reads a replica member's value.
func ReadValue(ctx context.Context, client *http.Client, url string, v Value, timeout time.Duration) (string, error) {
	status, header, body, err := fetch(ctx, client, url, timeout)
	if err != nil {
		return "", err
	}
	if status < 200 || status > 299 {
		return "", fmt.Errorf("status %d", status)
	}
	switch {
	case v.Header != "":
		h := header.Get(v.Header)
		if h == "" {
			return "", fmt.Errorf("no header %s", v.Header)
		}
		return h, nil
	case v.re != nil:
		m := v.re.FindSubmatch(body)
		if m == nil {
			return "", fmt.Errorf("body does not match %q", v.Regex)
		}
		return string(m[1]), nil
	default:
		return jsonPath(body, v.JSON)
	}
}

// jsonPath reads a dotted path (object keys, or array indexes) in a JSON
// document, as a string: strings as they are, other values as JSON.
func jsonPath(body []byte, path string) (string, error) {
	var doc any
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return "", fmt.Errorf("body is not JSON: %v", err)
	}
	cur := doc
	for _, key := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[key]
			if !ok {
				return "", fmt.Errorf("JSON has no field %s", path)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(c) {
				return "", fmt.Errorf("JSON has no field %s", path)
			}
			cur = c[i]
		default:
			return "", fmt.Errorf("JSON has no field %s", path)
		}
	}
	if s, ok := cur.(string); ok {
		return s, nil
	}
	b, _ := json.Marshal(cur)
	return string(b), nil
}
