package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Outbound webhooks tell someone who is not watching a console: every
// alert (and, for PagerDuty, its acknowledgement) is delivered to each
// configured URL at least once, in order, from a durable JetStream
// consumer on the log's audit subject — the outbox is the log itself, so
// delivery survives relay restarts, and relays on one NATS share a
// webhook's consumer, so each alert goes out once per webhook.

// Webhook formats.
const (
	WebhookStandard  = "standard"  // Standard Webhooks: https://www.standardwebhooks.com/
	WebhookSlack     = "slack"     // a Slack incoming webhook's {"text": …}
	WebhookPagerDuty = "pagerduty" // PagerDuty Events API v2: trigger, and resolve on ack
)

// WebhookConfig is one [[relay.webhooks]].
type WebhookConfig struct {
	URL string
	// Secret signs standard deliveries ("whsec_<base64>" as Standard
	// Webhooks issues them, or raw bytes); for pagerduty it is the
	// integration's routing key.
	Secret string
	Format string // standard (default), slack, pagerduty
	// RetryMin is the first retry's delay (default 1s); it doubles up to
	// 5 minutes, for up to a day.
	RetryMin time.Duration
	// Events are what is delivered (default alert): WebhookAlert,
	// WebhookBan (bans made and lifted), WebhookAudit (every other entry
	// of the trail: what moderators and rules did). PagerDuty takes
	// alerts only.
	Events []string
}

// What a webhook may be sent.
const (
	WebhookAlert = "alert"
	WebhookBan   = "ban"
	WebhookAudit = "audit"
)

// wants reports whether the webhook is sent what: its events, else alerts.
func (c WebhookConfig) wants(what string) bool {
	if len(c.Events) == 0 {
		return what == WebhookAlert
	}
	return slices.Contains(c.Events, what)
}

// webhookHorizon is how long an alert is retried before it is given up:
// the same day the Video API gives its own callbacks.
const webhookHorizon = events.RetryHorizon

func (c WebhookConfig) check(i int) error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("webhooks[%d].url: expected an http(s) URL", i)
	}
	switch c.Format {
	case "", WebhookStandard, WebhookSlack, WebhookPagerDuty:
	default:
		return fmt.Errorf("webhooks[%d].format %q: expected standard, slack or pagerduty", i, c.Format)
	}
	if c.Format == WebhookPagerDuty && c.Secret == "" {
		return fmt.Errorf("webhooks[%d].secret: pagerduty needs the integration's routing key", i)
	}
	if c.RetryMin < 0 {
		return fmt.Errorf("webhooks[%d].retry_min: expected a positive duration", i)
	}
	for _, e := range c.Events {
		switch {
		case e != WebhookAlert && e != WebhookBan && e != WebhookAudit:
			return fmt.Errorf("webhooks[%d].events: %q: expected alert, ban or audit", i, e)
		case e != WebhookAlert && c.Format == WebhookPagerDuty:
			return fmt.Errorf("webhooks[%d].events: %q: pagerduty takes alerts only (it pages; use a standard or slack webhook for the trail)", i, e)
		}
	}
	return nil
}

// name is the webhook's durable consumer: derived from its URL and format,
// never from its secret, so relays with the same webhook share it.
func (c WebhookConfig) name() string {
	sum := sha256.Sum256([]byte(c.Format + " " + c.URL))
	return "gavel-webhook-" + hex.EncodeToString(sum[:6])
}

// redacted is the URL for logs: scheme and host only (a Slack URL's path
// is its secret).
func (c WebhookConfig) redacted() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// webhookDelivery is what a delivery loop needs.
type webhookDelivery struct {
	cfg     WebhookConfig
	log     *Log
	client  *http.Client
	metrics *Metrics
	logger  *slog.Logger
	raise   func(ctx context.Context, al events.Alert) // a webhook that keeps failing is an alert
}

// run delivers until ctx ends.
func (d *webhookDelivery) run(ctx context.Context) {
	for ctx.Err() == nil {
		cons, err := d.log.outbox(ctx, d.cfg.name())
		if err != nil {
			d.logger.Warn("webhook outbox unavailable: retrying", "webhook", d.cfg.redacted(), "err", err)
			sleepCtx(ctx, 5*time.Second)
			continue
		}
		d.consume(ctx, cons)
	}
}

func (d *webhookDelivery) consume(ctx context.Context, cons jetstream.Consumer) {
	failures := 0
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			if ctx.Err() == nil {
				d.logger.Warn("webhook outbox fetch failed", "webhook", d.cfg.redacted(), "err", err)
				sleepCtx(ctx, time.Second)
			}
			return
		}
		for msg := range batch.Messages() {
			meta, err := msg.Metadata()
			if err != nil {
				_ = msg.Term()
				continue
			}
			rec, err := decodeRecord(meta.Sequence.Stream, msg.Data())
			body, ok := d.payload(rec, meta.Sequence.Stream)
			if err != nil || !ok {
				_ = msg.Ack() // not for this webhook
				continue
			}
			if time.Since(rec.Audit.At) > webhookHorizon {
				d.logger.Error("webhook: giving up an alert a day old", "webhook", d.cfg.redacted(), "alert", rec.Audit.Target)
				d.metrics.WebhookDelivery(d.cfg.Format, "expired")
				_ = msg.Ack()
				continue
			}
			if err := d.post(ctx, body, d.deliveryID(meta.Sequence.Stream)); err != nil {
				failures++
				d.metrics.WebhookDelivery(d.cfg.Format, "failed")
				delay := retryDelay(d.cfg.RetryMin, int(meta.NumDelivered))
				d.logger.Warn("webhook delivery failed: retrying", "webhook", d.cfg.redacted(), "attempt", meta.NumDelivered, "retry_in", delay, "err", err)
				_ = msg.NakWithDelay(delay)
				if failures == webhookFailingAfter {
					d.raise(ctx, events.Alert{ID: fmt.Sprintf("webhook_failing:%s:%d", d.cfg.name(), time.Now().Unix()/3600), Kind: events.AlertWebhookFailing, At: time.Now().UTC(),
						Text: fmt.Sprintf("webhook %s keeps failing (%d attempts): %v", d.cfg.redacted(), failures, err)})
				}
				continue
			}
			failures = 0
			d.metrics.WebhookDelivery(d.cfg.Format, "delivered")
			_ = msg.Ack()
		}
	}
}

