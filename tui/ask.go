package tui

import (
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
)

// ask is a question the moderator answers before anything happens: a
// (y/N) confirmation of a destructive action, or a choice of what to do
// next. No is the default: n, esc and enter all mean no — enter is never
// yes, so a moderator typing into a prompt that just opened, or leaning
// on enter, does not disconnect anyone.
type ask struct {
	question string
	options  []askOption
	opened   time.Time
	// holds are the intend commands holding the targets at the relay
	// while the question is open (confirmHolding).
	holds []events.Command
}

type askOption struct {
	key, label string
	run        func(m *Model) tea.Cmd
}

// askGuard is how long a new question ignores keys: ones typed before it
// appeared (a burst of j's, an enter meant for a filter) must not answer it.
const askGuard = 400 * time.Millisecond

// confirm asks (y/N) before run.
func (m *Model) confirm(question string, run func(m *Model) tea.Cmd) {
	m.overlay.open(&ask{question: question, options: []askOption{{key: "y", label: "yes", run: run}}, opened: m.clock()})
}

// choose asks for one of several next steps (esc: none).
func (m *Model) choose(question string, options ...askOption) {
	m.overlay.open(&ask{question: question, options: options, opened: m.clock()})
}

func (m Model) askKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	a := m.overlay.ask()
	if m.clock().Sub(a.opened) < askGuard {
		return m, nil
	}
	k := msg.String()
	for _, o := range a.options {
		if k == o.key {
			m.overlay.close(rankAsk)
			for _, in := range a.holds {
				delete(m.pres.holds, in.ID) // the command takes the targets over
			}
			return m, o.run(&m)
		}
	}
	switch k {
	case "n", "N", "esc", "enter", "q":
		m.overlay.close(rankAsk)
		m.say(noticeInfo, "cancelled: "+a.question)
		return m, m.releaseHolds(a)
	}
	// Anything else is ignored: only an answer closes the question.
	return m, nil
}

// askLine is the footer while a question is open.
func (a *ask) line() string {
	var opts []string
	for _, o := range a.options {
		opts = append(opts, o.key+" "+o.label)
	}
	no := "N/enter/esc no"
	if len(a.options) > 1 || a.options[0].key != "y" {
		no = "esc none"
	}
	return a.question + "  " + strings.Join(opts, " · ") + " · " + no
}
