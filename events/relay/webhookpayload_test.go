package relay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
)

// TestWebhookPayloads: each format says the alert in its receiver's
// terms; PagerDuty resolves on the ack; other audit entries are not sent;
// a config the relay cannot deliver to is refused naming the key.
func TestWebhookPayloads(t *testing.T) {
	al := &events.Alert{ID: "host_left:c1", Kind: events.AlertHostLeft, Session: "1_MX4-s", Text: "host Dana left", At: time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)}
	alert := events.Record{Type: events.FrameAudit, Audit: &events.Audit{Action: events.ActionAlert, OK: true, Target: al.ID, Alert: al}}
	ack := events.Record{Type: events.FrameAudit, Audit: &events.Audit{Action: events.ActionAck, OK: true, Target: al.ID}}
	mute := events.Record{Type: events.FrameAudit, Audit: &events.Audit{Action: events.ActionMute, OK: true}}
	for _, tc := range []struct {
		format string
		rec    events.Record
		want   string // "" = not sent
	}{
		{WebhookStandard, alert, `"type":"alert.host_left"`},
		{WebhookSlack, alert, `{"text":"⚠ gavel: host Dana left (session 1_MX4-s)"}`},
		{WebhookPagerDuty, alert, `"event_action":"trigger"`},
		{WebhookPagerDuty, ack, `{"dedup_key":"host_left:c1","event_action":"resolve","routing_key":"R0UTING"}`},
		{WebhookStandard, ack, ""},
		{WebhookSlack, mute, ""},
	} {
		d := &webhookDelivery{cfg: WebhookConfig{URL: "https://hooks.example.com/x", Format: tc.format, Secret: "R0UTING"}}
		body, ok := d.payload(tc.rec, 7)
		switch {
		case tc.want == "" && ok:
			t.Errorf("%s %s: sent %s", tc.format, tc.rec.Audit.Action, body)
		case tc.want != "" && (!ok || !strings.Contains(string(body), tc.want) || !json.Valid(body)):
			t.Errorf("%s %s: %s, want it to contain %s", tc.format, tc.rec.Audit.Action, body, tc.want)
		}
	}
	for key, c := range map[string]WebhookConfig{
		"webhooks[0].url":    {URL: "hooks.example.com"},
		"webhooks[0].format": {URL: "https://h.example", Format: "teams"},
		"webhooks[0].secret": {URL: "https://h.example", Format: WebhookPagerDuty},
	} {
		if err := c.check(0); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%+v: %v, want an error naming %s", c, err, key)
		}
	}
}