// webhookFailingAfter is how many failed attempts in a row make a failing
// webhook an alert (once an hour at most).
const webhookFailingAfter = 5

// retryDelay is the wait before attempt n+1: min doubling up to 5 minutes.
func retryDelay(min time.Duration, n int) time.Duration {
	if min <= 0 {
		min = time.Second
	}
	d := min << max(0, n-1)
	if d > 5*time.Minute || d <= 0 {
		d = 5 * time.Minute
	}
	return d
}

func (d *webhookDelivery) deliveryID(seq uint64) string {
	return "gavel-" + d.log.Epoch() + "-" + strconv.FormatUint(seq, 10)
}

// payload is the body rec makes for this webhook's format, if any.
func (d *webhookDelivery) payload(rec events.Record, seq uint64) ([]byte, bool) {
	if rec.Type != events.FrameAudit || rec.Audit == nil {
		return nil, false
	}
	a := rec.Audit
	switch {
	case a.Action == events.ActionAlert && a.Alert != nil:
		if !d.cfg.wants(WebhookAlert) {
			return nil, false
		}
		al := a.Alert
		var v any
		switch d.cfg.Format {
		case WebhookSlack:
			text := "⚠ gavel: " + al.Text
			if al.Session != "" {
				text += " (session " + al.Session + ")"
			}
			v = map[string]string{"text": text}
		case WebhookPagerDuty:
			v = map[string]any{"routing_key": d.cfg.Secret, "event_action": "trigger", "dedup_key": al.ID,
				"payload": map[string]string{"summary": al.Text, "source": "gavel", "severity": "warning", "component": al.Session, "class": al.Kind}}
		default:
			v = map[string]any{"type": "alert." + al.Kind, "timestamp": al.At.UTC().Format(time.RFC3339), "data": al}
		}
		body, err := json.Marshal(v)
		return body, err == nil
	case a.Action == events.ActionAck && a.OK && d.cfg.Format == WebhookPagerDuty:
		body, err := json.Marshal(map[string]any{"routing_key": d.cfg.Secret, "event_action": "resolve", "dedup_key": a.Target})
		return body, err == nil
	case a.Action == events.ActionAck:
		return nil, false // the alert's own delivery was the news
	case a.Action == events.ActionBan && a.Ban != nil || a.Action == events.ActionUnban:
		if d.cfg.wants(WebhookBan) || d.cfg.wants(WebhookAudit) {
			return d.trailPayload(a)
		}
	case d.cfg.wants(WebhookAudit):
		return d.trailPayload(a)
	}
	return nil, false
}

// trailPayload is an audit entry as a delivery: the entry itself for
// standard ("audit.<action>"), a line for Slack.
func (d *webhookDelivery) trailPayload(a *events.Audit) ([]byte, bool) {
	var v any
	switch d.cfg.Format {
	case WebhookSlack:
		v = map[string]string{"text": "gavel: " + trailLine(a)}
	case WebhookPagerDuty:
		return nil, false
	default:
		v = map[string]any{"type": "audit." + a.Action, "timestamp": a.At.UTC().Format(time.RFC3339), "data": a}
	}
	body, err := json.Marshal(v)
	return body, err == nil
}

// trailLine says an audit entry in one line: who did what to whom, and
// how it went.
func trailLine(a *events.Audit) string {
	line := a.Actor + " " + a.Action
	if a.Target != "" {
		line += " " + a.Target
	}
	if a.Session != "" {
		line += " in session " + a.Session
	}
	if a.Detail != "" {
		line += ": " + a.Detail
	}
	if !a.OK {
		line += " — failed: " + a.Error
	}
	return line
}

// post sends one delivery; a 2xx is delivered.
func (d *webhookDelivery) post(ctx context.Context, body []byte, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gavel-relay")
	if d.cfg.Format == "" || d.cfg.Format == WebhookStandard {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", ts)
		if d.cfg.Secret != "" {
			req.Header.Set("webhook-signature", "v1,"+SignStandardWebhook(d.cfg.Secret, id, ts, body))
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return errors.New(strings.ReplaceAll(err.Error(), d.cfg.URL, d.cfg.redacted()))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}

// SignStandardWebhook is the Standard Webhooks signature of a delivery:
// base64 of HMAC-SHA256 over "id.timestamp.body", keyed with the secret
// (a "whsec_" secret is base64 after the prefix).
func SignStandardWebhook(secret, id, timestamp string, body []byte) string {
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(rest); err == nil {
			key = k
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
