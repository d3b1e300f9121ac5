package dropbox

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/stratus-cloud/stratus/internal/spec"
)

// Request kinds, named by the key's suffix.
const (
	KindCreate = "create"
	KindDelete = "delete"
)

// Suffixes of request and response objects.
const (
	SuffixCreate  = ".cf-create"
	SuffixDelete  = ".cf-delete"
	SuffixCreated = ".cf-created"
	SuffixDeleted = ".cf-deleted"
	SuffixFailed  = ".cf-failed"
)

// ErrNotRequest means a key is not a request: it lies outside the
// drop-box's prefix or does not end in .cf-create or .cf-delete (a
// response, a user's own file). Such keys are left alone.
var ErrNotRequest = errors.New("not a drop-box request")

// userNameRE is the rule stratus user names follow.
var userNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ParseKey reads a request key: PREFIX/home/USER/CLUSTER.cf-create or
// .cf-delete (prefix "" means the bucket's root). It returns the user,
// the cluster name and the kind. A key that is not a request is
// ErrNotRequest; a request in the wrong place (outside home/USER/, in a
// folder below it) or whose user or cluster name breaks the naming rules
// is another error saying why, and the request is to be refused with a
// failure response next to it (ResponseKey).
func ParseKey(prefix, key string) (user, cluster, kind string, err error) {
	rel := key
	if prefix != "" {
		var ok bool
		if rel, ok = strings.CutPrefix(key, prefix+"/"); !ok {
			return "", "", "", ErrNotRequest
		}
	}
	base := path.Base(rel)
	switch {
	case strings.HasSuffix(base, SuffixCreate):
		kind, cluster = KindCreate, strings.TrimSuffix(base, SuffixCreate)
	case strings.HasSuffix(base, SuffixDelete):
		kind, cluster = KindDelete, strings.TrimSuffix(base, SuffixDelete)
	default:
		return "", "", "", ErrNotRequest
	}
	if strings.HasSuffix(rel, "/") || base == "." || base == "/" {
		return "", "", "", ErrNotRequest
	}
	parts := strings.Split(rel, "/")
	if len(parts) != 3 || parts[0] != "home" {
		return "", cluster, kind, fmt.Errorf("key %q: requests go in home/<user>/<cluster>%s (or %s), directly in your own folder", key, SuffixCreate, SuffixDelete)
	}
	user = parts[1]
	if !userNameRE.MatchString(user) {
		return "", cluster, kind, fmt.Errorf("key %q: folder home/%s/ does not name a stratus user (names match [a-z][a-z0-9_-]{0,31})", key, user)
	}
	if err := spec.ValidateName(cluster); err != nil {
		return user, cluster, kind, fmt.Errorf("key %q: cluster %w", key, err)
	}
	return user, cluster, kind, nil
}

// ResponseKey is the key of the response to request key with the given
// suffix (SuffixCreated, SuffixDeleted or SuffixFailed): the request's
// name with its suffix replaced, in the same folder.
func ResponseKey(key, suffix string) string {
	for _, s := range []string{SuffixCreate, SuffixDelete} {
		if strings.HasSuffix(key, s) {
			return strings.TrimSuffix(key, s) + suffix
		}
	}
	return key + suffix
}
