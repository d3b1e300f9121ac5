package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/internal/server"
)

// Defaults that make the CLI work with no setup next to `stratus serve`
// started in the same directory.
const (
	// DefaultServer is the server URL used when none is configured; it is
	// where `stratus serve` listens by default.
	DefaultServer = "http://127.0.0.1:7070"
	// DefaultDataDir is `stratus serve`'s default data directory, relative
	// to the working directory.
	DefaultDataDir = "stratus-data"
)

// Environment variables the CLI reads.
const (
	envServer = "STRATUS_URL"
	envToken  = "STRATUS_TOKEN"
	envConfig = "STRATUS_CONFIG"
	envData   = "STRATUS_DATA"
)

// globalFlags are the values of the persistent flags; the *Set fields say
// whether the flag was given at all.
type globalFlags struct {
	server, token, config          string
	serverSet, tokenSet, configSet bool
}

// configFile is the YAML config file.
type configFile struct {
	Server string `yaml:"server"`
	Token  string `yaml:"token"`
}

// settings say how the CLI reaches the server.
type settings struct {
	Server string
	// ServerSource says where Server came from: "--server",
	// "STRATUS_URL", a file name, or "the default".
	ServerSource string
	Token        string
	// TokenSource says where Token came from ("--token", "STRATUS_TOKEN",
	// a file name), or is empty when there is no token.
	TokenSource string
	// ConfigFile is the config file that was read, if any.
	ConfigFile string
	// TokenFile is the admin token file looked at when nothing else gave a
	// token.
	TokenFile string
}

// dataDir is the data directory of a `stratus serve` on this machine:
// $STRATUS_DATA, else ./stratus-data.
func dataDir(getenv func(string) string) string {
	if dir := getenv(envData); dir != "" {
		return dir
	}
	return DefaultDataDir
}

// resolveSettings works out the server URL and token. Each comes from the
// first of these that sets it:
//
//  1. the flag (--server, --token);
//  2. the environment (STRATUS_URL, STRATUS_TOKEN);
//  3. the config file: --config, else STRATUS_CONFIG, else
//     $XDG_CONFIG_HOME/stratus/config.yaml, else ~/.config/stratus/config.yaml
//     (YAML with the keys server and token). A missing default file is
//     fine; a missing file named by --config or STRATUS_CONFIG is an error;
//  4. the files of a `stratus serve` running on this machine, in its data
//     directory $STRATUS_DATA, else ./stratus-data: the server URL in
//     server.url (written while the server runs) and the admin token in
//     admin.token;
//  5. the default server http://127.0.0.1:7070 (and no token).
//
// Empty environment variables count as unset. A server URL without a
// scheme gets http://.
func resolveSettings(f globalFlags, getenv func(string) string, readFile func(string) ([]byte, error)) (settings, error) {
	var s settings

	cfg, cfgPath, err := loadConfigFile(f, getenv, readFile)
	if err != nil {
		return s, err
	}
	s.ConfigFile = cfgPath

	dir := dataDir(getenv)
	srvURL, serverSource := DefaultServer, "the default"
	switch {
	case f.serverSet:
		srvURL, serverSource = f.server, "--server"
	case getenv(envServer) != "":
		srvURL, serverSource = getenv(envServer), envServer
	case cfg.Server != "":
		srvURL, serverSource = cfg.Server, cfgPath
	default:
		urlFile := filepath.Join(dir, server.URLFile)
		u, err := readOptionalFile(urlFile, readFile)
		if err != nil {
			return s, fmt.Errorf("read the server URL: %w", err)
		}
		if u != "" {
			srvURL, serverSource = u, urlFile
		}
	}
	s.ServerSource = serverSource
	if s.Server, err = normalizeServerURL(srvURL); err != nil {
		return s, usagef("server URL %q from %s: %v", srvURL, serverSource, err)
	}

	switch {
	case f.tokenSet:
		s.Token, s.TokenSource = f.token, "--token"
	case getenv(envToken) != "":
		s.Token, s.TokenSource = getenv(envToken), envToken
	case cfg.Token != "":
		s.Token, s.TokenSource = cfg.Token, cfgPath
	default:
		s.TokenFile = filepath.Join(dir, server.AdminTokenFile)
		tok, err := readOptionalFile(s.TokenFile, readFile)
		if err != nil {
			return s, fmt.Errorf("read the admin token: %w", err)
		}
		if tok != "" {
			s.Token, s.TokenSource = tok, s.TokenFile
		}
	}
	return s, nil
}

// readOptionalFile returns the trimmed content of a file, or "" if it does
// not exist.
func readOptionalFile(path string, readFile func(string) ([]byte, error)) (string, error) {
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

// loadConfigFile reads the config file, if there is one, and returns it
// with its path (empty when none was read).
func loadConfigFile(f globalFlags, getenv func(string) string, readFile func(string) ([]byte, error)) (configFile, string, error) {
	var cfg configFile
	path, source := "", ""
	switch {
	case f.configSet:
		path, source = f.config, "--config"
	case getenv(envConfig) != "":
		path, source = getenv(envConfig), envConfig
	}
	explicit := source != ""
	if !explicit {
		path = defaultConfigPath(getenv)
		if path == "" {
			return cfg, "", nil
		}
	}
	data, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if explicit {
			return cfg, "", usagef("config file %s (from %s) does not exist", path, source)
		}
		return cfg, "", nil
	}
	if err != nil {
		return cfg, "", fmt.Errorf("read config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, "", fmt.Errorf("config file %s: %w (it holds YAML with the keys server and token)", path, err)
	}
	return cfg, path, nil
}

// defaultConfigPath is $XDG_CONFIG_HOME/stratus/config.yaml, or
// $HOME/.config/stratus/config.yaml, or empty if neither is set.
func defaultConfigPath(getenv func(string) string) string {
	if dir := getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "stratus", "config.yaml")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "stratus", "config.yaml")
	}
	return ""
}

// normalizeServerURL checks a server URL, adding http:// when it has no
// scheme, and drops a trailing slash.
func normalizeServerURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("it is empty")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("scheme %q: use http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("it has no host")
	}
	return strings.TrimRight(u.String(), "/"), nil
}
