package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// Timeline is one session's story as the relay's log tells it: one entry
// per thing that happened — people joining and leaving (and why),
// publishing, recording, moderators' actions with their outcome, alerts —
// with the number of connections after each, for the incident report a
// moderator is asked for the morning after.
type Timeline struct {
	Session  string
	From, To time.Time // the window asked for; zero: open
	Entries  []TimelineEntry
	// Peak is the most connections at once inside the window, first
	// reached at PeakAt.
	Peak   int
	PeakAt time.Time
	// FirstSeq is the oldest record the relay still held: a log trimmed
	// by its retention no longer has the session's start.
	FirstSeq uint64
}

// TimelineEntry is one thing that happened.
type TimelineEntry struct {
	Seq  uint64
	At   time.Time
	Kind string // TimelineEvent, TimelineModeration or TimelineAlert
	// Who: a participant's name (or id), or the moderator (or rule) that
	// acted.
	Who  string
	What string // in words: "joined", "lost network", "disconnected Ben"
	// Subject is the connection, stream or recording it is about.
	Subject string
	// Outcome of a moderator's action: "ok", "failed: …"; empty otherwise.
	Outcome string
	// Connections in the session once this had happened.
	Connections int
	conns       int // +1 a connection joined, -1 one left
}

// The kinds of timeline entries.
const (
	TimelineEvent      = "event"
	TimelineModeration = "moderation"
	TimelineAlert      = "alert"
)

// TimelineBuilder folds the relay's records, oldest first, into one
// session's timeline. It follows the connection count from the start of
// the log even when the window starts later, so counts are right at the
// window's first entry.
type TimelineBuilder struct {
	t        Timeline
	live     map[string]struct{} // the session's connections now
	ended    map[string]struct{} // its connections that have ended
	names    map[string]string   // connection id → name, for moderators' targets
	removing map[string]string   // connection id → the rule about to remove it
}

// NewTimelineBuilder starts the timeline of session between from and to
// (zero: unbounded).
func NewTimelineBuilder(session string, from, to time.Time) *TimelineBuilder {
	return &TimelineBuilder{t: Timeline{Session: session, From: from, To: to},
		live: map[string]struct{}{}, ended: map[string]struct{}{}, names: map[string]string{}, removing: map[string]string{}}
}

// Add folds one frame in; frames other than events and audit entries,
// and those of other sessions, only move nothing.
func (b *TimelineBuilder) Add(f relayclient.Frame) {
	if f.Hello != nil && (b.t.FirstSeq == 0 || f.Hello.FirstSeq < b.t.FirstSeq) {
		b.t.FirstSeq = f.Hello.FirstSeq
	}
	switch {
	case f.Event != nil:
		b.event(f)
	case f.Audit != nil:
		b.audit(f.Audit.Seq, f.Audit.Audit)
	}
}

func (b *TimelineBuilder) event(f relayclient.Frame) {
	// A late retry repeats one listed already. The relay's "superseded"
	// mark is not used: it is judged against the relay's state now, so
	// on a read from the start of the log it marks every create whose
	// connection has ended since; the builder, reading in order, knows
	// a late create itself.
	if f.Event.Duplicate {
		return
	}
	ev, ok := f.DecodedEvent()
	if !ok {
		return
	}
	l := NewEventLine(f.Event.Seq, f.Event.ReceivedAt, f.Event.Source, *ev)
	if l.Session != b.t.Session {
		return
	}
	if ev.Connection != nil && l.Name != "" {
		b.names[l.Subject] = l.Name
	}
	switch ev.Kind {
	case events.ConnectionCreated:
		if _, gone := b.ended[l.Subject]; gone {
			return // a create stored after its destroy: nothing joined
		}
		b.live[l.Subject] = struct{}{}
	case events.ConnectionDestroyed:
		delete(b.live, l.Subject)
		b.ended[l.Subject] = struct{}{}
		if rule, ok := b.removing[l.Subject]; ok {
			delete(b.removing, l.Subject)
			if ev.Reason == events.ReasonForceDisconnected {
				l.Text = removedWords(rule)
			}
		}
	case events.SessionDestroyed:
		clear(b.live)
	}
	who := l.Name
	if who == "" && (ev.Connection != nil || ev.Stream != nil) {
		who = l.Subject
	}
	e := TimelineEntry{Seq: l.Seq, At: l.At, Kind: TimelineEvent, Who: who, What: l.Text, Subject: l.Subject}
	switch ev.Kind {
	case events.ConnectionCreated:
		e.conns = 1
	case events.ConnectionDestroyed:
		e.conns = -1
	}
	b.add(e)
}

