package cli

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeFS is a set of files for resolveSettings' readFile.
type fakeFS map[string]string

func (f fakeFS) readFile(name string) ([]byte, error) {
	data, ok := f[filepath.Clean(name)]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(data), nil
}

func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestResolveSettings(t *testing.T) {
	t.Parallel()
	defaultTokenFile := filepath.Join("stratus-data", "admin.token")
	xdgConfig := filepath.Join("/xdg", "stratus", "config.yaml")
	homeConfig := filepath.Join("/home/u", ".config", "stratus", "config.yaml")

	tests := []struct {
		name    string
		flags   globalFlags
		env     map[string]string
		files   fakeFS
		want    settings
		wantErr string // substring; empty means no error
		usage   bool   // the error is a usage error
	}{
		{
			name: "defaults with nothing set",
			want: settings{Server: DefaultServer, ServerSource: "the default", TokenFile: defaultTokenFile},
		},
		{
			name:  "token and URL from the default data dir",
			files: fakeFS{defaultTokenFile: "s3cret\n", "stratus-data/server.url": "http://127.0.0.1:40123\n"},
			want:  settings{Server: "http://127.0.0.1:40123", ServerSource: "stratus-data/server.url", Token: "s3cret", TokenSource: defaultTokenFile, TokenFile: defaultTokenFile},
		},
		{
			name:  "STRATUS_DATA names the data dir",
			env:   map[string]string{"STRATUS_DATA": "/srv/st"},
			files: fakeFS{defaultTokenFile: "wrong", "/srv/st/admin.token": "right"},
			want:  settings{Server: DefaultServer, ServerSource: "the default", Token: "right", TokenSource: "/srv/st/admin.token", TokenFile: "/srv/st/admin.token"},
		},
		{
			name:  "empty token file means no token",
			files: fakeFS{defaultTokenFile: " \n"},
			want:  settings{Server: DefaultServer, ServerSource: "the default", TokenFile: defaultTokenFile},
		},
		{
			name:  "XDG config file beats the data dir",
			env:   map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"},
			files: fakeFS{xdgConfig: "server: https://stratus.example.org\ntoken: fromfile\n", homeConfig: "token: home\n", defaultTokenFile: "admin", "stratus-data/server.url": "http://127.0.0.1:1"},
			want:  settings{Server: "https://stratus.example.org", ServerSource: xdgConfig, Token: "fromfile", TokenSource: xdgConfig, ConfigFile: xdgConfig},
		},
		{
			name:  "HOME config file when XDG_CONFIG_HOME is unset",
			env:   map[string]string{"HOME": "/home/u"},
			files: fakeFS{homeConfig: "token: home\n"},
			want:  settings{Server: DefaultServer, ServerSource: "the default", Token: "home", TokenSource: homeConfig, ConfigFile: homeConfig},
		},
		{
			name:  "config without token falls back to the token file",
			env:   map[string]string{"HOME": "/home/u"},
			files: fakeFS{homeConfig: "server: http://10.0.0.1:7070\n", defaultTokenFile: "admin"},
			want:  settings{Server: "http://10.0.0.1:7070", ServerSource: homeConfig, Token: "admin", TokenSource: defaultTokenFile, ConfigFile: homeConfig, TokenFile: defaultTokenFile},
		},
		{
			name:  "missing default config file is fine",
			env:   map[string]string{"HOME": "/home/u"},
			files: fakeFS{},
			want:  settings{Server: DefaultServer, ServerSource: "the default", TokenFile: defaultTokenFile},
		},
		{
			name:  "empty config file is fine",
			env:   map[string]string{"HOME": "/home/u"},
			files: fakeFS{homeConfig: ""},
			want:  settings{Server: DefaultServer, ServerSource: "the default", ConfigFile: homeConfig, TokenFile: defaultTokenFile},
		},
		{
			name:  "env beats config file",
			env:   map[string]string{"HOME": "/home/u", "STRATUS_URL": "http://env:1", "STRATUS_TOKEN": "envtok"},
			files: fakeFS{homeConfig: "server: http://file:2\ntoken: filetok\n"},
			want:  settings{Server: "http://env:1", ServerSource: "STRATUS_URL", Token: "envtok", TokenSource: "STRATUS_TOKEN", ConfigFile: homeConfig},
		},
		{
			name:  "flags beat env",
			flags: globalFlags{server: "http://flag:3", serverSet: true, token: "flagtok", tokenSet: true},
			env:   map[string]string{"STRATUS_URL": "http://env:1", "STRATUS_TOKEN": "envtok"},
			want:  settings{Server: "http://flag:3", ServerSource: "--server", Token: "flagtok", TokenSource: "--token"},
		},
		{
			name:  "--config beats STRATUS_CONFIG and the default file",
			flags: globalFlags{config: "/etc/a.yaml", configSet: true},
			env:   map[string]string{"STRATUS_CONFIG": "/etc/b.yaml", "HOME": "/home/u"},
			files: fakeFS{"/etc/a.yaml": "token: a\n", "/etc/b.yaml": "token: b\n", homeConfig: "token: home\n"},
			want:  settings{Server: DefaultServer, ServerSource: "the default", Token: "a", TokenSource: "/etc/a.yaml", ConfigFile: "/etc/a.yaml"},
		},
		{
			name:  "STRATUS_CONFIG beats the default file",
			env:   map[string]string{"STRATUS_CONFIG": "/etc/b.yaml", "HOME": "/home/u"},
			files: fakeFS{"/etc/b.yaml": "token: b\n", homeConfig: "token: home\n"},
			want:  settings{Server: DefaultServer, ServerSource: "the default", Token: "b", TokenSource: "/etc/b.yaml", ConfigFile: "/etc/b.yaml"},
		},
		{
			name:    "missing --config file is an error",
			flags:   globalFlags{config: "/nope.yaml", configSet: true},
			wantErr: "config file /nope.yaml (from --config) does not exist",
			usage:   true,
		},
		{
			name:    "missing STRATUS_CONFIG file is an error",
			env:     map[string]string{"STRATUS_CONFIG": "/nope.yaml"},
			wantErr: "config file /nope.yaml (from STRATUS_CONFIG) does not exist",
			usage:   true,
		},
		{
			name:    "unknown key in the config file",
			env:     map[string]string{"STRATUS_CONFIG": "/c.yaml"},
			files:   fakeFS{"/c.yaml": "sever: http://x\n"},
			wantErr: "field sever not found",
		},
		{
			name:  "empty env vars count as unset",
			env:   map[string]string{"STRATUS_URL": "", "STRATUS_TOKEN": ""},
			files: fakeFS{defaultTokenFile: "admin"},
			want:  settings{Server: DefaultServer, ServerSource: "the default", Token: "admin", TokenSource: defaultTokenFile, TokenFile: defaultTokenFile},
		},
		{
			name:  "server without scheme gets http and loses its trailing slash",
			flags: globalFlags{server: "10.1.2.3:7070/", serverSet: true},
			want:  settings{Server: "http://10.1.2.3:7070", ServerSource: "--server", TokenFile: defaultTokenFile},
		},
		{
			name:    "server with another scheme",
			env:     map[string]string{"STRATUS_URL": "ftp://host"},
			wantErr: `server URL "ftp://host" from STRATUS_URL`,
			usage:   true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := tc.files
			if files == nil {
				files = fakeFS{}
			}
			got, err := resolveSettings(tc.flags, mapEnv(tc.env), files.readFile)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				var ue *usageError
				if errors.As(err, &ue) != tc.usage {
					t.Errorf("usage error = %v, want %v", !tc.usage, tc.usage)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveSettings: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}
