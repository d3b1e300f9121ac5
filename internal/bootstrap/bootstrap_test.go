package bootstrap_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/agent"
	"github.com/stratus-cloud/stratus/internal/bootstrap"
)

var update = flag.Bool("update", false, "rewrite testdata/user-data.golden")

// env is one run of the user-data inside a temporary root.
type env struct {
	root      string // Config.Root
	argsFile  string // where the fake binary writes its arguments
	binary    []byte // the fake binary the server serves
	url       string // its URL
	downloads atomic.Int32
}

// newEnv serves a fake stratus binary, a shell script that writes its
// arguments to argsFile, one per line, and exits.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{root: t.TempDir(), argsFile: filepath.Join(t.TempDir(), "args")}
	e.binary = []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" >'" + e.argsFile + "'\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/binary/") {
			http.NotFound(w, r)
			return
		}
		e.downloads.Add(1)
		_, _ = w.Write(e.binary)
	}))
	t.Cleanup(srv.Close)
	e.url = srv.URL + "/v1/binary/linux-amd64"
	return e
}

func (e *env) sum() string {
	s := sha256.Sum256(e.binary)
	return hex.EncodeToString(s[:])
}

func (e *env) config() bootstrap.Config {
	return bootstrap.Config{
		ServerURL: "https://cp.example:8443", Token: "sat_0123456789",
		BinaryURL: e.url, BinarySHA256: e.sum(), Root: e.root,
	}
}

