package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/stratus-cloud/stratus/internal/dropbox"
	"github.com/stratus-cloud/stratus/internal/dropbox/miniotest"
)

// condMinio is the script condition [minio]: MinIO is built (or cached).
// Under CI a failed build is an error, so the script fails instead of
// skipping; elsewhere the condition is false and the script skips.
func condMinio() (bool, error) {
	if _, err := miniotest.Binary(); err != nil {
		if os.Getenv("CI") != "" {
			return false, fmt.Errorf("MinIO is needed under CI and could not be built: %w", err)
		}
		fmt.Fprintf(os.Stderr, "MinIO could not be built; skipping the scripts that need it (under CI they fail): %v\n", err)
		return false, nil
	}
	return true, nil
}

// minios holds each script's MinIO server between its commands.
var minios sync.Map // *testscript.TestScript → *miniotest.Server

// cmdMinio starts a real MinIO server for the script (stopped when it
// ends), with a webhook target pointing at the stratus API at
// STRATUS_LISTEN (run freeport first) with the token in TOKENFILE, and a
// bucket whose created objects are notified to it. It sets MINIO_URL and
// the AWS_* variables, so a stratus started after it reaches MinIO
// through the standard credential chain.
//
//	minio start BUCKET TOKENFILE
//
// Scripts guard it with "[!minio] skip" (condMinio).
func cmdMinio(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 || args[0] != "start" {
		ts.Fatalf("usage: minio start BUCKET TOKENFILE")
	}
	bin, err := miniotest.Binary()
	if err != nil {
		ts.Fatalf("MinIO could not be built (guard the script with [!minio] skip): %v", err)
	}
	listen := ts.Getenv("STRATUS_LISTEN")
	if listen == "" {
		ts.Fatalf("minio start: run freeport first, so the webhook knows where stratus will listen")
	}
	hook := &miniotest.Webhook{
		ID:       "stratus",
		Endpoint: "http://" + listen + "/v1/dropbox/events",
		Token:    strings.TrimSpace(ts.ReadFile(args[2])),
	}
	srv, err := miniotest.Start(context.Background(), bin, ts.MkAbs("minio-data"), hook)
	ts.Check(err)
	ts.Defer(func() { minios.Delete(ts); srv.Stop() })
	minios.Store(ts, srv)
	ctx := context.Background()
	ts.Check(srv.CreateBucket(ctx, args[1]))
	ts.Check(srv.Notify(ctx, args[1], true))
	ts.Setenv("MINIO_URL", srv.URL)
	ts.Setenv("AWS_ACCESS_KEY_ID", miniotest.User)
	ts.Setenv("AWS_SECRET_ACCESS_KEY", miniotest.Password)
	ts.Setenv("AWS_REGION", miniotest.Region)
	ts.Logf("minio at %s, bucket %s notified to %s", srv.URL, args[1], hook.Endpoint)
}

func scriptMinio(ts *testscript.TestScript) *miniotest.Server {
	v, _ := minios.Load(ts)
	srv, _ := v.(*miniotest.Server)
	if srv == nil {
		ts.Fatalf("no MinIO: run minio start first")
	}
	return srv
}

// bucketKey splits BUCKET/KEY.
func bucketKey(ts *testscript.TestScript, s string) (string, string) {
	b, k, ok := strings.Cut(s, "/")
	if !ok || b == "" {
		ts.Fatalf("%q is not BUCKET/KEY", s)
	}
	return b, k
}

func scriptBucket(ts *testscript.TestScript, bucket string) *dropbox.S3 {
	return &dropbox.S3{Client: scriptMinio(ts).Client(), Bucket: bucket}
}

// cmdS3Put writes FILE (of the script's directory) to BUCKET/KEY.
//
//	s3put FILE BUCKET/KEY
func cmdS3Put(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: s3put FILE BUCKET/KEY")
	}
	b, k := bucketKey(ts, args[1])
	ts.Check(scriptBucket(ts, b).Put(context.Background(), k, []byte(ts.ReadFile(args[0]))))
}

// cmdS3Get prints BUCKET/KEY to stdout; ! s3get asserts it is absent.
//
//	s3get BUCKET/KEY
func cmdS3Get(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: s3get BUCKET/KEY")
	}
	b, k := bucketKey(ts, args[0])
	data, _, err := scriptBucket(ts, b).Get(context.Background(), k)
	if neg {
		if err == nil {
			ts.Fatalf("%s exists:\n%s", args[0], data)
		}
		return
	}
	ts.Check(err)
	_, _ = ts.Stdout().Write(data)
}

// cmdS3Wait waits up to TIMEOUT for BUCKET/KEY to exist, then prints it;
// ! s3wait waits for it to be gone.
//
//	s3wait TIMEOUT BUCKET/KEY
func cmdS3Wait(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: s3wait TIMEOUT BUCKET/KEY")
	}
	timeout, err := time.ParseDuration(args[0])
	ts.Check(err)
	b, k := bucketKey(ts, args[1])
	bk := scriptBucket(ts, b)
	poll(ts, timeout, func() (bool, func() string) {
		data, _, err := bk.Get(context.Background(), k)
		switch {
		case err == nil && !neg:
			_, _ = ts.Stdout().Write(data)
			return true, nil
		case err != nil && neg:
			return true, nil
		}
		return false, func() string {
			objs, _ := bk.List(context.Background(), "")
			if neg {
				return fmt.Sprintf("%s still there after %s; the bucket holds %v", args[1], timeout, objs)
			}
			return fmt.Sprintf("%s did not appear within %s (%v); the bucket holds %v", args[1], timeout, err, objs)
		}
	})
}

// cmdS3Ls prints the keys under BUCKET/PREFIX, one a line, sorted.
//
//	s3ls BUCKET/PREFIX
func cmdS3Ls(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: s3ls BUCKET/PREFIX")
	}
	b, p, _ := strings.Cut(args[0], "/")
	objs, err := scriptBucket(ts, b).List(context.Background(), p)
	ts.Check(err)
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintln(ts.Stdout(), k)
	}
}

// cmdS3Notify turns BUCKET's event notifications on or off: an object
// written while they are off is an event lost.
//
//	s3notify BUCKET on|off
func cmdS3Notify(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || (args[1] != "on" && args[1] != "off") {
		ts.Fatalf("usage: s3notify BUCKET on|off")
	}
	ts.Check(scriptMinio(ts).Notify(context.Background(), args[0], args[1] == "on"))
}

// cmdDropboxEvent posts an S3 event notification for BUCKET/KEY to the
// server at STRATUS_URL with the token in TOKENFILE, as MinIO would; the
// answer's status must be STATUS.
//
//	dropboxevent TOKENFILE BUCKET/KEY STATUS
func cmdDropboxEvent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: dropboxevent TOKENFILE BUCKET/KEY STATUS")
	}
	b, k := bucketKey(ts, args[1])
	var rec struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	}
	rec.EventName = "s3:ObjectCreated:Put"
	rec.S3.Bucket.Name = b
	rec.S3.Object.Key = url.QueryEscape(k)
	body, err := json.Marshal(map[string]any{"EventName": rec.EventName, "Key": args[1], "Records": []any{rec}})
	ts.Check(err)
	req, err := http.NewRequest(http.MethodPost, ts.Getenv("STRATUS_URL")+"/v1/dropbox/events", bytes.NewReader(body))
	ts.Check(err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(ts.ReadFile(args[0])))
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	ts.Check(err)
	resp.Body.Close()
	if got := fmt.Sprint(resp.StatusCode); got != args[2] {
		ts.Fatalf("event for %s: status %s, want %s", args[1], got, args[2])
	}
}
