package tui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// TestBanFormAsksThenBans: b on a connection opens the ban form (where,
// how long, why); a duration over 30 days is refused in the form, naming
// the field; enter asks, naming the person, and only y sends the ban of
// that connection.
func TestBanFormAsksThenBans(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall() // cursor on Dana Okafor
	h.press("b")
	if h.m.overlay.form() == nil || !strings.Contains(h.screen(), "Ban Dana Okafor (") {
		t.Fatalf("b did not open the ban form:\n%s", h.screen())
	}
	h.press("tab", "backspace", "backspace", "backspace")
	h.typeText("800h")
	h.press("tab", "enter")
	if h.m.overlay.form() == nil || !strings.Contains(h.screen(), "for:") || len(h.out.sent) != 0 {
		t.Fatalf("800h was not refused in the form (sent %v):\n%s", h.out.sent, h.screen())
	}
	if h.m.overlay.form().f.focus != banFieldFor {
		t.Fatal("the refusal did not put the cursor on for")
	}
	for range 4 {
		h.press("backspace")
	}
	h.typeText("48h")
	h.press("tab")
	h.typeText("spam in chat")
	h.press("enter")
	a := h.m.overlay.ask()
	if a == nil || !strings.Contains(a.question, "Ban Dana Okafor (") || !strings.Contains(a.question, "for 48h0m0s") || len(h.out.sent) != 0 {
		t.Fatalf("enter did not ask first (sent %v):\n%s", h.out.sent, h.screen())
	}
	h.later()
	h.press("y")
	if len(h.out.sent) != 1 {
		t.Fatalf("sent %v", h.out.sent)
	}
	c := h.out.sent[0]
	var p events.CommandParams
	if err := json.Unmarshal(c.Params, &p); err != nil || c.Action != events.ActionBan || c.Connection != "c-host-0001" || c.Session != townHall ||
		p.For != "48h" || p.Reason != "spam in chat" || p.All {
		t.Fatalf("command %+v params %s", c, c.Params)
	}
}

// TestBansViewListsAndLifts: :bans lists the bans in force with time
// left, who banned and why; x asks, naming the person, then sends the
// lift; a viewer sees the bans but has no x.
func TestBansViewListsAndLifts(t *testing.T) {
	h := newModHarness(t)
	st := fixture().msg(relayclient.Live)
	st.Events = nil
	st.Bans = []events.Ban{{ID: "ban-1", Identity: "Troll", Session: townHall, Expires: epoch.Add(23 * time.Hour), By: "mia", Reason: "spam"}}
	h.update(st)
	h.press(":")
	h.typeText("bans")
	h.press("enter")
	screen := h.screen()
	for _, want := range []string{"bans[1]", "Troll", "23h", "mia", "spam"} {
		if !strings.Contains(screen, want) {
			t.Errorf(":bans lacks %q:\n%s", want, screen)
		}
	}
	h.press("x")
	if a := h.m.overlay.ask(); a == nil || !strings.Contains(a.question, "Lift the ban on Troll?") {
		t.Fatalf("x did not ask:\n%s", h.screen())
	}
	h.later()
	h.press("y")
	if len(h.out.sent) != 1 || h.out.sent[0].Action != events.ActionUnban || !strings.Contains(string(h.out.sent[0].Params), `"ban":"ban-1"`) {
		t.Fatalf("sent %+v", h.out.sent)
	}

	viewer := newModHarness(t)
	st.Role = events.RoleViewer
	viewer.update(st)
	viewer.press(":")
	viewer.typeText("bans")
	viewer.press("enter", "x")
	if !strings.Contains(viewer.screen(), "Troll") || viewer.m.overlay.ask() != nil || len(viewer.out.sent) != 0 {
		t.Fatalf("a viewer: sees the ban %v, x asked %v, sent %v", strings.Contains(viewer.screen(), "Troll"), viewer.m.overlay.ask() != nil, viewer.out.sent)
	}
}
