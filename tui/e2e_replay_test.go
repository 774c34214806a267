package tui_test

import (
	"strings"
	"testing"
	"time"
)

// TestDemoReplayInARealTerminal: in `gavel demo`, the town hall's view
// steps back through its records with [ — the header says ⏪ REPLAY, the
// connection count is an earlier one and stays put while the hall goes
// on filling, a moderation key says there is nothing to act on in the
// past; esc is live again, with the count moving on.
func TestDemoReplayInARealTerminal(t *testing.T) {
	needTmux(t)
	bin := buildGavel(t)
	tm := startTmux(t, bin+" demo")
	hall := waitForTownHall(t, tm)
	idTail := strings.TrimPrefix(hall.id, "…")
	idTail = idTail[max(len(idTail)-20, 0):]
	openSession(t, tm, hall.id)
	live, _ := parseSessionView(tm.capture(t), idTail)

	// Step back until the count is an earlier one: records of streams
	// and recordings do not move it, joins and leaves do.
	var past sessionFigures
	var screen string
	for steps := 1; ; steps++ {
		tm.keys(t, "[")
		screen = tm.waitFor(t, 10*time.Second, "the REPLAY badge, the step answered", func(s string) bool {
			f, ok := parseSessionView(s, idTail)
			past = f
			return ok && strings.Contains(strings.SplitN(s, "\n", 2)[0], "⏪ REPLAY") && !strings.Contains(footer(s), "asking the relay")
		})
		if past.conns != live.conns {
			break
		}
		if steps == 20 {
			t.Fatalf("20 steps back and still %d connections:\n%s", live.conns, screen)
		}
	}
	t.Logf("stepped back (live had %d connections):\n%s", live.conns, screen)
	// The past holds still while the hall goes on.
	time.Sleep(2 * time.Second)
	if f, _ := parseSessionView(tm.capture(t), idTail); f.conns != past.conns {
		t.Errorf("the replayed count moved from %d to %d", past.conns, f.conns)
	}
	tm.keys(t, "d")
	tm.waitFor(t, 5*time.Second, "a moderation key refused in replay", func(s string) bool {
		return strings.Contains(footer(s), "nothing to act on in the past")
	})
	tm.keys(t, "Escape")
	screen = tm.waitFor(t, 10*time.Second, "live again, the count moving on", func(s string) bool {
		f, ok := parseSessionView(s, idTail)
		head := strings.SplitN(s, "\n", 2)[0]
		return ok && !strings.Contains(head, "REPLAY") && strings.Contains(head, "LIVE") && f.conns != past.conns
	})
	t.Logf("live again:\n%s", screen)
}
