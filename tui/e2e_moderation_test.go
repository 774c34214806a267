package tui_test

// TestDemoModerationInARealTerminal moderates `gavel demo` in a tmux pane
// as a person would, reading only the screen: in the town hall it
// disconnects a viewer — the (y/N) question names them, enter (the
// default, No) leaves them be, y removes them — and sees the done line,
// the connection gone and "kicked" in the session's event tail; then it
// records a routed session from the form and stops the recording, the
// ●REC badge coming and going with the emulator's archive callbacks.
//
// The demo never holds still (viewers come and go, the town hall's tail
// turns over a screenful a second), so the viewer is pinned by filtering
// the session view for their connection id, another is tried if they
// leave on their own first, and the tail is read as it scrolls by.

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gavelhq/gavel/internal/tmuxtest"
)

// answerAfter is how long the test waits before answering a question:
// a little more than the console's askGuard (400 ms), during which a new
// question ignores keys.
const answerAfter = 600 * time.Millisecond

func TestDemoModerationInARealTerminal(t *testing.T) {
	needTmux(t)
	began := time.Now()
	bin := buildGavel(t)
	t.Logf("built gavel in %v", time.Since(began).Round(time.Millisecond))
	tm := startTmux(t, bin+" demo")
	since := func() time.Duration { return time.Since(began).Round(time.Millisecond) }

	// The town hall: the session with the audience (viewers publish
	// nothing), recorded from the start.
	hall := waitForTownHall(t, tm)
	screen := openSession(t, tm, hall.id)
	t.Logf("%v: opened the town hall %s:\n%s", since(), hall.id, screen)

	// 1–3. Disconnect a viewer, after saying no once.
	tried := map[string]bool{}
	kicked := false
	for attempt := 1; attempt <= 4 && !kicked; attempt++ {
		var who connLine
		tm.waitFor(t, 10*time.Second, "a viewer not tried yet in the connections pane", func(s string) bool {
			for _, c := range parseConns(s) {
				if c.role == "viewer" && c.streams == 0 && c.name != "" && !tried[c.id] {
					who = c
					return true
				}
			}
			return false
		})
		tried[who.id] = true
		kicked = disconnectViewer(t, tm, who, attempt)
	}
	if !kicked {
		t.Fatalf("no viewer could be disconnected in 4 attempts; the screen:\n%s", tm.capture(t))
	}
	t.Logf("%v: disconnected a viewer", since())

	// Back to the unfiltered sessions list: esc clears the session view's
	// filter, esc goes back, esc clears the list's filter. Each esc waits
	// for its screen: an esc and the next key together read as alt+key.
	tm.keys(t, "Escape")
	tm.waitFor(t, 5*time.Second, "the town hall unfiltered", func(s string) bool {
		return strings.Contains(s, "session(") && !strings.Contains(s, "</") && connsPaneRe.MatchString(s)
	})
	tm.keys(t, "Escape")
	tm.waitFor(t, 5*time.Second, "the filtered sessions list", func(s string) bool {
		l, ok := parseSessions(s)
		return ok && l.filter != ""
	})
	tm.keys(t, "Escape")

	// 4. Record a routed session and stop. Only the one-to-one calls are
	// relayed (the service cannot record them), and they have two people
	// at most: the biggest session after the town hall (the classroom, or
	// the flaky-network one early on) is routed, and not recording.
	var rec sessionRow
	tm.waitFor(t, 20*time.Second, "a routed session besides the town hall", func(s string) bool {
		l, ok := parseSessions(s)
		if !ok || l.filter != "" {
			return false
		}
		rec = sessionRow{}
		for _, r := range l.rows {
			if r.id != hall.id && r.conns >= 3 && r.conns > rec.conns {
				rec = r
			}
		}
		return rec.id != ""
	})
	screen = openSession(t, tm, rec.id)
	t.Logf("%v: opened %s to record it (%d connections)", since(), rec.id, rec.conns)
	if recording(screen) {
		t.Fatalf("the session is recording already:\n%s", screen)
	}

	tm.keys(t, "r")
	tm.waitFor(t, 5*time.Second, "the recording form", func(s string) bool {
		return strings.Contains(s, "Record ") && strings.Contains(s, "ctrl+s send")
	})
	const archiveName = "gavel e2e"
	tm.literal(t, archiveName)
	tm.waitFor(t, 5*time.Second, "the name typed in", func(s string) bool { return strings.Contains(s, archiveName) })
	tm.keys(t, "C-s")
	screen = tm.waitFor(t, 10*time.Second, "●REC after starting a recording", func(s string) bool {
		if f := footer(s); strings.HasPrefix(f, "✗") {
			t.Fatalf("starting the recording failed: %s\n%s", f, s)
		}
		return recording(s) && strings.Contains(footer(s), "✓ started recording") &&
			tailHas(s, archiveName, "recording started")
	})
	t.Logf("%v: recording:\n%s", since(), screen)

	tm.keys(t, "r")
	tm.waitFor(t, 5*time.Second, "the question to stop recording", func(s string) bool {
		return strings.Contains(footer(s), "Stop recording ") && strings.Contains(footer(s), "(archive “"+archiveName+"”)?")
	})
	time.Sleep(answerAfter)
	tm.keys(t, "y")
	screen = tm.waitFor(t, 10*time.Second, "the ●REC badge to clear", func(s string) bool {
		if f := footer(s); strings.HasPrefix(f, "✗") {
			t.Fatalf("stopping the recording failed: %s\n%s", f, s)
		}
		_, ok := summary(s)
		return ok && !recording(s) && strings.Contains(footer(s), "✓ stopped recording") &&
			tailHas(s, archiveName, "recording stopped")
	})
	t.Logf("%v: stopped recording:\n%s", since(), screen)

	tm.keys(t, "q")
	screen = tm.waitFor(t, 10*time.Second, "gavel to exit", func(s string) bool { return strings.Contains(s, exitMarker) })
	if !strings.Contains(screen, exitMarker+"0") {
		t.Errorf("gavel demo did not exit with status 0:\n%s", screen)
	}
	if left := tm.leftovers(); len(left) > 0 {
		t.Errorf("gavel demo quit but left %v behind", left)
	}
	t.Logf("whole run: %v", since())
}

