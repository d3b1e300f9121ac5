package notify_test

import (
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
	}{
		{"empty", "", []string{"configure smtp or webhooks"}},
		{"nothing", "admin_email: a@example.org\n", []string{"admin_email: needs smtp"}},
		{"not yaml", "smtp: [\n", []string{"not valid YAML"}},
		{"unknown key", "smtp: {host: h, from: a@example.org}\nemail: x\n", []string{"line 2: email: unknown key"}},
		{"smtp required", "smtp: {port: 25}\n", []string{"smtp.host: required", "smtp.from: required"}},
		{"bad port", "smtp: {host: h, from: a@example.org, port: 70000}\n", []string{"line 1: smtp.port: must be a port number"}},
		{"bad host", "smtp: {host: 'smtp://h:25', from: a@example.org}\n", []string{"smtp.host: \"smtp://h:25\" must be a host name"}},
		{"bad starttls", "smtp:\n  host: h\n  from: a@example.org\n  starttls: maybe\n", []string{"line 4: smtp.starttls: \"maybe\": use required, opportunistic or none"}},
		{"bad from", "smtp: {host: h, from: nobody}\n", []string{"smtp.from: \"nobody\" is not an email address"}},
		{"credentials in clear", "smtp: {host: h, from: a@example.org, starttls: none, username: u, password: p}\n", []string{"smtp.username: credentials are sent only over TLS"}},
		{"username without password", "smtp: {host: h, from: a@example.org, username: u}\n", []string{"smtp.username: needs password or password_file"}},
		{"both passwords", "smtp: {host: h, from: a@example.org, username: u, password: p, password_file: f}\n", []string{"smtp.password: give password or password_file, not both"}},
		{"tls and starttls", "smtp: {host: h, from: a@example.org, tls: true, starttls: required}\n", []string{"smtp.starttls: does not go with tls: true"}},
		{"bad admin email", "smtp: {host: h, from: a@example.org}\nadmin_email: ops\n", []string{"line 2: admin_email: \"ops\" is not an email address"}},
		{"webhook url", "webhooks:\n  - {url: ftp://x, secret: s, admin: true}\n", []string{"line 2: webhooks[0].url: \"ftp://x\" is not an http:// or https:// URL"}},
		{"webhook secret", "webhooks:\n  - {url: http://x, admin: true}\n", []string{"webhooks[0].secret: required"}},
		{"webhook whom", "webhooks:\n  - {url: http://x, secret: s}\n  - {url: http://y, secret: s, user: ann, admin: true}\n", []string{"line 2: webhooks[0].user: required", "line 3: webhooks[1].user: give user"}},
		{"webhooks not list", "webhooks: {url: http://x}\n", []string{"webhooks: must be a list"}},
		{"bad timeout", "webhooks:\n  - {url: http://x, secret: s, admin: true, timeout: soon}\n", []string{"webhooks[0].timeout: must be a positive duration"}},
		{"bad retry", "webhooks:\n  - {url: http://x, secret: s, admin: true}\nretry: {initial: 1m, max: 10s, attempts: 0}\n", []string{"retry.attempts: must be a number of attempts", "retry.max: 10s is shorter than retry.initial 1m0s"}},
		{"twice", "smtp: {host: h, host: i, from: a@example.org}\n", []string{"smtp.host: is given twice"}},
		{"two documents", "smtp: {host: h, from: a@example.org}\n---\nx: 1\n", []string{"more than one YAML document"}},
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
	write("bad.yaml", "smtp: {host: h, from: a@example.org, ca_file: pw}\nwebhooks:\n  - {url: http://x, secret_file: missing, user: ann}\n")
	_, err = notify.Load(filepath.Join(dir, "bad.yaml"))
	for _, w := range []string{"line 1: smtp.ca_file: holds no PEM certificate", "line 3: webhooks[0].secret_file:"} {
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
		for _, w := range c.Webhooks {
			if w.URL == "" || (w.Secret == "" && w.SecretFile == "") || (w.User == "") == !w.Admin {
				t.Fatalf("accepted webhook %+v", w)
			}
		}
	})
}
