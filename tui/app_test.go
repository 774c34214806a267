package tui

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

func plain(m Model) string { return ansi.Strip(m.View().Content) }

func TestDefaultSortBySize(t *testing.T) {
	m := newTestModel(80, 24)
	var got []string
	for _, ix := range m.sessions.shown {
		got = append(got, m.sessions.rows[ix].id)
	}
	want := []string{townHall, standup, evil} // 37, 5, 3 connections; the ended one hidden
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("rows %v, want %v", got, want)
	}
	m = press(m, "o") // viewers
	if m.sessions.sort != sortViewers || m.sessions.rows[m.sessions.shown[0]].id != townHall {
		t.Fatalf("sort %v first %s", m.sessions.sort, m.sessions.rows[m.sessions.shown[0]].id)
	}
	m = press(m, "a")
	if len(m.sessions.shown) != 4 || !strings.Contains(plain(m), "sessions(all)[4]") {
		t.Fatalf("a: %d rows\n%s", len(m.sessions.shown), plain(m))
	}
}

func TestNavigateAndDrillDown(t *testing.T) {
	m := newTestModel(80, 24)
	m = press(m, "j", "down")
	if r, _ := m.sessions.current(); r.id != evil {
		t.Fatalf("after j, down: cursor on %s", r.id)
	}
	m = press(m, "k")
	if r, _ := m.sessions.current(); r.id != standup {
		t.Fatalf("after k: cursor on %s", r.id)
	}
	m = press(m, "enter")
	if m.current() != viewSession || m.session.id != standup {
		t.Fatalf("enter: view %v session %s", m.current(), m.session.id)
	}
	out := plain(m)
	if !strings.Contains(out, "sessions › …-standup-01b2c3 (Ana)") || !strings.Contains(out, "connections[5]") {
		t.Fatalf("session view:\n%s", out)
	}
	// tab moves between panes; j moves in the focused one.
	m = press(m, "tab", "j")
	if m.session.pane != 1 || m.session.streamList.cursor != 1 || m.session.connList.cursor != 0 {
		t.Fatalf("pane %d stream cursor %d conn cursor %d", m.session.pane, m.session.streamList.cursor, m.session.connList.cursor)
	}
	m = press(m, "esc")
	if m.current() != viewSessions || len(m.stack) != 1 {
		t.Fatalf("esc: stack %v", m.stack)
	}
	if r, _ := m.sessions.current(); r.id != standup {
		t.Fatalf("back on %s, want the session we left", r.id)
	}
	m = press(m, "G")
	if r, _ := m.sessions.current(); r.id != evil {
		t.Fatalf("G: cursor on %s", r.id)
	}
	m = press(m, "g")
	if r, _ := m.sessions.current(); r.id != townHall {
		t.Fatalf("g: cursor on %s", r.id)
	}
	m = press(m, "esc") // at the root esc does nothing
	if m.current() != viewSessions {
		t.Fatal("esc at the root left the sessions view")
	}
}

// The cursor stays on its session (by id) when a batch reorders rows.
func TestSelectionPinnedByID(t *testing.T) {
	m := newTestModel(80, 24)
	m = press(m, "j") // standup, 5 connections
	b := fixture()
	for i := range 50 {
		b.join(standup, fmt.Sprintf("c-more-%d", i), "", time.Minute)
	}
	var tm tea.Model = m
	tm, _ = tm.Update(b.msg(relayclient.Live))
	m = tm.(Model)
	if r, _ := m.sessions.current(); r.id != standup || m.sessions.list.cursor != 0 {
		t.Fatalf("cursor on %s at %d, want standup now first", r.id, m.sessions.list.cursor)
	}
}

