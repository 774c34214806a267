package tui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// answerPast hands m the relay's answer to its pending state_at.
func answerPast(t *testing.T, m Model, ans events.StateAt) Model {
	t.Helper()
	if m.rp.pending == "" {
		t.Fatal("no state_at asked")
	}
	raw, _ := json.Marshal(ans)
	msg := fixture().msg(relayclient.Live)
	msg.Results = []events.Result{{Type: events.FrameResult, ID: m.rp.pending, OK: true, Data: raw}}
	return update(m, msg)
}

// In a session, [ shows the session as the relay's answer says it was,
// under a REPLAY badge, and live batches do not overwrite it; leaving
// the view leaves the past: coming back shows the live session.
func TestReplayShowsThePastUntilLeft(t *testing.T) {
	m := press(newTestModel(160, 40), "enter")
	if m.current() != viewSession {
		t.Fatal("not in a session")
	}
	id := m.session.id
	live := m.session.s.Counts.Connections
	m = press(m, "[")
	past := events.Session{ID: id, Live: true}
	body, _ := json.Marshal(map[string]any{"sessionId": id, "projectId": "47123456", "event": "connectionCreated", "timestamp": epoch.Add(-time.Hour).UnixMilli(),
		"connection": map[string]any{"id": "c-then", "createdAt": epoch.Add(-time.Hour).UnixMilli(), "data": person("Thea Then", "viewer")}})
	then, _ := json.Marshal(events.EventFrame{Type: events.FrameEvent, Seq: 3, ReceivedAt: epoch.Add(-time.Hour), Source: events.SourceCallback,
		Group: events.GroupSession, Event: body})
	m = answerPast(t, m, events.StateAt{Seq: 3, At: epoch.Add(-time.Hour), Session: &past, LastSeq: 99, Records: []json.RawMessage{then}})
	out := plain(m)
	if !strings.Contains(out, "Thea Then") || m.session.tail.len() != 1 {
		t.Fatalf("the moment's own tail (%d lines):\n%s", m.session.tail.len(), out)
	}
	if !strings.Contains(strings.SplitN(out, "\n", 2)[0], "⏪ REPLAY 11:00:00") || !strings.Contains(out, "0 connections") {
		t.Fatalf("replay of an empty moment:\n%s", out)
	}
	m = update(m, fixture().msg(relayclient.Live)) // a live batch
	if !strings.Contains(plain(m), "0 connections") {
		t.Fatal("a live batch overwrote the replayed session")
	}
	if m = press(m, "d"); !strings.Contains(plain(m), "nothing to act on in the past") {
		t.Errorf("a moderation key in replay:\n%s", plain(m))
	}
	m = press(m, "esc")
	if m.session.tail.len() < 2 {
		t.Errorf("esc: the live tail is back with %d lines", m.session.tail.len())
	}
	if out := plain(m); strings.Contains(out, "REPLAY") || m.session.s.Counts.Connections != live || !strings.Contains(out, "live again") {
		t.Fatalf("esc: still in the past (%d connections, live %d):\n%s", m.session.s.Counts.Connections, live, out)
	}
	// Into the past again, then away from the view and back.
	m = press(m, "[")
	m = answerPast(t, m, events.StateAt{Seq: 3, At: epoch.Add(-time.Hour), Session: &past, LastSeq: 99})
	m = switchTo(m, "sessions")
	m = update(m, fixture().msg(relayclient.Live))
	m = press(m, "enter")
	if out := plain(m); strings.Contains(out, "REPLAY") || m.session.s.Counts.Connections == 0 {
		t.Fatalf("back in the session after leaving it in replay:\n%s", out)
	}

	// :at a moment, :live back.
	m = switchTo(m, "at -10m")
	if m.rp.pending == "" {
		t.Fatalf(":at -10m asked nothing: %q", m.flash)
	}
	m = answerPast(t, m, events.StateAt{Seq: 2, At: epoch.Add(-10 * time.Minute), Session: &past, LastSeq: 99})
	if !strings.Contains(plain(m), "⏪ REPLAY 11:50:00") {
		t.Fatalf(":at -10m:\n%s", plain(m))
	}
	if m = switchTo(m, "live"); strings.Contains(plain(m), "REPLAY") {
		t.Fatalf(":live:\n%s", plain(m))
	}
	if m = switchTo(m, "at noonish"); !strings.Contains(plain(m), `:at: expected 14:05, 2006-01-02 14:05 or -10m, got "noonish"`) {
		t.Errorf(":at noonish:\n%s", plain(m))
	}
	m = switchTo(m, "sessions")
	if m = switchTo(m, "at -10m"); !strings.Contains(plain(m), ":at replays a session: open one first") {
		t.Errorf(":at on the sessions table:\n%s", plain(m))
	}
}
