package dropbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stratus-cloud/stratus/internal/dropbox/miniotest"
)

func TestMain(m *testing.M) {
	// MinIO builds (once, cached) while the other tests run.
	go func() { _, _ = miniotest.Binary() }()
	os.Exit(m.Run())
}

// startMinio runs a MinIO server for t with an empty bucket. Under CI a
// MinIO that cannot be built fails the test; elsewhere it skips.
func startMinio(t *testing.T, bucket string) *miniotest.Server {
	t.Helper()
	bin, err := miniotest.Binary()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("MinIO is needed under CI and could not be built: %v", err)
		}
		t.Skipf("MinIO could not be built (under CI this fails): %v", err)
	}
	dir := t.TempDir()
	srv, err := miniotest.Start(t.Context(), bin, filepath.Join(dir, "data"), nil)
	if err != nil {
		t.Fatalf("start MinIO: %v", err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.CreateBucket(t.Context(), bucket); err != nil {
		t.Fatal(err)
	}
	return srv
}

func TestS3_Bucket(t *testing.T) {
	srv := startMinio(t, "drop")
	testBucket(t, &S3{Client: srv.Client(), Bucket: "drop"})
}

func TestS3_ListPagesThroughEverything(t *testing.T) {
	srv := startMinio(t, "drop")
	b := &S3{Client: srv.Client(), Bucket: "drop"}
	ctx := context.Background()
	const n = 1005 // more than one page of 1000
	keys := make(chan string)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				errs <- b.Put(ctx, k, []byte("x"))
			}
		}()
	}
	for i := range n {
		keys <- "home/ann/" + strconv.Itoa(i) + ".txt"
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	objs, err := b.List(ctx, "home/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != n {
		t.Errorf("List found %d objects, want %d", len(objs), n)
	}
}
