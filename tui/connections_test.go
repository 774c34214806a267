package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// The fixture's live connections: 37 in the town hall, 3 in the webinar,
// 5 in the stand-up; its live streams: 5, 2 and 5.
const fixtureConns, fixtureStreams = 45, 12

// A participant's name typed at / finds them in whichever session they
// are; enter opens that session on them, esc comes back to the search.
func TestConnectionsFindsAPersonAcrossSessions(t *testing.T) {
	m := switchTo(newTestModel(100, 30), "connections")
	if m.current() != viewConnections || len(m.conns.shown) != fixtureConns {
		t.Fatalf("view %v, %d rows", m.current(), len(m.conns.shown))
	}
	if out := plain(m); !strings.Contains(out, "connections[45] in 3 sessions") {
		t.Fatalf("title:\n%s", out)
	}

	// "ana" is Ana at the stand-up and Dana, the town hall's host.
	m = press(m, "/")
	m = typeText(m, "ana")
	var who []string
	for _, ix := range m.conns.shown {
		r := m.conns.rows[ix]
		who = append(who, r.name+"@"+r.sess.id)
	}
	slices.Sort(who)
	if want := []string{"Ana@" + standup, "Dana Okafor@" + townHall}; !slices.Equal(who, want) {
		t.Fatalf("/ana found %v, want %v", who, want)
	}
	if out := plain(m); !strings.Contains(out, "connections[45] </ana> 2/45") {
		t.Fatalf("title with the filter:\n%s", out)
	}

	// A panelist, by her full name (every term must match; "mei" alone
	// also fuzzily matches "Mallory evil"): one row, in the town hall.
	m = press(m, "backspace", "backspace", "backspace")
	m = typeText(m, "mei chen")
	m = press(m, "enter") // leaves the prompt, keeps the filter
	r, ok := m.conns.current()
	if !ok || len(m.conns.shown) != 1 || r.name != "Mei Chen" || r.sess.id != townHall {
		t.Fatalf("/mei chen: %d rows, cursor on %+v", len(m.conns.shown), r)
	}
	out := plain(m)
	if !strings.Contains(out, "</mei chen> 1/45") || !strings.Contains(out, "Mei Chen") || !strings.Contains(out, "Dana Okafor") {
		t.Fatalf("/mei chen:\n%s", out)
	}

	// enter: her session, the cursor on her in the connections pane.
	m = press(m, "enter")
	if m.current() != viewSession || m.session.id != townHall || m.session.pane != 0 {
		t.Fatalf("enter: view %v session %s pane %d", m.current(), m.session.id, m.session.pane)
	}
	if c := m.session.conns[m.session.connShown[m.session.connList.cursor]]; c.id != "c-panel-0001" {
		t.Fatalf("session cursor on %+v", c)
	}
	out = plain(m)
	if !strings.Contains(out, "connections › …townhall-7f3a9c (Dana Okafor)") {
		t.Fatalf("crumbs:\n%s", out)
	}
	// Her row is on screen, selected.
	if !strings.Contains(out, "Mei Chen") {
		t.Fatalf("Mei not on screen:\n%s", out)
	}

	// esc: back to the search as it was.
	m = press(m, "esc")
	if r, _ := m.conns.current(); m.current() != viewConnections || m.conns.filter != "mei chen" || r.id != "c-panel-0001" {
		t.Fatalf("esc: view %v filter %q on %s", m.current(), m.conns.filter, r.id)
	}
	// esc again clears the filter, the cursor still on her.
	m = press(m, "esc")
	if r, _ := m.conns.current(); m.conns.filter != "" || len(m.conns.shown) != fixtureConns || r.id != "c-panel-0001" {
		t.Fatalf("second esc: filter %q, %d rows, on %s", m.conns.filter, len(m.conns.shown), r.id)
	}

	// The town hall's view filtered to its host: opening Mei again
	// clears that filter rather than hide her.
	m = press(m, "enter", "/")
	m = typeText(m, "dana")
	m = switchTo(press(m, "enter"), "connections")
	if m.session.filter != "dana" || len(m.session.connShown) != 1 {
		t.Fatalf("session filter %q shows %d", m.session.filter, len(m.session.connShown))
	}
	m = press(m, "enter")
	if c := m.session.conns[m.session.connShown[m.session.connList.cursor]]; m.session.filter != "" || c.id != "c-panel-0001" {
		t.Fatalf("reopened: filter %q, cursor on %s", m.session.filter, c.id)
	}
}

