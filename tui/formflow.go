package tui

import (
	"encoding/json"
	"errors"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
)

// The actions that need words from the moderator first — a signal, a
// recording, a client token — open a form in place of the view's body;
// its submit builds the command, and a value is refused in the form,
// naming the field, before anything is sent.

// openForm is the form on screen and what its submit does.
type openForm struct {
	f      *form
	submit func(m *Model, values []string) (tea.Cmd, error)
}

// formKey routes every key to the open form; ctrl+c was handled before.
func (m Model) formKey(msg tea.Msg) (tea.Model, tea.Cmd) {
	open := m.overlay.form()
	out, cmd := open.f.Update(msg)
	switch out {
	case formCancelled:
		m.overlay.close(rankForm)
		m.say(noticeInfo, "cancelled")
	case formSubmitted:
		send, err := open.submit(&m, open.f.Values())
		if err != nil {
			open.f.Reject(err)
			return m, cmd
		}
		m.overlay.close(rankForm)
		return m, tea.Batch(cmd, send)
	}
	return m, cmd
}

// errLinkDown keeps a form open when the link went down while it was
// filled in: what was typed is not lost, and enter sends it once LIVE.
var errLinkDown = errors.New("not sent: the relay link is down — press enter again once it is LIVE, or esc")

// signal opens the signal form for the marked connections, else the
// selected connection (in a session's connections pane), else the whole
// session.
func (m *Model) signal() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	var conns []string
	what := "everyone in " + t.name()
	usedMarks := false // the open session's marks chose the targets
	if m.current() == viewSession {
		if ids, hidden := m.session.markedConns(); len(ids) > 0 {
			conns, what, usedMarks = ids, plural(len(ids), "marked connection")+hiddenNote(hidden), true
		} else if r, ok := m.session.selectedConn(); ok && m.session.pane == paneConnections {
			conns, what = []string{r.id}, connName(r)
		}
	}
	if !m.ready("signal") {
		return nil
	}
	m.overlay.open(&openForm{f: newSignalForm("Signal "+what, "moderator"), submit: func(m *Model, values []string) (tea.Cmd, error) {
		params, err := signalParams(values)
		if err != nil {
			return nil, err
		}
		if !m.ready("signal") {
			return nil, errLinkDown
		}
		var cmds []events.Command
		if len(conns) == 0 {
			cmds = append(cmds, events.Command{Action: events.ActionSignal, Session: t.id, Params: params})
		}
		for _, c := range conns {
			cmds = append(cmds, events.Command{Action: events.ActionSignal, Session: t.id, Connection: c, Params: params})
		}
		if usedMarks {
			m.session.clearMarks()
		}
		return m.start(&job{words: wordsSignal, what: what}, cmds...), nil
	}})
	return nil
}

// startRecording opens the recording form, prefilled from config.
func (m *Model) startRecording(t target) tea.Cmd {
	m.overlay.open(&openForm{f: newRecordForm("Record "+t.name(), m.opts.Record), submit: func(m *Model, values []string) (tea.Cmd, error) {
		params, err := recordParams(t.id, values)
		if err != nil {
			return nil, err
		}
		if !m.ready("start recording") {
			return nil, errLinkDown
		}
		return m.start(&job{words: wordsStartRec, what: t.name()},
			events.Command{Action: events.ActionArchiveStart, Session: t.id, Params: params}), nil
	}})
	return nil
}

// token opens the client-token form; the token minted is copied and shown.
func (m *Model) token() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok || !m.ready("mint a token") {
		return nil
	}
	m.overlay.open(&openForm{f: newTokenForm("Client token for " + t.name()), submit: func(m *Model, values []string) (tea.Cmd, error) {
		params, err := tokenParams(values)
		if err != nil {
			return nil, err
		}
		if !m.ready("mint a token") {
			return nil, errLinkDown
		}
		j := &job{words: wordsToken, what: t.name()}
		j.onOK = func(m *Model, data json.RawMessage) tea.Cmd {
			var out struct {
				Token     string `json:"token"`
				ExpiresAt string `json:"expires_at"`
			}
			if err := json.Unmarshal(data, &out); err != nil || out.Token == "" {
				return nil
			}
			cmd, _ := copyCmd("token", out.Token)
			title := "Client token for " + t.name() + " — copied to the clipboard (OSC 52)"
			if out.ExpiresAt != "" {
				title += "; expires " + Sanitize(out.ExpiresAt)
			}
			m.overlay.open(&shown{title: title, value: out.Token})
			return cmd
		}
		return m.start(j, events.Command{Action: events.ActionToken, Session: t.id, Params: params}), nil
	}})
	return nil
}
