package tui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// sentRules is the rules set the last command put in force.
func sentRules(t *testing.T, h *modHarness) events.Rules {
	t.Helper()
	if len(h.out.sent) == 0 {
		t.Fatal("nothing sent")
	}
	c := h.out.sent[len(h.out.sent)-1]
	var p events.CommandParams
	if err := json.Unmarshal(c.Params, &p); err != nil || c.Action != events.ActionRules || p.Rules == nil {
		t.Fatalf("command %+v params %s: want the rules action with a rules set", c, c.Params)
	}
	return *p.Rules
}

// TestRulesViewShowsEditsAndLifts: :rules says what the relay enforces,
// who set it and the sessions with caps of their own; e edits the rules
// for every session (a bad cap is refused in the form, naming it), x
// lifts a session's cap and C caps the selected session — each asks
// first, and sends the whole set with only that change. A viewer sees
// the rules and cannot change them.
func TestRulesViewShowsEditsAndLifts(t *testing.T) {
	h := newModHarness(t)
	st := fixture().msg(relayclient.Live)
	st.Events = nil
	st.Role = events.RoleModerator
	st.Rules = &events.RulesInForce{Rules: events.Rules{MaxConnections: 36, CapGraceMS: 2000, CapExempt: []string{"host"},
		SessionCaps: map[string]int{standup: 2}}, By: "mia", At: epoch.Add(-5 * time.Minute)}
	h.update(st)
	h.press(":")
	h.typeText("rules")
	h.press("enter")
	screen := h.screen()
	for _, want := range []string{"every session: at most 36 connections", "flagged only (⚑)", "connection-data roles host",
		"set by mia", "5m ago", "rules · session caps[1]", "standup-01b2c3", "⚑ over"} {
		if !strings.Contains(screen, want) {
			t.Errorf(":rules lacks %q:\n%s", want, screen)
		}
	}

	// e: a cap of -3 is refused in the form; 20, enforced, is asked, then sent.
	h.press("e")
	if h.m.overlay.form() == nil || !strings.Contains(h.screen(), "Rules for every session") {
		t.Fatalf("e did not open the rules form:\n%s", h.screen())
	}
	h.press("backspace", "backspace")
	h.typeText("-3")
	h.press("ctrl+s")
	if f := h.m.overlay.form(); f == nil || f.f.focus != rulesFieldCap || !strings.Contains(h.screen(), "cap: a whole number") || len(h.out.sent) != 0 {
		t.Fatalf("cap -3 was not refused in the form (sent %v):\n%s", h.out.sent, h.screen())
	}
	h.press("backspace", "backspace")
	h.typeText("20")
	h.press("tab", "right", "ctrl+s")
	a := h.m.overlay.ask()
	if a == nil || !strings.Contains(a.question, "cap 20 (+1 per-session), enforced after 2s?") || len(h.out.sent) != 0 {
		t.Fatalf("enter did not ask first (sent %v):\n%s", h.out.sent, h.screen())
	}
	h.later()
	h.press("y")
	r := sentRules(t, h)
	if r.MaxConnections != 20 || !r.EnforceCap || r.DryRun || r.CapGrace() != 2*time.Second || r.SessionCaps[standup] != 2 ||
		len(r.CapExempt) != 1 || r.CapExempt[0] != "host" {
		t.Errorf("sent rules %+v: want cap 20 enforced, the rest as in force", r)
	}
	if st.Rules.Rules.MaxConnections != 36 {
		t.Error("the edit wrote into the batch's rules")
	}

	// x lifts the stand-up's own cap, after asking.
	h.press("x")
	if a := h.m.overlay.ask(); a == nil || !strings.Contains(a.question, "Lift the cap of 2 on ") || !strings.Contains(a.question, "every session's cap, 36") {
		t.Fatalf("x did not ask:\n%s", h.screen())
	}
	h.later()
	h.press("y")
	if r := sentRules(t, h); len(r.SessionCaps) != 0 || r.MaxConnections != 36 {
		t.Errorf("after x: %+v, want no session caps, every session's 36 kept", r)
	}

	// C in the town hall (the sessions list's first row) caps it.
	h.press(":")
	h.typeText("sessions")
	h.press("enter")
	h.openTownHall()
	h.press("C")
	if h.m.overlay.form() == nil || !strings.Contains(h.screen(), "Cap ") {
		t.Fatalf("C did not open the cap form:\n%s", h.screen())
	}
	h.typeText("50")
	h.press("enter")
	if a := h.m.overlay.ask(); a == nil || !strings.Contains(a.question, "at 50 connections (flagged only") {
		t.Fatalf("C's form did not ask:\n%s", h.screen())
	}
	h.later()
	h.press("y")
	if r := sentRules(t, h); r.SessionCaps[townHall] != 50 || r.SessionCaps[standup] != 2 {
		t.Errorf("after C: session caps %v, want the town hall's 50 beside the stand-up's 2", r.SessionCaps)
	}

	viewer := newModHarness(t)
	st.Role = events.RoleViewer
	viewer.update(st)
	viewer.press(":")
	viewer.typeText("rules")
	viewer.press("enter", "e", "x")
	if !strings.Contains(viewer.screen(), "at most 36 connections") || viewer.m.overlay.top() != nil || len(viewer.out.sent) != 0 {
		t.Fatalf("a viewer: sees the rules %v, a form or question opened %v, sent %v", strings.Contains(viewer.screen(), "at most 36"),
			viewer.m.overlay.top() != nil, viewer.out.sent)
	}
}

// TestRulesViewWithNoneInTheLog: before any rules entry, :rules says the
// relay's config applies, and e starts from no cap with the defaults.
func TestRulesViewWithNoneInTheLog(t *testing.T) {
	h := newModHarness(t)
	h.press(":")
	h.typeText("rules")
	h.press("enter")
	if s := h.screen(); !strings.Contains(s, "none in the relay's log yet") || !strings.Contains(s, "every session: no cap") {
		t.Fatalf(":rules with none in the log:\n%s", s)
	}
	h.press("e")
	if s := h.screen(); !strings.Contains(s, "host, moderator, panelist") || !strings.Contains(s, "2s") {
		t.Errorf("the form does not start from the defaults:\n%s", s)
	}
}
