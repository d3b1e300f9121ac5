package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

// TestAPI_WrongMethodIs405 calls known API paths with methods they do not
// serve: the answer is 405 with an Allow header and a JSON error body like
// every other error; an unknown API path is a JSON 404; the web pages and
// the right methods still answer.
func TestAPI_WrongMethodIs405(t *testing.T) {
	s := newServer(t, nil)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"POST", "/v1/version", 405, "method_not_allowed", "GET, HEAD"},
		{"DELETE", "/v1/clusters", 405, "method_not_allowed", "GET, HEAD, POST"},
		{"PUT", "/v1/clusters/demo", 405, "method_not_allowed", "GET, HEAD, DELETE"},
		{"GET", "/v1/clusters/demo/exec", 405, "method_not_allowed", "POST"},
		{"GET", "/v1/regions/check", 405, "method_not_allowed", "POST"},
		{"GET", "/v1/nonsense", 404, "not_found", ""},
		{"POST", "/v1", 404, "not_found", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.url+tc.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+adminToken)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body api.Error
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not a JSON error: %v", err)
			}
			if resp.StatusCode != tc.status || body.Code != tc.code || body.Message == "" {
				t.Errorf("got %d %+v, want %d with code %q", resp.StatusCode, body, tc.status, tc.code)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if tc.status == 405 && !strings.Contains(body.Message, tc.path) {
				t.Errorf("message %q does not name the path", body.Message)
			}
		})
	}
	// The right method still works, and the web pages are still served.
	for path, want := range map[string]int{"/v1/version": 200, "/signin": 200, "/no/such/page": 401} {
		resp, err := client.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
