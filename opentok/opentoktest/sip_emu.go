package opentoktest

// SIP calls: POST /dial joins a phone call to a session as a client, and
// the SIP Interconnect guide's callbacks tell how it goes
// (https://developer.vonage.com/en/video/guides/sip-interconnect).

import (
	"fmt"
	"net/http"
	"strings"
)

type sipCall struct {
	id        string
	sess      *session
	conn      *connection
	createdAt int64
	ended     bool
}

// sipEvent is a SIP call callback exactly as the 2022 SIP guide shows it
// (the SIP Interconnect guide above), fields in its order; reason_code is a string there.
type sipEvent struct {
	SessionID     string        `json:"sessionId"`
	ProjectID     string        `json:"projectId"`
	Event         string        `json:"event"`
	State         string        `json:"state,omitempty"`
	ReasonCode    string        `json:"reason_code,omitempty"`
	ReasonMessage string        `json:"reason_message,omitempty"`
	Timestamp     int64         `json:"timestamp"`
	Call          sipCallObject `json:"call"`
}

type sipCallObject struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connectionId"`
	CreatedAt    int64  `json:"createdAt"`
}

func (s *Server) emitSIP(call *sipCall, ev sipEvent) {
	ev.SessionID, ev.ProjectID, ev.Timestamp = call.sess.id, call.sess.owner.id, s.nowMillis()
	ev.Call = sipCallObject{ID: call.id, ConnectionID: call.conn.id, CreatedAt: call.createdAt}
	s.emit(GroupSIP, call.sess.id, ev)
}

// dialSIP serves POST /dial. Only what the emulator acts on is decoded:
// headers, auth, from, secure, observeForceMute and streams are accepted
// and ignored, as there is no SIP network behind it.
func (s *Server) dialSIP(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		SessionID string `json:"sessionId"`
		Token     string `json:"token"`
		SIP       *struct {
			URI   string `json:"uri"`
			Video bool   `json:"video"`
		} `json:"sip"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.SIP == nil || body.SIP.URI == "" {
		writeError(w, http.StatusBadRequest, "sip.uri is required")
		return
	}
	if u := strings.ToLower(body.SIP.URI); !strings.HasPrefix(u, "sip:") && !strings.HasPrefix(u, "sips:") || len(u) <= len("sips:") {
		writeError(w, http.StatusBadRequest, "sip.uri must be a sip: or sips: URI")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ct, ok := s.joinTarget(w, who, body.SessionID, body.Token, http.StatusNotFound)
	if !ok {
		return
	}
	if !sess.routed {
		writeError(w, http.StatusConflict, "SIP calls are only supported in routed sessions; this session is relayed")
		return
	}
	st := &s.st.media.integrations
	call := &sipCall{id: newUUID(s.rng), sess: sess, createdAt: s.nowMillis()}
	call.conn = s.joinService(sess, ct, call)
	st.calls[call.id] = call
	s.emitSIP(call, sipEvent{Event: "callCreated"})
	x := &stream{id: newUUID(s.rng), conn: call.conn, hasAudio: true, layoutClasses: []string{}, createdAt: s.nowMillis()}
	if body.SIP.Video {
		x.videoType, x.hasVideo = "camera", true
	}
	s.addStream(x)
	s.after(sipAnswerDelay, func() {
		if !call.ended {
			s.emitSIP(call, sipEvent{Event: "callUpdated", State: "ACTIVE"})
		}
	})
	writeJSON(w, http.StatusOK, map[string]string{"id": call.id, "connectionId": call.conn.id, "streamId": x.id})
}

// connectionGone ends the call: the gateway hangs up the SIP leg when its
// connection is force-disconnected, or the far end has sent BYE.
func (call *sipCall) connectionGone(s *Server) {
	call.ended = true
	delete(s.st.media.integrations.calls, call.id)
	s.emitSIP(call, sipEvent{Event: "callUpdated", State: "HANGUP"})
	s.emitSIP(call, sipEvent{Event: "callDestroyed", ReasonCode: sipNormalClearingCode, ReasonMessage: sipNormalClearingMessage})
}

// HangUpSIP ends a SIP call from the far end, as a phone hanging up (SIP
// BYE) does: the call's connection and stream leave the session
// (clientDisconnected) and callUpdated HANGUP and callDestroyed (700 Normal
// Clearing) follow. To hang up from the session side, force-disconnect the
// call's connection through the REST API.
func (s *Server) HangUpSIP(callID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	call, ok := s.st.media.integrations.calls[callID]
	if !ok {
		return fmt.Errorf("hang up SIP call %s: no such call in progress", callID)
	}
	s.removeConnection(call.conn, ReasonClientDisconnected)
	return nil
}
