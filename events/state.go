package events

import (
	"cmp"
	"slices"
	"strings"
)

// State is what the callbacks say about every session: its live
// connections and streams, its archives and broadcasts, and the tombstones
// of the connections and streams that ended. Relay and console both build
// it with Apply, from the same log, so they show the same thing.
//
// The callbacks arrive at least once, in any order, and some never arrive,
// so Apply is written to converge: the state after a set of events is the
// same whatever order they came in and however often each came. What makes
// that work:
//
//   - Connection and stream IDs are UUIDs the service never reuses, so death
//     is final: a destroyed one is kept as a tombstone and nothing revives it.
//     A connectionCreated that arrives after its connectionDestroyed, or a
//     streamCreated whose stream or connection is tombstoned, changes nothing.
//   - A streamCreated names its connection, so it creates the connection if
//     it is not known yet (unless that connection is tombstoned), whatever
//     becomes of the stream itself.
//   - Fields reported more than once (a connection's data, an archive's
//     status) are merged with an order that does not depend on arrival:
//     callbacks outrank reconcile guesses; archive and broadcast statuses
//     are ordered by (timestamp, lifecycle rank).
//   - Whether a session is live derives from its live connections and
//     streams, never from sessionCreated/sessionDestroyed, because a session
//     ID is reused and those two events race like the others.
//
// Apply is O(1) per event: counts are kept incrementally and a connection
// links its own streams, so destroying it never scans the session.
//
// A State is not safe for concurrent use; its owner locks.
type State struct {
	sessions map[string]*session
	bans     map[string]Ban // by ID, expired ones until pruned
	// rules is the rules set in force (nil before any); rulesSeed the
	// Seed of the last one a relay put there from its config.
	rules     *RulesInForce
	rulesSeed string
	// alerts are the recent alerts by id, alertOrder their ids in the
	// order raised (at most MaxAlerts).
	alerts     map[string]*Alert
	alertOrder []string
}

// NewState returns an empty state.
func NewState() *State { return &State{sessions: map[string]*session{}} }

// Superseded reports whether ev creates a connection or stream that s holds
// dead. The relay marks such event frames "superseded" for consoles older
// than snapshots with tombstones, which rebuilt their state from live
// objects only and would have brought the dead back; a console restored
// with RestoreState holds the tombstones and needs no mark.
func (s *State) Superseded(ev Event) bool {
	x, ok := s.sessions[ev.SessionID]
	if !ok {
		return false
	}
	switch ev.Kind {
	case ConnectionCreated:
		c, ok := x.conns[ev.Connection.ID]
		return ok && c.dead
	case StreamCreated:
		if st, ok := x.streams[ev.Stream.ID]; ok && st.dead {
			return true
		}
		c, ok := x.conns[ev.Stream.Connection.ID]
		return ok && c.dead
	}
	return false
}

// maxMuteWindows bounds a session's remembered mute-alls: a late callback
// is minutes late at worst, not a day's worth of mute-alls.
const maxMuteWindows = 8

// Sources of a connection's or stream's fields, lowest first: a later
// report of higher rank replaces them, whatever the arrival order.
const (
	rankReconcile  int8 = iota // the REST list: no data, no createdAt, no owner
	rankStream                 // a stream callback's copy of its connection
	rankConnection             // the connection's own callback
)

type session struct {
	id          string
	projectID   string
	lastEventAt int64
	conns       map[string]*conn // live and tombstoned
	streams     map[string]*stream
	// liveConns and liveStreams index the live ones, so a view (built
	// for every batch a console shows) costs what is live, not every
	// tombstone of a 10,000-viewer day: unordered, removed by swapping.
	liveConns   []*conn
	liveStreams []*stream
	// deadConns and deadStreams index the tombstones in the order they
	// died, so a snapshot lists them without walking the maps (a day's
	// town hall holds a hundred thousand): appended by bury, filtered by
	// Prune.
	deadConns   []*conn
	deadStreams []*stream
	archives    map[string]*ArchiveState
	broadcasts  map[string]*BroadcastState
	n           counters
	muteWins    []MuteWindow // the last maxMuteWindows mute-alls, oldest first
}

