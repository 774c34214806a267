package opentoktest

// Session-monitoring callbacks, exactly as the Session monitoring guide:
// https://developer.vonage.com/en/video/guides/session-monitoring documents them:
// one event per POST, millisecond timestamps, projectId a string, reason only
// on destroyed events, videoType absent for audio-only streams. Field order
// follows the documented examples.

type monitoringEvent struct {
	SessionID  string            `json:"sessionId"`
	ProjectID  string            `json:"projectId"`
	Event      string            `json:"event"`
	Reason     string            `json:"reason,omitempty"`
	Timestamp  int64             `json:"timestamp"`
	Connection *connectionObject `json:"connection,omitempty"`
	Stream     *streamObject     `json:"stream,omitempty"`
}

type connectionObject struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"createdAt"`
	Data      string `json:"data"`
}

type streamObject struct {
	ID         string           `json:"id"`
	Connection connectionObject `json:"connection"`
	CreatedAt  int64            `json:"createdAt"`
	Name       string           `json:"name"`
	VideoType  string           `json:"videoType,omitempty"`
}

// Reasons the service gives for destroyed connections and streams.
const (
	ReasonClientDisconnected  = "clientDisconnected"
	ReasonForceDisconnected   = "forceDisconnected"
	ReasonNetworkDisconnected = "networkDisconnected"
	ReasonForceUnpublished    = "forceUnpublished"
	ReasonMediaStopped        = "mediaStopped"
)

func (c *connection) object() connectionObject {
	return connectionObject{ID: c.id, CreatedAt: c.createdAt, Data: c.data}
}

func (s *Server) emitSession(sess *session, event string) {
	s.emit(GroupSession, sess.id, monitoringEvent{SessionID: sess.id, ProjectID: sess.owner.id, Event: event, Timestamp: s.nowMillis()})
}

func (s *Server) emitConnection(c *connection, event, reason string) {
	obj := c.object()
	s.emit(GroupSession, c.sess.id, monitoringEvent{SessionID: c.sess.id, ProjectID: c.sess.owner.id, Event: event, Reason: reason,
		Timestamp: s.nowMillis(), Connection: &obj})
}

func (s *Server) emitStream(x *stream, event, reason string) {
	s.emit(GroupSession, x.conn.sess.id, monitoringEvent{SessionID: x.conn.sess.id, ProjectID: x.conn.sess.owner.id, Event: event, Reason: reason,
		Timestamp: s.nowMillis(), Stream: &streamObject{ID: x.id, Connection: x.conn.object(), CreatedAt: x.createdAt, Name: x.name, VideoType: x.videoType}})
}

// addConnection makes c live; the session comes alive with its first one.
func (s *Server) addConnection(c *connection) {
	sess := c.sess
	if !sess.live {
		sess.live = true
		s.emitSession(sess, "sessionCreated")
	}
	sess.conns[c.id] = c
	s.emitConnection(c, "connectionCreated", "")
}

// removeConnection ends c and its streams with reason; the session dies
// with its last connection.
func (s *Server) removeConnection(c *connection, reason string) {
	for _, x := range c.streams {
		s.removeStream(x, reason)
	}
	delete(c.sess.conns, c.id)
	s.emitConnection(c, "connectionDestroyed", reason)
	if c.p != nil {
		c.p.gone = reason
	}
	s.integrationsConnectionRemoved(c)
	if len(c.sess.conns) == 0 {
		c.sess.live = false
		s.emitSession(c.sess, "sessionDestroyed")
		s.sessionEmptied(c.sess)
	}
}

// addStream publishes x, muted at once if mute-all is on for the session.
func (s *Server) addStream(x *stream) {
	sess := x.conn.sess
	if sess.muteAll && !sess.muteExcept[x.id] {
		x.audioMuted = true
	}
	x.conn.streams[x.id] = x
	sess.streams[x.id] = x
	sess.hadStreams = true
	s.emitStream(x, "streamCreated", "")
	s.publishersChanged(sess)
}

func (s *Server) removeStream(x *stream, reason string) {
	sess := x.conn.sess
	delete(x.conn.streams, x.id)
	delete(sess.streams, x.id)
	s.emitStream(x, "streamDestroyed", reason)
	s.publishersChanged(sess)
}