// tools returns a PATH directory holding only the commands the script may
// use, with downloader ("curl" or "wget") the only download tool.
func tools(t *testing.T, downloader string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"mkdir", "rm", "chmod", "mv", "sha256sum", "nohup", "sleep", downloader} {
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed: %v (.ci/run installs curl and wget)", name, err)
			}
			t.Skipf("%s not installed: %v", name, err)
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run renders c and runs it with /bin/sh; it returns the output and the
// exit error.
func run(t *testing.T, c bootstrap.Config, path string) (string, error) {
	t.Helper()
	script, err := bootstrap.Render(c)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	file := filepath.Join(t.TempDir(), "user-data")
	if err := os.WriteFile(file, script, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", file)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + path, "STRATUS_BOOTSTRAP_NO_SYSTEMD=1", "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// started waits for the fake agent to write its arguments.
func (e *env) started(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(e.argsFile)
		if err == nil && bytes.HasSuffix(data, []byte("\n")) {
			return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent was not started (%s: %v)", e.argsFile, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestRunInstallsAndStarts(t *testing.T) {
	for _, downloader := range []string{"curl", "wget"} {
		t.Run(downloader, func(t *testing.T) {
			e := newEnv(t)
			c := e.config()
			out, err := run(t, c, tools(t, downloader))
			if err != nil {
				t.Fatalf("user-data failed: %v\n%s", err, out)
			}
			bin := filepath.Join(e.root, "usr/local/bin/stratus")
			got, err := os.ReadFile(bin)
			if err != nil || !bytes.Equal(got, e.binary) {
				t.Fatalf("installed binary: %q, %v; want the served one", got, err)
			}
			if m := mode(t, bin); m != 0o755 {
				t.Errorf("binary mode %v, want 0755", m)
			}
			confDir := filepath.Join(e.root, "etc/stratus")
			if m := mode(t, confDir); m != 0o700 {
				t.Errorf("config dir mode %v, want 0700", m)
			}
			confFile := filepath.Join(confDir, agent.ConfigFile)
			if m := mode(t, confFile); m != 0o600 {
				t.Errorf("config file mode %v, want 0600", m)
			}
			data, err := os.ReadFile(confFile)
			if err != nil {
				t.Fatal(err)
			}
			var ac agent.Config
			if err := json.Unmarshal(data, &ac); err != nil {
				t.Fatalf("agent.json: %v\n%s", err, data)
			}
			if want := (agent.Config{ServerURL: c.ServerURL, Token: c.Token, LoginUser: bootstrap.DefaultLoginUser}); ac != want {
				t.Errorf("agent.json = %+v, want %+v", ac, want)
			}
			args := e.started(t)
			if want := []string{"agent", "--ec2", "--config-dir", confDir}; strings.Join(args, "\x00") != strings.Join(want, "\x00") {
				t.Errorf("agent started with %q, want %q", args, want)
			}
			if _, err := os.Stat(filepath.Join(e.root, bootstrap.LogFile)); err != nil {
				t.Errorf("no log file: %v", err)
			}
			if _, err := os.Stat(filepath.Join(e.root, "etc/systemd")); err == nil {
				t.Errorf("a systemd unit was written though systemd is not used")
			}
			if leftovers, _ := filepath.Glob(filepath.Join(e.root, "usr/local/bin/.stratus*")); len(leftovers) > 0 {
				t.Errorf("download left behind: %v", leftovers)
			}
		})
	}
}

func TestRunCustomDirs(t *testing.T) {
	e := newEnv(t)
	c := e.config()
	c.InstallDir, c.ConfigDir = "/opt/stratus dir/bin", "/var/lib/stra'tus"
	if out, err := run(t, c, tools(t, "curl")); err != nil {
		t.Fatalf("user-data failed: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(e.root, c.InstallDir, "stratus")); err != nil {
		t.Errorf("binary: %v", err)
	}
	confDir := filepath.Join(e.root, c.ConfigDir)
	if _, err := os.Stat(filepath.Join(confDir, agent.ConfigFile)); err != nil {
		t.Errorf("config: %v", err)
	}
	if args := e.started(t); len(args) != 4 || args[3] != confDir {
		t.Errorf("agent started with %q, want --config-dir %q", args, confDir)
	}
}

func TestRunWrongChecksum(t *testing.T) {
	e := newEnv(t)
	c := e.config()
	c.BinarySHA256 = strings.Repeat("ab", 32)
	out, err := run(t, c, tools(t, "curl"))
	if err == nil {
		t.Fatalf("user-data succeeded with a wrong SHA-256:\n%s", out)
	}
	if !strings.Contains(out, "SHA-256 mismatch") || !strings.Contains(out, c.BinarySHA256) || !strings.Contains(out, e.sum()) {
		t.Errorf("output does not explain the mismatch:\n%s", out)
	}
	if n := e.downloads.Load(); n != 1 {
		t.Errorf("downloads = %d, want 1", n)
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, "usr/local/bin"))
	if len(entries) > 0 {
		t.Errorf("installed despite the mismatch: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(e.root, "etc/stratus")); err == nil {
		t.Errorf("config written despite the mismatch")
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(e.argsFile); err == nil {
		t.Errorf("agent started despite the mismatch")
	}
}

func TestHostileValuesAreData(t *testing.T) {
	e := newEnv(t)
	canary := filepath.Join(t.TempDir(), "canary")
	payload := `'"$(touch ` + canary + `)` + "`touch " + canary + "`" + `;touch ` + canary + "\n$(touch " + canary + `)\'`
	c := e.config()
	c.Token = `'"$(rm -rf /)` + payload
	c.ServerURL = "https://cp.example/x'$(touch%20" + canary + ")'"
	c.BinaryURL = e.url + "?q='$(touch%20" + canary + ")'\"[1-2]{a,b}"
	out, err := run(t, c, tools(t, "curl"))
	if err != nil {
		t.Fatalf("user-data failed: %v\n%s", err, out)
	}
	e.started(t)
	if _, err := os.Stat(canary); err == nil {
		t.Fatalf("a value was executed as shell code")
	}
	data, err := os.ReadFile(filepath.Join(e.root, "etc/stratus", agent.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var ac agent.Config
	if err := json.Unmarshal(data, &ac); err != nil {
		t.Fatal(err)
	}
	if ac.Token != c.Token || ac.ServerURL != c.ServerURL {
		t.Errorf("agent.json holds token %q, server %q; want them verbatim: %q, %q", ac.Token, ac.ServerURL, c.Token, c.ServerURL)
	}
}

func TestValidate(t *testing.T) {
	good := bootstrap.Config{
		ServerURL: "https://cp.example:8443", Token: "t",
		BinaryURL: "http://cp.example/bin", BinarySHA256: strings.Repeat("AB", 32),
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, tc := range map[string]struct {
		mod  func(*bootstrap.Config)
		want string
	}{
		"server scheme":  {func(c *bootstrap.Config) { c.ServerURL = "ftp://x" }, "ServerURL: must be an http or https URL"},
		"server missing": {func(c *bootstrap.Config) { c.ServerURL = "" }, "ServerURL: is required"},
		"server no host": {func(c *bootstrap.Config) { c.ServerURL = "https:///x" }, "ServerURL: has no host"},
		"binary scheme":  {func(c *bootstrap.Config) { c.BinaryURL = "file:///bin/sh" }, "BinaryURL: must be an http or https URL"},
		"binary bad":     {func(c *bootstrap.Config) { c.BinaryURL = "http://x/\n" }, "BinaryURL: not a URL"},
		"token":          {func(c *bootstrap.Config) { c.Token = "" }, "Token: is required"},
		"sha short":      {func(c *bootstrap.Config) { c.BinarySHA256 = "abc" }, "BinarySHA256: must be 64 hexadecimal characters"},
		"sha not hex":    {func(c *bootstrap.Config) { c.BinarySHA256 = strings.Repeat("g", 64) }, "BinarySHA256: must be 64 hexadecimal characters"},
		"install rel":    {func(c *bootstrap.Config) { c.InstallDir = "bin" }, "InstallDir: must be an absolute path"},
		"config ctl":     {func(c *bootstrap.Config) { c.ConfigDir = "/etc/x\ny" }, "ConfigDir: must not contain control characters"},
		"root rel":       {func(c *bootstrap.Config) { c.Root = "tmp" }, "Root: must be an absolute path"},
		"login user":     {func(c *bootstrap.Config) { c.LoginUser = "ec2 user'; rm" }, "LoginUser: must be a user name"},
		"login digit":    {func(c *bootstrap.Config) { c.LoginUser = "1abc" }, "LoginUser: must be a user name"},
	} {
		c := good
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
		if _, rerr := bootstrap.Render(c); rerr == nil {
			t.Errorf("%s: Render accepted an invalid config", name)
		}
	}
	// All errors at once.
	err := bootstrap.Config{}.Validate()
	for _, f := range []string{"ServerURL", "BinaryURL", "Token", "BinarySHA256"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("empty config: %v does not name %s", err, f)
		}
	}
}

func TestGolden(t *testing.T) {
	got, err := bootstrap.Render(bootstrap.Config{
		ServerURL: "https://stratus.example.org:8443", Token: "sat_it's a \"secret\"",
		BinaryURL:    "https://stratus.example.org:8443/v1/binary/linux-amd64",
		BinarySHA256: "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
	})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "user-data.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rendered user-data differs from %s (run with -update after checking):\n%s", golden, got)
	}
	// It is valid sh.
	if out, err := exec.Command("/bin/sh", "-n", golden).CombinedOutput(); err != nil {
		t.Errorf("sh -n: %v\n%s", err, out)
	}
}
