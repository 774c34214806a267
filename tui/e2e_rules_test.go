package tui_test

// TestDemoBansAndAlertsInARealTerminal drives `gavel demo` in a tmux pane
// through what the relay's rules do while nobody watches, reading only
// the screen:
//
//   - the flaky session's dropped connections raise a network alert: it
//     flashes in the footer, the session's row carries ⚠, :alerts lists
//     it and `a` acknowledges it;
//   - `b` on a town hall viewer bans them (form, question naming them,
//     y): they vanish, the town hall's app brings them back as a new
//     connection, and the relay removes them again, the tail saying
//     "banned" each time; :bans lists the ban, `x` lifts it (asks), and
//     the next time they come back they stay.

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDemoBansAndAlertsInARealTerminal(t *testing.T) {
	needTmux(t)
	began := time.Now()
	bin := buildGavel(t)
	tm := startTmux(t, bin+" demo")
	since := func() time.Duration { return time.Since(began).Round(time.Millisecond) }

	// 1. An alert from the flaky session: the demo's relay calls three
	// lost connections in a minute an incident, and the flaky session
	// loses about fifteen a minute.
	screen := tm.waitFor(t, 60*time.Second, "a network alert flashed in the footer", func(s string) bool {
		f := footer(s)
		return strings.HasPrefix(f, "⚠ alert: ") && strings.Contains(f, "lost the network") ||
			strings.HasPrefix(f, "⚠ ") && strings.Contains(f, " alerts, the latest: ")
	})
	t.Logf("%v: the flash:\n%s", since(), screen)
	if !sessionRowMarked(screen) {
		t.Errorf("no session row carries ⚠ while its alert is open:\n%s", screen)
	}
	tm.keys(t, ":")
	tm.literal(t, "alerts")
	tm.keys(t, "Enter")
	screen = tm.waitFor(t, 5*time.Second, ":alerts listing the open network incident", func(s string) bool {
		return openAlertsRe.MatchString(s) && alertRow(s, "⚠network_incident", "lost the network") != ""
	})
	t.Logf("%v: :alerts:\n%s", since(), screen)
	// The newest is at the top and selected: acknowledge it.
	top := alertRow(screen, "⚠network_incident", "lost the network")
	tm.keys(t, "a")
	screen = tm.waitFor(t, 10*time.Second, "the alert acknowledged by the demo's token", func(s string) bool {
		if f := footer(s); strings.HasPrefix(f, "✗") {
			t.Fatalf("acknowledging failed: %s\n%s", f, s)
		}
		return strings.Contains(footer(s), "✓ acknowledged the alert network_incident") && ackedRowFor(s, top)
	})
	t.Logf("%v: acknowledged:\n%s", since(), screen)

	// 2. A ban on a town hall viewer.
	tm.keys(t, ":")
	tm.literal(t, "sessions")
	tm.keys(t, "Enter")
	hall := waitForTownHall(t, tm)
	openSession(t, tm, hall.id)
	var who connLine
	tm.waitFor(t, 10*time.Second, "a viewer in the connections pane", func(s string) bool {
		for _, c := range parseConns(s) {
			if c.role == "viewer" && c.streams == 0 && strings.Count(c.name, " ") == 1 && !strings.Contains(c.name, "…") {
				who = c
				return true
			}
		}
		return false
	})
	// Pin them by name: the filter then shows each connection of theirs,
	// the first and every one they come back with.
	tm.keys(t, "/")
	tm.literal(t, who.name)
	tm.keys(t, "Enter")
	screen = tm.waitFor(t, 5*time.Second, "the session view filtered to "+who.name, func(s string) bool {
		n, ok := filteredConns(s, who.name)
		return ok && n == 1 && hasConn(s, who.id)
	})
	tm.keys(t, "b")
	tm.waitFor(t, 5*time.Second, "the ban form", func(s string) bool {
		return strings.Contains(s, "Ban "+who.name) && strings.Contains(s, "reason") && strings.Contains(s, "24h")
	})
	tm.keys(t, "Tab", "Tab")
	tm.literal(t, "e2e trolling")
	tm.waitFor(t, 5*time.Second, "the reason typed in", func(s string) bool { return strings.Contains(s, "e2e trolling") })
	tm.keys(t, "Enter")
	tm.waitFor(t, 5*time.Second, "the question naming "+who.name, func(s string) bool {
		f := footer(s)
		return strings.HasPrefix(f, "Ban "+who.name+" (…") && strings.Contains(f, "for 24h0m0s?")
	})
	time.Sleep(answerAfter)
	tm.keys(t, "y")

	// They vanish; the app brings them back (a few seconds later, as a
	// new connection) and the relay removes them again: the tail says
	// "banned" for each of their connections. The town hall's tail turns
	// over fast, so every frame is read.
	banned := map[string]bool{} // the id tails of their connections the tail says were banned
	done := false
	deadline := time.Now().Add(30 * time.Second)
	for !done || len(banned) < 3 {
		screen = tm.capture(t)
		if f := footer(screen); strings.HasPrefix(f, "✗") {
			t.Fatalf("the ban failed: %s\n%s", f, screen)
		}
		done = done || strings.HasPrefix(footer(screen), "✓ banned "+who.name+" (…")
		for _, l := range tailRows(screen) {
			if strings.Contains(l, who.name) && strings.Contains(l, " banned — kicked ") {
				f := strings.Fields(l)
				banned[f[len(f)-1]] = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: done line %v, %d of their connections banned in the tail (want 3: the first and two comebacks); the screen:\n%s",
				done, len(banned), screen)
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Logf("%v: %s removed as they came back, %d connections: %v\n%s", since(), who.name, len(banned), banned, screen)
	if n, _ := filteredConns(screen, who.name); n > 1 {
		t.Errorf("%d connections of %s shown at once while banned:\n%s", n, who.name, screen)
	}

	// 3. :bans lists it; x lifts it, after asking.
	tm.keys(t, "Escape") // clears the filter
	tm.waitFor(t, 5*time.Second, "the filter cleared", func(s string) bool {
		return !strings.Contains(s, "</") && connsPaneRe.MatchString(s)
	})
	tm.keys(t, ":")
	tm.literal(t, "bans")
	tm.keys(t, "Enter")
	screen = tm.waitFor(t, 5*time.Second, ":bans listing the ban", func(s string) bool {
		return banRowRe(who.name).MatchString(s)
	})
	t.Logf("%v: :bans:\n%s", since(), screen)
	tm.keys(t, "x")
	tm.waitFor(t, 5*time.Second, "the question to lift it", func(s string) bool {
		return strings.HasPrefix(footer(s), "Lift the ban on "+who.name+"?")
	})
	time.Sleep(answerAfter)
	tm.keys(t, "y")
	screen = tm.waitFor(t, 10*time.Second, "the ban lifted", func(s string) bool {
		if f := footer(s); strings.HasPrefix(f, "✗") {
			t.Fatalf("lifting failed: %s\n%s", f, s)
		}
		return strings.Contains(s, "no bans in force") && strings.HasPrefix(footer(s), "✓ lifted the ban on "+who.name)
	})

	// 4. The next time they come back, they stay.
	tm.keys(t, ":")
	tm.literal(t, "sessions")
	tm.keys(t, "Enter")
	tm.waitFor(t, 5*time.Second, "the sessions list, filtered to the town hall still", func(s string) bool {
		l, ok := parseSessions(s)
		return ok && l.filter != ""
	})
	tm.keys(t, "Escape") // clears the list's filter
	tm.waitFor(t, 5*time.Second, "the sessions list", func(s string) bool { l, ok := parseSessions(s); return ok && l.filter == "" })
	openSession(t, tm, hall.id)
	tm.keys(t, "/")
	tm.literal(t, who.name)
	tm.keys(t, "Enter")
	var back connLine
	screen = tm.waitFor(t, 20*time.Second, who.name+" back in the town hall", func(s string) bool {
		n, ok := filteredConns(s, who.name)
		if !ok || n != 1 {
			return false
		}
		for _, c := range parseConns(s) {
			if c.name == who.name {
				back = c
				return true
			}
		}
		return false
	})
	time.Sleep(3 * time.Second) // longer than a removal takes (milliseconds)
	screen = tm.capture(t)
	if n, _ := filteredConns(screen, who.name); n != 1 || !hasConn(screen, back.id) {
		t.Fatalf("%s came back after the ban was lifted and was removed again:\n%s", who.name, screen)
	}
	t.Logf("%v: %s stays:\n%s", since(), who.name, screen)

	tm.keys(t, "q")
	screen = tm.waitFor(t, 10*time.Second, "gavel to exit", func(s string) bool { return strings.Contains(s, exitMarker) })
	if !strings.Contains(screen, exitMarker+"0") {
		t.Errorf("gavel demo did not exit with status 0:\n%s", screen)
	}
}

var openAlertsRe = regexp.MustCompile(`alerts\[\d+\] ⚠\d+ open`)

// alertRow is the first :alerts row of kind (as shown, ⚠ while open)
// saying what, or "".
func alertRow(screen, kind, what string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, kind) && strings.Contains(l, what) {
			return l
		}
	}
	return ""
}

// ackedRowFor reports whether the row that was open now shows who
// acknowledged it: same text, no ⚠, the demo token's name at the end.
func ackedRowFor(screen, open string) bool {
	fields := strings.Fields(open)
	if len(fields) < 3 {
		return false
	}
	what := strings.Join(fields[3:len(fields)-1], " ") // after when, kind, session; before "-"
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, " network_incident ") && strings.Contains(l, what) && strings.HasSuffix(strings.TrimSpace(l), "demo") {
			return true
		}
	}
	return false
}

// sessionRowMarked reports whether a row of the sessions table carries ⚠.
func sessionRowMarked(screen string) bool {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if headerRe.MatchString(l) {
			for _, r := range lines[i+1:] {
				if strings.Contains(r, "⚠ ") {
					return true
				}
			}
		}
	}
	return false
}

// banRowRe matches the :bans row of a ban on name in this session, from
// the demo's token, with the reason given.
func banRowRe(name string) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(name) + `\s+\S+\s+2[34]h\s+demo\s+e2e trolling`)
}
