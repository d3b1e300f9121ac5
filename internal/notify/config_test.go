package notify_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/notify"
)

func TestParse_Defaults(t *testing.T) {
	c, err := notify.Parse([]byte(`# mail through the relay
smtp:
  host: mail.example.org
  username: stratus
  password: pw
  from: stratus@example.org
admin_email: "Ops <ops@example.org>"
webhooks:
  - url: https://hooks.example.org/x
    secret: s
    admin: true
  - url: https://hooks.example.org/x
    name: ann-chat
    secret: t
    user: ann
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s := c.SMTP
	if s.Port != 587 || s.StartTLS != notify.StartTLSRequired || s.TLS || s.Timeout != notify.DefaultSMTPTimeout {
		t.Errorf("smtp defaults: %+v", s)
	}
	if c.AdminEmail != "ops@example.org" {
		t.Errorf("admin_email = %q, want the bare address", c.AdminEmail)
	}
	if c.Webhooks[0].Timeout != notify.DefaultWebhookTimeout {
		t.Errorf("webhook timeout = %v", c.Webhooks[0].Timeout)
	}
	if c.Webhooks[0].Name != "webhook-1" || c.Webhooks[1].Name != "ann-chat" {
		t.Errorf("webhook names %q, %q; want the default webhook-1 and the given ann-chat", c.Webhooks[0].Name, c.Webhooks[1].Name)
	}
	if c.Retry != (notify.Retry{Initial: 10 * time.Second, Max: time.Hour, Attempts: 12}) {
		t.Errorf("retry defaults = %+v", c.Retry)
	}
	c, err = notify.Parse([]byte("smtp: {host: smtp.example.org, port: 465, from: a@example.org, username: u, password: p}\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !c.SMTP.TLS || c.SMTP.StartTLS != notify.StartTLSNone {
		t.Errorf("port 465: %+v, want implicit TLS", c.SMTP)
	}
}

func TestParse_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string // each must appear in the error
		not      []string // none may appear in it
	}{
		{"empty", "", []string{"configure smtp or webhooks"}, nil},
		{"nothing", "admin_email: a@example.org\n", []string{"admin_email: needs smtp"}, nil},
		{"not yaml", "smtp: [\n", []string{"not valid YAML"}, nil},
		{"unknown key", "smtp: {host: h, from: a@example.org}\nemail: x\n", []string{"line 2: email: unknown key"}, nil},
		{"smtp required", "smtp: {port: 25}\n", []string{"smtp.host: required", "smtp.from: required"}, nil},
		{"bad port", "smtp: {host: h, from: a@example.org, port: 70000}\n", []string{"line 1: smtp.port: must be a port number"}, nil},
		{"bad host", "smtp: {host: 'smtp://h:25', from: a@example.org}\n", []string{"smtp.host: \"smtp://h:25\" must be a host name"}, nil},
		{"bad starttls", "smtp:\n  host: h\n  from: a@example.org\n  starttls: maybe\n", []string{"line 4: smtp.starttls: \"maybe\": use required, opportunistic or none"}, nil},
		{"bad from", "smtp: {host: h, from: nobody}\n", []string{"smtp.from: \"nobody\" is not an email address"}, nil},
		{"credentials in clear", "smtp: {host: h, from: a@example.org, starttls: none, username: u, password: p}\n", []string{"smtp.username: credentials are sent only over TLS"}, nil},
		{"username without password", "smtp: {host: h, from: a@example.org, username: u}\n", []string{"smtp.username: needs password or password_file"}, nil},
		{"both passwords", "smtp: {host: h, from: a@example.org, username: u, password: p, password_file: f}\n", []string{"smtp.password: give password or password_file, not both"}, nil},
		{"tls and starttls", "smtp: {host: h, from: a@example.org, tls: true, starttls: required}\n", []string{"smtp.starttls: does not go with tls: true"}, nil},
		{"bad admin email", "smtp: {host: h, from: a@example.org}\nadmin_email: ops\n", []string{"line 2: admin_email: \"ops\" is not an email address"}, nil},
		{"webhook url", "webhooks:\n  - {url: ftp://x, secret: s, admin: true}\n", []string{"line 2: webhooks[0].url: is not an http:// or https:// URL"}, nil},
		{"webhook url with password", "webhooks:\n  - {url: ftp://x, secret: s, admin: true}\n  - url: 'https://ops:hunter2@hooks.example.org/x'\n    secret: s\n    admin: true\n",
			[]string{"line 2: webhooks[0].url: is not", "line 3: webhooks[1].url: must not hold a user name or password (user:password@)"}, []string{"hunter2"}},
		{"webhook names", "webhooks:\n  - {url: http://x, secret: s, admin: true}\n  - {name: webhook-1, url: http://y, secret: s, admin: true}\n  - {name: 'a b', url: http://z, secret: s, admin: true}\n",
			[]string{"line 3: webhooks[1].name: \"webhook-1\" is the name of webhooks[0] too", "line 4: webhooks[2].name: \"a b\": use 1 to 63 letters"}, nil},
		{"webhook url empty", "webhooks:\n  - {url: '', secret: s, admin: true}\n", []string{"line 2: webhooks[0].url: must not be empty"}, nil},
		{"webhook secret empty", "webhooks:\n  - {url: http://x, secret: '', admin: true}\n", []string{"line 2: webhooks[0].secret: required"}, nil},
		{"webhook secret", "webhooks:\n  - {url: http://x, admin: true}\n", []string{"webhooks[0].secret: required"}, nil},
		{"webhook whom", "webhooks:\n  - {url: http://x, secret: s}\n  - {url: http://y, secret: s, user: ann, admin: true}\n", []string{"line 2: webhooks[0].user: required", "line 3: webhooks[1].user: give user"}, nil},
		{"webhooks not list", "webhooks: {url: http://x}\n", []string{"webhooks: must be a list"}, nil},
		{"bad timeout", "webhooks:\n  - {url: http://x, secret: s, admin: true, timeout: soon}\n", []string{"webhooks[0].timeout: must be a positive duration"}, nil},
		{"bad retry", "webhooks:\n  - {url: http://x, secret: s, admin: true}\nretry: {initial: 1m, max: 10s, attempts: 0}\n", []string{"retry.attempts: must be a number of attempts", "line 3: retry.max: 10s is shorter than retry.initial 1m0s"}, nil},
		{"retry max line", "webhooks:\n  - {url: http://x, secret: s, admin: true}\nretry:\n  initial: 1m\n  max: 10s\n", []string{"line 5: retry.max: 10s is shorter than retry.initial 1m0s"}, nil},
		{"retry max below default", "webhooks:\n  - {url: http://x, secret: s, admin: true}\nretry:\n  max: 1s\n", []string{"line 4: retry.max: 1s is shorter than the default retry.initial 10s"}, nil},
		{"retry initial invalid", "webhooks:\n  - {url: http://x, secret: s, admin: true}\nretry:\n  initial: soon\n  max: 1s\n", []string{"line 4: retry.initial: must be a positive duration"}, []string{"shorter than"}},
		{"independent errors", "admin_email: a@example.org\nretry: {initial: 0s}\n", []string{"line 1: admin_email: needs smtp", "line 2: retry.initial: must be a positive duration"}, nil},
		{"twice", "smtp: {host: h, host: i, from: a@example.org}\n", []string{"smtp.host: is given twice"}, nil},
		{"two documents", "smtp: {host: h, from: a@example.org}\n---\nx: 1\n", []string{"more than one YAML document"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := notify.Parse([]byte(tc.in))
			if err == nil {
				t.Fatalf("Parse succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q holds %q", err, w)
				}
			}
		})
	}
}

func TestLoad_ReadsFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("hook.secret", "  shh\n")
	write("pw", "p w\n")
	write("n.yaml", "smtp: {host: h, from: a@example.org, username: u, password_file: pw}\nwebhooks:\n  - {url: http://x, secret_file: hook.secret, user: ann}\n")
	c, err := notify.Load(filepath.Join(dir, "n.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Password != "p w" || c.Webhooks[0].Secret != "shh" {
		t.Errorf("password %q, secret %q", c.SMTP.Password, c.Webhooks[0].Secret)
	}
	write("bad.yaml", "smtp: {host: h, from: a@example.org, ca_file: pw}\nwebhooks:\n  - {url: http://x, secret_file: missing, user: ann}\n  - url: http://y\n    secret_file: missing\n    admin: true\n    timeout: never\n")
	_, err = notify.Load(filepath.Join(dir, "bad.yaml"))
	// Problems in the file and in the files it names are listed together.
	for _, w := range []string{"line 1: smtp.ca_file: holds no PEM certificate", "line 3: webhooks[0].secret_file:",
		"line 5: webhooks[1].secret_file:", "line 7: webhooks[1].timeout: must be a positive duration"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Load error %v lacks %q", err, w)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"smtp: {host: h, from: a@example.org}\n",
		"smtp:\n  host: mail.example.org\n  port: 465\n  username: u\n  password: p\n  from: \"S <s@example.org>\"\nadmin_email: ops@example.org\n",
		"webhooks:\n  - {url: https://x, secret: s, user: ann}\n  - {url: http://y, secret_file: f, admin: true, timeout: 3s}\nretry: {initial: 1s, max: 1m, attempts: 5}\n",
		"webhooks:\n  - {name: a, url: 'https://u:p@x/?t=1', secret: s, user: ann}\n  - {name: webhook-1, url: http://y, secret: s, admin: true}\nretry: {max: 1s}\n",
		"smtp: [\n", "---\n---\n", "smtp: {host: h, host: h}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := notify.Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a config with an error")
			}
			return
		}
		if c.SMTP == nil && len(c.Webhooks) == 0 {
			t.Fatalf("accepted a config without channels: %q", data)
		}
		if c.Retry.Initial <= 0 || c.Retry.Max < c.Retry.Initial || c.Retry.Attempts < 1 {
			t.Fatalf("accepted retry %+v", c.Retry)
		}
		if s := c.SMTP; s != nil {
			if s.Host == "" || s.From == "" || s.Port < 1 || s.Port > 65535 || s.Timeout <= 0 {
				t.Fatalf("accepted smtp %+v", s)
			}
			if s.Username != "" && !s.TLS && s.StartTLS == notify.StartTLSNone {
				t.Fatalf("accepted credentials without TLS: %q", data)
			}
		}
		names := map[string]bool{}
		for _, w := range c.Webhooks {
			if w.URL == "" || (w.Secret == "" && w.SecretFile == "") || (w.User == "") == !w.Admin {
				t.Fatalf("accepted webhook %+v", w)
			}
			if w.Name == "" || names[w.Name] {
				t.Fatalf("accepted webhook name %q (empty or given twice): %q", w.Name, data)
			}
			names[w.Name] = true
			if u, err := url.Parse(w.URL); err != nil || u.User != nil {
				t.Fatalf("accepted webhook URL with userinfo: %q", data)
			}
		}
	})
}