type counters struct {
	conns, publishers, streams    int32
	camera, screen, custom, audio int32
	recording, broadcasting       int32 // archives started/paused; broadcasts started
}

type conn struct {
	id        string
	data      string
	createdAt int64
	// lastAt is the latest timestamp of the events that create or name
	// it (its own, and streamCreated naming it), whatever their order:
	// Reconcile does not destroy what it heard of after the REST lists.
	// A tombstone keeps only id, dead and diedAt: nothing reads the rest
	// of the dead, and a snapshot carries no more (Ended).
	lastAt   int64
	diedAt   int64 // tombstone time, when dead
	first    *stream
	nstreams int32
	rank     int8
	dead     bool
	liveIx   int // its index in session.liveConns while live
}

type stream struct {
	id         string
	name       string
	videoType  string
	createdAt  int64
	lastAt     int64
	diedAt     int64
	conn       *conn // nil while unattributed, and once dead
	prev, next *stream
	rank       int8
	dead       bool
	muted      bool
	liveIx     int // its index in session.liveStreams while live
}

// touch finds or creates ev's session and folds in what every event says
// about it: its project and the latest timestamp. Both merge by max, so the
// result does not depend on order.
func (s *State) touch(ev *Event, sessionID string) (*session, bool) {
	x := s.sessions[sessionID]
	changed := false
	if x == nil {
		if s.sessions == nil {
			s.sessions = map[string]*session{}
		}
		x = &session{id: sessionID, conns: map[string]*conn{}, streams: map[string]*stream{}}
		s.sessions[sessionID] = x
		changed = true
	}
	if ev.Timestamp > x.lastEventAt {
		x.lastEventAt, changed = ev.Timestamp, true
	}
	if ev.ProjectID != x.projectID && ev.ProjectID > x.projectID { // equal, the usual case, is the cheap test
		x.projectID, changed = ev.ProjectID, true
	}
	return x, changed
}

// Apply folds one event into the state and reports whether anything a
// Session view shows changed. Duplicates, events about the dead, and kinds
// that say nothing about connections, streams, archives or broadcasts (SIP
// calls, renders, captions, unknown types) report false. It does no I/O and
// reads no clock.
func (s *State) Apply(ev Event) bool {
	switch ev.Kind {
	case SessionCreated, SessionDestroyed:
		if ev.SessionID == "" {
			return false
		}
		_, changed := s.touch(&ev, ev.SessionID)
		return changed
	case ConnectionCreated, ConnectionDestroyed:
		if ev.SessionID == "" || ev.Connection == nil || ev.Connection.ID == "" {
			return false
		}
		x, changed := s.touch(&ev, ev.SessionID)
		if ev.Kind == ConnectionCreated {
			return x.connectionCreated(&ev) || changed
		}
		return x.connectionDestroyed(&ev) || changed
	case StreamCreated, StreamDestroyed:
		if ev.SessionID == "" || ev.Stream == nil || ev.Stream.ID == "" {
			return false
		}
		x, changed := s.touch(&ev, ev.SessionID)
		if ev.Kind == StreamCreated {
			return x.streamCreated(&ev) || changed
		}
		return x.streamDestroyed(&ev) || changed
	case ArchiveStatus:
		a := ev.Archive
		if a == nil || a.ID == "" || a.Status == "" {
			return false
		}
		sid := cmp.Or(a.SessionID, ev.SessionID)
		if sid == "" {
			return false
		}
		x, changed := s.touch(&ev, sid)
		return x.archive(&ev) || changed
	case BroadcastStatus:
		b := ev.Broadcast
		if b == nil || b.ID == "" || b.Status == "" {
			return false
		}
		sid := cmp.Or(b.SessionID, ev.SessionID)
		if sid == "" {
			return false
		}
		x, changed := s.touch(&ev, sid)
		return x.broadcast(&ev) || changed
	}
	return false
}

