package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// auditFixture is three moderation actions: a kick, a refused mute, and
// one whose actor sends escape sequences.
func auditFixture() []AuditLine {
	as := []events.Audit{
		{At: epoch.Add(-5 * time.Minute), Actor: "dana@acme", Role: "moderator", Action: "kick", Session: townHall, Target: "c-view-0005", OK: true},
		{At: epoch.Add(-3 * time.Minute), Actor: "ravi@acme", Role: "viewer", Action: "mute", Session: standup, Target: "s-stand-2", Error: "role viewer may not mute"},
		{At: epoch.Add(-1 * time.Minute), Actor: "\x1b[31mmallory\x1b]0;pwned\x07", Role: "moderator", Action: "unpublish", Session: evil, Target: "s-wide", OK: true},
	}
	out := make([]AuditLine, len(as))
	for i, a := range as {
		out[i] = NewAuditLine(uint64(100+i), a)
	}
	return out
}

// archiveFixture adds, to the fixture, a stopped archive of the stand-up
// and a composed one of the webinar that is paused.
func archiveFixture() *builder {
	b := fixture()
	b.apply(events.Event{Kind: events.ArchiveStatus, SessionID: standup, Timestamp: ms(2 * time.Minute),
		Archive: &events.Archive{ID: "a-stand-0002", Status: "stopped", SessionID: standup, Name: "stand-up", OutputMode: "individual",
			CreatedAt: ms(8 * time.Minute), UpdatedAt: ms(2 * time.Minute)}})
	b.apply(events.Event{Kind: events.ArchiveStatus, SessionID: evil, Timestamp: ms(4 * time.Minute),
		Archive: &events.Archive{ID: "a-web-0003", Status: "paused", SessionID: evil, Name: "\x1b[2Jwebinar", OutputMode: "composed",
			CreatedAt: ms(15 * time.Minute), UpdatedAt: ms(4 * time.Minute)}})
	return b
}

func update(m Model, msg tea.Msg) Model {
	var tm tea.Model = m
	tm, _ = tm.Update(msg)
	return tm.(Model)
}

func switchTo(m Model, view string) Model {
	m = press(m, ":")
	m = typeText(m, view)
	return press(m, "enter")
}

func auditModel(w, h int) Model {
	m := newTestModel(w, h)
	msg := fixture().msg(relayclient.Live)
	msg.Events = nil
	msg.Audits = auditFixture()
	return update(m, msg)
}

func archivesModel(w, h int) Model {
	m := newTestModel(w, h)
	msg := archiveFixture().msg(relayclient.Live)
	msg.Events = nil
	return update(m, msg)
}

func TestAuditView(t *testing.T) {
	m := switchTo(auditModel(80, 24), "audit")
	if m.current() != viewAudit || m.audit.count() != 3 {
		t.Fatalf("view %v, %d audit lines", m.current(), m.audit.count())
	}
	out := plain(m)
	for _, want := range []string{"audit[3] following", "ACTOR", "OUTCOME", "kick", "ok", "failed: role viewer", "mallory"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pwned") || strings.ContainsAny(out, "\x07\x1b") {
		t.Errorf("an escape sequence got through:\n%q", out)
	}
	// The follow cursor is on the newest; enter opens its session.
	if l := m.audit.line(m.audit.list.cursor); l.Session != evil {
		t.Fatalf("cursor on %+v", l)
	}
	m = press(m, "k", "enter")
	if m.current() != viewSession || m.session.id != standup {
		t.Fatalf("enter on an audit line: %v %s", m.current(), m.session.id)
	}
	m = press(m, "esc", "/")
	m = typeText(m, "kick")
	if m.audit.count() != 1 || !strings.Contains(plain(m), "</kick> 1/3") {
		t.Fatalf("filter kick: %d\n%s", m.audit.count(), plain(m))
	}
}

// The audit log is a bounded ring: what it lets go, and what the feed
// let go, are counted in the title.
func TestAuditDropped(t *testing.T) {
	m := newTestModel(80, 24)
	m.audit = newAuditView(2)
	msg := fixture().msg(relayclient.Live)
	msg.Events, msg.Audits, msg.AuditsDropped = nil, auditFixture(), 4
	m = switchTo(update(m, msg), "audit")
	if m.audit.lines.len() != 2 || !strings.Contains(plain(m), "audit[2] dropped 5") {
		t.Fatalf("%d lines\n%s", m.audit.lines.len(), plain(m))
	}
}