// Typing a session's id lists its people; a short name does not match
// every row through the ids, which are matched as substrings only.
func TestConnectionsFilterBySession(t *testing.T) {
	m := switchTo(newTestModel(100, 30), "conns")
	m = press(m, "/")
	m = typeText(m, "standup")
	if len(m.conns.shown) != 5 {
		t.Fatalf("/standup: %d rows", len(m.conns.shown))
	}
	for _, ix := range m.conns.shown {
		if r := m.conns.rows[ix]; r.sess.id != standup {
			t.Fatalf("/standup matched %+v", r)
		}
	}
	// "c-view" is a prefix of 33 connection ids (3 of the 36 left).
	for range len("standup") {
		m = press(m, "backspace")
	}
	m = typeText(m, "c-view")
	if len(m.conns.shown) != 33 {
		t.Fatalf("/c-view: %d rows", len(m.conns.shown))
	}
	// Fuzzy on names, but not through the ids: "vwr" is Viewer, never c-view-….
	if !fuzzy("viewer 07 viewer\x00c-view-0007 "+strings.ToLower(townHall), "vwr") ||
		fuzzy("ravi shah panelist\x00c-panel-0000 "+strings.ToLower(townHall), "vwr") ||
		fuzzy("\x00c-view-0007", "vwr") {
		t.Fatal("ids matched fuzzily")
	}
}

// The cursor stays on its connection while rows are rebuilt and rows
// above it come and go; a session whose value changed is rebuilt, the
// others are not stale.
func TestConnectionsRowsFollowTheState(t *testing.T) {
	m := switchTo(newTestModel(100, 30), "connections")
	m = press(m, "G") // the last row: Ed at the stand-up
	if r, _ := m.conns.current(); r.id != "c-stand-0004" {
		t.Fatalf("G: on %s", r.id)
	}

	// As the feed does it: the previous batch's sessions, with only the
	// changed one swapped for a new value.
	b := fixture()
	prev := b.msg(relayclient.Live)
	m = update(m, prev)
	b.join(townHall, "c-late-0001", person("Late Comer", "viewer"), 10*time.Second)
	b.leave(standup, "c-stand-0000", person("Ana", ""), events.ReasonClientDisconnected, 5*time.Second)
	next := prev
	next.Sessions = slices.Clone(prev.Sessions)
	for _, id := range []string{townHall, standup} {
		i, _ := findSession(next.Sessions, id)
		next.Sessions[i], _ = b.st.Session(id)
	}
	next.Events = nil
	m = update(m, next)

	if len(m.conns.rows) != fixtureConns {
		t.Fatalf("%d rows after one joined and one left", len(m.conns.rows))
	}
	if r, _ := m.conns.current(); r.id != "c-stand-0004" {
		t.Fatalf("cursor moved to %s", r.id)
	}
	var ids []string
	for _, r := range m.conns.rows {
		ids = append(ids, r.id)
	}
	if !slices.Contains(ids, "c-late-0001") || slices.Contains(ids, "c-stand-0000") || !slices.Contains(ids, "c-evil-0002") {
		t.Fatalf("rows %v", ids)
	}
	// The label of a session that lost its first named participant moves on.
	for _, r := range m.conns.rows {
		if r.sess.id == standup && r.sess.label != "Bo" {
			t.Fatalf("stand-up row %+v: label %q, want Bo", r.id, r.sess.label)
		}
	}
}

// mutes are audit entries: a successful mute of one stream, a refused
// one, and mute-all on the stand-up.
func mutes() []AuditLine {
	as := muteAudits()
	out := make([]AuditLine, len(as))
	for i, a := range as {
		out[i] = NewAuditLine(uint64(200+i), a)
	}
	return out
}

func muteAudits() []events.Audit {
	return []events.Audit{
		{At: epoch.Add(-2 * time.Minute), Actor: "dana@acme", Role: "moderator", Action: events.ActionMute, Session: townHall, Target: "s-cam-panel1", OK: true},
		{At: epoch.Add(-2 * time.Minute), Actor: "ravi@acme", Role: "viewer", Action: events.ActionMute, Session: townHall, Target: "s-cam-host", Error: "role viewer may not mute"},
		{At: epoch.Add(-1 * time.Minute), Actor: "dana@acme", Role: "moderator", Action: events.ActionMuteAll, Session: standup, Target: standup, OK: true},
	}
}

// streamsModel is the fixture after those mutes: the state applies them,
// as the relay and every console do (events.State.ApplyAudit).
func streamsModel(w, h int) Model {
	m := newTestModel(w, h)
	b := fixture()
	for _, a := range muteAudits() {
		b.st.ApplyAudit(a)
	}
	msg := b.msg(relayclient.Live)
	msg.Events, msg.Audits = nil, mutes()
	return update(m, msg)
}

