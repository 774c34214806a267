package opentoktest

// The Audio Connector: a WebSocket endpoint that joins a session to hear
// its streams (https://developer.vonage.com/en/video/guides/audio-connector).

import "net/http"

type audioConnector struct {
	id   string
	conn *connection
}

// connectAudio serves POST /connect. The connector joins as a client that
// only subscribes; streams, headers and bidirectional are accepted and
// ignored, as no audio flows.
func (s *Server) connectAudio(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		SessionID string `json:"sessionId"`
		Token     string `json:"token"`
		WebSocket *struct {
			URI       string `json:"uri"`
			AudioRate *int   `json:"audioRate"`
		} `json:"websocket"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.WebSocket == nil || !absoluteURL(body.WebSocket.URI, "ws", "wss") {
		writeError(w, http.StatusBadRequest, "websocket.uri must be a ws:// or wss:// URI")
		return
	}
	if ar := body.WebSocket.AudioRate; ar != nil && *ar != 8000 && *ar != 16000 && *ar != 24000 {
		writeError(w, http.StatusBadRequest, "websocket.audioRate must be 8000, 16000 or 24000")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ct, ok := s.joinTarget(w, who, body.SessionID, body.Token, http.StatusBadRequest)
	if !ok {
		return
	}
	if !sess.routed {
		writeError(w, http.StatusConflict, "Only routed sessions are allowed to initiate Audio Connector WebSocket connections; this session is relayed")
		return
	}
	ac := &audioConnector{id: newUUID(s.rng)}
	ac.conn = s.joinService(sess, ct, ac)
	s.st.media.integrations.audio[ac.id] = ac
	writeJSON(w, http.StatusOK, map[string]string{"id": ac.id, "connectionId": ac.conn.id})
}

// stopAudio serves POST /connect/{id}/stop. Only vonage-node-sdk's video
// package gives the path; it answers 204 with no body, which every SDK's
// 2xx check accepts. A connector that already ended is not found.
func (s *Server) stopAudio(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.st.media.integrations
	ac, ok := st.audio[r.PathValue("connector")]
	if !ok || ac.conn.sess.owner.id != who.id {
		writeError(w, http.StatusNotFound, "Audio Connector not found: "+r.PathValue("connector"))
		return
	}
	delete(st.audio, ac.id)
	s.leaveService(ac.conn)
	w.WriteHeader(http.StatusNoContent)
}

// connectionGone forgets a connector whose connection was force-disconnected.
func (ac *audioConnector) connectionGone(s *Server) {
	delete(s.st.media.integrations.audio, ac.id)
}