// The feed hands audit frames on like event lines.
func TestFeedPassesAudits(t *testing.T) {
	f := newFeed(Options{})
	f.batch()
	f.apply(frame(t, events.AuditFrame{Type: events.FrameAudit, Seq: 7, Audit: events.Audit{At: epoch, Actor: "dana\x07", Action: "kick", Session: "s1", OK: true}}))
	msg, ok := f.batch()
	if !ok || len(msg.Audits) != 1 || msg.Audits[0].Actor != "dana" || msg.Audits[0].Seq != 7 || msg.Audits[0].Outcome() != "ok" {
		t.Fatalf("batch: ok %v audits %+v", ok, msg.Audits)
	}
	if msg, ok := f.batch(); ok && len(msg.Audits) != 0 {
		t.Fatalf("the audit line came twice: %+v", msg.Audits)
	}
}

func TestArchivesView(t *testing.T) {
	m := switchTo(archivesModel(80, 24), "archives")
	if m.current() != viewArchives || len(m.archives.shown) != 3 {
		t.Fatalf("view %v, %d archives", m.current(), len(m.archives.shown))
	}
	out := plain(m)
	for _, want := range []string{"archives[3] ●2 recording", "●started", "●paused", "stopped", "Dana Oka", "individual", "composed"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\x1b") {
		t.Errorf("an escape sequence got through:\n%q", out)
	}
	// Most recently changed first: the stand-up's (2m), the webinar's
	// (4m), the town hall's (45m). enter opens the session of the row.
	var got []string
	for _, ix := range m.archives.shown {
		got = append(got, m.archives.rows[ix].id)
	}
	if strings.Join(got, ",") != "a-stand-0002,a-web-0003,a-0001" {
		t.Fatalf("order %v", got)
	}
	// The cursor stayed on the archive it was on (the town hall's, the
	// only one of the first batch) as rows came in above it.
	if r, _ := m.archives.current(); r.id != "a-0001" {
		t.Fatalf("cursor on %s, want the archive it was on", r.id)
	}
	m = press(m, "g", "j", "enter")
	if m.current() != viewSession || m.session.id != evil || len(m.stack) != 2 {
		t.Fatalf("enter on the webinar's archive: %v %s %v", m.current(), m.session.id, m.stack)
	}
	m = press(m, "esc")
	if r, _ := m.archives.current(); m.current() != viewArchives || r.id != "a-web-0003" {
		t.Fatalf("back: %v on %s", m.current(), r.id)
	}
	m = press(m, "G", "enter")
	if m.session.id != townHall {
		t.Fatalf("G enter: %s", m.session.id)
	}
}

// The flag shows exactly when a session has more connections than the
// cap, and never with the cap off.
func TestOverLimitFlag(t *testing.T) {
	for _, tc := range []struct {
		limit   int
		flagged int // rows with the flag: the town hall has 37 connections, the stand-up 5
	}{{0, 0}, {37, 0}, {36, 1}, {5, 1}, {4, 2}} {
		m := newTestModel(120, 24)
		m.opts.MaxConnections = tc.limit
		out := plain(m)
		n := strings.Count(out, "⚑ over")
		if n != tc.flagged {
			t.Errorf("limit %d: %d flagged rows, want %d:\n%s", tc.limit, n, tc.flagged, out)
		}
		if (tc.limit == 0) == strings.Contains(out, "LIMIT") {
			t.Errorf("limit %d: LIMIT column shown %v", tc.limit, !strings.Contains(out, "LIMIT"))
		}
		s := plain(press(m, "enter")) // the town hall
		want := tc.limit > 0 && 37 > tc.limit
		if strings.Contains(s, "over the limit of") != want {
			t.Errorf("limit %d: session summary flag %v, want %v:\n%s", tc.limit, !want, want, s)
		}
		if !strings.Contains(s, "37 connections · 4 publishing · 33 viewers") {
			t.Errorf("limit %d: the counts line changed:\n%s", tc.limit, s)
		}
	}
}

