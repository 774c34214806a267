package tui

import (
	"encoding/json"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// The moderation keys: what each acts on, what it asks, what it sends.
// A session-level key works from the sessions table (on the selected
// session) and inside a session; the others need a session open.

// target is the session an action is about, with words for it.
type target struct {
	id, label string
	s         *events.Session
}

// name is "session Town hall (…f3a9c1)" — the label is often the host's
// name, and "disconnect Ana from Dana" would leave it unclear what Dana
// is — or "session …f3a9c1" without a label.
func (t target) name() string {
	if t.label == "" {
		return "session " + shortID(t.id, 16)
	}
	return "session " + t.label + " (" + shortID(t.id, 10) + ")"
}

// sessionTarget is the selected session in the sessions table, or the one
// open.
func (m *Model) sessionTarget() (target, bool) {
	id := ""
	switch m.current() {
	case viewSessions:
		if r, ok := m.sessions.current(); ok {
			id = r.id
		}
	case viewSession:
		id = m.session.id
	}
	if id == "" {
		return target{}, false
	}
	i, ok := findSession(m.all, id)
	if !ok {
		return target{}, false
	}
	s := &m.all[i]
	return target{id: id, label: sessionLabel(s, m.names), s: s}, true
}

func connName(r *connRow) string {
	if r.name == "" {
		return shortID(r.id, 16)
	}
	return r.name + " (" + shortID(r.id, 10) + ")"
}

func streamName(r *streamRow) string {
	s := r.kind
	if r.name != "" {
		s += " “" + r.name + "”"
	}
	if r.publisher != "" && r.publisher != "unattributed" {
		s += " of " + r.publisher
	}
	return s + " (" + shortID(r.id, 10) + ")"
}

// ready refuses an action the console cannot take now, saying why.
func (m *Model) ready(verb string) bool {
	switch {
	case m.cmdr == nil || !m.hasLink:
		m.say(noticeFailed, "✗ cannot "+verb+": no relay to send it through")
		return false
	case m.link.State != relayclient.Live:
		m.say(noticeFailed, "✗ cannot "+verb+": the relay link is "+strings.ToLower(m.link.State.String())+" — try again once it is LIVE")
		return false
	}
	return true
}

// moderate handles the moderation keys; it reports whether msg was one.
func (m *Model) moderate(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := m.keys
	v := m.current()
	if v == viewBans && k.Lift.Matches(msg) {
		return m.lift(), true
	}
	if v == viewAlerts && k.Ack.Matches(msg) {
		return m.ackAlert(), true
	}
	if v == viewRules && k.EditRules.Matches(msg) {
		return m.editRules(), true
	}
	if v == viewRules && k.LiftCap.Matches(msg) {
		return m.liftCap(), true
	}
	if v != viewSessions && v != viewSession {
		return nil, false
	}
	switch {
	case k.Copy.Matches(msg):
		return m.copyID(), true
	case k.Disconnect.Matches(msg) && v == viewSession:
		return m.disconnect(), true
	case k.Clear.Matches(msg):
		return m.clearSession(), true
	case k.Mute.Matches(msg) && v == viewSession:
		return m.mute(), true
	case k.MuteAll.Matches(msg):
		return m.muteAll(), true
	case k.MuteAllOff.Matches(msg):
		return m.muteAllOff(), true
	case k.Unpublish.Matches(msg) && v == viewSession:
		return m.unpublish(), true
	case k.Record.Matches(msg):
		return m.record(), true
	case k.Signal.Matches(msg):
		return m.signal(), true
	case k.Token.Matches(msg):
		return m.token(), true
	case k.Ban.Matches(msg) && v == viewSession:
		return m.ban(), true
	case k.CapSession.Matches(msg) && v == viewSession:
		return m.capSession(), true
	case k.Mark.Matches(msg) && v == viewSession:
		m.session.toggleMark()
		return nil, true
	}
	return nil, false
}

// disconnect: the marked connections, else the selected one (or the
// selected stream's publisher); always asks.
func (m *Model) disconnect() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	v := &m.session
	ids, hidden := v.markedConns()
	what := ""
	switch {
	case len(ids) > 0:
		what = plural(len(ids), "marked connection")
	default:
		r, ok := v.selectedConn()
		if !ok {
			m.say(noticeInfo, "select a connection (or mark some with space) to disconnect")
			return nil
		}
		ids, what = []string{r.id}, connName(r)
	}
	if !m.ready("disconnect") {
		return nil
	}
	q := "Disconnect " + what + " from " + t.name() + hiddenNote(hidden) + "?"
	return m.confirmHolding(q, disconnectCmds(t.id, ids), func(m *Model) tea.Cmd {
		m.session.clearMarks()
		return m.start(&job{words: wordsDisconnect, what: what}, disconnectCmds(t.id, ids)...)
	})
}