func TestFilterNarrowsAndCounts(t *testing.T) {
	m := newTestModel(80, 24)
	m = press(m, "/")
	if p := m.overlay.prompt(); p == nil || !p.filter {
		t.Fatal("/ did not open the filter")
	}
	m = typeText(m, "stnd") // fuzzy: s-t-n-d in "standup"
	if len(m.sessions.shown) != 1 || m.sessions.rows[m.sessions.shown[0]].id != standup {
		t.Fatalf("filter stnd: %d rows", len(m.sessions.shown))
	}
	out := plain(m)
	if !strings.Contains(out, "sessions(live)[3] </stnd> 1/3") || !strings.Contains(out, "/stnd▏") {
		t.Fatalf("title or prompt:\n%s", out)
	}
	// q while typing is text, not quit.
	var tm tea.Model = m
	tm, cmd := tm.Update(keyMsg("q"))
	if cmd != nil {
		t.Fatal("q in the filter prompt returned a command")
	}
	m = tm.(Model)
	if len(m.sessions.shown) != 0 || !strings.Contains(plain(m), "nothing matches /stndq") {
		t.Fatalf("stndq: %d rows\n%s", len(m.sessions.shown), plain(m))
	}
	m = press(m, "backspace", "enter")
	if m.overlay.prompt() != nil || m.sessions.filter != "stnd" || len(m.sessions.shown) != 1 {
		t.Fatalf("enter kept %q (%d rows)", m.sessions.filter, len(m.sessions.shown))
	}
	// By host name too.
	m = press(m, "/", "ctrl+u")
	m = typeText(m, "okafor")
	if len(m.sessions.shown) != 1 || m.sessions.rows[m.sessions.shown[0]].id != townHall {
		t.Fatalf("filter okafor: %d rows", len(m.sessions.shown))
	}
	m = press(m, "esc")
	if m.sessions.filter != "" || len(m.sessions.shown) != 3 {
		t.Fatalf("esc left filter %q", m.sessions.filter)
	}
}

func TestFilterInSession(t *testing.T) {
	m := press(newTestModel(80, 24), "enter") // the town hall
	m = press(m, "/")
	m = typeText(m, "panelist")
	if got := len(m.session.connShown); got != 2 {
		t.Fatalf("panelist: %d connections, want 2", got)
	}
	if !strings.Contains(plain(m), "</panelist> 2/37 connections") {
		t.Fatalf("title:\n%s", plain(m))
	}
	m = press(m, "enter", "esc") // esc first clears the filter
	if m.current() != viewSession || m.session.filter != "" {
		t.Fatalf("esc with a filter: view %v filter %q", m.current(), m.session.filter)
	}
	m = press(m, "esc")
	if m.current() != viewSessions {
		t.Fatal("second esc did not go back")
	}
}

// ! inverts a term: the audience hidden, then the Anas who are not
// hosts across sessions.
func TestFilterNegation(t *testing.T) {
	m := press(newTestModel(80, 24), "enter", "/")
	m = typeText(m, "!viewer")
	if got := len(m.session.connShown); got != 4 {
		t.Fatalf("!viewer: %d connections, want the host, two panelists and the dial-in", got)
	}
	if !strings.Contains(plain(m), "</!viewer> 4/37 connections") {
		t.Fatalf("title:\n%s", plain(m))
	}
	m = press(m, "enter", "esc", "esc", ":")
	m = typeText(m, "connections")
	m = press(m, "enter", "/")
	m = typeText(m, "ana")
	all := len(m.conns.shown)
	m = press(m, "space")
	m = typeText(m, "!host")
	if got := len(m.conns.shown); all < 2 || got != all-1 {
		t.Fatalf("ana: %d, ana !host: %d (Dana is the host)", all, got)
	}
}