// The : prompt and ? list every registered view.
func TestViewsListed(t *testing.T) {
	m := press(newTestModel(100, 30), ":")
	if out := plain(m); !strings.Contains(out, "sessions · connections · streams · events · archives · audit") {
		t.Errorf("prompt hint:\n%s", out)
	}
	m = press(m, "esc", "?")
	for _, d := range viewRegistry {
		if !strings.Contains(plain(m), ":"+d.name) {
			t.Errorf("? has no :%s:\n%s", d.name, plain(m))
		}
		if v, ok := lookupView(d.name); !ok || v.kind != d.kind {
			t.Errorf("lookup %s", d.name)
		}
	}
}

func TestGoldenAudit(t *testing.T) {
	requireGolden(t, switchTo(auditModel(80, 24), "audit").View().Content)
}

func TestGoldenArchives(t *testing.T) {
	requireGolden(t, switchTo(archivesModel(80, 24), "archives").View().Content)
}

func TestGoldenSessionsOverLimit(t *testing.T) {
	m := newTestModel(80, 24)
	m.opts.MaxConnections = 30
	requireGolden(t, m.View().Content)
}

// Paused in a full log, the cursor stays on the line it was on while old
// lines leave — with and without a filter — instead of drifting forward
// one line per new event.
func TestPausedTailHoldsItsLine(t *testing.T) {
	for _, filter := range []string{"", "odd"} {
		v := newTailLog[EventLine](10, func(l EventLine) string { return l.Name })
		line := func(seq uint64) EventLine {
			name := "even"
			if seq%2 == 1 {
				name = "odd"
			}
			return EventLine{Seq: seq, Name: name}
		}
		var batch []EventLine
		for s := uint64(1); s <= 10; s++ {
			batch = append(batch, line(s))
		}
		v.add(batch, 0)
		v.filter = filter
		v.refilter()
		v.follow = false
		v.list.height = 3
		v.list.move(-2, v.count()) // two up from the newest
		want := v.line(v.list.cursor).Seq
		for s := uint64(11); s <= 14; s++ {
			v.add([]EventLine{line(s)}, 0)
			if got := v.line(v.list.cursor).Seq; got != want {
				t.Fatalf("filter %q: after line %d the cursor is on %d, want %d", filter, s, got, want)
			}
		}
		// Once its line has gone, the cursor rests on the oldest one left.
		v.add([]EventLine{line(15), line(16), line(17), line(18), line(19), line(20)}, 0)
		if v.list.cursor != 0 {
			t.Fatalf("filter %q: cursor %d after its line left", filter, v.list.cursor)
		}
	}
}

// With console.max_connections unset, the relay's own caps (its rules in
// force: a session's own, else every session's) are the ones flagged; the
// console's setting, when given, wins.
func TestOverLimitFlagFollowsTheRelaysCaps(t *testing.T) {
	m := newTestModel(120, 24)
	st := fixture().msg(relayclient.Live)
	st.Rules = &events.RulesInForce{Rules: events.Rules{MaxConnections: 36}, By: "mia", At: epoch}
	tm, _ := m.Update(st)
	m = tm.(Model)
	if n := strings.Count(plain(m), "⚑ over"); n != 1 {
		t.Errorf("relay cap 36: %d flagged rows, want 1 (the 37-person town hall):\n%s", n, plain(m))
	}
	// The stand-up's own cap of 2 flags it; the town hall's own cap of
	// 100 spares it.
	st.Rules = &events.RulesInForce{Rules: events.Rules{MaxConnections: 36, SessionCaps: map[string]int{standup: 2, townHall: 100}}, By: "mia", At: epoch}
	tm, _ = m.Update(st)
	m = tm.(Model)
	screen := plain(m)
	if n := strings.Count(screen, "⚑ over 2"); n != 1 || strings.Contains(screen, "⚑ over 36") || strings.Contains(screen, "⚑ over 100") {
		t.Errorf("session caps 2 (stand-up) and 100 (town hall): want only the stand-up flagged, over 2:\n%s", screen)
	}
	m.opts.MaxConnections = 4
	if n := strings.Count(plain(m), "⚑ over 4"); n != 2 {
		t.Errorf("console cap 4 over the relay's: %d rows flagged over 4, want 2", n)
	}
}
