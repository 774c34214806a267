package relayclient

import (
	"time"

	"github.com/gavelhq/gavel/events"
)

// Mirror keeps an events.State in step with a relay's frames, as a
// console does: a snapshot (once all its parts are in) replaces the
// state, and every event after it is applied with the same reducer the
// relay runs. Feed it every frame Run hands on; it is not safe for
// concurrent use.
type Mirror struct {
	// State is the picture so far; a snapshot replaces it with a new one.
	State *events.State
	// Seq is the last seq applied (a snapshot's counts), Epoch the log's.
	Seq   uint64
	Epoch string

	pending []events.Session // parts of a snapshot not yet complete
}

// NewMirror returns a mirror of an empty state.
func NewMirror() *Mirror { return &Mirror{State: events.NewState()} }

// Apply folds one frame in and reports whether the picture may have
// changed. An event whose body does not decode is skipped, as the relay
// skips it.
func (m *Mirror) Apply(f Frame) bool {
	switch {
	case f.Hello != nil:
		m.Epoch = f.Hello.Epoch
		m.pending = nil // a snapshot cut short by a drop is sent again whole
	case f.Snapshot != nil:
		if f.Snapshot.Part <= 1 {
			m.pending = m.pending[:0]
		}
		m.pending = append(m.pending, f.Snapshot.Sessions...)
		if f.Snapshot.Part >= f.Snapshot.Parts {
			m.State = StateFromSessions(m.pending)
			m.Seq = f.Snapshot.Seq
			m.pending = nil
			return true
		}
	case f.Event != nil:
		m.Seq = f.Event.Seq
		if f.Event.Superseded {
			return false // a late create of the dead: the relay says skip it
		}
		ev, err := events.Decode(f.Event.Group, f.Event.Event)
		if err != nil {
			return false
		}
		return m.State.Apply(ev)
	case f.Audit != nil:
		m.Seq = f.Audit.Seq
		return m.State.ApplyAudit(f.Audit.Audit)
	}
	return false
}

// StateFromSessions rebuilds a state from a snapshot's session views by
// applying the events that would have made them. A view carries no
// tombstones, so a callback older than the snapshot about a connection or
// stream that had already ended could bring it back in the console's
// picture (not the relay's) until the next snapshot; the relay's own
// state, restored from its snapshot file, keeps them.
func StateFromSessions(sessions []events.Session) *events.State {
	st := events.NewState()
	for _, s := range sessions {
		base := events.Event{SessionID: s.ID, ProjectID: s.ProjectID}
		// The session itself, so one with nothing live is still listed.
		ev := base
		ev.Kind, ev.Timestamp = events.SessionCreated, s.LastEventAt
		st.Apply(ev)
		for _, w := range s.MuteWindows {
			st.ApplyAudit(events.Audit{Action: events.ActionMuteAll, Session: s.ID, OK: true, At: time.UnixMilli(w.From), Except: w.Except})
			if w.To != 0 {
				st.ApplyAudit(events.Audit{Action: events.ActionMuteAllOff, Session: s.ID, OK: true, At: time.UnixMilli(w.To)})
			}
		}
		conns := make(map[string]events.ConnectionState, len(s.Connections))
		for _, c := range s.Connections {
			conns[c.ID] = c
			ev := base
			ev.Kind, ev.Timestamp = events.ConnectionCreated, c.CreatedAt
			ev.Connection = &events.Connection{ID: c.ID, CreatedAt: c.CreatedAt, Data: c.Data}
			st.Apply(ev)
		}
		for _, x := range s.Streams {
			ev := base
			ev.Kind, ev.Timestamp = events.StreamCreated, x.CreatedAt
			ev.Stream = &events.Stream{ID: x.ID, CreatedAt: x.CreatedAt, Name: x.Name, VideoType: x.VideoType}
			if x.Unattributed || x.ConnectionID == "" {
				// Known only from a reconcile: keep it unattributed, at
				// reconcile rank, so its callback still wins.
				ev.Reason = events.ReasonReconciled
			} else {
				c := conns[x.ConnectionID]
				ev.Stream.Connection = events.Connection{ID: x.ConnectionID, CreatedAt: c.CreatedAt, Data: c.Data}
			}
			st.Apply(ev)
		}
		for _, a := range s.Archives {
			ev := base
			ev.Kind, ev.Timestamp = events.ArchiveStatus, a.UpdatedAt
			ev.Archive = &events.Archive{ID: a.ID, Status: a.Status, Name: a.Name, Reason: a.Reason, SessionID: s.ID,
				OutputMode: a.OutputMode, URL: a.URL, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
			st.Apply(ev)
		}
		for _, b := range s.Broadcasts {
			ev := base
			ev.Kind, ev.Timestamp = events.BroadcastStatus, b.UpdatedAt
			ev.Broadcast = &events.Broadcast{ID: b.ID, Status: b.Status, SessionID: s.ID, UpdatedAt: b.UpdatedAt}
			st.Apply(ev)
		}
		// Mutes as the audit entries that made them; the mute-alls were
		// replayed before the streams, which they mute by creation time.
		for _, x := range s.Streams {
			if x.Muted {
				st.ApplyAudit(events.Audit{Action: events.ActionMute, Session: s.ID, Target: x.ID, OK: true})
			}
		}
	}
	return st
}
