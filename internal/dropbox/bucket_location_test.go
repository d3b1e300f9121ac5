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
		{"s3://Bad_Bucket", Location{}, `bucket "Bad_Bucket": an S3 bucket name is 3 to 63 characters`},
		{"s3://UPPER", Location{}, "lowercase letters"},
		{"s3://ab", Location{}, "3 to 63"},
		{"s3://" + strings.Repeat("a", 64), Location{}, "3 to 63"},
		{"s3://" + strings.Repeat("a", 63), Location{Scheme: "s3", Bucket: strings.Repeat("a", 63)}, ""},
		{"s3://-drop", Location{}, "starts and ends with a letter or digit"},
		{"s3://drop-", Location{}, "starts and ends with a letter or digit"},
		{"s3://my..drop", Location{}, "no two dots"},
		{"s3://192.168.1.10", Location{}, "not an IP address"},
		{"s3://my.drop-1/x", Location{Scheme: "s3", Bucket: "my.drop-1", Prefix: "x"}, ""},
		{"s3://drop/a/../b", Location{}, `no folder may be "." or ".."`},
		{"s3://drop/./b", Location{}, `no folder may be "." or ".."`},
		{"s3://drop/a%09b", Location{}, "printable characters"},
		{"s3://drop/a%5Cb", Location{}, "other than backslash"},
		{"s3://drop/" + strings.Repeat("p", 513), Location{}, "at most 512 bytes"},
		{"s3://drop?x=1", Location{}, "want s3://BUCKET"},
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

// FuzzParseLocation: whatever is accepted as s3:// names a bucket that
// keeps S3's rules and a clean prefix, and reads back from its String.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{"s3://drop", "s3://drop/a/b", "s3://Bad_Bucket", "dir:///srv", "s3://a..b/c", "s3://drop/../x", "s3://1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseLocation(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--dropbox") {
				t.Errorf("ParseLocation(%q) error %q does not name the flag", s, err)
			}
			return
		}
		if loc.Scheme != "s3" {
			return
		}
		b := loc.Bucket
		if len(b) < 3 || len(b) > 63 || strings.Trim(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" ||
			strings.Trim(b[:1]+b[len(b)-1:], "abcdefghijklmnopqrstuvwxyz0123456789") != "" || strings.Contains(b, "..") {
			t.Errorf("ParseLocation(%q) accepted bucket %q", s, b)
		}
		for _, part := range strings.Split(loc.Prefix, "/") {
			if loc.Prefix != "" && (part == "" || part == "." || part == "..") {
				t.Errorf("ParseLocation(%q) accepted prefix %q", s, loc.Prefix)
			}
		}
		if again, err := ParseLocation(loc.String()); err != nil || again != loc {
			t.Errorf("ParseLocation(%q) = %+v; its String %q reads back as %+v, %v", s, loc, loc.String(), again, err)
		}
	})
}
