package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// Webhook request headers. The signature is "sha256=" and the hex
// HMAC-SHA256, keyed with the webhook's secret, of the timestamp (Unix
// seconds, as in the timestamp header), a ".", and the body.
const (
	HeaderSignature = "X-Stratus-Signature"
	HeaderTimestamp = "X-Stratus-Timestamp"
	HeaderEvent     = "X-Stratus-Event"
	HeaderDelivery  = "X-Stratus-Delivery"
)

// Sign returns the signature header's value for a body sent at timestamp.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook request's signature and that its timestamp is
// within tolerance of now (a replayed old request fails), as a receiver
// written in Go would.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not Unix seconds", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s is %s away from now (tolerance %s)", HeaderTimestamp, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("signature does not match")
	}
	return nil
}

// postWebhook posts one delivery's event to the URL of the webhook it
// names. Its errors name the webhook and its scheme://host, never the
// URL, which may carry a token.
func (d *Dispatcher) postWebhook(ctx context.Context, dl *store.Delivery, m *message) error {
	var hook *Webhook
	for i := range d.Config.Webhooks {
		if d.Config.Webhooks[i].Name == dl.Recipient {
			hook = &d.Config.Webhooks[i]
			break
		}
	}
	if hook == nil {
		return fmt.Errorf("%w: no webhook named %q is configured", errPermanent, shownRecipient(dl))
	}
	where := fmt.Sprintf("post to webhook %s (%s)", hook.Name, hook.Endpoint())
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%w: %v", errPermanent, err)
	}
	timeout := hook.Timeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errPermanent, where, hook.redact(err))
	}
	ts := strconv.FormatInt(d.Clock.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stratus")
	req.Header.Set(HeaderEvent, m.Kind)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(dl.ID, 10))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(hook.Secret, ts, body))
	client := d.HTTPClient
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", where, hook.redact(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s: %s: %s", where, resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// redact returns err without the webhook's URL: net/http's *url.Error
// gives way to its cause, and any other mention of the URL (whole or
// with its password hidden) becomes scheme://host.
func (w *Webhook) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	forms := []string{w.URL}
	if u, perr := url.Parse(w.URL); perr == nil {
		forms = append(forms, u.Redacted(), u.String())
	}
	clean := msg
	for _, f := range forms {
		if f != "" {
			clean = strings.ReplaceAll(clean, f, w.Endpoint())
		}
	}
	if clean != msg {
		return errors.New(clean)
	}
	return err
}
