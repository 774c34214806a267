package events

import (
	"cmp"
	"encoding/json"
	"slices"
)

// RESTStream is a stream as GET …/session/{id}/stream lists it: without
// its connection, which the REST stream object does not carry.
type RESTStream struct {
	ID        string
	VideoType string // camera, screen, custom; "" for audio-only
	Name      string
}

// Reconcile returns the events that make s agree with the REST lists of one
// session's live connections and streams: the service does not guarantee
// callback delivery, so a connection or stream can vanish, or appear,
// without one. Each event has Reason "reconciled", Timestamp now and Raw in
// the callback's own JSON shape, so the relay can log it like a callback
// (source "reconcile") and every reducer applies it like one:
//
//   - a live connection or stream of s that REST lacks: connectionDestroyed
//     or streamDestroyed (a connection takes its streams, so those of a
//     destroyed connection get no event of their own);
//   - a REST connection s does not know: connectionCreated, without data;
//   - a REST stream s does not know: streamCreated without a connection,
//     which the reducer records as unattributed until a streamCreated
//     callback names its connection.
//
// A tombstoned connection or stream that REST still lists is left dead: the
// callback saying it ended is newer than the list. Likewise, now is taken
// as the time the lists were requested, and something s heard of at or
// after now is not destroyed: the list predates it. Take now before the
// requests, not after.
//
// Reconcile only reads s; applying the events, in order, makes the live
// connection and stream IDs of the session equal the lists (save for the
// two exceptions above).
func Reconcile(s *State, sessionID string, connections []string, streams []RESTStream, now int64) []Event {
	x := s.sessions[sessionID]
	if x == nil {
		x = &session{id: sessionID}
	}
	restConns := make(map[string]bool, len(connections))
	for _, id := range connections {
		if id != "" {
			restConns[id] = true
		}
	}
	restStreams := make(map[string]RESTStream, len(streams))
	for _, st := range streams {
		if st.ID != "" {
			restStreams[st.ID] = st
		}
	}

	var goneConns, newConns []string
	gone := map[*conn]bool{}
	for _, c := range x.liveConns {
		if !restConns[c.id] && c.lastAt < now {
			goneConns = append(goneConns, c.id)
			gone[c] = true
		}
	}
	var goneStreams []*stream
	for _, st := range x.liveStreams {
		if st.lastAt >= now || gone[st.conn] {
			continue
		}
		if _, ok := restStreams[st.id]; !ok {
			goneStreams = append(goneStreams, st)
		}
	}
	for id := range restConns {
		if x.conns[id] == nil {
			newConns = append(newConns, id)
		}
	}
	var newStreams []RESTStream
	for id, st := range restStreams {
		if x.streams[id] == nil {
			newStreams = append(newStreams, st)
		}
	}
	slices.SortFunc(goneStreams, func(a, b *stream) int { return cmp.Compare(a.id, b.id) })
	slices.Sort(goneConns)
	slices.Sort(newConns)
	slices.SortFunc(newStreams, func(a, b RESTStream) int { return cmp.Compare(a.ID, b.ID) })

	out := make([]Event, 0, len(goneStreams)+len(goneConns)+len(newConns)+len(newStreams))
	mk := func(kind Kind) Event {
		return Event{Kind: kind, SessionID: sessionID, ProjectID: x.projectID, Timestamp: now, Reason: ReasonReconciled}
	}
	for _, st := range goneStreams {
		ev := mk(StreamDestroyed)
		ev.Stream = &Stream{ID: st.id, CreatedAt: st.createdAt, Name: st.name, VideoType: st.videoType}
		if st.conn != nil {
			ev.Stream.Connection = Connection{ID: st.conn.id, CreatedAt: st.conn.createdAt, Data: st.conn.data}
		}
		out = append(out, withRaw(ev))
	}
	for _, id := range goneConns {
		c := x.conns[id]
		ev := mk(ConnectionDestroyed)
		ev.Connection = &Connection{ID: id, CreatedAt: c.createdAt, Data: c.data}
		out = append(out, withRaw(ev))
	}
	for _, id := range newConns {
		ev := mk(ConnectionCreated)
		ev.Connection = &Connection{ID: id, CreatedAt: now}
		out = append(out, withRaw(ev))
	}
	for _, st := range newStreams {
		ev := mk(StreamCreated)
		ev.Stream = &Stream{ID: st.ID, CreatedAt: now, Name: st.Name, VideoType: st.VideoType}
		out = append(out, withRaw(ev))
	}
	return out
}

// rawCallback is a session-monitoring callback as the service writes it (the Session
// monitoring guide: https://developer.vonage.com/en/video/guides/session-monitoring),
// field for field and in its order; a stream whose connection is not known has no
// "connection".
type rawCallback struct {
	SessionID  string      `json:"sessionId"`
	ProjectID  string      `json:"projectId,omitempty"`
	Event      Kind        `json:"event"`
	Reason     string      `json:"reason,omitempty"`
	Timestamp  int64       `json:"timestamp"`
	Connection *Connection `json:"connection,omitempty"`
	Stream     *rawStream  `json:"stream,omitempty"`
}

type rawStream struct {
	ID         string      `json:"id"`
	Connection *Connection `json:"connection,omitempty"`
	CreatedAt  int64       `json:"createdAt"`
	Name       string      `json:"name"`
	VideoType  string      `json:"videoType,omitempty"`
}

func withRaw(ev Event) Event {
	r := rawCallback{SessionID: ev.SessionID, ProjectID: ev.ProjectID, Event: ev.Kind, Reason: ev.Reason, Timestamp: ev.Timestamp, Connection: ev.Connection}
	if st := ev.Stream; st != nil {
		r.Stream = &rawStream{ID: st.ID, CreatedAt: st.CreatedAt, Name: st.Name, VideoType: st.VideoType}
		if st.Connection.ID != "" {
			c := st.Connection
			r.Stream.Connection = &c
		}
	}
	raw, err := json.Marshal(r)
	if err != nil {
		// Strings and integers only: Marshal cannot fail.
		panic("events: marshal reconcile event: " + err.Error())
	}
	ev.Raw = raw
	return ev
}
