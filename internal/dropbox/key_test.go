package dropbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/internal/spec"
)

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		prefix, key         string
		user, cluster, kind string
		err                 string // "" no error; "-" ErrNotRequest; else a substring
	}{
		{"", "home/ann/lab.cf-create", "ann", "lab", KindCreate, ""},
		{"", "home/ann/lab-2.cf-delete", "ann", "lab-2", KindDelete, ""},
		{"drop/in", "drop/in/home/bob_1/x.cf-create", "bob_1", "x", KindCreate, ""},
		{"", "home/ann/lab.cf-created", "", "", "", "-"},
		{"", "home/ann/lab.cf-failed", "", "", "", "-"},
		{"", "home/ann/notes.txt", "", "", "", "-"},
		{"drop", "other/home/ann/lab.cf-create", "", "", "", "-"},
		{"drop", "dropper/home/ann/lab.cf-create", "", "", "", "-"},
		{"", "lab.cf-create", "", "lab", KindCreate, "requests go in home/<user>/"},
		{"", "home/lab.cf-create", "", "lab", KindCreate, "requests go in home/<user>/"},
		{"", "home/ann/sub/lab.cf-create", "", "lab", KindCreate, "directly in your own folder"},
		{"", "users/ann/lab.cf-create", "", "lab", KindCreate, "home/<user>/"},
		{"", "home//lab.cf-create", "", "lab", KindCreate, "does not name a stratus user"},
		{"", "home/Ann/lab.cf-create", "", "lab", KindCreate, "does not name a stratus user"},
		{"", "home/ann/Bad_Name.cf-create", "ann", "Bad_Name", KindCreate, "cluster name: must match"},
		{"", "home/ann/.cf-create", "ann", "", KindCreate, "cluster name: must not be empty"},
		{"", "home/ann/-x.cf-delete", "ann", "-x", KindDelete, "cluster name"},
	} {
		user, cluster, kind, err := ParseKey(tc.prefix, tc.key)
		switch {
		case tc.err == "-":
			if !errors.Is(err, ErrNotRequest) {
				t.Errorf("ParseKey(%q, %q) err = %v, want ErrNotRequest", tc.prefix, tc.key, err)
			}
			continue
		case tc.err == "" && err != nil:
			t.Errorf("ParseKey(%q, %q) err = %v", tc.prefix, tc.key, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, ErrNotRequest)):
			t.Errorf("ParseKey(%q, %q) err = %v, want one saying %q", tc.prefix, tc.key, err, tc.err)
		}
		if user != tc.user || cluster != tc.cluster || kind != tc.kind {
			t.Errorf("ParseKey(%q, %q) = %q, %q, %q; want %q, %q, %q", tc.prefix, tc.key, user, cluster, kind, tc.user, tc.cluster, tc.kind)
		}
	}
}

func TestResponseKey(t *testing.T) {
	for _, tc := range []struct{ key, suffix, want string }{
		{"home/ann/lab.cf-create", SuffixCreated, "home/ann/lab.cf-created"},
		{"home/ann/lab.cf-delete", SuffixDeleted, "home/ann/lab.cf-deleted"},
		{"p/stray.cf-create", SuffixFailed, "p/stray.cf-failed"},
	} {
		if got := ResponseKey(tc.key, tc.suffix); got != tc.want {
			t.Errorf("ResponseKey(%q, %q) = %q, want %q", tc.key, tc.suffix, got, tc.want)
		}
	}
}

// FuzzParseKey checks the parser's promises on any key: an accepted key
// is exactly PREFIX/home/USER/CLUSTER.SUFFIX with a valid user and
// cluster name; a refused request's response lies next to it; keys that
// do not end in a request suffix are never requests.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{
		"home/ann/lab.cf-create", "drop/home/ann/lab.cf-delete", "home/ann/sub/x.cf-create",
		"lab.cf-create", "home/ann/.cf-create", "home/ann/notes.txt", "home//x.cf-create", "home/ann/a/",
	} {
		f.Add("", s)
		f.Add("drop", s)
	}
	f.Fuzz(func(t *testing.T, prefix, key string) {
		user, cluster, kind, err := ParseKey(prefix, key)
		isRequest := strings.HasSuffix(key, SuffixCreate) || strings.HasSuffix(key, SuffixDelete)
		if errors.Is(err, ErrNotRequest) {
			if prefix == "" && isRequest && !strings.HasSuffix(key, "/") {
				t.Fatalf("ParseKey(%q, %q): a request key outside nothing was not a request", prefix, key)
			}
			return
		}
		if !isRequest {
			t.Fatalf("ParseKey(%q, %q) took a key without a request suffix: %q %q %q %v", prefix, key, user, cluster, kind, err)
		}
		if kind != KindCreate && kind != KindDelete {
			t.Fatalf("ParseKey(%q, %q): kind %q", prefix, key, kind)
		}
		failed := ResponseKey(key, SuffixFailed)
		if !strings.HasSuffix(failed, SuffixFailed) || failed[:strings.LastIndex(failed, "/")+1] != key[:strings.LastIndex(key, "/")+1] {
			t.Fatalf("ParseKey(%q, %q): failure response %q is not next to the request", prefix, key, failed)
		}
		if err != nil {
			return
		}
		if !userNameRE.MatchString(user) {
			t.Fatalf("ParseKey(%q, %q): accepted user %q", prefix, key, user)
		}
		if spec.ValidateName(cluster) != nil {
			t.Fatalf("ParseKey(%q, %q): accepted cluster name %q", prefix, key, cluster)
		}
		want := "home/" + user + "/" + cluster + "." + "cf-" + kind
		if prefix != "" {
			want = prefix + "/" + want
		}
		if key != want {
			t.Fatalf("ParseKey(%q, %q) = %q, %q, %q, which is the key %q", prefix, key, user, cluster, kind, want)
		}
	})
}