func TestCommandSwitchesViews(t *testing.T) {
	m := press(newTestModel(80, 24), "enter", ":")
	m = typeText(m, "events")
	m = press(m, "enter")
	if m.current() != viewEvents || len(m.stack) != 1 {
		t.Fatalf(":events: stack %v", m.stack)
	}
	if !strings.Contains(plain(m), "events[68]") {
		t.Fatalf("events view:\n%s", plain(m))
	}
	// enter on an event opens its session; esc comes back to the events.
	m = press(m, "enter")
	if m.current() != viewSession || m.session.id != townHall {
		t.Fatalf("enter on event: %v %s", m.current(), m.session.id)
	}
	m = press(m, "esc", ":")
	m = typeText(m, "nope")
	m = press(m, "enter")
	if !strings.Contains(plain(m), "unknown view :nope") {
		t.Fatalf("no flash:\n%s", plain(m))
	}
	m = press(m, ":")
	m = typeText(m, "sessions")
	m = press(m, "enter")
	if m.current() != viewSessions {
		t.Fatal(":sessions")
	}
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func TestQuit(t *testing.T) {
	m := newTestModel(80, 24)
	if _, cmd := m.Update(keyMsg("q")); !isQuit(cmd) {
		t.Fatal("q did not quit")
	}
	// ctrl+c quits from anywhere: a prompt, the help, a drilled view.
	for _, keys := range [][]string{{"/"}, {":"}, {"?"}, {"enter"}, {}} {
		m := press(newTestModel(80, 24), keys...)
		if _, cmd := m.Update(keyMsg("ctrl+c")); !isQuit(cmd) {
			t.Fatalf("ctrl+c after %v did not quit", keys)
		}
	}
	m = press(m, ":")
	m = typeText(m, "q")
	if _, cmd := m.Update(keyMsg("enter")); !isQuit(cmd) {
		t.Fatal(":q did not quit")
	}
}

func TestHelpFromKeyMap(t *testing.T) {
	m := press(newTestModel(80, 24), "?")
	out := plain(m)
	for _, a := range m.keys.Actions() {
		switch a.Name {
		case "pane", "follow", "back", "mute", "unpublish", "disconnect", "mark", "ban", "lift-ban", "ack-alert", "edit-rules", "lift-cap", "cap-session",
			"step-back", "step-forward", "minute-back", "minute-forward":
			continue // not the sessions view's
		}
		if !strings.Contains(out, a.Help().Desc) {
			t.Errorf("help lacks %s (%q)", a.Name, a.Help().Desc)
		}
	}
	// Unbinding an action takes it out of the footer and the help.
	m = press(m, "?")
	m.keys.Sort.SetEnabled(false)
	if strings.Contains(plain(m), "o sort") {
		t.Fatal("disabled sort still in the footer")
	}
	if m = press(m, "o"); m.sessions.sort != sortSize {
		t.Fatal("disabled sort still sorts")
	}
}

func TestLinkBadge(t *testing.T) {
	now := epoch
	for _, c := range []struct {
		s    relayclient.Status
		want string
	}{
		{relayclient.Status{State: relayclient.Live, Since: now}, "● LIVE"},
		{relayclient.Status{State: relayclient.Connecting, Since: now}, "CONNECTING"},
		{relayclient.Status{State: relayclient.Connecting, Attempt: 2}, "CONNECTING (attempt 2)"},
		{relayclient.Status{State: relayclient.Reconnecting, Attempt: 3, Since: now.Add(-2 * time.Second)}, "RECONNECTING (attempt 3)"},
		{relayclient.Status{State: relayclient.Stale, Attempt: 7, Since: now.Add(-42 * time.Second)}, "STALE for 42s"},
		{relayclient.Status{State: relayclient.Stale, Since: now.Add(-3*time.Minute - 5*time.Second)}, "STALE for 3m"},
	} {
		if got := LinkBadge(c.s, now); got != c.want {
			t.Errorf("%v: %q, want %q", c.s.State, got, c.want)
		}
	}
}

// A lost link never quits; the picture stays, the header says so, the
// rows dim, and the clock moves the STALE age on.
func TestLinkLostKeepsPicture(t *testing.T) {
	m := newTestModel(80, 24)
	var tm tea.Model = m
	msg := fixture().msg(relayclient.Reconnecting)
	msg.Link.Attempt, msg.Link.Err = 1, errors.New("connection reset")
	tm, cmd := tm.Update(msg)
	if cmd != nil {
		t.Fatal("a lost link returned a command")
	}
	m = tm.(Model)
	if out := plain(m); !strings.Contains(out, "RECONNECTING (attempt 1)") || !strings.Contains(out, "Dana Okafor") || !strings.Contains(out, "relay: connection reset") {
		t.Fatalf("reconnecting:\n%s", out)
	}
	if !strings.Contains(m.View().Content, "\x1b[2m") && !strings.Contains(m.View().Content, ";2m") && !strings.Contains(m.View().Content, "[2;") {
		t.Error("rows are not dimmed while reconnecting")
	}
	msg.Link = relayclient.Status{State: relayclient.Stale, Since: epoch.Add(-10 * time.Second)}
	tm, _ = tm.Update(msg)
	tm, _ = tm.Update(tickMsg(epoch.Add(5 * time.Second)))
	if out := plain(tm.(Model)); !strings.Contains(out, "STALE for 15s") {
		t.Fatalf("stale:\n%s", out)
	}
}

func TestDemoBadge(t *testing.T) {
	m := NewModel(Options{Demo: true})
	if out := plain(m); !strings.Contains(strings.SplitN(out, "\n", 2)[0], "DEMO") || !strings.Contains(out, "no relay") {
		t.Fatalf("header:\n%s", out)
	}
}

var sgr = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// Under NO_COLOR (the ASCII profile) colours go but the selected row keeps
// reverse video.
func TestSelectionVisibleWithoutColour(t *testing.T) {
	m := newTestModel(80, 24)
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ASCII}
	if _, err := w.WriteString(m.View().Content); err != nil {
		t.Fatal(err)
	}
	reversed := false
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(ansi.Strip(line), "Dana Okafor") {
			continue
		}
		for _, mm := range sgr.FindAllStringSubmatch(line, -1) {
			for _, p := range strings.Split(mm[1], ";") {
				if p == "7" {
					reversed = true
				}
				if strings.HasPrefix(p, "38") || strings.HasPrefix(p, "48") {
					t.Errorf("colour survived the ASCII profile: %q", mm[0])
				}
			}
		}
	}
	if !reversed {
		t.Fatalf("selected row not reversed under NO_COLOR: %q", buf.String())
	}
}