// ApplyAudit folds in what a moderation action did that no callback
// reports: a successful force-mute mutes its stream, a mute-all mutes
// every live stream but the excepted ones and every later one until
// mute_all_off (which unmutes nothing: the service has no unmute). Audit
// entries come in the log's order, so unlike callbacks they need no
// merge rules. It reports whether a Session view changed.
func (s *State) ApplyAudit(a Audit) bool {
	if !a.OK {
		return false
	}
	switch a.Action {
	case ActionBan, ActionUnban:
		return s.applyBanAudit(a)
	case ActionRules:
		return s.applyRulesAudit(a)
	case ActionAlert, ActionAck:
		return s.applyAlertAudit(a)
	}
	if a.Session == "" {
		return false
	}
	x := s.sessions[a.Session]
	if x == nil {
		return false
	}
	switch a.Action {
	case ActionMute:
		st := x.streams[a.Target]
		if st == nil || st.dead || st.muted {
			return false
		}
		st.muted = true
		return true
	case ActionMuteAll:
		at := a.At.UnixMilli()
		x.closeMuteWindow(at)
		x.muteWins = append(x.muteWins, MuteWindow{From: at, Except: slices.Clone(a.Except)})
		if n := len(x.muteWins); n > maxMuteWindows {
			x.muteWins = slices.Delete(x.muteWins, 0, n-maxMuteWindows)
		}
		for _, st := range x.liveStreams {
			if !st.muted && !slices.Contains(a.Except, st.id) {
				st.muted = true
			}
		}
		return true
	case ActionMuteAllOff:
		return x.closeMuteWindow(a.At.UnixMilli())
	}
	return false
}

// closeMuteWindow ends the mute-all in force, if any, at ms.
func (x *session) closeMuteWindow(at int64) bool {
	if n := len(x.muteWins); n > 0 && x.muteWins[n-1].To == 0 {
		x.muteWins[n-1].To = max(at, x.muteWins[n-1].From+1)
		return true
	}
	return false
}

// mutedByWindow: a stream created (createdAt, the service's clock) before
// a mute-all ended was live inside it — the service muted it, whenever its
// streamCreated callback arrives (callbacks lag the REST calls the audit
// entries record). The clocks are the service's and the relay's, and the
// entry is stamped when the REST call has returned: a stream created
// within the clocks' skew, or during the mute_all_off call itself, may be
// judged wrong.
func (x *session) mutedByWindow(id string, createdAt int64) bool {
	for _, w := range x.muteWins {
		if (w.To == 0 || createdAt < w.To) && !slices.Contains(w.Except, id) {
			return true
		}
	}
	return false
}

func (x *session) muteAll() (on bool, except []string) {
	if n := len(x.muteWins); n > 0 && x.muteWins[n-1].To == 0 {
		return true, x.muteWins[n-1].Except
	}
	return false, nil
}

func (x *session) live() bool { return x.n.conns > 0 || x.n.streams > 0 }

func (x *session) counts() Counts {
	n := x.n
	return Counts{
		Connections: int(n.conns), Publishers: int(n.publishers), Viewers: int(n.conns - n.publishers),
		Streams: int(n.streams), Camera: int(n.camera), Screen: int(n.screen), Custom: int(n.custom), AudioOnly: int(n.audio),
		Recording: n.recording > 0, Broadcasting: n.broadcasting > 0,
	}
}

// Counts returns a session's figures in O(1); zero for an unknown session.
func (s *State) Counts(sessionID string) Counts {
	if x := s.sessions[sessionID]; x != nil {
		return x.counts()
	}
	return Counts{}
}

// LiveConnection reports a live connection's data in O(1): false for one
// unknown, or gone.
func (s *State) LiveConnection(sessionID, connID string) (data string, ok bool) {
	x := s.sessions[sessionID]
	if x == nil {
		return "", false
	}
	c := x.conns[connID]
	if c == nil || c.dead {
		return "", false
	}
	return c.data, true
}

// Len returns the number of sessions known, live or not.
func (s *State) Len() int { return len(s.sessions) }

