package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// sendMail sends one delivery's message through the configured server.
func (d *Dispatcher) sendMail(ctx context.Context, dl *store.Delivery, m *message) error {
	s := d.Config.SMTP
	if s == nil {
		return fmt.Errorf("%w: no smtp server is configured any more", errPermanent)
	}
	msg, err := compose(s.sender(), dl.Recipient, m, d.Clock.Now(), messageID(dl, s.sender()))
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	return s.Send(ctx, d.hostname(), dl.Recipient, msg)
}

func (d *Dispatcher) hostname() string {
	if d.Hostname != "" {
		return d.Hostname
	}
	return "localhost"
}

// sender returns the From address.
func (s *SMTP) sender() *mail.Address {
	if s.from != nil {
		return s.from
	}
	a, err := mail.ParseAddress(s.From)
	if err != nil {
		return &mail.Address{Address: s.From}
	}
	return a
}

// messageID is the same for every attempt of a delivery, so a receiver can
// tell a message sent twice (after a crash) from two messages.
func messageID(dl *store.Delivery, from *mail.Address) string {
	domain := "stratus.invalid"
	if _, after, ok := strings.Cut(from.Address, "@"); ok && after != "" {
		domain = after
	}
	return fmt.Sprintf("<stratus.%d.%d@%s>", dl.Notification, dl.ID, domain)
}

// compose builds the RFC 5322 message of an event: Date, Message-ID,
// From, To and Subject headers and a quoted-printable UTF-8 text body,
// with CRLF line ends.
func compose(from *mail.Address, to string, m *message, now time.Time, id string) ([]byte, error) {
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", to, err)
	}
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	var b bytes.Buffer
	h := [][2]string{
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", id},
		{"From", from.String()},
		{"To", rcpt.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject))},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
		{"X-Stratus-Event", oneLine(m.Kind)},
	}
	for _, kv := range h {
		b.WriteString(kv[0] + ": " + kv[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(mailBody(m))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// mailBody is the event's body followed by its details.
func mailBody(m *message) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(m.Body, "\n"))
	if m.Body != "" {
		b.WriteString("\n\n")
	}
	fmt.Fprintf(&b, "Event:    %s (%s)\n", m.Kind, m.Severity)
	fmt.Fprintf(&b, "Time:     %s\n", m.Time.Format(time.RFC3339))
	for _, kv := range [][2]string{{"User", m.User}, {"Cluster", m.Cluster}, {"Schedule", m.Schedule}, {"Check", m.Check}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%-9s %s\n", kv[0]+":", kv[1])
		}
	}
	keys := make([]string, 0, len(m.Data))
	for k := range m.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%-9s %s\n", k+":", m.Data[k])
	}
	b.WriteString("\n-- \nstratus\n")
	return strings.ReplaceAll(b.String(), "\n", "\r\n")
}

// Send delivers msg to one recipient: connect (implicit TLS if
// configured), STARTTLS as configured, AUTH PLAIN only over TLS, then
// MAIL, RCPT, DATA. It returns nil only once the server accepted the
// message. The whole exchange is bounded by the timeout.
func (s *SMTP) Send(ctx context.Context, hostname, to string, msg []byte) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tlsConf := &tls.Config{ServerName: s.Host, RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12}
	if s.TLS {
		tc := tls.Client(conn, tlsConf)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("smtp %s: tls: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return smtpErr(addr, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(hostname); err != nil {
		return smtpErr(addr, "EHLO", err)
	}
	if !s.TLS && s.StartTLS != StartTLSNone {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConf); err != nil {
				return smtpErr(addr, "STARTTLS", err)
			}
		} else if s.StartTLS == StartTLSRequired {
			return fmt.Errorf("smtp %s: the server does not offer STARTTLS (starttls: required)", addr)
		}
	}
	if s.Username != "" {
		if _, encrypted := c.TLSConnectionState(); !encrypted {
			return fmt.Errorf("smtp %s: not sending credentials over a connection without TLS", addr)
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp %s: the server does not offer AUTH", addr)
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return smtpErr(addr, "AUTH", err)
		}
	}
	if err := c.Mail(s.sender().Address); err != nil {
		return smtpErr(addr, "MAIL FROM", err)
	}
	rcpt, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("%w: recipient %q: %v", errPermanent, to, err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return smtpErr(addr, "RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr(addr, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr(addr, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr(addr, "DATA", err)
	}
	_ = c.Quit() // the message is accepted; the goodbye does not matter
	return nil
}

// smtpErr names the step that failed.
func smtpErr(addr, step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return fmt.Errorf("smtp %s: %s: server said %d %s", addr, step, tp.Code, tp.Msg)
	}
	return fmt.Errorf("smtp %s: %s: %w", addr, step, err)
}
