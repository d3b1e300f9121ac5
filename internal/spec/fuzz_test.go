package spec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cost"
	"gopkg.in/yaml.v3"
)

// FuzzBuild checks, for any input: Build does not panic; it returns either
// an Errors whose every entry has a message (and no spec), or a spec that
// Validate accepts and that builds to itself when written back as a native
// JSON or YAML spec; and the same input gives the same result twice.
func FuzzBuild(f *testing.F) {
	for _, dir := range []string{"testdata/requests", "testdata/templates"} {
		for _, file := range requestFiles(f, dir) {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, filepath.Base(file))
			f.Add(data, "")
		}
	}
	cat := cost.DefaultCatalog()
	f.Fuzz(func(t *testing.T, data []byte, filename string) {
		s1, err1 := Build(data, filename, DefaultTemplate(), cat)
		s2, err2 := Build(data, filename, DefaultTemplate(), cat)
		if diff := cmp.Diff(s1, s2); diff != "" {
			t.Fatalf("two builds differ (-first +second):\n%s", diff)
		}
		if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
			t.Fatalf("two builds fail differently: %v / %v", err1, err2)
		}
		if err1 != nil {
			var es Errors
			if !errors.As(err1, &es) {
				t.Fatalf("error %T is not an Errors: %v", err1, err1)
			}
			if len(es) == 0 {
				t.Fatal("empty Errors returned as an error")
			}
			lines := countLines(data)
			for _, e := range es {
				if e.Message == "" || e.Line < 0 || e.Line > lines {
					t.Fatalf("bad FieldError %+v (the input has %d lines)", e, lines)
				}
				if strings.Contains(e.Field+e.Message, "\n") {
					t.Fatalf("FieldError %+v breaks the one-per-line format", e)
				}
			}
			if !cmp.Equal(s1, api.ClusterSpec{}) {
				t.Fatalf("an error and a spec: %+v", s1)
			}
			return
		}
		if err := Validate(s1, cat); err != nil {
			t.Fatalf("Build returned a spec that Validate rejects: %v\nspec: %+v", err, s1)
		}
		asJSON, err := json.Marshal(s1)
		if err != nil {
			t.Fatal(err)
		}
		asYAML, err := yaml.Marshal(s1)
		if err != nil {
			t.Fatal(err)
		}
		for _, native := range []struct{ data []byte }{{asJSON}, {asYAML}} {
			again, err := Build(native.data, "", DefaultTemplate(), cat)
			if err != nil {
				t.Fatalf("the built spec, written out, does not build: %v\n%s", err, native.data)
			}
			if diff := cmp.Diff(s1, again); diff != "" {
				t.Fatalf("the built spec, written out, builds to another (-first +again):\n%s\n%s", diff, native.data)
			}
		}
	})
}

// countLines counts data's lines the way YAML does: \n, \r\n, a lone \r,
// and the Unicode line breaks NEL, LS and PS each end a line.
func countLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	n := 1
	for _, r := range s {
		switch r {
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			n++
		}
	}
	return n
}
