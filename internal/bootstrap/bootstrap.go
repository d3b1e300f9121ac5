// Package bootstrap renders the user-data that turns a fresh EC2 instance
// into a stratus node: a POSIX sh script, run once as root by cloud-init,
// that downloads the stratus binary from the control plane, checks its
// SHA-256, installs it, writes the agent's configuration (server_url and
// token; the agent learns the rest from instance metadata) and starts
// `stratus agent --ec2 --config-dir DIR` detached: as a systemd unit with
// Restart=always where systemd runs, otherwise with nohup.
//
// Every value is embedded in single quotes, so a token or URL holding
// quotes, spaces, `$(...)` or newlines is data, never shell code.
//
// The script honours one environment variable, for tests only:
// STRATUS_BOOTSTRAP_NO_SYSTEMD=1 makes it take the nohup path even where
// systemd runs. It also never uses systemd when Config.Root is not "/",
// since a unit under another root could not be managed.
package bootstrap

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"text/template"

	"github.com/stratus-cloud/stratus/internal/agent"
)

// Defaults of Config's fields.
const (
	DefaultInstallDir = "/usr/local/bin"
	DefaultConfigDir  = "/etc/stratus"
	DefaultRoot       = "/"
	// DefaultLoginUser is the login user of Amazon Linux images.
	DefaultLoginUser = "ec2-user"
)

// Fixed places, under Root.
const (
	// LogFile receives the agent's output.
	LogFile = "/var/log/stratus-agent.log"
	// UnitName is the systemd unit that runs the agent.
	UnitName = "stratus-agent.service"
	unitDir  = "/etc/systemd/system"
	binName  = "stratus"
)

// Config is what the user-data needs to know.
type Config struct {
	// ServerURL is the control plane's address the agent talks to (http or
	// https).
	ServerURL string
	// Token is the agent's own secret.
	Token string
	// BinaryURL is where the control plane serves the stratus binary for
	// the instance's platform (http or https).
	BinaryURL string
	// BinarySHA256 is the binary's SHA-256, in hex.
	BinarySHA256 string
	// InstallDir receives the binary (default DefaultInstallDir).
	InstallDir string
	// ConfigDir receives agent.json (default DefaultConfigDir).
	ConfigDir string
	// Root prefixes every path the script writes (default "/"); tests use
	// it to run the script inside a temporary directory.
	Root string
	// LoginUser is the image's login user, who gets the cluster owner's
	// ssh keys (default DefaultLoginUser); it goes into agent.json.
	LoginUser string
}

// withDefaults returns c with its empty fields defaulted.
func (c Config) withDefaults() Config {
	if c.InstallDir == "" {
		c.InstallDir = DefaultInstallDir
	}
	if c.ConfigDir == "" {
		c.ConfigDir = DefaultConfigDir
	}
	if c.Root == "" {
		c.Root = DefaultRoot
	}
	if c.LoginUser == "" {
		c.LoginUser = DefaultLoginUser
	}
	c.BinarySHA256 = strings.ToLower(c.BinarySHA256)
	return c
}

// Validate checks c (after defaults): both URLs are absolute http or https
// URLs, the token is set, the SHA-256 is 64 hex digits and the paths are
// absolute. Every error names its field.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("bootstrap: %s: %s", field, fmt.Sprintf(format, args...)))
	}
	checkURL := func(field, s string) {
		if s == "" {
			bad(field, "is required")
			return
		}
		u, err := url.Parse(s)
		switch {
		case err != nil:
			bad(field, "not a URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad(field, "must be an http or https URL, got %q", s)
		case u.Host == "":
			bad(field, "has no host: %q", s)
		case hasControl(s):
			bad(field, "must not contain control characters")
		}
	}
	checkURL("ServerURL", c.ServerURL)
	checkURL("BinaryURL", c.BinaryURL)
	if c.Token == "" {
		bad("Token", "is required")
	}
	if err := CheckLoginUser(c.LoginUser); err != nil {
		bad("LoginUser", "%v", err)
	}
	if b, err := hex.DecodeString(c.BinarySHA256); err != nil || len(b) != 32 {
		bad("BinarySHA256", "must be 64 hexadecimal characters, got %q", c.BinarySHA256)
	}
	for _, p := range []struct{ field, value string }{{"InstallDir", c.InstallDir}, {"ConfigDir", c.ConfigDir}, {"Root", c.Root}} {
		switch {
		case !path.IsAbs(p.value):
			bad(p.field, "must be an absolute path, got %q", p.value)
		case hasControl(p.value):
			bad(p.field, "must not contain control characters")
		}
	}
	return errors.Join(errs...)
}

// CheckLoginUser reports whether s is a login user's name (empty stands
// for DefaultLoginUser).
func CheckLoginUser(s string) error {
	if s != "" && !validUserName(s) {
		return fmt.Errorf("must be a user name (a lower-case letter or underscore, then letters, digits, _, . or -; at most 32), got %q", s)
	}
	return nil
}