// waitForTownHall waits, on the unfiltered sessions list, for the session
// with an audience (50 viewers or more) and returns its row.
func waitForTownHall(t *testing.T, tm *tmux) sessionRow {
	t.Helper()
	var hall sessionRow
	tm.waitFor(t, 20*time.Second, "the town hall with an audience", func(s string) bool {
		l, ok := parseSessions(s)
		if !ok || l.filter != "" {
			return false
		}
		for _, r := range l.rows {
			if r.viewers >= 50 && r.viewers > hall.viewers {
				hall = r
			}
		}
		return hall.viewers >= 50
	})
	return hall
}

// disconnectViewer pins who by filtering the session view for their
// connection id, asks to disconnect them and says no (enter), then asks
// again and says yes. It reports false, with the filter cleared, when the
// viewer left on their own first: the caller tries another.
func disconnectViewer(t *testing.T, tm *tmux, who connLine, attempt int) bool {
	t.Helper()
	tm.keys(t, "/")
	tm.literal(t, who.id)
	tm.keys(t, "Enter")
	shown := 0
	screen := tm.waitFor(t, 5*time.Second, "the session view filtered to "+who.id, func(s string) bool {
		var ok bool
		shown, ok = filteredConns(s, who.id)
		return ok && (shown == 0 || hasConn(s, who.id))
	})
	left := func(why string) bool {
		t.Logf("attempt %d: %s (%s) left on their own %s; trying another viewer:\n%s", attempt, who.name, who.id, why, screen)
		tm.keys(t, "Escape") // clears the filter
		tm.waitFor(t, 5*time.Second, "the filter cleared", func(s string) bool {
			return !strings.Contains(s, "</") && connsPaneRe.MatchString(s)
		})
		return false
	}
	if shown == 0 {
		return left("before the filter")
	}

	// d asks, naming them; enter is no.
	question := "Disconnect " + who.name + " (…" + who.id[len(who.id)-9:] + ") from "
	// If they leave just before d, there is no row to disconnect and the
	// footer says to select one.
	noRow := func(s string) bool {
		n, _ := filteredConns(s, who.id)
		return n == 0 && strings.HasPrefix(footer(s), "select a connection")
	}
	ask := func() bool {
		tm.keys(t, "d")
		screen = tm.waitFor(t, 5*time.Second, "the question naming "+who.name, func(s string) bool {
			f := footer(s)
			return noRow(s) || strings.HasPrefix(f, question) && strings.Contains(f, "y yes · N/enter/esc no")
		})
		return !noRow(screen)
	}
	if !ask() {
		return left("before d")
	}
	t.Logf("attempt %d: asked:\n%s", attempt, screen)
	time.Sleep(answerAfter)
	tm.keys(t, "Enter")
	screen = tm.waitFor(t, 5*time.Second, "the question cancelled", func(s string) bool {
		return strings.HasPrefix(footer(s), "cancelled: "+question)
	})
	// Nothing was sent: a moment later they are still there.
	time.Sleep(300 * time.Millisecond)
	screen = tm.capture(t)
	if f := footer(screen); !strings.HasPrefix(f, "cancelled: ") {
		t.Fatalf("after enter (no), the footer says %q:\n%s", f, screen)
	}
	if n, _ := filteredConns(screen, who.id); n != 1 || !hasConn(screen, who.id) {
		return left("while the question was open")
	}

	// d again, and y.
	if !ask() {
		return left("before the second d")
	}
	time.Sleep(answerAfter)
	tm.keys(t, "y")

	// The done line, the row gone and the kicked line come together, but
	// the town hall's tail turns over about a screenful a second: look
	// at every frame, and fall back to scrolling the tail back.
	done, gone, seen := false, false, false
	var goneAt time.Time
	deadline := time.Now().Add(15 * time.Second)
	for !(done && gone && seen) {
		screen = tm.capture(t)
		f := footer(screen)
		if strings.HasPrefix(f, "✗ disconnect") {
			// They left on their own just before (the service no longer
			// knows the connection); a console bug fails every attempt.
			return left("or the disconnect failed: " + f)
		}
		done = done || strings.HasPrefix(f, "✓ disconnected "+who.name+" (…")
		if n, ok := filteredConns(screen, who.id); ok && n == 0 && !hasConn(screen, who.id) && !gone {
			gone, goneAt = true, time.Now()
		}
		seen = seen || kickedIn(screen, who)
		if gone && !seen && time.Since(goneAt) > time.Second {
			// It went by unseen (a busy machine renders in bursts).
			t.Logf("the kicked line went by unseen; scrolling the tail back for it")
			seen = scrollTailFor(t, tm, who)
			if !seen {
				t.Fatalf("no kicked line for %s (%s) in the session's event tail", who.name, who.id)
			}
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: done line %v, %s gone %v, kicked line %v; the screen:\n%s", done, who.name, gone, seen, screen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("attempt %d: disconnected %s (%s):\n%s", attempt, who.name, who.id, screen)
	return true
}

// scrollTailFor focuses the event tail (tab, tab) and pages up through it
// looking for who's kicked line; it leaves the focus on the connections.
func scrollTailFor(t *testing.T, tm *tmux, who connLine) bool {
	t.Helper()
	tm.keys(t, "Tab", "Tab")
	tm.waitFor(t, 5*time.Second, "the event tail focused", func(s string) bool { return strings.Contains(s, "▸ events[") })
	defer tm.keys(t, "Tab")
	for range 60 {
		s := tm.capture(t)
		if kickedIn(s, who) {
			t.Logf("found it scrolled back:\n%s", s)
			return true
		}
		tm.keys(t, "PageUp")
		time.Sleep(80 * time.Millisecond)
	}
	return false
}

// openSession filters the sessions list for id's tail, as its row shows
// it, and opens the one row left; it returns the session view.
func openSession(t *testing.T, tm *tmux, id string) string {
	t.Helper()
	needle := strings.TrimPrefix(id, "…")
	tm.keys(t, "/")
	tm.literal(t, needle)
	tm.keys(t, "Enter")
	tm.waitFor(t, 5*time.Second, "the list filtered to "+id, func(s string) bool {
		l, ok := parseSessions(s)
		return ok && l.filter == needle && len(l.rows) == 1 && l.rows[0].id == id
	})
	tm.keys(t, "Enter")
	return tm.waitFor(t, 5*time.Second, "the session view of "+id, func(s string) bool {
		_, ok := parseSessionView(s, needle[max(len(needle)-20, 0):])
		return ok
	})
}

// connLine is a row of a session view's connections pane.
type connLine struct {
	name, role, id string
	streams        int
}

var (
	connsHeaderRe = regexp.MustCompile(`^NAME\s+ROLE\s+JOINED\s+STRMS\s+CONNECTION\s*$`)
	tailHeaderRe  = regexp.MustCompile(`^TIME\s+WHO\s+WHAT\s+ID\s*$`)
	eventsPaneRe  = regexp.MustCompile(`^[ ▸] events\[\d+\]`)
)

// parseConns reads the connections pane's rows: under its header, up to
// the streams pane's title.
func parseConns(screen string) []connLine {
	lines := strings.Split(screen, "\n")
	var out []connLine
	for i, head := range lines {
		if !connsHeaderRe.MatchString(head) {
			continue
		}
		at := func(name string) int { return utf8.RuneCountInString(head[:strings.Index(head, name)]) }
		role, joined, conn := at("ROLE"), at("JOINED"), at("CONNECTION")
		strms := at("STRMS") + len("STRMS")
		for _, line := range lines[i+1:] {
			r := []rune(line)
			if len(r) <= conn || strings.TrimSpace(line) == "" {
				break
			}
			n, ok := numberEndingAt(r, strms)
			if !ok {
				break
			}
			c := connLine{
				name:    strings.TrimSpace(string(r[:role])),
				role:    strings.TrimSpace(string(r[role:joined])),
				id:      strings.TrimSpace(string(r[conn:])),
				streams: n,
			}
			out = append(out, c)
		}
		break
	}
	return out
}

func hasConn(screen, id string) bool {
	for _, c := range parseConns(screen) {
		if c.id == id {
			return true
		}
	}
	return false
}

// filteredConns reads "</filter> n/m connections" off the session view's
// title: how many connections the filter shows.
func filteredConns(screen, filter string) (int, bool) {
	m := regexp.MustCompile(`</` + regexp.QuoteMeta(filter) + `> (\d+)/\d+ connections`).FindStringSubmatch(screen)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

// tailRows are the event tail pane's rows.
func tailRows(screen string) []string {
	lines := strings.Split(screen, "\n")
	for i := 0; i+1 < len(lines); i++ {
		if eventsPaneRe.MatchString(lines[i]) && tailHeaderRe.MatchString(lines[i+1]) {
			var out []string
			for _, l := range lines[i+2 : len(lines)-1] { // the footer is last
				if strings.TrimSpace(l) != "" {
					out = append(out, l)
				}
			}
			return out
		}
	}
	return nil
}

// kickedIn reports whether the event tail shows who kicked: a row naming
// them, saying so, about their connection (its id's tail in the ID column).
func kickedIn(screen string, who connLine) bool {
	for _, l := range tailRows(screen) {
		l = strings.TrimSpace(l)
		if strings.Contains(l, who.name) && strings.Contains(l, " kicked ") && strings.HasSuffix(l, who.id[len(who.id)-12:]) {
			return true
		}
	}
	return false
}

// tailHas reports whether a tail row holds all of words.
func tailHas(screen string, words ...string) bool {
	for _, l := range tailRows(screen) {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			return true
		}
	}
	return false
}

// footer is the screen's last non-blank line: the keys, or the
// moderation line (a question, pending, done or failed).
func footer(screen string) string { return tmuxtest.Footer(screen) }

// summary is the session view's summary line.
func summary(screen string) (string, bool) {
	for _, l := range strings.Split(screen, "\n") {
		if summaryRe.MatchString(l) {
			return l, true
		}
	}
	return "", false
}

func recording(screen string) bool {
	s, ok := summary(screen)
	return ok && strings.Contains(s, "●REC")
}
