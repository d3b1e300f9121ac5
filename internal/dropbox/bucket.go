package dropbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrNotFound means no object has that key.
var ErrNotFound = errors.New("no such object")

// Object is one object of a listing.
type Object struct {
	Key string
	// ETag identifies the object's version: it changes when the object is
	// written again.
	ETag string
	// Modified is when a directory's file was last written; zero for an
	// S3 object, which appears whole once written.
	Modified time.Time
}

// Bucket is where requests arrive and responses go: an S3 bucket or a
// local directory. Keys are slash-separated paths relative to the
// bucket's root. Every method may be repeated safely.
type Bucket interface {
	// List returns every object whose key starts with prefix, in no
	// particular order, paging through all of them.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Stat returns an object's ETag (and modification time) without
	// reading it; ErrNotFound if absent.
	Stat(ctx context.Context, key string) (Object, error)
	// Get returns an object's content (at most its first MaxObject+1
	// bytes, so that a larger one can be told apart) and ETag;
	// ErrNotFound if absent.
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

// ParseLocation reads dir://PATH or s3://BUCKET[/PREFIX]. The bucket
// name must follow S3's naming rules and the prefix must be a plain
// folder path, so that a mistyped --dropbox fails at start rather than at
// the first listing.
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
		if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" || u.Opaque != "" || u.ForceQuery {
			return Location{}, fmt.Errorf("--dropbox %q: want s3://BUCKET or s3://BUCKET/PREFIX (the endpoint goes in --dropbox-endpoint)", s)
		}
		if err := checkBucketName(u.Host); err != nil {
			return Location{}, fmt.Errorf("--dropbox %q: %v", s, err)
		}
		prefix := strings.Trim(u.Path, "/")
		if strings.Contains(prefix, "//") {
			return Location{}, fmt.Errorf("--dropbox %q: the prefix must not contain empty folders (//)", s)
		}
		if err := checkPrefix(prefix); err != nil {
			return Location{}, fmt.Errorf("--dropbox %q: %v", s, err)
		}
		return Location{Scheme: "s3", Bucket: u.Host, Prefix: prefix}, nil
	}
	return Location{}, fmt.Errorf("--dropbox %q: want dir://PATH, s3://BUCKET[/PREFIX] or none", s)
}

// bucketRule is S3's rule for bucket names, as error messages state it.
const bucketRule = "an S3 bucket name is 3 to 63 characters of lowercase letters, digits, dots and hyphens, starts and ends with a letter or digit, has no two dots in a row and is not an IP address"

// checkBucketName applies S3's bucket naming rules.
func checkBucketName(name string) error {
	bad := len(name) < 3 || len(name) > 63 || strings.Contains(name, "..") || net.ParseIP(name) != nil
	for i := 0; i < len(name) && !bad; i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		switch {
		case (i == 0 || i == len(name)-1) && !alnum:
			bad = true
		case !alnum && c != '.' && c != '-':
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("bucket %q: %s", name, bucketRule)
	}
	return nil
}

// maxPrefix bounds the prefix so that the keys under it stay within S3's
// 1024 bytes.
const maxPrefix = 512

// checkPrefix accepts a folder path: folders separated by single slashes,
// none of them "." or "..", printable characters without backslashes, at
// most maxPrefix bytes.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > maxPrefix {
		return fmt.Errorf("prefix: at most %d bytes", maxPrefix)
	}
	if !utf8.ValidString(prefix) {
		return fmt.Errorf("prefix %q: must be UTF-8", prefix)
	}
	for _, r := range prefix {
		if !unicode.IsPrint(r) || r == '\\' {
			return fmt.Errorf("prefix %q: folders are printable characters other than backslash (%q is not)", prefix, r)
		}
	}
	for _, part := range strings.Split(prefix, "/") {
		if part == "." || part == ".." {
			return fmt.Errorf("prefix %q: no folder may be \".\" or \"..\"", prefix)
		}
	}
	return nil
}