// clearSession disconnects everyone in the session.
func (m *Model) clearSession() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	ids := make([]string, 0, len(t.s.Connections))
	for _, c := range t.s.Connections {
		ids = append(ids, c.ID)
	}
	if len(ids) == 0 {
		m.say(noticeInfo, t.name()+" has no one connected")
		return nil
	}
	if !m.ready("clear the session") {
		return nil
	}
	what := plural(len(ids), "connection")
	m.confirm(fmt.Sprintf("Disconnect everyone — all %s — from %s?", what, t.name()), func(m *Model) tea.Cmd {
		return m.start(&job{words: wordsDisconnect, what: "all " + what + " from " + t.name()}, disconnectCmds(t.id, ids)...)
	})
	return nil
}

func disconnectCmds(session string, ids []string) []events.Command {
	out := make([]events.Command, len(ids))
	for i, id := range ids {
		out[i] = events.Command{Action: events.ActionDisconnect, Session: session, Connection: id}
	}
	return out
}

// mute force-mutes the marked streams, else the selected stream, else the
// selected connection's streams. Not destructive (the publisher can
// unmute), so it does not ask.
func (m *Model) mute() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	v := &m.session
	ids, hidden := v.markedStreams()
	what := ""
	switch conns, hiddenConns := v.markedConns(); {
	case len(ids) > 0:
		what = plural(len(ids), "marked stream") + hiddenNote(hidden)
	case len(conns) > 0:
		// Marked people: everything they publish.
		ids = v.streamsOf(conns)
		what = "the streams of " + plural(len(conns), "marked connection") + hiddenNote(hiddenConns)
		if len(ids) == 0 {
			m.say(noticeInfo, "the marked connections publish nothing to mute")
			return nil
		}
	default:
		if ids, what = v.selectedStreams(); len(ids) == 0 {
			m.say(noticeInfo, "select a stream or a publishing connection to mute")
			return nil
		}
	}
	if !m.ready("mute") {
		return nil
	}
	cmds := make([]events.Command, len(ids))
	for i, id := range ids {
		cmds[i] = events.Command{Action: events.ActionMute, Session: t.id, Stream: id}
	}
	return m.start(&job{words: wordsMute, what: what}, cmds...)
}

// muteAll mutes every stream in the session, now and later, but the
// marked ones; asks.
func (m *Model) muteAll() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	var except []string
	hidden := 0
	if m.current() == viewSession {
		except, hidden = m.session.markedStreams()
	}
	if !m.ready("mute the session") {
		return nil
	}
	q := "Mute every stream in " + t.name() + ", and every stream published until mute-all is turned off (alt+m)?"
	if len(except) > 0 {
		q = fmt.Sprintf("Mute every stream in %s except the %s%s, and every stream published until mute-all is turned off (alt+m)?",
			t.name(), plural(len(except), "marked stream"), hiddenNote(hidden))
	}
	params, _ := json.Marshal(map[string]any{"except": except})
	cmd := events.Command{Action: events.ActionMuteAll, Session: t.id, Params: params}
	return m.confirmHolding(q, []events.Command{cmd}, func(m *Model) tea.Cmd {
		return m.start(&job{words: wordsMuteAll, what: t.name()}, cmd)
	})
}

// muteAllOff ends a mute-all. It unmutes nothing — the service has no
// unmute — so the line says so.
func (m *Model) muteAllOff() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok || !m.ready("end mute-all") {
		return nil
	}
	return m.start(&job{words: wordsMuteAllOff, what: t.name() + " — streams already muted stay muted (the service has no unmute)"},
		events.Command{Action: events.ActionMuteAllOff, Session: t.id})
}

