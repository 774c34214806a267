package events

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A State leaves as a list of Sessions and comes back with RestoreState:
// the relay's snapshot frames, the relay's state file and a console's
// restored state are that one form, so relay and console hold the same
// state and a change to what the reducer keeps is made in one place.

// Snapshot returns every known session, live or not, sorted by ID, with
// the snapshot-only fields: tombstones and where fields came from.
// RestoreState(s.Snapshot()) is a state that treats every later event
// exactly as s does.
func (s *State) Snapshot() []Session { return s.views(true) }

// connReporters and streamReporters name the merge ranks in ReportedBy.
var (
	connReporters   = [...]string{rankReconcile: ReportedByReconcile, rankStream: ReportedByStream, rankConnection: ""}
	streamReporters = [...]string{rankReconcile: ReportedByReconcile, rankStream: ""}
)

func connRank(reportedBy string) (int8, error) {
	switch reportedBy {
	case "":
		return rankConnection, nil
	case ReportedByStream:
		return rankStream, nil
	case ReportedByReconcile:
		return rankReconcile, nil
	}
	return 0, fmt.Errorf("reported_by %q: expected \"\", %q or %q", reportedBy, ReportedByStream, ReportedByReconcile)
}

func streamRank(reportedBy string) (int8, error) {
	switch reportedBy {
	case "":
		return rankStream, nil
	case ReportedByReconcile:
		return rankReconcile, nil
	}
	return 0, fmt.Errorf("reported_by %q: expected \"\" or %q", reportedBy, ReportedByReconcile)
}

// tombstones lists the session's dead connections and streams in the
// order they died: a snapshot is taken under the relay's lock for every
// console that attaches, so no sort (MarshalJSON sorts its copy).
func (x *session) tombstones() (conns, streams []Ended) {
	if len(x.deadConns) > 0 {
		conns = make([]Ended, len(x.deadConns))
		for i, c := range x.deadConns {
			conns[i] = Ended{ID: c.id, DiedAt: c.diedAt}
		}
	}
	if len(x.deadStreams) > 0 {
		streams = make([]Ended, len(x.deadStreams))
		for i, st := range x.deadStreams {
			streams[i] = Ended{ID: st.id, DiedAt: st.diedAt}
		}
	}
	return conns, streams
}

// RestoreState builds the state that sessions (from Snapshot, possibly
// sent in parts and joined) describe, recomputing what derives from the
// rest (counts, live, mute-all). A session may be described in several
// entries, as SplitEnded leaves it: the first whole, the others carrying
// only its ID and more tombstones. It refuses a description that
// contradicts itself — an ID twice, a live stream of a connection that is
// not live — so a damaged snapshot is noticed, not believed.
func RestoreState(sessions []Session) (*State, error) {
	s := &State{sessions: make(map[string]*session, len(sessions))}
	merged := make(map[string]int, len(sessions)) // ID → its entry in whole
	var whole []Session
	for _, v := range sessions {
		if v.ID == "" {
			return nil, errors.New("events: restore: a session without an id")
		}
		i, seen := merged[v.ID]
		if !seen {
			merged[v.ID] = len(whole)
			whole = append(whole, v)
			continue
		}
		if !v.endedOnly() {
			return nil, fmt.Errorf("events: restore: session %s twice", v.ID)
		}
		w := &whole[i]
		w.EndedConnections = append(slices.Clip(w.EndedConnections), v.EndedConnections...)
		w.EndedStreams = append(slices.Clip(w.EndedStreams), v.EndedStreams...)
	}
	for i := range whole {
		v := &whole[i]
		x, err := restoreSession(v)
		if err != nil {
			return nil, fmt.Errorf("events: restore: session %s: %w", v.ID, err)
		}
		s.sessions[v.ID] = x
	}
	return s, nil
}

// endedOnly reports whether v says nothing but its ID and tombstones: the
// continuation of a session that SplitEnded cut.
func (v *Session) endedOnly() bool {
	return v.ProjectID == "" && v.LastEventAt == 0 && len(v.Connections) == 0 && len(v.Streams) == 0 &&
		len(v.Archives) == 0 && len(v.Broadcasts) == 0 && len(v.MuteWindows) == 0
}

// SplitEnded cuts a session with more than max tombstones into entries of
// at most max each: the session with the first max, then entries of only
// its ID and the next ones, which RestoreState joins back. A session of a
// day-long town hall can hold hundreds of thousands of tombstones, which
// in one entry would make one snapshot frame larger than a console reads.
func SplitEnded(v Session, max int) []Session {
	conns, streams := v.EndedConnections, v.EndedStreams
	if max <= 0 || len(conns)+len(streams) <= max {
		return []Session{v}
	}
	take := func() (c, s []Ended) {
		n := min(max, len(conns))
		c, conns = conns[:n:n], conns[n:]
		n = min(max-n, len(streams))
		s, streams = streams[:n:n], streams[n:]
		return c, s
	}
	first := v
	first.EndedConnections, first.EndedStreams = take()
	out := []Session{first}
	for len(conns)+len(streams) > 0 {
		next := Session{ID: v.ID, Connections: []ConnectionState{}, Streams: []StreamState{}}
		next.EndedConnections, next.EndedStreams = take()
		out = append(out, next)
	}
	return out
}

