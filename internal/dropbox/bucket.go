package dropbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrNotFound means no object has that key.
var ErrNotFound = errors.New("no such object")

// Object is one object of a listing.
type Object struct {
	Key string
	// ETag identifies the object's version: it changes when the object is
	// written again.
	ETag string
}

// Bucket is where requests arrive and responses go: an S3 bucket or a
// local directory. Keys are slash-separated paths relative to the
// bucket's root. Every method may be repeated safely.
type Bucket interface {
	// List returns every object whose key starts with prefix, in no
	// particular order, paging through all of them.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Get returns an object's content and ETag; ErrNotFound if absent.
	Get(ctx context.Context, key string) ([]byte, string, error)
	// Put writes an object whole, replacing any earlier one; a reader
	// never sees part of it.
	Put(ctx context.Context, key string, data []byte) error
	// Delete removes an object; removing a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// Location is where the drop-box is, parsed from serve's --dropbox.
type Location struct {
	// Scheme is "dir" or "s3".
	Scheme string
	// Path is the directory of a dir:// drop-box.
	Path string
	// Bucket and Prefix locate an s3:// drop-box (Prefix without slashes
	// at either end; "" for the bucket's root).
	Bucket string
	Prefix string
}

// String is the location as a URL.
func (l Location) String() string {
	if l.Scheme == "dir" {
		return "dir://" + l.Path
	}
	if l.Prefix == "" {
		return "s3://" + l.Bucket
	}
	return "s3://" + l.Bucket + "/" + l.Prefix
}

// ParseLocation reads dir://PATH or s3://BUCKET[/PREFIX].
func ParseLocation(s string) (Location, error) {
	switch {
	case strings.HasPrefix(s, "dir://"):
		p := strings.TrimPrefix(s, "dir://")
		if p == "" {
			return Location{}, fmt.Errorf("--dropbox %q: dir:// needs a directory, like dir:///srv/dropbox or dir://dropbox", s)
		}
		return Location{Scheme: "dir", Path: p}, nil
	case strings.HasPrefix(s, "s3://"):
		u, err := url.Parse(s)
		if err != nil {
			return Location{}, fmt.Errorf("--dropbox %q: %v", s, err)
		}
		if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
			return Location{}, fmt.Errorf("--dropbox %q: want s3://BUCKET or s3://BUCKET/PREFIX (the endpoint goes in --dropbox-endpoint)", s)
		}
		prefix := strings.Trim(u.Path, "/")
		if strings.Contains(prefix, "//") {
			return Location{}, fmt.Errorf("--dropbox %q: the prefix must not contain empty folders (//)", s)
		}
		return Location{Scheme: "s3", Bucket: u.Host, Prefix: prefix}, nil
	}
	return Location{}, fmt.Errorf("--dropbox %q: want dir://PATH, s3://BUCKET[/PREFIX] or none", s)
}
