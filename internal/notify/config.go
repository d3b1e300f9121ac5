package notify

import (
	"crypto/x509"
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stratus-cloud/stratus/internal/spec"
)

// Defaults of the notifications file.
const (
	DefaultSMTPPort       = 587
	DefaultSMTPTimeout    = 30 * time.Second
	DefaultWebhookTimeout = 10 * time.Second
	DefaultRetryInitial   = 10 * time.Second
	DefaultRetryMax       = time.Hour
	DefaultRetryAttempts  = 12
	// MaxFileSize is the largest notifications file accepted.
	MaxFileSize = 1 << 20
)

// STARTTLS modes.
const (
	StartTLSRequired      = "required"
	StartTLSOpportunistic = "opportunistic"
	StartTLSNone          = "none"
)

// hostRE matches a DNS host name.
var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$`)

// Config is a notifications file (serve --notify FILE).
type Config struct {
	// SMTP is the mail server; nil sends no mail.
	SMTP *SMTP
	// AdminEmail receives every event, besides the admin users' own
	// addresses.
	AdminEmail string
	Webhooks   []Webhook
	Retry      Retry
}

// SMTP is how mail is sent.
type SMTP struct {
	Host string
	Port int
	// StartTLS is required (default), opportunistic or none; TLS is
	// implicit TLS from the first byte (default on port 465).
	StartTLS string
	TLS      bool
	// Username and Password authenticate with AUTH PLAIN, only ever over
	// TLS. PasswordFile, if set, is read by Load.
	Username     string
	Password     string
	PasswordFile string
	// From is the sender, e.g. "stratus <stratus@example.org>".
	From string
	// CAFile, if set, holds PEM certificates trusted for the server's
	// certificate instead of the system's roots.
	CAFile  string
	Timeout time.Duration

	from    *mail.Address
	rootCAs *x509.CertPool
	lines   map[string]int
}

// Webhook is a URL that receives events as signed JSON posts: a user's
// events (User) or every event (Admin).
type Webhook struct {
	// Name identifies the webhook in the store and the logs, which never
	// hold its URL (the URL may carry a token). It defaults to
	// "webhook-N" for the Nth webhook of the file (from 1).
	Name string
	URL  string
	// Secret signs the posts; SecretFile, if set, is read by Load.
	Secret     string
	SecretFile string
	User       string
	Admin      bool
	Timeout    time.Duration

	line  int
	lines map[string]int
}

// Endpoint is the webhook's URL without userinfo, path and query
// (scheme://host), as it is shown in errors and logs.
func (w *Webhook) Endpoint() string {
	u, err := url.Parse(w.URL)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}

// webhookNameRE matches a webhook's name.
var webhookNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// Retry is how failed deliveries are retried: the first retry after
// Initial, each further one after twice the wait before, at most Max
// apart, and after Attempts attempts the delivery is given up.
type Retry struct {
	Initial  time.Duration
	Max      time.Duration
	Attempts int
}

// Load reads a notifications file and the password and secret files it
// names (relative paths are relative to the file's directory).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notifications file: %w", err)
	}
	c, es := parse(data)
	if c == nil {
		return nil, es
	}
	dir := filepath.Dir(path)
	read := func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return os.ReadFile(name)
	}
	if s := c.SMTP; s != nil {
		if s.PasswordFile != "" {
			b, err := read(s.PasswordFile)
			if err != nil {
				es = append(es, spec.FieldError{Field: "smtp.password_file", Line: s.lines["password_file"], Message: err.Error()})
			}
			s.Password = strings.TrimRight(string(b), "\r\n")
		}
		if s.CAFile != "" {
			b, err := read(s.CAFile)
			s.rootCAs = x509.NewCertPool()
			switch {
			case err != nil:
				es = append(es, spec.FieldError{Field: "smtp.ca_file", Line: s.lines["ca_file"], Message: err.Error()})
			case !s.rootCAs.AppendCertsFromPEM(b):
				es = append(es, spec.FieldError{Field: "smtp.ca_file", Line: s.lines["ca_file"], Message: "holds no PEM certificate"})
			}
		}
	}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if w.SecretFile == "" {
			continue
		}
		b, err := read(w.SecretFile)
		line := w.lines["secret_file"]
		switch {
		case err != nil:
			es = append(es, spec.FieldError{Field: fmt.Sprintf("webhooks[%d].secret_file", i), Line: line, Message: err.Error()})
		case strings.TrimSpace(string(b)) == "":
			es = append(es, spec.FieldError{Field: fmt.Sprintf("webhooks[%d].secret_file", i), Line: line, Message: "the file is empty"})
		}
		w.Secret = strings.TrimSpace(string(b))
	}
	if len(es) > 0 {
		return nil, byLine(es)
	}
	return c, nil
}

// byLine orders problems by line, those without a line last, keeping
// the order of problems on the same line.
func byLine(es spec.Errors) spec.Errors {
	key := func(e spec.FieldError) int {
		if e.Line == 0 {
			return math.MaxInt
		}
		return e.Line
	}
	sort.SliceStable(es, func(i, j int) bool { return key(es[i]) < key(es[j]) })
	return es
}

// Parse reads a notifications file without reading the files it names.
// Problems are reported as spec.Errors naming the field and its line,
// every one found.
func Parse(data []byte) (*Config, error) {
	c, es := parse(data)
	if len(es) > 0 {
		return nil, es
	}
	return c, nil
}

// parse is Parse returning the config read so far along with its
// problems; the config is nil only when the file is not a YAML document.
func parse(data []byte) (*Config, spec.Errors) {
	root, es := spec.DecodeYAMLFile(data, "notifications file", MaxFileSize, "configure smtp or webhooks")
	if es != nil {
		return nil, es
	}
	p := &parser{}
	c := &Config{}
	adminLine := 0
	p.mapping(root, "", "smtp, admin_email, webhooks and retry", func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "smtp":
			c.SMTP = p.smtp(v)
		case "admin_email":
			c.AdminEmail, adminLine = p.address(v, field), v.Line
		case "webhooks":
			if v.Kind != yaml.SequenceNode {
				p.fail(v, field, "must be a list of webhooks, like - {url: https://..., secret_file: hook.secret, admin: true}")
				return
			}
			names := map[string]string{}
			for i, w := range v.Content {
				prefix := fmt.Sprintf("webhooks[%d]", i)
				hook := p.webhook(w, prefix, fmt.Sprintf("webhook-%d", i+1))
				if other, dup := names[hook.Name]; dup && hook.Name != "" {
					at := w
					if line := hook.lines["name"]; line > 0 {
						at = &yaml.Node{Line: line}
					}
					p.fail(at, prefix+".name", "%q is the name of %s too; give each webhook its own name", hook.Name, other)
				}
				names[hook.Name] = prefix
				c.Webhooks = append(c.Webhooks, hook)
			}
		case "retry":
			c.Retry = p.retry(v)
		default:
			p.fail(k, field, "unknown key; a notifications file has smtp, admin_email, webhooks and retry")
		}
	})
	switch {
	case c.AdminEmail != "" && c.SMTP == nil:
		p.es = append(p.es, spec.FieldError{Field: "admin_email", Line: adminLine, Message: "needs smtp to send mail through"})
	case c.SMTP == nil && len(c.Webhooks) == 0 && root.Kind == yaml.MappingNode && !p.failed("webhooks"):
		p.fail(root, "", "configure smtp, webhooks or both")
	}
	r := &c.Retry
	initialSet, maxSet := r.Initial != 0, r.Max != 0
	if !initialSet {
		r.Initial = DefaultRetryInitial
	}
	if !maxSet {
		r.Max = max(DefaultRetryMax, r.Initial)
	}
	if r.Attempts == 0 {
		r.Attempts = DefaultRetryAttempts
	}
	// Compared only when neither side is invalid (an invalid one is 0).
	if r.Max < r.Initial && !p.failed("retry.initial") && !p.failed("retry.max") {
		what := "retry.initial"
		if !initialSet {
			what = "the default retry.initial"
		}
		p.es = append(p.es, spec.FieldError{Field: "retry.max", Line: p.retryMaxLine, Message: fmt.Sprintf("%s is shorter than %s %s", r.Max, what, r.Initial)})
	}
	return c, byLine(p.es)
}

// parser collects errors while walking the YAML tree.
type parser struct {
	es spec.Errors
	// retryMaxLine is the line of retry.max, if given.
	retryMaxLine int
}

func (p *parser) fail(n *yaml.Node, field, format string, args ...any) {
	if len(p.es) < spec.MaxErrors {
		p.es = append(p.es, spec.FieldError{Field: field, Line: n.Line, Message: fmt.Sprintf(format, args...)})
	}
}

// failed reports whether field has an error already.
func (p *parser) failed(field string) bool {
	for _, e := range p.es {
		if e.Field == field {
			return true
		}
	}
	return false
}

// mapping calls fn for each key of the mapping n (prefix names it), after
// checking that it is a mapping and that no key is given twice.
func (p *parser) mapping(n *yaml.Node, prefix, keys string, fn func(k, v *yaml.Node, field string)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, prefix, "must be a mapping with %s", keys)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := k.Value
		if prefix != "" {
			field = prefix + "." + k.Value
		}
		if seen[k.Value] {
			p.fail(k, field, "is given twice")
			continue
		}
		seen[k.Value] = true
		fn(k, v, field)
	}
}

func (p *parser) str(v *yaml.Node, field string) string {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.fail(v, field, "must be a string")
		return ""
	}
	if strings.ContainsAny(v.Value, "\r\n") {
		p.fail(v, field, "must be on one line")
		return ""
	}
	return v.Value
}

func (p *parser) boolean(v *yaml.Node, field string) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		p.fail(v, field, "must be true or false, got %q", v.Value)
	}
	return b
}

func (p *parser) duration(v *yaml.Node, field string) time.Duration {
	s := p.str(v, field)
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.fail(v, field, "must be a positive duration such as 30s or 5m, got %q", s)
		return 0
	}
	return d
}

func (p *parser) address(v *yaml.Node, field string) string {
	s := p.str(v, field)
	if s == "" {
		if !p.failed(field) {
			p.fail(v, field, "must not be empty")
		}
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		p.fail(v, field, "%q is not an email address: %v", s, err)
		return ""
	}
	return a.Address
}

func (p *parser) smtp(n *yaml.Node) *SMTP {
	s := &SMTP{lines: map[string]int{}}
	startTLSSet := false
	tlsSet := false
	p.mapping(n, "smtp", "host, port, starttls, tls, username, password or password_file, from, ca_file and timeout", func(k, v *yaml.Node, field string) {
		s.lines[k.Value] = k.Line
		switch k.Value {
		case "host":
			s.Host = p.str(v, field)
			if s.Host != "" && net.ParseIP(s.Host) == nil && !hostRE.MatchString(s.Host) {
				p.fail(v, field, "%q must be a host name or IP address, without a port or scheme", s.Host)
			}
		case "port":
			port, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || port < 1 || port > 65535 {
				p.fail(v, field, "must be a port number between 1 and 65535, got %q", v.Value)
			}
			s.Port = port
		case "starttls":
			s.StartTLS, startTLSSet = p.str(v, field), true
			switch s.StartTLS {
			case StartTLSRequired, StartTLSOpportunistic, StartTLSNone:
			default:
				p.fail(v, field, "%q: use required, opportunistic or none", s.StartTLS)
			}
		case "tls":
			s.TLS, tlsSet = p.boolean(v, field), true
		case "username":
			s.Username = p.str(v, field)
		case "password":
			s.Password = p.str(v, field)
		case "password_file":
			s.PasswordFile = p.str(v, field)
		case "from":
			s.From = p.str(v, field)
			if s.From != "" {
				a, err := mail.ParseAddress(s.From)
				if err != nil {
					p.fail(v, field, "%q is not an email address: %v", s.From, err)
				}
				s.from = a
			}
		case "ca_file":
			s.CAFile = p.str(v, field)
		case "timeout":
			s.Timeout = p.duration(v, field)
		default:
			p.fail(k, field, "unknown key; smtp has host, port, starttls, tls, username, password, password_file, from, ca_file and timeout")
		}
	})
	if n.Kind != yaml.MappingNode {
		return s
	}
	if s.Host == "" && !p.failed("smtp.host") {
		p.fail(n, "smtp.host", "required: the mail server's host name")
	}
	if s.From == "" && !p.failed("smtp.from") {
		p.fail(n, "smtp.from", "required: the sender address, e.g. stratus@example.org")
	}
	if s.Port == 0 {
		s.Port = DefaultSMTPPort
		if s.TLS {
			s.Port = 465
		}
	}
	if !tlsSet && s.Port == 465 {
		s.TLS = true
	}
	if s.StartTLS == "" {
		s.StartTLS = StartTLSRequired
	}
	if s.TLS && startTLSSet && s.StartTLS != StartTLSNone {
		p.fail(n, "smtp.starttls", "does not go with tls: true (the connection is encrypted from the start)")
	}
	if s.TLS {
		s.StartTLS = StartTLSNone
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultSMTPTimeout
	}
	switch {
	case s.Password != "" && s.PasswordFile != "":
		p.fail(n, "smtp.password", "give password or password_file, not both")
	case s.Username != "" && s.Password == "" && s.PasswordFile == "":
		p.fail(n, "smtp.username", "needs password or password_file")
	case s.Username == "" && (s.Password != "" || s.PasswordFile != ""):
		p.fail(n, "smtp.password", "needs a username")
	case s.Username != "" && !s.TLS && s.StartTLS == StartTLSNone:
		p.fail(n, "smtp.username", "credentials are sent only over TLS: set starttls: required (or opportunistic), or tls: true")
	}
	return s
}

func (p *parser) webhook(n *yaml.Node, prefix, defaultName string) Webhook {
	w := Webhook{line: n.Line, lines: map[string]int{}}
	seen := map[string]bool{}
	p.mapping(n, prefix, "name, url, secret or secret_file, user or admin, and timeout", func(k, v *yaml.Node, field string) {
		seen[k.Value] = true
		w.lines[k.Value] = k.Line
		switch k.Value {
		case "name":
			w.Name = p.str(v, field)
			if !p.failed(field) && !webhookNameRE.MatchString(w.Name) {
				p.fail(v, field, "%q: use 1 to 63 letters, digits, '.', '_' and '-', starting with a letter or digit", w.Name)
			}
		case "url":
			w.URL = p.str(v, field)
			if w.URL == "" {
				if !p.failed(field) {
					p.fail(v, field, "must not be empty")
				}
				break
			}
			// The URL is never echoed: it may hold a password or token.
			u, err := url.Parse(w.URL)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				p.fail(v, field, "is not an http:// or https:// URL")
			case u.User != nil:
				p.fail(v, field, "must not hold a user name or password (user:password@): the posts are signed with secret instead")
			}
		case "secret":
			w.Secret = p.str(v, field)
		case "secret_file":
			w.SecretFile = p.str(v, field)
		case "user":
			w.User = p.str(v, field)
		case "admin":
			w.Admin = p.boolean(v, field)
		case "timeout":
			w.Timeout = p.duration(v, field)
		default:
			p.fail(k, field, "unknown key; a webhook has name, url, secret, secret_file, user, admin and timeout")
		}
	})
	if n.Kind != yaml.MappingNode {
		return w
	}
	if !seen["url"] {
		p.fail(n, prefix+".url", "required")
	}
	switch {
	case w.Secret != "" && w.SecretFile != "":
		p.fail(n, prefix+".secret", "give secret or secret_file, not both")
	case w.Secret == "" && w.SecretFile == "" && !p.failed(prefix+".secret") && !p.failed(prefix+".secret_file"):
		p.fail(n, prefix+".secret", "required (or secret_file): the key the posts are signed with")
	}
	switch {
	case w.User != "" && w.Admin:
		p.fail(n, prefix+".user", "give user (that user's events) or admin: true (every event), not both")
	case w.User == "" && !w.Admin:
		p.fail(n, prefix+".user", "required: user: NAME for that user's events, or admin: true for every event")
	}
	if w.Timeout == 0 {
		w.Timeout = DefaultWebhookTimeout
	}
	if !seen["name"] {
		w.Name = defaultName
	}
	return w
}

func (p *parser) retry(n *yaml.Node) Retry {
	var r Retry
	p.mapping(n, "retry", "initial, max and attempts", func(k, v *yaml.Node, field string) {
		switch k.Value {
		case "initial":
			r.Initial = p.duration(v, field)
		case "max":
			r.Max, p.retryMaxLine = p.duration(v, field), v.Line
		case "attempts":
			a, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || err != nil || a < 1 || a > 100 {
				p.fail(v, field, "must be a number of attempts between 1 and 100, got %q", v.Value)
			}
			r.Attempts = a
		default:
			p.fail(k, field, "unknown key; retry has initial, max and attempts")
		}
	})
	return r
}
