package dropbox

import (
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Location
		err  string
	}{
		{"dir://stratus-data/dropbox", Location{Scheme: "dir", Path: "stratus-data/dropbox"}, ""},
		{"dir:///srv/dropbox", Location{Scheme: "dir", Path: "/srv/dropbox"}, ""},
		{"s3://requests", Location{Scheme: "s3", Bucket: "requests"}, ""},
		{"s3://requests/clusters/", Location{Scheme: "s3", Bucket: "requests", Prefix: "clusters"}, ""},
		{"s3://requests/a/b", Location{Scheme: "s3", Bucket: "requests", Prefix: "a/b"}, ""},
		{"dir://", Location{}, "needs a directory"},
		{"s3://", Location{}, "want s3://BUCKET"},
		{"s3://host:9000/bucket", Location{}, "--dropbox-endpoint"},
		{"s3://requests/a//b", Location{}, "empty folders"},
		{"/srv/dropbox", Location{}, "want dir://PATH"},
		{"http://minio/bucket", Location{}, "want dir://PATH"},
	} {
		got, err := ParseLocation(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseLocation(%q) err = %v, want one saying %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if err == nil && tc.want.Scheme == "s3" {
			if again, _ := ParseLocation(got.String()); again != got {
				t.Errorf("ParseLocation(%q).String() = %q does not read back", tc.in, got.String())
			}
		}
	}
}
