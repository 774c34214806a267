package tui

import (
	"encoding/json"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// pastView is the session view's trip into the past: the session as the
// relay's log says it was after one of its records (state_at). Live
// batches keep arriving underneath — the other views and the session's
// tail go on — and esc shows the live session again. Shared by the
// Model's copies, like the other caches.
type pastView struct {
	on      bool
	session string // the session replayed
	seq     uint64 // the record shown is as of
	at      time.Time
	pending string // the state_at command in flight
	step    int    // its step
	queued  int    // steps pressed while it was in flight, sent once it is answered
	next    int
	// liveTail is the session's live tail while the view shows the
	// past's: live lines go on into it, and it is shown again on leaving.
	liveTail     *ring[EventLine]
	liveTailList listState
}

// replaying is true while the session view shows the past.
func (m *Model) replaying() bool {
	return m.rp.on && m.current() == viewSession && m.rp.session == m.session.id
}

// replayWord is the refusal for a moderation key in replay.
const replayWord = "⏪ replay: there is nothing to act on in the past — esc returns to live"

// askPast sends a state_at for the session view's session: a step of
// the session's records (-1 back, +1 forward) from the record shown (from
// live: the last one), or the moment a minute either side of it.
func (m *Model) askPast(step int, minutes int) tea.Cmd {
	if m.rp.pending != "" && step != 0 && minutes == 0 {
		m.rp.queued += step // one question at a time: each step from the last answer
		return nil
	}
	from, at := m.seq, m.now
	if m.replaying() {
		from, at = m.rp.seq, m.rp.at
	}
	if minutes != 0 {
		to := at.Add(time.Duration(minutes) * time.Minute)
		if minutes > 0 && !to.Before(m.now) {
			m.leaveReplay()
			return nil
		}
		return m.askAt(to)
	}
	if step > 0 && !m.replaying() {
		return nil // live is as far forward as it goes
	}
	return m.ask(map[string]any{"seq": from, "step": step}, step)
}

// askAt asks for the session view's session at a moment.
func (m *Model) askAt(at time.Time) tea.Cmd {
	return m.ask(map[string]any{"at": at.UTC().Format(time.RFC3339Nano)}, 0)
}

// ask sends one state_at for the session view's session.
func (m *Model) ask(p map[string]any, step int) tea.Cmd {
	raw, _ := json.Marshal(p)
	m.rp.next++
	id := "r" + strconv.Itoa(m.rp.next)
	m.rp.pending, m.rp.step = id, step
	m.flash = "⏪ asking the relay…"
	return sendCmd(m.cmdr, events.Command{Type: events.FrameCommand, ID: id, Action: events.ActionStateAt, Session: m.session.id, Params: raw})
}

// replayAt is :at — the session view at a moment typed as ParseMoment
// reads it (14:05, -10m, …).
func (m *Model) replayAt(when string) tea.Cmd {
	if m.current() != viewSession {
		m.flash = "✗ :at replays a session: open one first (enter on the sessions table)"
		return nil
	}
	at, err := ParseMoment(when, m.now, time.Local)
	if err != nil || at.IsZero() {
		m.flash = "✗ :at: expected 14:05, 2006-01-02 14:05 or -10m, got " + strconv.Quote(when)
		return nil
	}
	if !at.Before(m.now) {
		m.leaveReplay()
		return nil
	}
	return m.askAt(at)
}

// replayResult takes the answer to askPast, and asks the next step
// pressed meanwhile; false for other results.
func (m *Model) replayResult(r events.Result) (bool, tea.Cmd) {
	if r.ID == "" || r.ID != m.rp.pending {
		return false, nil
	}
	m.rp.pending = ""
	m.flash = ""
	m.showPast(r)
	if q := m.rp.queued; q != 0 && m.replaying() {
		step := 1
		if q < 0 {
			step = -1
		}
		m.rp.queued -= step
		return true, m.askPast(step, 0)
	}
	m.rp.queued = 0
	return true, nil
}

// showPast shows the session as an answer says it was.
func (m *Model) showPast(r events.Result) {
	if !r.OK {
		msg := "the relay did not answer"
		if r.Error != nil {
			msg = r.Error.Message
		}
		m.flash = "✗ replay: " + Sanitize(msg)
		return
	}
	var ans events.StateAt
	if err := json.Unmarshal(r.Data, &ans); err != nil {
		m.flash = "✗ replay: the relay's answer did not decode: " + err.Error()
		return
	}
	if m.replaying() && ans.Seq == m.rp.seq && m.rp.step != 0 {
		if m.rp.step > 0 {
			m.leaveReplay() // its last record: the present
			return
		}
		m.flash = "⏪ the session's first record: nothing before it"
		return
	}
	s := events.Session{ID: m.session.id}
	if ans.Session != nil {
		s = *ans.Session
	}
	m.rp.on, m.rp.session, m.rp.seq, m.rp.at = true, m.session.id, ans.Seq, ans.At
	m.session.found = false // a picture from elsewhere: rebuild the rows
	m.session.set([]events.Session{s}, m.names)
	m.showPastTail(ans.Records)
}

// showPastTail puts the moment's own records in the session's tail,
// keeping the live one aside.
func (m *Model) showPastTail(records []json.RawMessage) {
	if m.rp.liveTail == nil {
		m.rp.liveTail, m.rp.liveTailList = m.session.tail, m.session.tailList
	}
	past := newRing[EventLine](sessionTailLines)
	for _, raw := range records {
		f, err := relayclient.ParseFrame(raw)
		if err != nil {
			continue
		}
		if ev, ok := f.DecodedEvent(); ok { // audit entries have their own view
			past.push(NewEventLine(f.Event.Seq, f.Event.ReceivedAt, f.Event.Source, *ev))
		}
	}
	m.session.tail, m.session.tailList = past, listState{}
	m.session.tailList.cursor = past.len() - 1
	m.session.tailList.clamp(past.len())
}

// liveLines are a batch's lines while the view shows the past: into the
// live tail kept aside.
func (m *Model) liveLines(lines []EventLine) {
	for _, l := range lines {
		if l.Session == m.rp.session {
			m.rp.liveTail.push(l)
		}
	}
	m.rp.liveTailList.cursor = m.rp.liveTail.len() - 1
}

// restoreLiveTail shows the live tail again.
func (m *Model) restoreLiveTail() {
	if m.rp.liveTail != nil {
		m.session.tail, m.session.tailList = m.rp.liveTail, m.rp.liveTailList
		m.session.tailList.clamp(m.session.tail.len())
		m.rp.liveTail = nil
	}
}

// leaveReplay shows the live session again.
func (m *Model) leaveReplay() {
	if !m.rp.on {
		return
	}
	m.rp.on, m.rp.pending, m.rp.queued = false, "", 0
	m.restoreLiveTail()
	m.session.found = false
	m.session.set(m.all, m.names)
	m.flash = "live again"
}

// replayBadge is the header's word on replay: the moment shown.
func (m *Model) replayBadge() string {
	if !m.replaying() {
		return ""
	}
	at := "the start"
	if !m.rp.at.IsZero() {
		at = m.rp.at.Local().Format("15:04:05")
	}
	return m.styles.Warning.Render(" ⏪ REPLAY " + at + " ")
}
