package tui_test

// TestDemoInARealTerminal runs the real gavel binary's `gavel demo` in a
// tmux pane — a real pseudo-terminal, with the real renderer, input parser
// and terminal size — and reads the screen as a person would: the sessions
// list fills up, a session is filtered for and opened, its figures match
// the row it was opened from, and q quits.
//
// It needs tmux. Without it the test is skipped on a developer's machine
// and fails on CI (CI set), where .ci/run installs tmux.

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gavelhq/gavel/internal/tmuxtest"
)

const (
	paneWidth  = 200
	paneHeight = 50
)

func TestDemoInARealTerminal(t *testing.T) {
	needTmux(t)
	began := time.Now()
	bin := buildGavel(t)
	t.Logf("built gavel in %v", time.Since(began).Round(time.Millisecond))

	tm := startTmux(t, bin+" demo")

	// 1. The sessions list: DEMO and LIVE badges, rows with people in them.
	var list sessionsScreen
	screen := tm.waitFor(t, 15*time.Second, "the sessions list with a live session", func(s string) bool {
		l, ok := parseSessions(s)
		if !ok || !strings.Contains(s, "DEMO") || !strings.Contains(s, "LIVE") {
			return false
		}
		// A lively screen: several sessions, the town hall filling up.
		if l.total < 3 || len(l.rows) < 3 || l.rows[0].conns < 20 {
			return false
		}
		list = l
		return true
	})
	t.Logf("sessions list after %v:\n%s", time.Since(began).Round(time.Millisecond), screen)
	if list.total < len(list.rows) {
		t.Errorf("the title says %d sessions but %d rows are shown:\n%s", list.total, len(list.rows), screen)
	}

	// ? shows every key (page up is not in the footer); esc closes it.
	tm.keys(t, "?")
	tm.waitFor(t, 5*time.Second, "the help screen", func(s string) bool {
		return strings.Contains(s, "page up") && strings.Contains(s, "quit")
	})
	tm.keys(t, "Escape")
	tm.waitFor(t, 5*time.Second, "the sessions list again", func(s string) bool {
		l, ok := parseSessions(s)
		return ok && len(l.rows) > 0 && !strings.Contains(s, "page up")
	})

	// 2–3. Filter for one session by the tail of its id, as its row shows
	// it: exactly that row remains, and the title counts it. Open it: the
	// session view's figures are its row's. Sessions change all the time
	// (calls end, the town hall fills up), so pick one whose row held still
	// for a second, and try another if it moves before the view opens.
	opened := false
	for attempt := 1; attempt <= 4 && !opened; attempt++ {
		target, ok := steadySession(t, tm)
		if !ok {
			continue
		}
		needle := strings.TrimPrefix(target.id, "…")
		tm.keys(t, "/")
		tm.literal(t, needle)
		tm.keys(t, "Enter")
		var filtered sessionsScreen
		gone := false
		screen = tm.waitFor(t, 5*time.Second, "the list filtered to "+target.id, func(s string) bool {
			l, ok := parseSessions(s)
			if !ok || l.filter != needle {
				return false
			}
			gone = l.shown == 0 && strings.Contains(s, "nothing matches /"+needle)
			filtered = l
			return gone || (len(l.rows) == 1 && l.rows[0].id == target.id)
		})
		if gone {
			t.Logf("attempt %d: session %s ended before it could be opened; trying another", attempt, target.id)
			tm.keys(t, "Escape") // clears the filter
			continue
		}
		if filtered.shown != 1 || filtered.total < 2 {
			t.Errorf("filtered title says %d of %d sessions, want 1 of at least 2:\n%s", filtered.shown, filtered.total, screen)
		}
		row := filtered.rows[0]

		tm.keys(t, "Enter")
		idTail := needle[max(len(needle)-20, 0):] // the view's title shows less of the id
		var view sessionFigures
		screen = tm.waitFor(t, 5*time.Second, "the session view of "+target.id, func(s string) bool {
			f, ok := parseSessionView(s, idTail)
			view = f
			return ok
		})
		if view.conns == row.conns && view.pubs == row.pubs && view.viewers == row.viewers {
			opened = true
			if view.listed != view.conns {
				t.Errorf("the session view says %d connections but its pane title says connections[%d]:\n%s", view.conns, view.listed, screen)
			}
			if view.conns == 0 {
				t.Errorf("opened a session with no connections:\n%s", screen)
			}
			t.Logf("session %s: row and view agree on %d connections, %d publishing, %d viewers", target.id, row.conns, row.pubs, row.viewers)
			break
		}
		t.Logf("attempt %d: row said %d/%d/%d connections/publishing/viewers, the view %d/%d/%d (it moved); trying again",
			attempt, row.conns, row.pubs, row.viewers, view.conns, view.pubs, view.viewers)
		tm.keys(t, "Escape") // back to the filtered list
		tm.waitFor(t, 5*time.Second, "the filtered list again", func(s string) bool { _, ok := parseSessions(s); return ok })
		tm.keys(t, "Escape") // clear the filter
	}
	if !opened {
		t.Fatalf("no session's row matched its session view in 4 attempts; last screen:\n%s", screen)
	}

	// 4. q quits: the process ends with status 0 and gives the terminal back.
	tm.keys(t, "q")
	screen = tm.waitFor(t, 10*time.Second, "gavel to exit", func(s string) bool {
		return strings.Contains(s, exitMarker)
	})
	if !strings.Contains(screen, exitMarker+"0") {
		t.Errorf("gavel demo did not exit with status 0:\n%s", screen)
	}
	if left := tm.leftovers(); len(left) > 0 {
		t.Errorf("gavel demo quit but left %v behind", left)
	}
	t.Logf("whole run: %v", time.Since(began).Round(time.Millisecond))
}

