package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// TestAlertsFlashListAndAck: a new alert flashes in the footer once;
// :alerts lists it, open; a acknowledges it (no question: nothing is
// undone by it); one acknowledged already says by whom instead.
func TestAlertsFlashListAndAck(t *testing.T) {
	h := newModHarness(t)
	st := fixture().msg(relayclient.Live)
	st.Events = nil
	st.Alerts = []events.Alert{
		{ID: "host_left:c1", Kind: events.AlertHostLeft, Session: townHall, Text: "host Dana Okafor left (clientDisconnected); 40 still connected", At: epoch.Add(-time.Minute)},
		{ID: "archive_failed:a1", Kind: events.AlertArchiveFailed, Text: "recording x failed", At: epoch.Add(-time.Hour), AckedBy: "mia"},
	}
	h.update(st)
	if !strings.Contains(h.screen(), "⚠ alert: host Dana Okafor left") {
		t.Fatalf("the new alert did not flash:\n%s", h.screen())
	}
	if !strings.Contains(h.screen(), "⚠ Dana Okafor") {
		t.Errorf("the town hall's row does not carry its open alert:\n%s", h.screen())
	}
	h.press(":")
	h.typeText("alerts")
	h.press("enter")
	screen := h.screen()
	for _, want := range []string{"alerts[2] ⚠1 open", "⚠host_left", "host Dana Okafor left", "mia"} {
		if !strings.Contains(screen, want) {
			t.Errorf(":alerts lacks %q:\n%s", want, screen)
		}
	}
	h.press("a")
	if len(h.out.sent) != 1 || h.out.sent[0].Action != events.ActionAck || !strings.Contains(string(h.out.sent[0].Params), `"alert":"host_left:c1"`) {
		t.Fatalf("a sent %+v", h.out.sent)
	}
	h.press("j", "a")
	if len(h.out.sent) != 1 || !strings.Contains(h.screen(), "acknowledged already, by mia") {
		t.Errorf("acking an acknowledged alert: sent %d, screen:\n%s", len(h.out.sent), h.screen())
	}
	// The same alert in the next batch does not flash again.
	h.press("esc")
	h.update(st)
	if strings.Contains(h.screen(), "⚠ alert:") {
		t.Errorf("an alert already seen flashed again:\n%s", h.screen())
	}
}