func (b *TimelineBuilder) audit(seq uint64, a events.Audit) {
	if a.Action == events.ActionAlert && a.Alert != nil {
		if a.Alert.Session == b.t.Session {
			b.add(TimelineEntry{Seq: seq, At: a.At, Kind: TimelineAlert, Who: Sanitize(a.Actor), What: Sanitize(a.Alert.Text)})
		}
		return
	}
	if a.Session != b.t.Session {
		return
	}
	if rule, ok := ruleClaim(a); ok {
		// A rule's claim on a connection it is about to remove: the
		// disconnect that follows says why.
		b.removing[a.Target] = rule
		return
	}
	what, ok := doneWords(a.Action)
	if !ok {
		return
	}
	target := Sanitize(a.Target)
	if name := b.names[a.Target]; name != "" {
		target = name
	}
	if target != "" && a.Action != events.ActionMuteAll && a.Action != events.ActionMuteAllOff && a.Action != events.ActionArchiveStart {
		what += " " + target
	}
	who := Sanitize(a.Actor)
	if a.Role != "" {
		who += " (" + Sanitize(string(a.Role)) + ")"
	}
	e := TimelineEntry{Seq: seq, At: a.At, Kind: TimelineModeration, Who: who, What: what, Subject: Sanitize(a.Target),
		Outcome: NewAuditLine(seq, a).Outcome()}
	if a.OK && b.effectFirst(e) {
		return
	}
	b.add(e)
}

// effectWindow is how far back an action's effect may be in the log:
// the relay writes the audit entry once the Video API has answered, and
// the service's callback for the effect may be stored before it.
const effectWindow = 10 * time.Second

// effectFirst puts an action just before its effect when the log holds
// the effect first (a disconnect's "kicked", an unpublish's stream end),
// so the timeline reads cause, then effect.
func (b *TimelineBuilder) effectFirst(e TimelineEntry) bool {
	for i := len(b.t.Entries) - 1; i >= 0; i-- {
		x := b.t.Entries[i]
		if e.At.Sub(x.At) > effectWindow {
			return false
		}
		if x.Kind == TimelineEvent && x.Subject == e.Subject && e.Subject != "" {
			if x.What != "kicked" && x.What != "unpublished by moderator" {
				return false
			}
			e.Connections = x.Connections - x.conns
			b.t.Entries = slices.Insert(b.t.Entries, i, e)
			return true
		}
	}
	return false
}

// doneWords says a moderator's action as done, for the timeline; false
// for actions that are not about a session's people (tokens, presence).
func doneWords(action string) (string, bool) {
	switch action {
	case events.ActionDisconnect:
		return "disconnected", true
	case events.ActionUnpublish:
		return "unpublished", true
	case events.ActionMute:
		return "muted", true
	case events.ActionMuteAll:
		return "muted everyone", true
	case events.ActionMuteAllOff:
		return "ended mute-all", true
	case events.ActionSignal:
		return "signalled", true
	case events.ActionArchiveStart:
		return "started a recording", true
	case events.ActionArchiveStop:
		return "stopped recording", true
	case events.ActionBan:
		return "banned", true
	case events.ActionUnban:
		return "lifted ban", true
	case events.ActionRules:
		return "set the rules", true
	case events.ActionAck:
		return "acknowledged alert", true
	}
	return "", false
}

func (b *TimelineBuilder) add(e TimelineEntry) {
	e.Connections = len(b.live)
	if (!b.t.From.IsZero() && e.At.Before(b.t.From)) || (!b.t.To.IsZero() && e.At.After(b.t.To)) {
		return
	}
	if e.Connections > b.t.Peak {
		b.t.Peak, b.t.PeakAt = e.Connections, e.At
	}
	b.t.Entries = append(b.t.Entries, e)
}

// Timeline is the timeline so far.
func (b *TimelineBuilder) Timeline() Timeline { return b.t }

// ParseMoment reads a moment as a moderator types it: a time of day
// (15:04 or 15:04:05, today in loc), a date and time, RFC 3339, or a time
// before now (-10m, -2h); "" is the zero time.
func ParseMoment(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if strings.HasPrefix(s, "-") {
		d, err := time.ParseDuration(s[1:])
		if err != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("expected a time before now like -10m or -2h, got %q", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			y, m, d := now.In(loc).Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, loc), nil
		}
	}
	return time.Time{}, fmt.Errorf("expected 15:04, 2006-01-02 15:04, an RFC 3339 time or -10m, got %q", s)
}
