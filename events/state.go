package events

import (
	"cmp"
	"encoding/json"
	"fmt"
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
}

// NewState returns an empty state.
func NewState() *State { return &State{sessions: map[string]*session{}} }

// Superseded reports whether ev creates a connection or stream that s holds
// dead. Applied to a state that lacks the tombstone — a console's state
// rebuilt from a snapshot, which carries live objects only — such a late
// create would bring the dead back for good; the relay marks it instead,
// and consoles skip it. IDs are never reused, so death is final and the
// mark is always safe.
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

// Session is the view of one session: what snapshot frames carry and what
// the console shows. Connections and Streams list the live ones only.
type Session struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id,omitempty"`
	// Live is true while the session has a live connection (or a stream,
	// which cannot exist without one even if the callback naming it is
	// missing): a session ID is reused, so it says nothing about
	// sessionCreated/sessionDestroyed.
	Live bool `json:"live"`
	// LastEventAt is the latest timestamp of any event of the session (ms).
	LastEventAt int64             `json:"last_event_at"`
	Connections []ConnectionState `json:"connections"` // by CreatedAt, then ID
	Streams     []StreamState     `json:"streams"`     // by CreatedAt, then ID
	Archives    []ArchiveState    `json:"archives,omitempty"`
	Broadcasts  []BroadcastState  `json:"broadcasts,omitempty"`
	Counts      Counts            `json:"counts"`
	// MuteAll is true while a mute-all is in force: streams published
	// meanwhile are muted too, except MuteExcept.
	MuteAll    bool     `json:"mute_all,omitempty"`
	MuteExcept []string `json:"mute_except,omitempty"`
	// MuteWindows are the session's recent mute-alls (the last few), which
	// decide whether a stream whose callback arrives late was muted.
	MuteWindows []MuteWindow `json:"mute_windows,omitempty"`
}

// ConnectionState is one live connection.
type ConnectionState struct {
	ID string `json:"id"`
	// Data is the token's connection data: untrusted text. Empty when only a
	// reconcile has seen the connection (the REST list does not carry it).
	Data string `json:"data,omitempty"`
	// CreatedAt is when it connected (ms); for a connection known only from
	// a reconcile, when the reconcile found it.
	CreatedAt int64 `json:"created_at"`
	Streams   int   `json:"streams"` // live streams it publishes
}

// StreamState is one live stream.
type StreamState struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connection_id,omitempty"`
	Name         string `json:"name"`
	// VideoType is camera, screen, custom, or "" for audio-only.
	VideoType string `json:"video_type,omitempty"`
	CreatedAt int64  `json:"created_at"`
	// Unattributed is true for a stream known only from the REST list,
	// which does not say whose it is; the streamCreated callback attributes
	// it when (if) it arrives.
	Unattributed bool `json:"unattributed,omitempty"`
	// Muted is true once a moderator's force-mute (or mute-all) of it
	// succeeded. The service reports no audio changes, so a publisher who
	// unmuted since still shows muted; no callback says otherwise.
	Muted bool `json:"muted,omitempty"`
}

// MuteWindow is one mute-all: from its audit's time to its mute_all_off's
// (To 0 while in force), in ms, and the streams it spared. Every stream
// live at some moment inside it was muted by the service.
type MuteWindow struct {
	From   int64    `json:"from"`
	To     int64    `json:"to,omitempty"`
	Except []string `json:"except,omitempty"`
}

// maxMuteWindows bounds a session's remembered mute-alls: a late callback
// is minutes late at worst, not a day's worth of mute-alls.
const maxMuteWindows = 8

// ArchiveState is the latest known status of an archive.
type ArchiveState struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Name       string `json:"name,omitempty"`
	Reason     string `json:"reason,omitempty"`
	OutputMode string `json:"output_mode,omitempty"`
	URL        string `json:"url,omitempty"`
	CreatedAt  int64  `json:"created_at"`
	// UpdatedAt is when Status was reached: the callback's updatedAt, else
	// its createdAt, else its timestamp (Event.Timestamp).
	UpdatedAt int64 `json:"updated_at"`
}

// BroadcastState is the latest known status of a broadcast.
type BroadcastState struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	UpdatedAt int64  `json:"updated_at"`
}

