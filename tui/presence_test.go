package tui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// presenceMsg is a batch with a presence picture, as the relay sends it.
func presenceMsg(p events.PresenceFrame) StateMsg {
	st := fixture().msg(relayclient.Live)
	st.Events = nil
	st.Role = events.RoleModerator
	st.Self = "ana"
	p.Type = events.FramePresence
	st.Presence = &p
	return st
}

// TestTheConsoleShowsWhoIsOnAndSaysWhereItIs: the header says who is on
// (people grouped by role, shortened to a count when narrow), :who lists
// each console, the console tells the relay where it is as it moves, and
// another moderator's question shows on its target's row.
func TestTheConsoleShowsWhoIsOnAndSaysWhereItIs(t *testing.T) {
	h := newModHarness(t)
	h.update(presenceMsg(events.PresenceFrame{
		Consoles: []events.Presence{
			{ID: "1", Name: "ben", Role: events.RoleViewer, Via: events.ViaWebSocket, Relay: "relay-a", Since: epoch.Add(-5 * time.Minute), View: "sessions"},
			{ID: "2", Name: "ana", Role: events.RoleModerator, Via: events.ViaSSH, Relay: "relay-a", Since: epoch.Add(-5 * time.Minute), View: "sessions"},
			{ID: "3", Name: "chen", Role: events.RoleViewer, Via: events.ViaSSH, Relay: "relay-b", Since: epoch, View: "session", Session: townHall},
		},
		Intents: []events.Intent{{Name: "mia", Console: "9", Action: events.ActionDisconnect, Session: townHall, Target: "c-host-0001", At: epoch},
			{Name: "ben", Console: "1", Action: events.ActionArchiveStop, Session: standup, Target: "a1", At: epoch}},
	}))
	if !strings.Contains(h.screen(), "⧗ ben is stopping") {
		t.Errorf("ben's question on the stand-up's recording does not show on its row:\n%s", h.screen())
	}
	if head := strings.SplitN(h.screen(), "\n", 2)[0]; !strings.Contains(head, "3 on: ana (moderator), ben, chen (viewer)") {
		t.Errorf("header %q: want who is on", head)
	}
	narrow := newModHarness(t)
	narrow.update(tea.WindowSizeMsg{Width: 60, Height: 20})
	narrow.update(presenceMsg(h.m.pres.frame))
	if head := strings.SplitN(narrow.screen(), "\n", 2)[0]; !strings.Contains(head, "3 on") || strings.Contains(head, "chen") {
		t.Errorf("narrow header %q: want the count alone", head)
	}

	// Where: the sessions list, then the town hall.
	where := func() (string, string) {
		if len(h.out.presence) == 0 {
			t.Fatal("the console never said where it is")
		}
		c := h.out.presence[len(h.out.presence)-1]
		var p struct{ View string }
		_ = json.Unmarshal(c.Params, &p)
		if c.Action != events.ActionWhere {
			t.Fatalf("last presence command %+v", c)
		}
		return p.View, c.Session
	}
	if v, s := where(); v != "sessions" || s != "" {
		t.Errorf("where: %q %q, want the sessions list", v, s)
	}
	n := len(h.out.presence)
	h.press("j", "k") // moving in the list is not news
	if len(h.out.presence) != n {
		t.Errorf("moving the cursor said where again: %+v", h.out.presence[n:])
	}
	h.openTownHall()
	if v, s := where(); v != "session" || s != townHall {
		t.Errorf("where in the town hall: %q %q", v, s)
	}
	if !strings.Contains(h.screen(), "⧗ mia is disconnecting…") {
		t.Errorf("mia's question does not show on Dana's row:\n%s", h.screen())
	}

	h.press(":")
	h.typeText("who")
	h.press("enter")
	screen := h.screen()
	for _, want := range []string{"who[3]", "ana", "moderator", "ssh", "relay-b", "session …", "townhall-7f3a9c"} {
		if !strings.Contains(screen, want) {
			t.Errorf(":who lacks %q:\n%s", want, screen)
		}
	}
}

// TestAQuestionHoldsItsTarget: d opens the question and holds the
// connection at the relay; if the relay says someone else holds it, the
// question closes saying who; answered no, the hold is let go; answered
// yes, the command goes.
func TestAQuestionHoldsItsTarget(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall() // cursor on Dana Okafor (c-host-0001)
	intends := func() []events.Command {
		var out []events.Command
		for _, c := range h.out.presence {
			if c.Action == events.ActionIntend || c.Action == events.ActionRelease {
				out = append(out, c)
			}
		}
		return out
	}
	h.press("d")
	in := intends()
	if len(in) != 1 || in[0].Action != events.ActionIntend || in[0].Connection != "c-host-0001" || !strings.Contains(string(in[0].Params), `"intent":"disconnect"`) {
		t.Fatalf("d held %+v; want an intend on Dana's connection", in)
	}
	// Someone else holds her: the question closes and says who.
	st := fixture().msg(relayclient.Live)
	st.Events = nil
	st.Results = []events.Result{{Type: events.FrameResult, ID: in[0].ID, Error: &events.ResultError{Status: 409, Message: "mia is already disconnecting Dana Okafor (…0001) (since 09:00:00 UTC)"}}}
	h.update(st)
	if h.m.overlay.ask() != nil || !strings.Contains(h.screen(), "✗ mia is already disconnecting Dana Okafor") {
		t.Fatalf("a 409 on the hold: question open %v:\n%s", h.m.overlay.ask() != nil, h.screen())
	}

	// Held this time; no lets go.
	h.later()
	h.press("d")
	h.later()
	h.press("n")
	in = intends()
	if last := in[len(in)-1]; last.Action != events.ActionRelease || last.Connection != "c-host-0001" {
		t.Errorf("after no: %+v; want the hold released", last)
	}
	// The link drops and comes back with a question open: the relay let go
	// of what it held, so the console holds it again.
	h.press("d")
	before := len(intends())
	st = fixture().msg(relayclient.Live)
	st.Events, st.Drops = nil, 1
	h.update(st)
	if got := intends(); len(got) != before+1 || got[len(got)-1].Action != events.ActionIntend || got[len(got)-1].Connection != "c-host-0001" {
		t.Fatalf("after a reconnect with the question open: %+v; want Dana held again", got[before:])
	}
	h.later()
	h.press("n")
	// Yes sends the command and releases nothing.
	h.press("d")
	h.later()
	h.press("y")
	if got := intends(); got[len(got)-1].Action != events.ActionIntend {
		t.Errorf("after yes, the hold was released: %+v", got[len(got)-1])
	}
	if len(h.out.sent) != 1 || h.out.sent[0].Action != events.ActionDisconnect {
		t.Errorf("yes sent %+v", h.out.sent)
	}
}
