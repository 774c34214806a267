package tui

import (
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
)

// EventLine is one event as the console shows it: what happened, to
// whom, in words. Its strings are already sanitized.
type EventLine struct {
	Seq     uint64
	At      time.Time // when it happened (the callback's timestamp), else when the relay got it
	Session string
	Kind    events.Kind
	Reason  string
	Source  string
	Subject string // the connection's or stream's id
	Name    string // who: the connection's name, or the stream's
	Text    string // what, in words: "joined", "left", "kicked", …
}

// NewEventLine describes one decoded event.
func NewEventLine(seq uint64, receivedAt time.Time, source string, ev events.Event) EventLine {
	l := EventLine{Seq: seq, At: receivedAt, Session: Sanitize(ev.SessionID), Kind: ev.Kind, Reason: Sanitize(ev.Reason), Source: source}
	if ev.Timestamp > 0 {
		l.At = time.UnixMilli(ev.Timestamp)
	}
	switch {
	case ev.Connection != nil:
		l.Subject, l.Name = Sanitize(ev.Connection.ID), DisplayName(ev.Connection.Data)
	case ev.Stream != nil:
		l.Subject, l.Name = Sanitize(ev.Stream.ID), Sanitize(ev.Stream.Name)
		if who := DisplayName(ev.Stream.Connection.Data); who != "" {
			if l.Name == "" {
				l.Name = who
			} else if who != l.Name {
				l.Name = who + " · " + l.Name
			}
		}
	case ev.Archive != nil:
		l.Subject, l.Name = Sanitize(ev.Archive.ID), Sanitize(ev.Archive.Name)
		if l.Session == "" {
			l.Session = Sanitize(ev.Archive.SessionID)
		}
	case ev.Broadcast != nil:
		l.Subject = Sanitize(ev.Broadcast.ID)
		if l.Session == "" {
			l.Session = Sanitize(ev.Broadcast.SessionID)
		}
	case ev.Call != nil:
		l.Subject = Sanitize(ev.Call.ID)
	}
	l.Text = Describe(ev)
	return l
}

// Describe says what an event means, in a moderator's words.
func Describe(ev events.Event) string {
	switch ev.Kind {
	case events.ConnectionCreated:
		if ev.Reason == events.ReasonReconciled {
			return "joined (found by reconcile)"
		}
		return "joined"
	case events.ConnectionDestroyed, events.StreamDestroyed:
		return ReasonWords(ev.Kind, ev.Reason)
	case events.StreamCreated:
		what := "started publishing"
		if ev.Stream != nil {
			switch ev.Stream.VideoType {
			case "camera":
				what = "started camera"
			case "screen":
				what = "started sharing screen"
			case "":
				what = "started audio"
			default:
				what = "started " + Sanitize(ev.Stream.VideoType) + " stream"
			}
		}
		if ev.Reason == events.ReasonReconciled {
			what += " (found by reconcile)"
		}
		return what
	case events.SessionCreated:
		return "session created"
	case events.SessionDestroyed:
		return "session ended"
	case events.ArchiveStatus:
		if ev.Archive != nil {
			return "recording " + Sanitize(ev.Archive.Status)
		}
	case events.BroadcastStatus:
		if ev.Broadcast != nil {
			return "broadcast " + Sanitize(ev.Broadcast.Status)
		}
	case events.CallCreated:
		return "SIP call dialled"
	case events.CallUpdated:
		if ev.Call != nil && ev.Call.State != "" {
			return "SIP call " + strings.ToLower(Sanitize(ev.Call.State))
		}
		return "SIP call updated"
	case events.CallDestroyed:
		return "SIP call ended"
	case events.MuteForced:
		return "muted by moderator"
	}
	return Sanitize(string(ev.Kind))
}

// ReasonWords says why a connection or stream ended.
func ReasonWords(kind events.Kind, reason string) string {
	conn := kind == events.ConnectionDestroyed
	switch reason {
	case events.ReasonClientDisconnected:
		if conn {
			return "left"
		}
		return "stopped publishing"
	case events.ReasonForceDisconnected:
		return "kicked"
	case events.ReasonNetworkDisconnected:
		return "lost network"
	case events.ReasonForceUnpublished:
		return "unpublished by moderator"
	case events.ReasonMediaStopped:
		return "stopped sharing"
	case events.ReasonReconciled:
		return "gone — callback missed"
	case "":
		if conn {
			return "left"
		}
		return "stopped publishing"
	}
	if conn {
		return "left (" + Sanitize(reason) + ")"
	}
	return "stopped (" + Sanitize(reason) + ")"
}

// ring keeps the last cap lines and counts the ones it let go, so the
// event log's memory is bounded however fast events come.
type ring[T any] struct {
	buf     []T
	start   int
	n       int
	dropped uint64
}

func newRing[T any](capacity int) *ring[T] { return &ring[T]{buf: make([]T, capacity)} }

func (r *ring[T]) push(l T) {
	if len(r.buf) == 0 {
		r.dropped++
		return
	}
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = l
		r.n++
		return
	}
	r.buf[r.start] = l
	r.start = (r.start + 1) % len(r.buf)
	r.dropped++
}

func (r *ring[T]) len() int { return r.n }

// at is the i-th line held, oldest first.
func (r *ring[T]) at(i int) T { return r.buf[(r.start+i)%len(r.buf)] }

// DefaultEventLines is how many lines the event log keeps.
const DefaultEventLines = 5000

// sessionTailLines is how many lines a session's own tail keeps.
const sessionTailLines = 500

// eventsView is the global tail: newest at the bottom, following new
// lines until the user moves up.
type eventsView struct{ tailLog[EventLine] }

func newEventsView(capacity int) eventsView {
	return eventsView{newTailLog(capacity, searchText)}
}

func searchText(l EventLine) string {
	return strings.ToLower(l.Session + " " + l.Name + " " + l.Subject + " " + l.Text)
}

var eventCols = []column{
	{title: "TIME", width: 8},
	{title: "SESSION", width: 12, flex: true, maxw: 34},
	{title: "WHO", width: 16, flex: true, maxw: 48},
	{title: "WHAT", width: 22, flex: true, maxw: 40},
	{title: "ID", width: 10, flex: true, maxw: 40},
}

func (v *eventsView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := fit(eventCols, width)
	// No line for an empty log: the title's count says it, and a filter
	// shows its matches there.
	rc.table(b, cols, width, height, &v.list, v.count(), "", "", func(i int, selected bool) {
		l := v.line(i)
		row := renderRow(cols, []string{
			l.At.Local().Format("15:04:05"), shortID(l.Session, cols[1].width), orDash(l.Name), l.Text, shortID(l.Subject, cols[4].width),
		}, width)
		b.WriteString(rc.rowStyle(selected, row))
	})
}

func (v *eventsView) title() string { return v.titled("events") }

// selectedSession: enter opens the session of the line under the cursor;
// a line with no session id opens nothing.
func (v *eventsView) selectedSession() (string, bool) {
	l, ok := v.current()
	return l.Session, ok && l.Session != ""
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