// Counts are a session's figures. None is reported by the service as such:
// all derive from the connection and stream callbacks.
type Counts struct {
	Connections int `json:"connections"`
	// Publishers are connections with at least one live stream; Viewers the
	// rest (subscriber-only). A stream known only from a reconcile has no
	// connection yet, so its publisher counts as a viewer until attributed.
	Publishers int `json:"publishers"`
	Viewers    int `json:"viewers"`
	Streams    int `json:"streams"` // Camera + Screen + Custom + AudioOnly
	Camera     int `json:"camera"`
	Screen     int `json:"screen"`
	// Custom counts videoType custom and any type the service may add.
	Custom    int `json:"custom"`
	AudioOnly int `json:"audio_only"` // no videoType
	// Recording is true while an archive is started or paused; Broadcasting
	// while a broadcast is started.
	Recording    bool `json:"recording"`
	Broadcasting bool `json:"broadcasting"`
}

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
	// lastAt is the latest timestamp of the events that create or destroy
	// it (its own, and streamCreated naming it), whatever their order:
	// Reconcile does not destroy what it heard of after the REST lists.
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
	if !a.OK || a.Session == "" {
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

// offer merges a report of a connection's fields; the greatest (rank,
// createdAt, data) wins, a total order, so arrival order does not matter.
// It reports whether a field a view shows changed (the rank is not shown).
func (c *conn) offer(rank int8, createdAt int64, data string) bool {
	if rank < c.rank || rank == c.rank && (createdAt < c.createdAt || createdAt == c.createdAt && data <= c.data) {
		return false
	}
	changed := createdAt != c.createdAt || data != c.data
	c.rank, c.createdAt, c.data = rank, createdAt, data
	return changed
}

// offer merges a report of a stream's fields, like conn.offer; the caller
// recounts the stream's type around it.
func (st *stream) offer(rank int8, createdAt int64, name, videoType string) bool {
	if rank < st.rank || rank == st.rank && (createdAt < st.createdAt || createdAt == st.createdAt &&
		(videoType < st.videoType || videoType == st.videoType && name <= st.name)) {
		return false
	}
	changed := createdAt != st.createdAt || name != st.name || videoType != st.videoType
	st.rank, st.createdAt, st.name, st.videoType = rank, createdAt, name, videoType
	return changed
}

func (x *session) addConn(id string, rank int8, createdAt int64, data string, at int64) *conn {
	c := &conn{id: id, rank: rank, createdAt: createdAt, data: data, lastAt: at}
	x.conns[id] = c
	x.n.conns++
	c.liveIx, x.liveConns = len(x.liveConns), append(x.liveConns, c)
	return c
}

// dropLiveConn takes c out of the live index.
func (x *session) dropLiveConn(c *conn) {
	last := x.liveConns[len(x.liveConns)-1]
	x.liveConns[c.liveIx], last.liveIx = last, c.liveIx
	x.liveConns[len(x.liveConns)-1] = nil
	x.liveConns = x.liveConns[:len(x.liveConns)-1]
}

func (x *session) addLiveStream(st *stream) {
	st.liveIx, x.liveStreams = len(x.liveStreams), append(x.liveStreams, st)
}

func (x *session) dropLiveStream(st *stream) {
	last := x.liveStreams[len(x.liveStreams)-1]
	x.liveStreams[st.liveIx], last.liveIx = last, st.liveIx
	x.liveStreams[len(x.liveStreams)-1] = nil
	x.liveStreams = x.liveStreams[:len(x.liveStreams)-1]
}

func (x *session) connectionCreated(ev *Event) bool {
	ec := ev.Connection
	rank := rankConnection
	if ev.Reason == ReasonReconciled {
		rank = rankReconcile
	}
	c := x.conns[ec.ID]
	if c == nil {
		x.addConn(ec.ID, rank, ec.CreatedAt, ec.Data, ev.Timestamp)
		return true
	}
	c.lastAt = max(c.lastAt, ev.Timestamp)
	if c.dead {
		return false
	}
	return c.offer(rank, ec.CreatedAt, ec.Data)
}

func (x *session) connectionDestroyed(ev *Event) bool {
	id := ev.Connection.ID
	c := x.conns[id]
	if c == nil {
		// Destroyed before created (or its creation was never sent): the
		// tombstone keeps a late connectionCreated from bringing it back.
		x.conns[id] = &conn{id: id, dead: true, diedAt: ev.Timestamp, lastAt: ev.Timestamp}
		return false
	}
	c.lastAt = max(c.lastAt, ev.Timestamp)
	if c.dead {
		c.diedAt = max(c.diedAt, ev.Timestamp)
		return false
	}
	x.killConn(c, ev.Timestamp)
	return true
}

// killConn tombstones c and the streams it publishes.
func (x *session) killConn(c *conn, at int64) {
	for st := c.first; st != nil; {
		next := st.next
		x.killStream(st, at)
		st = next
	}
	c.dead, c.diedAt, c.data = true, at, ""
	x.n.conns--
	x.dropLiveConn(c)
}

func (x *session) streamCreated(ev *Event) bool {
	es := ev.Stream
	changed := false
	var c *conn
	if ec := es.Connection; ec.ID != "" {
		c = x.conns[ec.ID]
		switch {
		case c == nil:
			c = x.addConn(ec.ID, rankStream, ec.CreatedAt, ec.Data, ev.Timestamp)
			changed = true
		case !c.dead:
			changed = c.offer(rankStream, ec.CreatedAt, ec.Data) || changed
		}
		c.lastAt = max(c.lastAt, ev.Timestamp)
	}
	rank := rankStream
	if ev.Reason == ReasonReconciled {
		rank = rankReconcile
	}
	st := x.streams[es.ID]
	if st == nil {
		st = &stream{id: es.ID, rank: rank, createdAt: es.CreatedAt, name: es.Name, videoType: es.VideoType, lastAt: ev.Timestamp}
		x.streams[es.ID] = st
		if c != nil && c.dead {
			// Its connection is gone, and took the stream with it.
			st.dead, st.diedAt, st.name, st.videoType = true, c.diedAt, "", ""
			return changed
		}
		x.n.streams++
		x.countType(st.videoType, 1)
		x.addLiveStream(st)
		if c != nil {
			x.attach(st, c)
		}
		st.muted = x.mutedByWindow(st.id, st.createdAt)
		return true
	}
	st.lastAt = max(st.lastAt, ev.Timestamp)
	if st.dead {
		return changed
	}
	if st.conn == nil && c != nil {
		// A stream the reconcile found, now attributed by its callback.
		if c.dead {
			x.killStream(st, c.diedAt)
			return true
		}
		x.attach(st, c)
		changed = true
	}
	old := st.videoType
	if st.offer(rank, es.CreatedAt, es.Name, es.VideoType) {
		x.countType(old, -1)
		x.countType(st.videoType, 1)
		changed = true
	}
	return changed
}

func (x *session) streamDestroyed(ev *Event) bool {
	es := ev.Stream
	st := x.streams[es.ID]
	if st == nil {
		x.streams[es.ID] = &stream{id: es.ID, dead: true, diedAt: ev.Timestamp, lastAt: ev.Timestamp}
		return false
	}
	st.lastAt = max(st.lastAt, ev.Timestamp)
	if st.dead {
		st.diedAt = max(st.diedAt, ev.Timestamp)
		return false
	}
	x.killStream(st, ev.Timestamp)
	return true
}

// attach links st into c's list of streams.
func (x *session) attach(st *stream, c *conn) {
	st.conn, st.prev, st.next = c, nil, c.first
	if c.first != nil {
		c.first.prev = st
	}
	c.first = st
	c.nstreams++
	if c.nstreams == 1 {
		x.n.publishers++
	}
}

func (x *session) killStream(st *stream, at int64) {
	if c := st.conn; c != nil {
		if st.prev != nil {
			st.prev.next = st.next
		} else {
			c.first = st.next
		}
		if st.next != nil {
			st.next.prev = st.prev
		}
		c.nstreams--
		if c.nstreams == 0 {
			x.n.publishers--
		}
	}
	x.n.streams--
	x.dropLiveStream(st)
	x.countType(st.videoType, -1)
	st.dead, st.diedAt, st.conn, st.prev, st.next, st.name, st.videoType = true, at, nil, nil, nil, "", ""
}

func (x *session) countType(videoType string, d int32) {
	switch videoType {
	case "camera":
		x.n.camera += d
	case "screen":
		x.n.screen += d
	case "":
		x.n.audio += d
	default:
		x.n.custom += d
	}
}

// statusRank orders an archive's or broadcast's lifecycle, so that of two
// statuses with the same timestamp the later stage wins and a late retry of
// "started" cannot undo "stopped". Unknown statuses rank lowest.
func statusRank(status string) int {
	switch status {
	case "started":
		return 1
	case "paused":
		return 2
	case "stopped":
		return 3
	case "uploaded":
		return 4
	case "available":
		return 5
	case "expired", "failed", "deleted":
		return 6
	}
	return 0
}

// newer reports whether status b at time tb supersedes status a at ta.
func newer(ta int64, a string, tb int64, b string) bool {
	if tb != ta {
		return tb > ta
	}
	if ra, rb := statusRank(a), statusRank(b); ra != rb {
		return rb > ra
	}
	return b > a // two unknown statuses at once: any fixed order converges
}

func recording(status string) int32 {
	if status == "started" || status == "paused" {
		return 1
	}
	return 0
}

func broadcasting(status string) int32 {
	if status == "started" {
		return 1
	}
	return 0
}

func (x *session) archive(ev *Event) bool {
	a := ev.Archive
	next := ArchiveState{ID: a.ID, Status: a.Status, Name: a.Name, Reason: a.Reason, OutputMode: a.OutputMode,
		URL: a.URL, CreatedAt: a.CreatedAt, UpdatedAt: ev.Timestamp}
	if x.archives == nil {
		x.archives = map[string]*ArchiveState{}
	}
	cur := x.archives[a.ID]
	if cur == nil {
		x.archives[a.ID] = &next
		x.n.recording += recording(next.Status)
		return true
	}
	if newer(cur.UpdatedAt, cur.Status, next.UpdatedAt, next.Status) {
		// Fields a status callback may leave out are kept; the URL is not,
		// since it belongs to the status (an expired archive has none).
		fill(&next, cur)
		x.n.recording += recording(next.Status) - recording(cur.Status)
		*cur = next
		return true
	}
	return fill(cur, &next)
}

// fill sets dst's empty descriptive fields from src, so they end up the
// same whichever of two reports of an archive wins.
func fill(dst, src *ArchiveState) bool {
	changed := false
	if dst.Name == "" && src.Name != "" {
		dst.Name, changed = src.Name, true
	}
	if dst.OutputMode == "" && src.OutputMode != "" {
		dst.OutputMode, changed = src.OutputMode, true
	}
	if dst.CreatedAt == 0 && src.CreatedAt != 0 {
		dst.CreatedAt, changed = src.CreatedAt, true
	}
	return changed
}

func (x *session) broadcast(ev *Event) bool {
	b := ev.Broadcast
	next := BroadcastState{ID: b.ID, Status: b.Status, UpdatedAt: ev.Timestamp}
	if x.broadcasts == nil {
		x.broadcasts = map[string]*BroadcastState{}
	}
	cur := x.broadcasts[b.ID]
	if cur == nil {
		x.broadcasts[b.ID] = &next
		x.n.broadcasting += broadcasting(next.Status)
		return true
	}
	if !newer(cur.UpdatedAt, cur.Status, next.UpdatedAt, next.Status) {
		return false
	}
	x.n.broadcasting += broadcasting(next.Status) - broadcasting(cur.Status)
	*cur = next
	return true
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

// Len returns the number of sessions known, live or not.
func (s *State) Len() int { return len(s.sessions) }

// Session returns the view of one session.
func (s *State) Session(id string) (Session, bool) {
	x := s.sessions[id]
	if x == nil {
		return Session{}, false
	}
	return x.view(), true
}

// Sessions returns every known session, live or not, sorted by ID.
func (s *State) Sessions() []Session {
	out := make([]Session, 0, len(s.sessions))
	for _, x := range s.sessions {
		out = append(out, x.view())
	}
	slices.SortFunc(out, func(a, b Session) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (x *session) view() Session {
	on, except := x.muteAll()
	v := Session{ID: x.id, ProjectID: x.projectID, Live: x.live(), LastEventAt: x.lastEventAt, Counts: x.counts(),
		MuteWindows: slices.Clone(x.muteWins),
		Connections: make([]ConnectionState, 0, x.n.conns), Streams: make([]StreamState, 0, x.n.streams)}
	v.MuteAll, v.MuteExcept = on, slices.Clone(except)
	for _, c := range x.liveConns {
		v.Connections = append(v.Connections, ConnectionState{ID: c.id, Data: c.data, CreatedAt: c.createdAt, Streams: int(c.nstreams)})
	}
	for _, st := range x.liveStreams {
		ss := StreamState{ID: st.id, Name: st.name, VideoType: st.videoType, CreatedAt: st.createdAt, Unattributed: st.conn == nil, Muted: st.muted}
		if st.conn != nil {
			ss.ConnectionID = st.conn.id
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
	return v
}

// Prune forgets what no late callback should still need: tombstones that
// died before `before` (ms), and sessions that are not live and have had no
// event since `before`, with everything they hold. It returns how many
// tombstones and sessions it forgot. Pruning is what lets a late event
// through again, so `before` should trail the service's retry horizon (24 h)
// with a margin; it is the owner's call, never Apply's.
func (s *State) Prune(before int64) int {
	n := 0
	for id, x := range s.sessions {
		if !x.live() && x.lastEventAt < before {
			delete(s.sessions, id)
			n++
			continue
		}
		for cid, c := range x.conns {
			if c.dead && c.diedAt < before {
				delete(x.conns, cid)
				n++
			}
		}
		for sid, st := range x.streams {
			if st.dead && st.diedAt < before {
				delete(x.streams, sid)
				n++
			}
		}
	}
	return n
}

// stateVersion is the version of MarshalJSON's format.
const stateVersion = 1

// The persisted form: every session with its tombstones and the merge ranks
// of its fields, so a restored state treats late events exactly as the
// original would have.
type stateJSON struct {
	Version  int           `json:"version"`
	Sessions []sessionJSON `json:"sessions"`
}

type sessionJSON struct {
	ID          string           `json:"id"`
	ProjectID   string           `json:"project_id,omitempty"`
	LastEventAt int64            `json:"last_event_at"`
	Connections []connJSON       `json:"connections,omitempty"`
	Streams     []streamJSON     `json:"streams,omitempty"`
	Archives    []ArchiveState   `json:"archives,omitempty"`
	Broadcasts  []BroadcastState `json:"broadcasts,omitempty"`
	MuteWindows []MuteWindow     `json:"mute_windows,omitempty"`
}

type connJSON struct {
	ID        string `json:"id"`
	Data      string `json:"data,omitempty"`
	CreatedAt int64  `json:"created_at,omitempty"`
	LastAt    int64  `json:"last_at,omitempty"`
	Rank      int8   `json:"rank,omitempty"`
	Dead      bool   `json:"dead,omitempty"`
	DiedAt    int64  `json:"died_at,omitempty"`
}

type streamJSON struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connection_id,omitempty"`
	Name         string `json:"name,omitempty"`
	VideoType    string `json:"video_type,omitempty"`
	CreatedAt    int64  `json:"created_at,omitempty"`
	LastAt       int64  `json:"last_at,omitempty"`
	Rank         int8   `json:"rank,omitempty"`
	Dead         bool   `json:"dead,omitempty"`
	DiedAt       int64  `json:"died_at,omitempty"`
	Muted        bool   `json:"muted,omitempty"`
}

// MarshalJSON writes the whole state, tombstones included, in a stable
// order (equal states give equal bytes).
func (s *State) MarshalJSON() ([]byte, error) {
	out := stateJSON{Version: stateVersion, Sessions: make([]sessionJSON, 0, len(s.sessions))}
	for _, x := range s.sessions {
		sj := sessionJSON{ID: x.id, ProjectID: x.projectID, LastEventAt: x.lastEventAt, MuteWindows: x.muteWins}
		for _, c := range x.conns {
			sj.Connections = append(sj.Connections, connJSON{ID: c.id, Data: c.data, CreatedAt: c.createdAt, LastAt: c.lastAt,
				Rank: c.rank, Dead: c.dead, DiedAt: c.diedAt})
		}
		for _, st := range x.streams {
			j := streamJSON{ID: st.id, Name: st.name, VideoType: st.videoType, CreatedAt: st.createdAt, LastAt: st.lastAt,
				Rank: st.rank, Dead: st.dead, DiedAt: st.diedAt, Muted: st.muted}
			if st.conn != nil {
				j.ConnectionID = st.conn.id
			}
			sj.Streams = append(sj.Streams, j)
		}
		for _, a := range x.archives {
			sj.Archives = append(sj.Archives, *a)
		}
		for _, b := range x.broadcasts {
			sj.Broadcasts = append(sj.Broadcasts, *b)
		}
		slices.SortFunc(sj.Connections, func(a, b connJSON) int { return cmp.Compare(a.ID, b.ID) })
		slices.SortFunc(sj.Streams, func(a, b streamJSON) int { return cmp.Compare(a.ID, b.ID) })
		slices.SortFunc(sj.Archives, func(a, b ArchiveState) int { return cmp.Compare(a.ID, b.ID) })
		slices.SortFunc(sj.Broadcasts, func(a, b BroadcastState) int { return cmp.Compare(a.ID, b.ID) })
		out.Sessions = append(out.Sessions, sj)
	}
	slices.SortFunc(out.Sessions, func(a, b sessionJSON) int { return cmp.Compare(a.ID, b.ID) })
	return json.Marshal(out)
}

// UnmarshalJSON replaces the state with one written by MarshalJSON and
// recomputes its counts. It refuses a document that contradicts itself (a
// live stream of a dead or unknown connection), so a damaged snapshot is
// noticed and the owner can replay the log instead.
func (s *State) UnmarshalJSON(data []byte) error {
	var in stateJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("events: state: %w", err)
	}
	if in.Version != stateVersion {
		return fmt.Errorf("events: state: version %d, want %d", in.Version, stateVersion)
	}
	sessions := make(map[string]*session, len(in.Sessions))
	for _, sj := range in.Sessions {
		if sj.ID == "" {
			return fmt.Errorf("events: state: a session without an id")
		}
		if _, dup := sessions[sj.ID]; dup {
			return fmt.Errorf("events: state: session %s twice", sj.ID)
		}
		x := &session{id: sj.ID, projectID: sj.ProjectID, lastEventAt: sj.LastEventAt, muteWins: sj.MuteWindows,
			conns: make(map[string]*conn, len(sj.Connections)), streams: make(map[string]*stream, len(sj.Streams))}
		sessions[sj.ID] = x
		for _, cj := range sj.Connections {
			if cj.ID == "" || x.conns[cj.ID] != nil {
				return fmt.Errorf("events: state: session %s: connection %q missing or twice", sj.ID, cj.ID)
			}
			c := &conn{id: cj.ID, data: cj.Data, createdAt: cj.CreatedAt, lastAt: cj.LastAt, rank: cj.Rank, dead: cj.Dead, diedAt: cj.DiedAt}
			x.conns[c.id] = c
			if !c.dead {
				x.n.conns++
				c.liveIx, x.liveConns = len(x.liveConns), append(x.liveConns, c)
			}
		}
		for _, j := range sj.Streams {
			if j.ID == "" || x.streams[j.ID] != nil {
				return fmt.Errorf("events: state: session %s: stream %q missing or twice", sj.ID, j.ID)
			}
			st := &stream{id: j.ID, name: j.Name, videoType: j.VideoType, createdAt: j.CreatedAt, lastAt: j.LastAt, rank: j.Rank, dead: j.Dead, diedAt: j.DiedAt, muted: j.Muted}
			x.streams[st.id] = st
			if st.dead {
				continue
			}
			x.n.streams++
			x.countType(st.videoType, 1)
			x.addLiveStream(st)
			if j.ConnectionID != "" {
				c := x.conns[j.ConnectionID]
				if c == nil || c.dead {
					return fmt.Errorf("events: state: session %s: live stream %s of connection %s, which is not live", sj.ID, j.ID, j.ConnectionID)
				}
				x.attach(st, c)
			}
		}
		for i := range sj.Archives {
			a := sj.Archives[i]
			if x.archives == nil {
				x.archives = map[string]*ArchiveState{}
			}
			x.archives[a.ID] = &a
			x.n.recording += recording(a.Status)
		}
		for i := range sj.Broadcasts {
			b := sj.Broadcasts[i]
			if x.broadcasts == nil {
				x.broadcasts = map[string]*BroadcastState{}
			}
			x.broadcasts[b.ID] = &b
			x.n.broadcasting += broadcasting(b.Status)
		}
	}
	s.sessions = sessions
	return nil
}