// Session returns the view of one session.
func (s *State) Session(id string) (Session, bool) {
	x := s.sessions[id]
	if x == nil {
		return Session{}, false
	}
	return x.view(false), true
}

// Sessions returns the view of every known session, live or not, sorted
// by ID.
func (s *State) Sessions() []Session { return s.views(false) }

func (s *State) views(full bool) []Session {
	out := make([]Session, 0, len(s.sessions))
	for _, x := range s.sessions {
		out = append(out, x.view(full))
	}
	slices.SortFunc(out, func(a, b Session) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// view is the session's Session; full adds the snapshot-only fields.
func (x *session) view(full bool) Session {
	on, except := x.muteAll()
	v := Session{ID: x.id, ProjectID: x.projectID, Live: x.live(), LastEventAt: x.lastEventAt, Counts: x.counts(),
		MuteWindows: slices.Clone(x.muteWins),
		Connections: make([]ConnectionState, 0, x.n.conns), Streams: make([]StreamState, 0, x.n.streams)}
	v.MuteAll, v.MuteExcept = on, slices.Clone(except)
	for _, c := range x.liveConns {
		cs := ConnectionState{ID: c.id, Data: c.data, CreatedAt: c.createdAt, Streams: int(c.nstreams)}
		if full {
			cs.ReportedBy, cs.LastAt = connReporters[c.rank], c.lastAt
		}
		v.Connections = append(v.Connections, cs)
	}
	for _, st := range x.liveStreams {
		ss := StreamState{ID: st.id, Name: st.name, VideoType: st.videoType, CreatedAt: st.createdAt, Unattributed: st.conn == nil, Muted: st.muted}
		if st.conn != nil {
			ss.ConnectionID = st.conn.id
		}
		if full {
			ss.ReportedBy, ss.LastAt = streamReporters[st.rank], st.lastAt
		}
		v.Streams = append(v.Streams, ss)
	}
	// Ids are compared only on a tie: cmp.Or would compare both always,
	// and 10,000 ids per batch is most of a view's cost.
	slices.SortFunc(v.Connections, func(a, b ConnectionState) int {
		if a.CreatedAt != b.CreatedAt {
			return cmp.Compare(a.CreatedAt, b.CreatedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	slices.SortFunc(v.Streams, func(a, b StreamState) int {
		if a.CreatedAt != b.CreatedAt {
			return cmp.Compare(a.CreatedAt, b.CreatedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, a := range x.archives {
		v.Archives = append(v.Archives, *a)
	}
	slices.SortFunc(v.Archives, func(a, b ArchiveState) int {
		return cmp.Or(cmp.Compare(a.CreatedAt, b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	for _, b := range x.broadcasts {
		v.Broadcasts = append(v.Broadcasts, *b)
	}
	slices.SortFunc(v.Broadcasts, func(a, b BroadcastState) int { return cmp.Compare(a.ID, b.ID) })
	if full {
		v.EndedConnections, v.EndedStreams = x.tombstones()
	}
	return v
}

// Prune forgets what no late callback should still need: tombstones that
// died before `before` (ms), and sessions that are not live and have had no
// event since `before`, with everything they hold. It returns how many
// tombstones and sessions it forgot. Pruning is what lets a late event
// through again, so `before` should trail the service's retry horizon (24 h)
// with a margin; it is the owner's call, never Apply's.
func (s *State) Prune(before int64) int {
	n := s.pruneBans(before)
	for id, x := range s.sessions {
		if !x.live() && x.lastEventAt < before {
			delete(s.sessions, id)
			n++
			continue
		}
		x.deadConns = slices.DeleteFunc(x.deadConns, func(c *conn) bool {
			if c.diedAt >= before {
				return false
			}
			delete(x.conns, c.id)
			n++
			return true
		})
		x.deadStreams = slices.DeleteFunc(x.deadStreams, func(st *stream) bool {
			if st.diedAt >= before {
				return false
			}
			delete(x.streams, st.id)
			n++
			return true
		})
	}
	return n
}
