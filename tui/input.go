package tui

import (
	"slices"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
)

// The console's key routing: the open overlay first, then the global
// keys, replay and moderation, then the view's own.

func (m Model) key(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	if k.ForceQuit.Matches(msg) {
		m.quitting = true
		return m, tea.Quit
	}
	if o := m.overlay.top(); o != nil {
		return o.key(m, msg)
	}
	m.flash = ""
	switch {
	case k.Quit.Matches(msg):
		m.quitting = true
		return m, tea.Quit
	case k.Help.Matches(msg):
		m.overlay.open(&helpScreen{})
	case k.Filter.Matches(msg):
		m.overlay.open(&promptLine{filter: true, text: m.top().filterText()})
	case k.Command.Matches(msg):
		m.overlay.open(&promptLine{})
	case k.Back.Matches(msg) && m.replaying():
		m.leaveReplay()
	case m.current() == viewSession && k.StepBack.Matches(msg):
		return m, m.askPast(-1, 0)
	case m.current() == viewSession && k.StepForward.Matches(msg):
		return m, m.askPast(1, 0)
	case m.current() == viewSession && k.MinuteBack.Matches(msg):
		return m, m.askPast(0, -1)
	case m.current() == viewSession && k.MinuteForward.Matches(msg):
		return m, m.askPast(0, 1)
	case m.replaying() && m.actionFor(msg, func(a *Action) bool { return a.Dangerous }) != nil:
		m.flash = replayWord
	case k.Back.Matches(msg):
		if v := m.top(); v.filterText() != "" {
			v.setFilter("")
		} else if len(m.stack) > 1 {
			m.stack = m.stack[:len(m.stack)-1]
		}
	case k.Open.Matches(msg):
		m.open()
	case k.Up.Matches(msg):
		m.top().move(-1)
	case k.Down.Matches(msg):
		m.top().move(1)
	case k.PageUp.Matches(msg):
		m.top().move(-m.page())
	case k.PageDown.Matches(msg):
		m.top().move(m.page())
	case k.Top.Matches(msg):
		m.top().move(-1 << 30)
	case k.Bottom.Matches(msg):
		m.top().move(1 << 30)
	default:
		if cmd, ok := m.moderate(msg); ok {
			return m, cmd
		}
		if a := m.withheld(msg); a != nil {
			m.flash = m.whyWithheld(a)
			return m, nil
		}
		m.viewKey(msg)
	}
	return m, nil
}

// withheld is the action msg would be in this view had applyRole not
// taken it away, if any: pressing it says why instead of doing nothing.
func (m *Model) withheld(msg tea.KeyPressMsg) *Action {
	return m.actionFor(msg, func(a *Action) bool { return !a.Enabled() && (a.Dangerous || a == &m.keys.Mark) })
}

// actionFor is the action of this view, among those which, that msg's
// key is bound to (enabled or not), if any.
func (m *Model) actionFor(msg tea.KeyPressMsg, which func(*Action) bool) *Action {
	v := m.current()
	for _, a := range m.keys.Actions() {
		if (len(a.In) == 0 || slices.Contains(a.In, v)) && which(a) && slices.Contains(a.Keys(), msg.String()) {
			return a
		}
	}
	return nil
}

// whyWithheld says why a key does nothing here.
func (m *Model) whyWithheld(a *Action) string {
	what := a.Help().Desc
	switch {
	case m.opts.ReadOnly:
		return "✗ " + what + ": this console is read-only (--read-only or console.read_only)"
	case m.role == events.RoleViewer:
		return "✗ " + what + ": you are a viewer on this relay — watching only; a moderator can act"
	case a == &m.keys.Token:
		return "✗ " + what + ": minting client tokens is for admins"
	}
	return "✗ " + what + " is unbound"
}

// viewKey handles the keys only one view has.
func (m *Model) viewKey(msg tea.KeyPressMsg) {
	k := m.keys
	switch m.current() {
	case viewSessions:
		switch {
		case k.Sort.Matches(msg):
			m.sessions.nextSort()
		case k.ShowAll.Matches(msg):
			m.sessions.showAll = !m.sessions.showAll
			m.sessions.set(m.all, m.names)
		}
	case viewSession:
		if k.Pane.Matches(msg) {
			m.session.pane = m.session.pane.next()
		}
	case viewEvents:
		if k.Follow.Matches(msg) {
			m.events.toggleFollow()
		}
	case viewAudit:
		if k.Follow.Matches(msg) {
			m.audit.toggleFollow()
		}
	}
}

// page is how far pgup/pgdn move: a screenful, or in a session view the
// focused pane's rows (a screenful there would skip the rows between).
func (m *Model) page() int {
	if m.current() == viewSession {
		if l, _ := m.session.list(); l.height > 0 {
			return l.height
		}
	}
	return max(m.height-6, 1)
}

// open drills down from the view on screen into the session of the
// selected row, if it has one.
func (m *Model) open() {
	o, ok := m.top().(opener)
	if !ok {
		return
	}
	id, ok := o.selectedSession()
	if !ok {
		return
	}
	m.openSession(id)
	if f, ok := o.(rowFocuser); ok {
		if pane, row, ok := f.selectedRow(); ok {
			m.session.focusRow(pane, row)
		}
	}
}

func (m *Model) openSession(id string) {
	if m.session.id != id {
		m.session = newSessionView(id)
		m.session.set(m.all, m.names)
		var tail []EventLine
		for i := range m.events.lines.len() {
			if l := m.events.lines.at(i); l.Session == id {
				tail = append(tail, l)
			}
		}
		m.session.addEvents(tail)
	}
	m.stack = append(m.stack, viewSession)
}