// unpublish asks the selected stream's publisher to stop publishing it
// (the gavel-unpublish signal); done when the stream ends.
func (m *Model) unpublish() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	r, ok := m.session.unpublishTarget()
	if !ok {
		m.say(noticeInfo, "select one stream (tab to the streams pane) to unpublish")
		return nil
	}
	if !m.ready("unpublish") {
		return nil
	}
	pub := "its publisher"
	if r.conn != "" {
		pub = shortID(r.conn, 16)
		for i := range m.session.conns {
			if c := &m.session.conns[i]; c.id == r.conn {
				pub = connName(c)
			}
		}
	}
	w := &unpublishWatch{session: t.id, sessionName: t.name(), stream: r.id, streamLabel: streamName(r), connLabel: pub}
	return m.start(&job{words: wordsUnpublish, what: streamName(r), unpublish: w},
		events.Command{Action: events.ActionUnpublish, Session: t.id, Stream: r.id})
}

// offerAfterUnpublish: the stream is still there; mute it or disconnect
// its publisher instead.
func (m *Model) offerAfterUnpublish(w *unpublishWatch) {
	m.choose(fmt.Sprintf("%s is still published after %s.", w.streamLabel, unpublishWait),
		askOption{key: "m", label: "mute it", run: func(m *Model) tea.Cmd {
			if !m.ready("mute") {
				return nil
			}
			return m.start(&job{words: wordsMute, what: w.streamLabel},
				events.Command{Action: events.ActionMute, Session: w.session, Stream: w.stream})
		}},
		askOption{key: "d", label: "disconnect " + w.connLabel, run: func(m *Model) tea.Cmd {
			st, _ := m.liveStream(w.session, w.stream)
			conn := st.ConnectionID
			if conn == "" {
				m.say(noticeInfo, w.streamLabel+" has ended meanwhile, or its publisher is unknown")
				return nil
			}
			if !m.ready("disconnect") {
				return nil
			}
			m.confirm("Disconnect "+w.connLabel+" from "+w.sessionName+"?", func(m *Model) tea.Cmd {
				return m.start(&job{words: wordsDisconnect, what: w.connLabel}, disconnectCmds(w.session, []string{conn})...)
			})
			return nil
		}},
	)
}

// record stops the running recording (asks) or starts one.
func (m *Model) record() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	if t.s.Counts.Recording {
		if !m.ready("stop recording") {
			return nil
		}
		// Stop the archive the question names (the newest recording one):
		// left to the relay, two recording archives would be a 409.
		var rec *events.ArchiveState
		recording := 0
		for i := range t.s.Archives {
			if a := &t.s.Archives[i]; a.Status == "started" || a.Status == "paused" {
				rec = a
				recording++
			}
		}
		q := "Stop recording " + t.name() + "?"
		var params json.RawMessage
		if rec != nil {
			name := "“" + Sanitize(rec.Name) + "”"
			if rec.Name == "" {
				name = shortID(Sanitize(rec.ID), 12)
			}
			q = "Stop recording " + t.name() + " (archive " + name + ")?"
			if recording > 1 {
				q = fmt.Sprintf("Stop recording %s (archive %s, the newest of %d recording)?", t.name(), name, recording)
			}
			params, _ = json.Marshal(map[string]string{"archive": rec.ID})
		}
		cmd := events.Command{Action: events.ActionArchiveStop, Session: t.id, Params: params}
		return m.confirmHolding(q, []events.Command{cmd}, func(m *Model) tea.Cmd {
			return m.start(&job{words: wordsStopRec, what: t.name()}, cmd)
		})
	}
	if !m.ready("start recording") {
		return nil
	}
	return m.startRecording(t)
}

// copyID copies the selected id with OSC 52 (which works over SSH) and
// shows it, for terminals that drop OSC 52.
func (m *Model) copyID() tea.Cmd {
	id, what := "", ""
	switch m.current() {
	case viewSessions:
		if r, ok := m.sessions.current(); ok {
			id, what = r.id, "session id"
		}
	case viewSession:
		id, what = m.session.selectedID()
	}
	if id == "" {
		return nil
	}
	cmd, line := copyCmd(what, id)
	m.say(noticeInfo, line)
	return cmd
}

// hiddenNote says how many marked rows the filter hides, if any.
func hiddenNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d of them hidden by the filter)", n)
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
