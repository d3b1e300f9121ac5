package dropbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testBucket is the contract every Bucket keeps.
func testBucket(t *testing.T, b Bucket) {
	ctx := context.Background()
	if _, _, err := b.Get(ctx, "home/ann/none.cf-create"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing object = %v, want ErrNotFound", err)
	}
	if _, err := b.Stat(ctx, "home/ann/none.cf-create"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat of a missing object = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "home/ann/none.cf-create"); err != nil {
		t.Fatalf("Delete of a missing object = %v, want success", err)
	}
	if err := b.Put(ctx, "home/ann/lab.cf-create", []byte(`{"ComputeMaxNodes": "2"}`)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := b.Put(ctx, "home/bob/x.txt", []byte("x")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := b.Put(ctx, "top.cf-create", nil); err != nil {
		t.Fatalf("Put of an empty object: %v", err)
	}
	data, etag, err := b.Get(ctx, "home/ann/lab.cf-create")
	if err != nil || string(data) != `{"ComputeMaxNodes": "2"}` || etag == "" {
		t.Fatalf("Get = %q, %q, %v; want the content and an ETag", data, etag, err)
	}
	if data, _, err := b.Get(ctx, "top.cf-create"); err != nil || len(data) != 0 {
		t.Fatalf("Get of an empty object = %q, %v", data, err)
	}
	if o, err := b.Stat(ctx, "home/ann/lab.cf-create"); err != nil || o.ETag != etag || o.Key != "home/ann/lab.cf-create" {
		t.Fatalf("Stat = %+v, %v; want the key and Get's ETag %q", o, err, etag)
	}
	objs, err := b.List(ctx, "home/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	if d := cmp.Diff([]string{"home/ann/lab.cf-create", "home/bob/x.txt"}, keys); d != "" {
		t.Fatalf("List(home/) keys (-want +got):\n%s", d)
	}
	if objs[0].ETag != etag {
		t.Errorf("List ETag %q, Get ETag %q: want the same version", objs[0].ETag, etag)
	}
	all, err := b.List(ctx, "")
	if err != nil || len(all) != 3 {
		t.Fatalf("List(\"\") = %v, %v; want 3 objects", all, err)
	}
	// Written again with other content: another version.
	if err := b.Put(ctx, "home/ann/lab.cf-create", []byte(`{"ComputeMaxNodes": "3"}`)); err != nil {
		t.Fatalf("Put again: %v", err)
	}
	data, etag2, err := b.Get(ctx, "home/ann/lab.cf-create")
	if err != nil || string(data) != `{"ComputeMaxNodes": "3"}` || etag2 == etag {
		t.Fatalf("Get after rewrite = %q, %q (before %q), %v; want new content and a new ETag", data, etag2, etag, err)
	}
	if o, err := b.Stat(ctx, "home/ann/lab.cf-create"); err != nil || o.ETag != etag2 {
		t.Fatalf("Stat after rewrite = %+v, %v; want the new ETag %q", o, err, etag2)
	}
	// Get reads no more than one byte past MaxObject.
	big := bytes.Repeat([]byte("x"), MaxObject+4096)
	if err := b.Put(ctx, "home/ann/big.cf-create", big); err != nil {
		t.Fatalf("Put of a large object: %v", err)
	}
	if data, _, err := b.Get(ctx, "home/ann/big.cf-create"); err != nil || len(data) != MaxObject+1 {
		t.Fatalf("Get of a %d-byte object read %d bytes, %v; want %d", len(big), len(data), err, MaxObject+1)
	}
	if err := b.Delete(ctx, "home/ann/big.cf-create"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := b.Delete(ctx, "home/ann/lab.cf-create"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := b.Get(ctx, "home/ann/lab.cf-create"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "home/ann/lab.cf-create"); err != nil {
		t.Fatalf("second Delete = %v, want success", err)
	}
}

func TestDir_Bucket(t *testing.T) {
	testBucket(t, &Dir{Root: t.TempDir()})
}

func TestDir_SkipsTempFilesAndRefusesEscapes(t *testing.T) {
	root := t.TempDir()
	d := &Dir{Root: root}
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(root, "home", "ann"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "home", "ann", tempPrefix+"1"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := d.List(ctx, "")
	if err != nil || len(objs) != 0 {
		t.Errorf("List = %v, %v; want no objects (temporary files are skipped)", objs, err)
	}
	for _, key := range []string{"../x", "/etc/passwd", "home/../../x", ""} {
		if err := d.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want an error", key)
		}
	}
	if objs, err := (&Dir{Root: filepath.Join(root, "missing")}).List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("List of a missing directory = %v, %v; want nothing", objs, err)
	}
}