// needTmux skips the test without tmux on a developer's machine, and
// fails it on CI (CI set), where .ci/run installs tmux.
func needTmux(t *testing.T) { t.Helper(); tmuxtest.Need(t) }

// exitMarker is printed by the pane's shell once gavel returns.
const exitMarker = tmuxtest.ExitMarker

// buildGavel builds the gavel binary from the module root into a temp dir.
func buildGavel(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gavel")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gavelhq/gavel")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// tmux is the demo's pane, with the test's names for its methods.
type tmux struct{ p *tmuxtest.Pane }

// leftovers lists the demo's temporary directories still in the pane's TMPDIR.
func (tm *tmux) leftovers() []string {
	left, _ := filepath.Glob(filepath.Join(tm.p.TempDir(), "gavel-demo-*"))
	return left
}

func startTmux(t *testing.T, command string) *tmux {
	t.Helper()
	tm := &tmux{}
	// Registered before the pane, so it runs after the pane's server is
	// killed: the hang-up ends gavel, which then removes its temporary
	// directory (before t.TempDir's own cleanup).
	t.Cleanup(func() {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(tm.leftovers()) > 0; {
			time.Sleep(50 * time.Millisecond)
		}
		if left := tm.leftovers(); len(left) > 0 {
			t.Errorf("gavel demo left %v behind after a hang-up", left)
		}
	})
	tm.p = tmuxtest.Start(t, paneWidth, paneHeight, command)
	return tm
}

func (tm *tmux) capture(*testing.T) string         { return tm.p.Capture() }
func (tm *tmux) keys(_ *testing.T, keys ...string) { tm.p.Keys(keys...) }
func (tm *tmux) literal(_ *testing.T, text string) { tm.p.Literal(text) }

// waitFor polls the pane until ok says the screen is right, and returns it.
func (tm *tmux) waitFor(_ *testing.T, timeout time.Duration, what string, ok func(screen string) bool) string {
	return tm.p.WaitFor(timeout, what, ok)
}

// sessionsScreen is what the sessions list shows.
type sessionsScreen struct {
	total, shown int // from the title: sessions(live)[total], </filter> shown/total
	filter       string
	rows         []sessionRow
}

type sessionRow struct {
	id                            string // as shown: the id's tail, after "…"
	conns, pubs, streams, viewers int
}

var (
	titleRe  = regexp.MustCompile(`sessions\((?:live|all)\)\[(\d+)\](?: </([^>]*)> (\d+)/(\d+))?`)
	headerRe = regexp.MustCompile(`^\s*SESSION\s+HOST\s+CONNS\s+PUBS\s+STRMS\s+VIEWERS\b`)
)

