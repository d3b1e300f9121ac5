// Package health runs the health checks of a checks file: HTTP(S) probes
// (status, optional body regex) and replica groups whose members must agree
// on a value read from each (a JSON field, a header or a regex capture). The
// Controller probes each check at its interval, stores the results and the
// current state, records each change of state once as an event and a
// notification with its severity, and keeps a bounded history per check.
package health

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults for fields a checks file leaves out.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultInterval = 30 * time.Second
)

// Kinds of check.
const (
	KindProbe    = "probe"
	KindReplicas = "replicas"
)

// Config is a checks file.
type Config struct {
	Probes   []Probe   `yaml:"probes"`
	Replicas []Replica `yaml:"replicas"`
}

// Probe is one HTTP(S) check: the URL must answer Status (default 200)
// within Timeout, with a body matching Body if set.
type Probe struct {
	Name     string        `yaml:"name"`
	URL      string        `yaml:"url"`
	Status   int           `yaml:"status"`
	Body     string        `yaml:"body"`
	Timeout  time.Duration `yaml:"timeout"`
	Interval time.Duration `yaml:"interval"`

	bodyRE *regexp.Regexp
}

// Value says where a replica's value is read: exactly one of JSON (a dotted
// path into a JSON body, e.g. build.revision or items.0.id), Header (a
// response header) or Regex (its first capture group on the body).
type Value struct {
	JSON   string `yaml:"json"`
	Header string `yaml:"header"`
	Regex  string `yaml:"regex"`

	re *regexp.Regexp
}

// Replica is a group of members (URLs) that must agree on a value.
// Compare is "majority" (default: a member differing from the most common
// value is behind) or "newest" (a member below the highest value is behind;
// values compare as numbers when all are numbers, else as strings).
type Replica struct {
	Name     string        `yaml:"name"`
	Members  []string      `yaml:"members"`
	Value    Value         `yaml:"value"`
	Compare  string        `yaml:"compare"`
	Timeout  time.Duration `yaml:"timeout"`
	Interval time.Duration `yaml:"interval"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// Parse reads and validates a checks file, filling defaults. Its error
// names each bad field, e.g. probes[1].url.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("checks file: %w", err)
	}
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	names := map[string]string{}
	checkName := func(field, name string) {
		switch {
		case name == "":
			bad(field, "required")
		case !nameRE.MatchString(name):
			bad(field, "%q must be lower-case letters, digits, '.', '_' or '-' (at most 63)", name)
		case names[name] != "":
			bad(field, "%q is also the name of %s", name, names[name])
		default:
			names[name] = strings.TrimSuffix(field, ".name")
		}
	}
	checkURL := func(field, u string) {
		if u == "" {
			bad(field, "required")
			return
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad(field, "%q is not an http:// or https:// URL", u)
		}
	}
	checkTimes := func(prefix string, timeout, interval *time.Duration) {
		if *timeout == 0 {
			*timeout = DefaultTimeout
		}
		if *interval == 0 {
			*interval = DefaultInterval
		}
		if *timeout < 0 {
			bad(prefix+".timeout", "must be positive, got %s", *timeout)
		}
		if *interval < 0 {
			bad(prefix+".interval", "must be positive, got %s", *interval)
		} else if *interval < *timeout {
			bad(prefix+".interval", "%s is shorter than the timeout %s", *interval, *timeout)
		}
	}
	for i := range c.Probes {
		p := &c.Probes[i]
		f := fmt.Sprintf("probes[%d]", i)
		checkName(f+".name", p.Name)
		checkURL(f+".url", p.URL)
		if p.Status == 0 {
			p.Status = 200
		}
		if p.Status < 100 || p.Status > 599 {
			bad(f+".status", "%d is not an HTTP status (100-599)", p.Status)
		}
		if p.Body != "" {
			re, err := regexp.Compile(p.Body)
			if err != nil {
				bad(f+".body", "not a regular expression: %v", err)
			}
			p.bodyRE = re
		}
		checkTimes(f, &p.Timeout, &p.Interval)
	}
	for i := range c.Replicas {
		r := &c.Replicas[i]
		f := fmt.Sprintf("replicas[%d]", i)
		checkName(f+".name", r.Name)
		if len(r.Members) < 2 {
			bad(f+".members", "need at least 2 members, got %d", len(r.Members))
		}
		seen := map[string]bool{}
		for j, m := range r.Members {
			checkURL(fmt.Sprintf("%s.members[%d]", f, j), m)
			if seen[m] {
				bad(fmt.Sprintf("%s.members[%d]", f, j), "%q is listed twice", m)
			}
			seen[m] = true
		}
		n := 0
		for _, s := range []string{r.Value.JSON, r.Value.Header, r.Value.Regex} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			bad(f+".value", "set exactly one of json (a dotted path), header or regex")
		}
		if r.Value.Regex != "" {
			re, err := regexp.Compile(r.Value.Regex)
			switch {
			case err != nil:
				bad(f+".value.regex", "not a regular expression: %v", err)
			case re.NumSubexp() < 1:
				bad(f+".value.regex", "needs a capture group: the value is what it captures")
			}
			r.Value.re = re
		}
		switch r.Compare {
		case "":
			r.Compare = CompareMajority
		case CompareMajority, CompareNewest:
		default:
			bad(f+".compare", "%q: use majority or newest", r.Compare)
		}
		checkTimes(f, &r.Timeout, &r.Interval)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "\n"))
	}
	return &c, nil
}
