package httpapi_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/dropbox"
	"github.com/stratus-cloud/stratus/internal/httpapi"
)

// minioEvent is an event notification as MinIO sends it (trimmed), for a
// key with a space and a plus sign, URL-encoded.
const minioEvent = `{"EventName":"s3:ObjectCreated:Put","Key":"drop/home/ann/my+lab.cf-create","Records":[{"eventVersion":"2.0",
"eventSource":"minio:s3","awsRegion":"","eventTime":"2026-11-22T13:00:00.000Z","eventName":"s3:ObjectCreated:Put",
"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":"drop","arn":"arn:aws:s3:::drop"},
"object":{"key":"home%2Fann%2Fa+b%2Bc.cf-create","size":12,"eTag":"0f343b0931126a20f133d67c2b018a3b","sequencer":"1"}}}]}`

func TestDropboxEvents_Authenticated(t *testing.T) {
	var mu sync.Mutex
	var got []dropbox.EventObject
	s := newServer(t, func(h *httpapi.Handler) {
		h.Dropbox = &httpapi.DropboxEvents{Token: "dbx_secret", Notify: func(objs []dropbox.EventObject) int {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, objs...)
			return len(objs)
		}}
	})
	post := func(auth, body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.url+"/v1/dropbox/events", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, auth, body string
		want             int
	}{
		{"no token", "", minioEvent, http.StatusUnauthorized},
		{"wrong token", "Bearer dbx_other", minioEvent, http.StatusUnauthorized},
		{"token of another scheme", "Basic dbx_secret", minioEvent, http.StatusUnauthorized},
		{"not JSON", "Bearer dbx_secret", "{", http.StatusBadRequest},
		{"no records", "Bearer dbx_secret", `{}`, http.StatusAccepted},
		{"event", "Bearer dbx_secret", minioEvent, http.StatusAccepted},
	} {
		if status := post(tc.auth, tc.body); status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.want)
		}
	}
	want := []dropbox.EventObject{{Bucket: "drop", Key: "home/ann/a b+c.cf-create"}}
	mu.Lock()
	defer mu.Unlock()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("objects notified (-want +got):\n%s", d)
	}
}

func TestDropboxEvents_NoneConfigured(t *testing.T) {
	s := newServer(t, nil)
	resp, err := http.Post(s.url+"/v1/dropbox/events", "application/json", strings.NewReader(minioEvent))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404 without a drop-box on S3", resp.StatusCode)
	}
}