// parseSessions reads the sessions list off the screen: the title, then
// the table under the header, column by column (the numeric columns are
// right-aligned under their titles).
func parseSessions(screen string) (sessionsScreen, bool) {
	var l sessionsScreen
	m := titleRe.FindStringSubmatch(screen)
	if m == nil {
		return l, false
	}
	l.total, _ = strconv.Atoi(m[1])
	l.shown = l.total
	if m[2] != "" || m[3] != "" {
		l.filter = m[2]
		l.shown, _ = strconv.Atoi(m[3])
	}
	lines := strings.Split(screen, "\n")
	head := -1
	for i, line := range lines {
		if headerRe.MatchString(line) {
			head = i
			break
		}
	}
	if head < 0 {
		return l, false
	}
	cols := map[string]int{} // title → the rune index its cells end at
	for _, name := range []string{"CONNS", "PUBS", "STRMS", "VIEWERS"} {
		i := strings.Index(lines[head], name)
		cols[name] = utf8.RuneCountInString(lines[head][:i]) + len(name)
	}
	for _, line := range lines[head+1:] {
		fields := strings.Fields(line)
		if len(fields) < 6 {
			break // the end of the table (or "no live sessions yet")
		}
		r := sessionRow{id: fields[0]}
		ok := true
		for name, p := range map[string]*int{"CONNS": &r.conns, "PUBS": &r.pubs, "STRMS": &r.streams, "VIEWERS": &r.viewers} {
			n, good := numberEndingAt([]rune(line), cols[name])
			*p, ok = n, ok && good
		}
		if !ok {
			break
		}
		l.rows = append(l.rows, r)
	}
	return l, true
}

// numberEndingAt reads the right-aligned number whose last digit is just
// before rune index end.
func numberEndingAt(line []rune, end int) (int, bool) {
	if end > len(line) {
		return 0, false
	}
	start := end
	for start > 0 && line[start-1] >= '0' && line[start-1] <= '9' {
		start--
	}
	if start == end || (start > 0 && line[start-1] != ' ') {
		return 0, false
	}
	n, err := strconv.Atoi(string(line[start:end]))
	return n, err == nil
}

// sessionFigures is what the session view says about the session.
type sessionFigures struct {
	conns, pubs, viewers int // from the summary line
	listed               int // connections[N]: the connections pane's title
}

var (
	summaryRe   = regexp.MustCompile(`(\d+) connections · (\d+) publishing · (\d+) viewers`)
	connsPaneRe = regexp.MustCompile(`connections\[(\d+)\]`)
)

// parseSessionView reads the session view of the session whose id ends
// with idTail off the screen.
func parseSessionView(screen, idTail string) (sessionFigures, bool) {
	var f sessionFigures
	if !regexp.MustCompile(`(?m)^session\([^)\s]*` + regexp.QuoteMeta(idTail) + `\)`).MatchString(screen) {
		return f, false
	}
	m := summaryRe.FindStringSubmatch(screen)
	p := connsPaneRe.FindStringSubmatch(screen)
	if m == nil || p == nil {
		return f, false
	}
	f.conns, _ = strconv.Atoi(m[1])
	f.pubs, _ = strconv.Atoi(m[2])
	f.viewers, _ = strconv.Atoi(m[3])
	f.listed, _ = strconv.Atoi(p[1])
	return f, true
}

// steadySession reads the sessions list every second and picks the
// biggest session whose figures did not change in the last second.
func steadySession(t *testing.T, tm *tmux) (sessionRow, bool) {
	t.Helper()
	read := func() sessionsScreen {
		var l sessionsScreen
		tm.waitFor(t, 5*time.Second, "the unfiltered sessions list", func(s string) bool {
			var ok bool
			l, ok = parseSessions(s)
			return ok && l.filter == "" && len(l.rows) > 0
		})
		return l
	}
	before := read()
	for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		after := read()
		was := map[string]sessionRow{}
		for _, r := range before.rows {
			was[r.id] = r
		}
		for _, r := range after.rows { // biggest first
			if r.conns > 0 && was[r.id] == r {
				return r, true
			}
		}
		before = after
	}
	return sessionRow{}, false
}