// Every frame is exactly the terminal: height lines, none wider.
func TestFrameFitsTerminal(t *testing.T) {
	for _, sz := range [][2]int{{40, 10}, {80, 24}, {120, 40}, {200, 50}} {
		for _, keys := range [][]string{{}, {"enter"}, {"j", "j", "enter"}, {":", "e", "enter"}, {"?"}} {
			m := press(newTestModel(sz[0], sz[1]), keys...)
			lines := strings.Split(m.View().Content, "\n")
			if len(lines) != sz[1] {
				t.Errorf("%v %v: %d lines", sz, keys, len(lines))
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w > sz[0] {
					t.Errorf("%v %v: line %d is %d wide: %q", sz, keys, i, w, ansi.Strip(l))
				}
			}
		}
	}
	if out := plain(press(newTestModel(30, 8))); !strings.Contains(out, "too small") {
		t.Fatalf("30x8: %q", out)
	}
}

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Alice", "Alice"},
		{"\x1b[31mred\x1b[0m", "red"},
		{"\x1b]0;pwned\x07title", "title"},      // OSC: set window title
		{"\x1b]52;c;ZXZpbA==\x07x", "x"},        // OSC 52: write the clipboard
		{"a\x07b\x08c\x00d\x7fe", "abcde"},      // BEL, BS, NUL, DEL
		{"line1\nline2\r\tx", "line1 line2  x"}, // breaks become spaces
		{"\u009b31mC1", "31mC1"},                // a C1 CSI introducer is dropped
		{"\u202egnp.exe", "gnp.exe"},            // bidi override
		{"bad\xffutf8", "badutf8"},              // invalid UTF-8 dropped
		{"李小龍🐉", "李小龍🐉"},                        // wide characters kept
		{"\x1bP+q\x1b\\dcs", "dcs"},             // DCS
		{"\x1b[2J\x1b[Hclear", "clear"},         // screen clear
		{"e\u0301", "e\u0301"},                  // combining mark kept
	} {
		if got := Sanitize(c.in); got != c.want {
			t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Truncation counts wide characters as two cells and never splits one.
	for _, c := range []struct {
		in   string
		w    int
		want string
	}{
		{"李小龍🐉 Bruce", 6, "李小…"},
		{"李小龍🐉 Bruce", 8, "李小龍…"},
		{"Alice", 10, "Alice"},
		{"Alexandria", 5, "Alex…"},
		{"\x1b[1mBold\x1b[0m name", 6, "Bold …"},
	} {
		got := Clip(c.in, c.w)
		if got != c.want || ansi.StringWidth(got) > c.w {
			t.Errorf("Clip(%q, %d) = %q (%d cells), want %q", c.in, c.w, got, ansi.StringWidth(got), c.want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	for _, c := range []struct{ data, name, role string }{
		{`{"name":"Dana","role":"host"}`, "Dana", "host"},
		{`{"username":"dk"}`, "dk", ""},
		{`{"name":"\u001b[31mEve\u0007"}`, "Eve", ""},
		{`name=Bo&role=moderator`, "Bo", "moderator"},
		{`just some text`, "just some text", ""},
		{`{"name":42}`, "", ""},
		{``, "", ""},
	} {
		name, role := parseData(c.data)
		if name != c.name || role != c.role {
			t.Errorf("parseData(%q) = %q, %q; want %q, %q", c.data, name, role, c.name, c.role)
		}
	}
}

func TestReasonWords(t *testing.T) {
	for _, c := range []struct {
		kind   events.Kind
		reason string
		want   string
	}{
		{events.ConnectionDestroyed, events.ReasonClientDisconnected, "left"},
		{events.ConnectionDestroyed, events.ReasonForceDisconnected, "kicked"},
		{events.ConnectionDestroyed, events.ReasonNetworkDisconnected, "lost network"},
		{events.ConnectionDestroyed, events.ReasonReconciled, "gone — callback missed"},
		{events.ConnectionDestroyed, "", "left"},
		{events.StreamDestroyed, events.ReasonMediaStopped, "stopped sharing"},
		{events.StreamDestroyed, events.ReasonForceUnpublished, "unpublished by moderator"},
		{events.StreamDestroyed, events.ReasonClientDisconnected, "stopped publishing"},
		{events.StreamDestroyed, events.ReasonNetworkDisconnected, "lost network"},
		{events.StreamDestroyed, events.ReasonReconciled, "gone — callback missed"},
		{events.ConnectionDestroyed, "somethingNew\x1b[2J", "left (somethingNew)"},
	} {
		if got := ReasonWords(c.kind, c.reason); got != c.want {
			t.Errorf("%s %q: %q, want %q", c.kind, c.reason, got, c.want)
		}
	}
	if got := Describe(events.Event{Kind: events.StreamCreated, Stream: &events.Stream{VideoType: "screen"}}); got != "started sharing screen" {
		t.Errorf("screen: %q", got)
	}
	if got := Describe(events.Event{Kind: events.ArchiveStatus, Archive: &events.Archive{Status: "started"}}); got != "recording started" {
		t.Errorf("archive: %q", got)
	}
}

// The event log keeps a bounded number of lines and counts the rest.
func TestEventRingDropsOldest(t *testing.T) {
	v := newEventsView(3)
	var lines []EventLine
	for i := range 5 {
		lines = append(lines, EventLine{Seq: uint64(i + 1), Text: "joined"})
	}
	v.add(lines, 7)
	if v.lines.len() != 3 || v.lines.at(0).Seq != 3 || v.lines.at(2).Seq != 5 {
		t.Fatalf("ring holds %d from seq %d", v.lines.len(), v.lines.at(0).Seq)
	}
	if v.dropped() != 2+7 || !strings.Contains(v.title(), "dropped 9") {
		t.Fatalf("dropped %d, title %q", v.dropped(), v.title())
	}
	if v.list.cursor != 2 {
		t.Fatalf("following: cursor %d", v.list.cursor)
	}
}

// TestTitleGetsTheRoomLeft: a long title (the embedded relay's callback
// URL) is shown whole when the header has room, clipped when it has not,
// and never pushes the link badge off the line.
func TestTitleGetsTheRoomLeft(t *testing.T) {
	const title = "callbacks → http://127.0.0.1:8080/v1/callbacks/session"
	for _, w := range []int{120, 80, 40} {
		m := newTestModel(w, 24)
		m.opts.Title = title
		header := strings.SplitN(plain(m), "\n", 2)[0]
		if !strings.Contains(header, "LIVE") || ansi.StringWidth(header) > w {
			t.Errorf("width %d: header %q", w, header)
		}
		if w >= 80 && !strings.Contains(header, title) {
			t.Errorf("width %d: the title is clipped: %q", w, header)
		}
	}
}

// Moving the cursor scrolls a table only when the cursor leaves the
// window: View renders a copy, so the heights must be known in Update.
func TestCursorScrollsOnlyAtTheEdge(t *testing.T) {
	m := press(newTestModel(80, 24), "enter")
	_ = m.View()
	for range 3 {
		m = press(m, "j")
		_ = m.View()
	}
	lines := strings.Split(plain(m), "\n")
	if !strings.HasPrefix(lines[6], "Dana Okafor") {
		t.Fatalf("the window scrolled with the cursor still inside it:\n%s", plain(m))
	}
	m = press(m, "G")
	if lines := strings.Split(plain(m), "\n"); !strings.Contains(plain(m), "Viewer 35") || strings.HasPrefix(lines[6], "Dana Okafor") {
		t.Fatalf("G did not scroll to the last row:\n%s", plain(m))
	}
}

// pgdn in a session view moves the focused pane by its own rows, not by
// a screenful: a pane is a fraction of the screen, and a screenful would
// skip the rows between.
func TestSessionPaneScrollsByItsPage(t *testing.T) {
	m := press(newTestModel(80, 50), "enter") // the town hall: 40 connections
	_ = m.View()
	rows := m.session.connList.height
	if rows < 2 || rows >= 40 {
		t.Fatalf("the connections pane has %d rows", rows)
	}
	m = press(m, "pgdown")
	if got := m.session.connList.cursor; got != rows {
		t.Fatalf("pgdn moved the cursor to %d, want the pane's %d rows", got, rows)
	}
	m = press(m, "pgup")
	if got := m.session.connList.cursor; got != 0 {
		t.Fatalf("pgup moved the cursor back to %d, want 0", got)
	}
}

// TestEveryTableScrollsOnlyAtTheEdge: moving the cursor inside the window
// does not scroll it; every view here has more rows than fit (a crowded
// fixture at 80×24), or the test could not tell.
func TestEveryTableScrollsOnlyAtTheEdge(t *testing.T) {
	b := fixture()
	var audits []AuditLine
	for i := range 30 {
		sid := fmt.Sprintf("2_MX40NzEyMzQ1Nn5-crowd-%04d", i)
		cid, d := fmt.Sprintf("c-crowd-%04d", i), person(fmt.Sprintf("Crowd %02d", i), "host")
		b.join(sid, cid, d, time.Duration(30+i)*time.Minute)
		b.publish(sid, cid, d, fmt.Sprintf("s-crowd-%04d", i), "cam", "camera", time.Duration(30+i)*time.Minute)
		b.archive(sid, fmt.Sprintf("a-crowd-%04d", i), "started", time.Duration(30+i)*time.Minute)
		audits = append(audits, NewAuditLine(uint64(1000+i), events.Audit{At: epoch.Add(-time.Duration(i) * time.Minute), Actor: "ana",
			Action: events.ActionMute, Session: sid, Target: fmt.Sprintf("s-crowd-%04d", i), OK: true}))
	}
	msg := b.msg(relayclient.Live)
	msg.Audits = audits
	for _, name := range []string{"sessions", "connections", "streams", "events", "archives", "audit"} {
		m := NewModel(Options{RelayURL: "ws://relay.test/v1/stream"})
		m.now = epoch
		m = update(m, tea.WindowSizeMsg{Width: 80, Height: 24})
		m = update(m, msg)
		m.now = epoch
		m = press(m, ":")
		m = typeText(m, name)
		m = press(m, "enter", "g")
		_ = m.View()
		list := func() *listState {
			switch m.current() {
			case viewConnections:
				return &m.conns.list
			case viewStreams:
				return &m.streams.list
			case viewSessions:
				return &m.sessions.list
			case viewEvents:
				return &m.events.list
			case viewArchives:
				return &m.archives.list
			}
			return &m.audit.list
		}
		if l := list(); l.height >= rowsIn(m, name) {
			t.Fatalf(":%s: %d rows fit in a window of %d: the fixture cannot show scrolling", name, rowsIn(m, name), l.height)
		}
		m = press(m, "j", "j")
		_ = m.View()
		if got := list().top; got != 0 {
			t.Errorf(":%s: two rows down from the top, the window starts at row %d", name, got)
		}
	}
}

// rowsIn is how many rows the view named name has.
func rowsIn(m Model, name string) int {
	switch name {
	case "sessions":
		return len(m.sessions.shown)
	case "connections":
		return len(m.conns.shown)
	case "streams":
		return len(m.streams.shown)
	case "events":
		return m.events.count()
	case "archives":
		return len(m.archives.shown)
	}
	return m.audit.count()
}