func TestStreamsView(t *testing.T) {
	m := switchTo(streamsModel(100, 30), "streams")
	if m.current() != viewStreams || len(m.streams.shown) != fixtureStreams {
		t.Fatalf("view %v, %d rows", m.current(), len(m.streams.shown))
	}
	byID := map[string]*liveStreamRow{}
	for _, r := range m.streams.rows {
		byID[r.id] = r
	}
	for id, want := range map[string]liveStreamRow{
		"s-cam-panel1": {kind: "camera", publisher: "Mei Chen", audio: "muted"},
		"s-cam-host":   {kind: "camera", publisher: "Dana Okafor"}, // the refused mute did nothing
		"s-scr-host2":  {kind: "screen", publisher: "Dana Okafor"},
		"s-aud-phone":  {kind: "audio", publisher: "c-phone-0001"}, // no name in its data
		"s-orphan-01":  {kind: "custom", publisher: "unattributed"},
		"s-stand-2":    {kind: "camera", publisher: "Cy", audio: "muted"}, // by the mute-all
	} {
		r := byID[id]
		if r == nil {
			t.Errorf("no row for %s", id)
			continue
		}
		if r.kind != want.kind || r.publisher != want.publisher || r.audio != want.audio {
			t.Errorf("%s: %q %q %q, want %q %q %q", id, r.kind, r.publisher, r.audio, want.kind, want.publisher, want.audio)
		}
	}
	out := plain(m)
	for _, want := range []string{"streams[12] in 3 sessions · 6 muted · 1 session under mute-all", "AUDIO", "muted", "unattributed", "Slides 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}

	// /muted lists the muted: Mei's camera and the stand-up's five.
	m = press(m, "/")
	m = typeText(m, "muted")
	m = press(m, "enter")
	if len(m.streams.shown) != 6 || !strings.Contains(plain(m), "</muted> 6/12") {
		t.Fatalf("/muted: %d rows\n%s", len(m.streams.shown), plain(m))
	}
	m = press(m, "esc", "/")
	m = typeText(m, "mei chen")
	m = press(m, "enter")
	if r, _ := m.streams.current(); len(m.streams.shown) != 1 || r.id != "s-cam-panel1" {
		t.Fatalf("/mei chen: %d rows\n%s", len(m.streams.shown), plain(m))
	}
	// enter: its session, the streams pane focused on it.
	m = press(m, "enter")
	if m.current() != viewSession || m.session.id != townHall || m.session.pane != 1 {
		t.Fatalf("enter: %v %s pane %d", m.current(), m.session.id, m.session.pane)
	}
	if s := m.session.streams[m.session.streamShown[m.session.streamList.cursor]]; s.id != "s-cam-panel1" {
		t.Fatalf("session cursor on %+v", s)
	}
	if !strings.Contains(plain(m), "streams › …") {
		t.Fatalf("crumbs:\n%s", plain(m))
	}

	// mute-all off: the session is no longer under it, but nothing is
	// unmuted — the service has no unmute.
	m = press(m, "esc", "esc")
	b := fixture()
	for _, a := range muteAudits() {
		b.st.ApplyAudit(a)
	}
	off := events.Audit{At: epoch, Actor: "dana@acme", Action: events.ActionMuteAllOff, Session: standup, Target: standup, OK: true}
	b.st.ApplyAudit(off)
	msg := b.msg(relayclient.Live)
	msg.Events = nil
	msg.Audits = []AuditLine{NewAuditLine(300, off)}
	m = update(m, msg)
	if m.streams.muted != 6 || m.streams.muteAll != 0 || strings.Contains(plain(m), "under mute-all") {
		t.Fatalf("after mute-all off: %d muted, %d under mute-all\n%s", m.streams.muted, m.streams.muteAll, plain(m))
	}
}

// The muted marker is a word, so NO_COLOR loses nothing.
func TestStreamsMutedWithoutColour(t *testing.T) {
	m := switchTo(streamsModel(80, 24), "streams")
	for _, line := range strings.Split(plain(m), "\n") {
		if strings.Contains(line, "Mei Chen") && !strings.Contains(line, "muted") {
			t.Fatalf("Mei's stream is not marked muted: %q", line)
		}
	}
}

// Mutes of a session that ended are forgotten with it.
func TestStreamsMutesEndWithTheSession(t *testing.T) {
	m := streamsModel(100, 30)
	b := fixture()
	for _, a := range muteAudits() {
		b.st.ApplyAudit(a)
	}
	for i, n := range []string{"Ana", "Bo", "Cy", "Di", "Ed"} {
		b.leave(standup, fmt.Sprintf("c-stand-%04d", i), person(n, ""), events.ReasonClientDisconnected, time.Second)
	}
	msg := b.msg(relayclient.Live)
	msg.Events = nil
	m = update(m, msg)
	if m.streams.muteAll != 0 || m.streams.muted != 1 {
		t.Fatalf("mutes of an ended session kept: %d under mute-all, %d muted", m.streams.muteAll, m.streams.muted)
	}
}

func TestGoldenConnections(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			requireGolden(t, switchTo(newTestModel(sz[0], sz[1]), "connections").View().Content)
		})
	}
}

