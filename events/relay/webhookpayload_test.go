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
	mute := events.Record{Type: events.FrameAudit, Audit: &events.Audit{Actor: "mia", Action: events.ActionMute, Session: "1_MX4-s", Target: "st1", OK: true}}
	ban := events.Record{Type: events.FrameAudit, Audit: &events.Audit{Actor: "mia", Action: events.ActionBan, OK: true, Target: "ban-1",
		Detail: "Troll banned from every session for 24h0m0s: spam", Ban: &events.Ban{ID: "ban-1", Identity: "Troll"}}}
	unban := events.Record{Type: events.FrameAudit, Audit: &events.Audit{Actor: "mia", Action: events.ActionUnban, OK: true, Target: "ban-1"}}
	for _, tc := range []struct {
		format string
		events []string
		rec    events.Record
		want   string // "" = not sent
	}{
		{WebhookStandard, nil, alert, `"type":"alert.host_left"`},
		{WebhookSlack, nil, alert, `{"text":"⚠ gavel: host Dana left (session 1_MX4-s)"}`},
		{WebhookPagerDuty, nil, alert, `"event_action":"trigger"`},
		{WebhookPagerDuty, nil, ack, `{"dedup_key":"host_left:c1","event_action":"resolve","routing_key":"R0UTING"}`},
		{WebhookStandard, nil, ack, ""},
		{WebhookSlack, nil, mute, ""},
		{WebhookStandard, nil, ban, ""},
		// events: ban sends bans made and lifted, not the rest nor alerts.
		{WebhookStandard, []string{"ban"}, ban, `"type":"audit.ban"`},
		{WebhookSlack, []string{"ban"}, ban, `{"text":"gavel: mia ban ban-1: Troll banned from every session for 24h0m0s: spam"}`},
		{WebhookStandard, []string{"ban"}, unban, `"type":"audit.unban"`},
		{WebhookStandard, []string{"ban"}, mute, ""},
		{WebhookStandard, []string{"ban"}, alert, ""},
		// events: audit sends the whole trail, acks aside.
		{WebhookSlack, []string{"audit"}, mute, `{"text":"gavel: mia mute st1 in session 1_MX4-s"}`},
		{WebhookStandard, []string{"audit"}, ban, `"type":"audit.ban"`},
		{WebhookStandard, []string{"audit"}, ack, ""},
		{WebhookStandard, []string{"audit", "alert"}, alert, `"type":"alert.host_left"`},
	} {
		d := &webhookDelivery{cfg: WebhookConfig{URL: "https://hooks.example.com/x", Format: tc.format, Secret: "R0UTING", Events: tc.events}}
		body, ok := d.payload(tc.rec, 7)
		switch {
		case tc.want == "" && ok:
			t.Errorf("%s %v %s: sent %s", tc.format, tc.events, tc.rec.Audit.Action, body)
		case tc.want != "" && (!ok || !strings.Contains(string(body), tc.want) || !json.Valid(body)):
			t.Errorf("%s %v %s: %s, want it to contain %s", tc.format, tc.events, tc.rec.Audit.Action, body, tc.want)
		}
	}
	for key, c := range map[string]WebhookConfig{
		"webhooks[0].url":                  {URL: "hooks.example.com"},
		"webhooks[0].format":               {URL: "https://h.example", Format: "teams"},
		"webhooks[0].secret":               {URL: "https://h.example", Format: WebhookPagerDuty},
		`webhooks[0].events: "everything"`: {URL: "https://h.example", Events: []string{"everything"}},
		`webhooks[0].events: "audit": pagerduty takes alerts only`: {URL: "https://h.example", Format: WebhookPagerDuty, Secret: "R", Events: []string{"audit"}},
	} {
		if err := c.check(0); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%+v: %v, want an error naming %s", c, err, key)
		}
	}
}