func restoreSession(v *Session) (*session, error) {
	x := &session{id: v.ID, projectID: v.ProjectID, lastEventAt: v.LastEventAt,
		conns:   make(map[string]*conn, len(v.Connections)+len(v.EndedConnections)),
		streams: make(map[string]*stream, len(v.Streams)+len(v.EndedStreams))}
	if n := len(v.MuteWindows); n > 0 {
		x.muteWins = slices.Clone(v.MuteWindows[max(0, n-maxMuteWindows):])
	}
	for _, cs := range v.Connections {
		if cs.ID == "" || x.conns[cs.ID] != nil {
			return nil, fmt.Errorf("connection %q: empty or twice", cs.ID)
		}
		rank, err := connRank(cs.ReportedBy)
		if err != nil {
			return nil, fmt.Errorf("connection %s: %w", cs.ID, err)
		}
		x.addConn(cs.ID, rank, cs.CreatedAt, cs.Data, cs.LastAt)
	}
	for _, e := range v.EndedConnections {
		if e.ID == "" || x.conns[e.ID] != nil {
			return nil, fmt.Errorf("ended connection %q: empty or twice", e.ID)
		}
		x.buryConn(&conn{id: e.ID, dead: true, diedAt: e.DiedAt})
	}
	for _, ss := range v.Streams {
		if ss.ID == "" || x.streams[ss.ID] != nil {
			return nil, fmt.Errorf("stream %q: empty or twice", ss.ID)
		}
		rank, err := streamRank(ss.ReportedBy)
		if err != nil {
			return nil, fmt.Errorf("stream %s: %w", ss.ID, err)
		}
		st := &stream{id: ss.ID, rank: rank, createdAt: ss.CreatedAt, name: ss.Name, videoType: ss.VideoType, lastAt: ss.LastAt, muted: ss.Muted}
		x.streams[st.id] = st
		x.n.streams++
		x.countType(st.videoType, 1)
		x.addLiveStream(st)
		if ss.ConnectionID != "" {
			c := x.conns[ss.ConnectionID]
			if c == nil || c.dead {
				return nil, fmt.Errorf("live stream %s of connection %s, which is not live", ss.ID, ss.ConnectionID)
			}
			x.attach(st, c)
		}
	}
	for _, e := range v.EndedStreams {
		if e.ID == "" || x.streams[e.ID] != nil {
			return nil, fmt.Errorf("ended stream %q: empty or twice", e.ID)
		}
		x.buryStream(&stream{id: e.ID, dead: true, diedAt: e.DiedAt})
	}
	for _, a := range v.Archives {
		if x.archives == nil {
			x.archives = make(map[string]*ArchiveState, len(v.Archives))
		}
		if a.ID == "" || x.archives[a.ID] != nil {
			return nil, fmt.Errorf("archive %q: empty or twice", a.ID)
		}
		x.archives[a.ID] = &a
		x.n.recording += recording(a.Status)
	}
	for _, b := range v.Broadcasts {
		if x.broadcasts == nil {
			x.broadcasts = make(map[string]*BroadcastState, len(v.Broadcasts))
		}
		if b.ID == "" || x.broadcasts[b.ID] != nil {
			return nil, fmt.Errorf("broadcast %q: empty or twice", b.ID)
		}
		x.broadcasts[b.ID] = &b
		x.n.broadcasting += broadcasting(b.Status)
	}
	return x, nil
}

// stateVersion is the version of MarshalJSON's format. Version 1 (before
// tombstones were part of Session) is refused: its owner replays the log.
const stateVersion = 2

// stateJSON is the persisted form: the Snapshot, versioned.
type stateJSON struct {
	Version   int           `json:"version"`
	Sessions  []Session     `json:"sessions"`
	Bans      []Ban         `json:"bans,omitempty"` // expired ones too, until pruned
	Rules     *RulesInForce `json:"rules,omitempty"`
	RulesSeed string        `json:"rules_seed,omitempty"`
	Alerts    []Alert       `json:"alerts,omitempty"`
}

// MarshalJSON writes the state as its Snapshot, in a stable order (equal
// states give equal bytes: tombstones by ID rather than by death).
func (s *State) MarshalJSON() ([]byte, error) {
	sessions := s.Snapshot()
	byID := func(a, b Ended) int { return cmp.Compare(a.ID, b.ID) }
	for i := range sessions {
		slices.SortFunc(sessions[i].EndedConnections, byID)
		slices.SortFunc(sessions[i].EndedStreams, byID)
	}
	return json.Marshal(stateJSON{Version: stateVersion, Sessions: sessions, Bans: s.Bans(time.Time{}),
		Rules: s.rules, RulesSeed: s.rulesSeed, Alerts: s.Alerts()})
}

// UnmarshalJSON replaces the state with one written by MarshalJSON. A
// document RestoreState refuses, or of another version, leaves the state
// as it was.
func (s *State) UnmarshalJSON(data []byte) error {
	var in stateJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("events: state: %w", err)
	}
	if in.Version != stateVersion {
		return fmt.Errorf("events: state: version %d, want %d", in.Version, stateVersion)
	}
	restored, err := RestoreState(in.Sessions)
	if err != nil {
		return err
	}
	s.sessions = restored.sessions
	s.RestoreBans(in.Bans)
	s.RestoreRules(in.Rules, in.RulesSeed)
	s.RestoreAlerts(in.Alerts)
	return nil
}
