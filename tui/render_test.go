package tui

import (
	"errors"
	"fmt"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events/relayclient"
)

// The sessions table after five minutes of the fixture (and a session
// that fills up in them), so the sparklines have a history to show.
func TestGoldenSessions(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			m := replay(t, growingFixture(), sz[0], sz[1], epoch.Add(-5*time.Minute))
			requireGolden(t, m.View().Content)
		})
	}
}

func TestGoldenSession(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {200, 50}} {
		t.Run(fmt.Sprintf("%dx%d", sz[0], sz[1]), func(t *testing.T) {
			m := press(newTestModel(sz[0], sz[1]), "enter")
			requireGolden(t, m.View().Content)
		})
	}
}

func TestGoldenHostileSession(t *testing.T) {
	m := newTestModel(80, 24)
	m = press(m, "/")
	m = typeText(m, "webinar")
	m = press(m, "enter", "enter")
	requireGolden(t, m.View().Content)
}

func TestGoldenEvents(t *testing.T) {
	m := press(newTestModel(80, 24), ":")
	m = typeText(m, "events")
	m = press(m, "enter")
	requireGolden(t, m.View().Content)
}

func TestGoldenHelp(t *testing.T) {
	m := press(newTestModel(80, 24), "?")
	requireGolden(t, m.View().Content)
}

// While the link is down the last picture stays, dimmed, with the badge.
func TestGoldenStaleDemo(t *testing.T) {
	m := newTestModel(80, 24)
	m.opts.Demo = true
	var tm tea.Model = m
	msg := fixture().msg(relayclient.Stale)
	msg.Link.Since = epoch.Add(-42 * time.Second)
	msg.Link.Err = errors.New("dial ws://relay.test/v1/stream: connection refused")
	tm, _ = tm.Update(msg)
	requireGolden(t, tm.View().Content)
}