func validUserName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-')
		if !ok {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Render returns the user-data script for c, or c's validation errors.
func Render(c Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c = c.withDefaults()
	under := func(p string) string { return path.Join(c.Root, p) }
	installDir, configDir, logFile := under(c.InstallDir), under(c.ConfigDir), under(LogFile)
	bin := path.Join(installDir, binName)

	agentConfig, err := json.MarshalIndent(agent.Config{ServerURL: c.ServerURL, Token: c.Token, LoginUser: c.LoginUser}, "", "  ")
	if err != nil {
		return nil, err
	}
	unit := strings.Join([]string{
		"[Unit]",
		"Description=stratus node agent",
		"Wants=network-online.target",
		"After=network-online.target",
		"",
		"[Service]",
		"ExecStart=" + strings.Join([]string{unitQuote(bin), "agent", "--ec2", "--config-dir", unitQuote(configDir)}, " "),
		"Restart=always",
		"RestartSec=5",
		"StandardOutput=append:" + strings.ReplaceAll(logFile, "%", "%%"),
		"StandardError=inherit",
		"",
		"[Install]",
		"WantedBy=multi-user.target",
	}, "\n")
	useSystemd := "0"
	if path.Clean(c.Root) == "/" {
		useSystemd = "1"
	}
	vars := []struct{ Name, Value string }{
		{"BINARY_URL", c.BinaryURL},
		{"BINARY_SHA256", c.BinarySHA256},
		{"INSTALL_DIR", installDir},
		{"BIN", bin},
		{"CONFIG_DIR", configDir},
		{"LOG_FILE", logFile},
		{"LOG_DIR", path.Dir(logFile)},
		{"UNIT_DIR", under(unitDir)},
		{"UNIT_NAME", UnitName},
		{"USE_SYSTEMD", useSystemd},
		{"AGENT_CONFIG", string(agentConfig)},
		{"UNIT", unit},
	}
	var buf bytes.Buffer
	if err := script.Execute(&buf, vars); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shellQuote quotes s for a POSIX shell: inside single quotes nothing is
// special, and each single quote in s closes the quotes, is written
// backslash-escaped, and reopens them.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// unitQuote quotes one word of a systemd ExecStart= line when it needs it.
// Validate has rejected control characters.
func unitQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\%$;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(s) + `"`
}

var script = template.Must(template.New("user-data").Funcs(template.FuncMap{"q": shellQuote}).Parse(scriptText))

// scriptText is the user-data. The values come first, each single-quoted;
// the code after them only expands variables in double quotes.
const scriptText = `#!/bin/sh
# stratus user-data: installs the stratus agent and starts it.
# Generated by stratus (internal/bootstrap); cloud-init runs it once, as root.
set -eu
{{range .}}
{{.Name}}={{q .Value}}{{end}}

say() { printf 'stratus bootstrap: %s\n' "$*" >&2; }
fail() {
	say "$*"
	exit 1
}

umask 022
mkdir -p "$INSTALL_DIR" "$LOG_DIR"
tmp="$INSTALL_DIR/.stratus.download.$$"
trap 'rm -f "$tmp"' EXIT

download() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --globoff --connect-timeout 10 --max-time 600 -o "$tmp" "$BINARY_URL"
	elif command -v wget >/dev/null 2>&1; then
		wget -q -T 30 -O "$tmp" "$BINARY_URL"
	else
		fail "neither curl nor wget is installed: cannot download $BINARY_URL"
	fi
}
attempt=1
until download; do
	[ "$attempt" -lt 5 ] || fail "cannot download the stratus binary from $BINARY_URL"
	say "download from $BINARY_URL failed (attempt $attempt); retrying"
	sleep "$((attempt * 2))"
	attempt=$((attempt + 1))
done

command -v sha256sum >/dev/null 2>&1 || fail "sha256sum is not installed: cannot verify the stratus binary"
sum=$(sha256sum <"$tmp")
sum=${sum%% *}
if [ "$sum" != "$BINARY_SHA256" ]; then
	fail "SHA-256 mismatch for $BINARY_URL: expected $BINARY_SHA256, got $sum; nothing installed"
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$BIN"
say "installed $BIN"

(umask 077 && mkdir -p "$CONFIG_DIR")
chmod 0700 "$CONFIG_DIR"
(umask 077 && printf '%s\n' "$AGENT_CONFIG" >"$CONFIG_DIR/agent.json.tmp")
chmod 0600 "$CONFIG_DIR/agent.json.tmp"
mv -f "$CONFIG_DIR/agent.json.tmp" "$CONFIG_DIR/agent.json"

if [ "$USE_SYSTEMD" = 1 ] && [ "${STRATUS_BOOTSTRAP_NO_SYSTEMD:-}" != 1 ] &&
	command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	mkdir -p "$UNIT_DIR"
	printf '%s\n' "$UNIT" >"$UNIT_DIR/$UNIT_NAME"
	systemctl daemon-reload
	systemctl enable "$UNIT_NAME"
	systemctl restart "$UNIT_NAME"
	say "started the agent: systemd unit $UNIT_NAME, log $LOG_FILE"
elif command -v nohup >/dev/null 2>&1; then
	nohup "$BIN" agent --ec2 --config-dir "$CONFIG_DIR" >>"$LOG_FILE" 2>&1 </dev/null &
	say "started the agent in the background (pid $!), log $LOG_FILE"
else
	"$BIN" agent --ec2 --config-dir "$CONFIG_DIR" >>"$LOG_FILE" 2>&1 </dev/null &
	say "started the agent in the background (pid $!), log $LOG_FILE"
fi
`