func TestGoldenStreams(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			requireGolden(t, switchTo(streamsModel(sz[0], sz[1]), "streams").View().Content)
		})
	}
}

// Every frame of both views is exactly the terminal, with no escape
// sequence a participant sent.
func TestConnectionsAndStreamsFitTheTerminal(t *testing.T) {
	for _, sz := range [][2]int{{40, 10}, {80, 24}, {120, 40}, {200, 50}} {
		for _, view := range []string{"connections", "streams"} {
			m := switchTo(streamsModel(sz[0], sz[1]), view)
			for _, keys := range [][]string{{}, {"G"}, {"/", "e"}, {":"}} {
				m := press(m, keys...)
				content := m.View().Content
				lines := strings.Split(content, "\n")
				if len(lines) != sz[1] {
					t.Errorf("%s %v %v: %d lines", view, sz, keys, len(lines))
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > sz[0] {
						t.Errorf("%s %v %v: line %d is %d wide: %q", view, sz, keys, i, w, ansi.Strip(l))
					}
				}
				if out := ansi.Strip(content); strings.Contains(out, "pwned") || strings.ContainsAny(out, "\x07\x1b\r\u202e") {
					t.Errorf("%s %v: an escape sequence got through:\n%q", view, sz, out)
				}
			}
		}
	}
}

// Rows carried over from the last batch are the rows a fresh build
// makes, whatever changed: joins, leaves, streams, a connection first
// found by a reconcile (no data) and then named by its callback, one
// whose join time its own callback corrects.
func TestConnectionsCarriedRowsAreFresh(t *testing.T) {
	b := fixture()
	var v connectionsView
	names := &nameCache{}
	steps := []func(){
		func() {},
		func() { b.join(townHall, "c-late-0001", person("Late Comer", "viewer"), 10*time.Second) },
		func() {
			b.apply(events.Event{Kind: events.ConnectionCreated, SessionID: townHall, Timestamp: ms(5 * time.Second), Reason: events.ReasonReconciled,
				Connection: &events.Connection{ID: "c-found-0001", CreatedAt: ms(5 * time.Second)}})
		},
		// Its callback: the same join time, now with a name.
		func() { b.join(townHall, "c-found-0001", person("Found Late", "panelist"), 5*time.Second) },
		// A connection first known from its stream's callback, then from
		// its own, which gives another join time.
		func() {
			b.publish(townHall, "c-pub-0001", person("Pub", "panelist"), "s-pub", "cam", "camera", 8*time.Second)
		},
		func() { b.join(townHall, "c-pub-0001", person("Pub", "panelist"), 9*time.Second) },
		func() {
			b.publish(townHall, "c-view-0010", person("Viewer 10", "viewer"), "s-v10", "cam", "camera", time.Second)
		},
		func() {
			b.leave(townHall, "c-host-0001", person("Dana Okafor", "host"), events.ReasonNetworkDisconnected, time.Second)
		},
	}
	for i, step := range steps {
		step()
		all := b.st.Sessions()
		v.filter = "a" // every row's search text is built, carried or not
		v.set(all, names)
		th, _ := findSession(all, townHall)
		want := presenceRows(&all[th], names, nil)
		var got []*presenceRow
		for _, r := range v.rows {
			if r.sess.id == townHall {
				got = append(got, r)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("step %d: %d town hall rows, want %d", i, len(got), len(want))
		}
		show := func(r *presenceRow) string {
			c := *r
			c.search, c.sess = r.rowSearch(), nil
			return fmt.Sprintf("%+v %+v", c, *r.sess)
		}
		for j := range want {
			if g, w := show(got[j]), show(want[j]); g != w {
				t.Fatalf("step %d row %d:\n got %s\nwant %s", i, j, g, w)
			}
		}
	}
}
