package opentoktest

// The services that join a session as a client on the project's behalf:
// SIP calls, Experience Composer renders, the Audio Connector, and live
// captions (the Video API REST reference: https://developer.vonage.com/en/api/video; the SIP
// Interconnect guide: https://developer.vonage.com/en/video/guides/sip-interconnect; the callback
// reference: https://tokbox.com/developer/callbacks/; the limits in the Interactive broadcast
// guide: https://developer.vonage.com/en/video/guides/broadcast/interactive). Each one that joins
// gets
// a real connection in the session, made with addConnection and ended with
// removeConnection like any client's, so session-monitoring callbacks, the
// connection list and SessionState see it; its connection data comes from
// the client token the request carried.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// Service timings, in service time (WithTimeScale shortens them).
const (
	// sipAnswerDelay is how long the far end takes to answer: the call is
	// in the session at once (the SIP guide: "added immediately … without
	// waiting for the SIP endpoint to receive or accept the call") and
	// turns ACTIVE when answered.
	sipAnswerDelay = time.Second
	// renderLoadDelay is how long the headless browser takes to load the
	// page and publish: the render is "starting" until then.
	renderLoadDelay = 500 * time.Millisecond
)

// Service defaults and limits (the Video API REST reference above; the limits in the Interactive broadcast guide above; OpenTok Python's docstrings).
const (
	defaultRenderDuration   = 7200
	defaultRenderResolution = "1280x720"
	defaultCaptionsDuration = 14400
	defaultCaptionsLanguage = "en-US"
	captionsProvider        = "aws-transcribe"
)

// Documented reasons (the SIP Interconnect guide above; the callback reference above).
const (
	sipNormalClearingCode    = "700"
	sipNormalClearingMessage = "Normal Clearing"
	renderStopRequested      = "Stop Requested"
	renderMaxDuration        = "Max Duration Exceeded"
	// captionsMaxDuration is not documented for captions; it mirrors the
	// Experience Composer's wording. A requested stop carries no reason.
	captionsMaxDuration = "Max Duration Exceeded"
)

// integrationStore holds SIP calls, renders, audio connections and captions.
// Guarded by Server.mu.
type integrationStore struct {
	calls    map[string]*sipCall
	renders  map[string]*render
	audio    map[string]*audioConnector
	captions map[string]*captionsRun
	// liveCaptions is the running captions of each session: one at a time.
	liveCaptions map[string]*captionsRun
	// byConn finds what a service connection belongs to, so that when the
	// connection goes (force-disconnect, or the service's own stop) the
	// call, render or connector ends with it.
	byConn map[string]serviceMember
	// seq orders renders newest first when two share a millisecond.
	seq int64
}

func newIntegrationStore() integrationStore {
	return integrationStore{
		calls: map[string]*sipCall{}, renders: map[string]*render{}, audio: map[string]*audioConnector{},
		captions: map[string]*captionsRun{}, liveCaptions: map[string]*captionsRun{}, byConn: map[string]serviceMember{},
	}
}

// serviceMember is a SIP call, render or Audio Connector whose connection
// just left the session; connectionGone ends it (with s.mu held).
type serviceMember interface {
	connectionGone(s *Server)
}

func (s *Server) integrationRoutes(handle func(pattern string, h handler)) {
	const p = "/v2/project/{project}"
	handle("POST "+p+"/dial", s.dialSIP)
	handle("POST "+p+"/render", s.startRender)
	handle("GET "+p+"/render", s.listRenders)
	handle("GET "+p+"/render/{render}", s.getRender)
	handle("DELETE "+p+"/render/{render}", s.stopRender)
	handle("POST "+p+"/connect", s.connectAudio)
	handle("POST "+p+"/connect/{connector}/stop", s.stopAudio)
	handle("POST "+p+"/captions", s.startCaptions)
	handle("POST "+p+"/captions/{captions}/stop", s.stopCaptions)
	handle("GET "+p+"/captions/{captions}", s.getCaptions)
}

// integrationsConnectionRemoved is called by removeConnection (with s.mu
// held) after a connection has left: if it was a SIP call's, a render's or
// an Audio Connector's, that ends too.
func (s *Server) integrationsConnectionRemoved(c *connection) {
	st := &s.st.media.integrations
	m, ok := st.byConn[c.id]
	if !ok {
		return
	}
	delete(st.byConn, c.id)
	m.connectionGone(s)
}

// ownerFields is how REST objects name the project: projectId in the legacy
// environment, applicationId in the unified one (the Archiving guide:
// https://developer.vonage.com/en/video/guides/archiving/overview; the Video API REST reference
// above).
func ownerFields(o owner) (projectID, applicationID string) {
	if o.application {
		return "", o.id
	}
	return o.id, ""
}

// joinTarget finds the session a joining request names in its body and
// checks the client token it carries, answering the error itself. missing
// is the status for a session that does not exist: 404 for SIP (the SIP
// Interconnect guide), 400 "invalid session ID" for the others (OpenTok Python's docs).
// Called with s.mu held.
func (s *Server) joinTarget(w http.ResponseWriter, who owner, sessionID, token string, missing int) (*session, clientToken, bool) {
	if sessionID == "" {
		writeError(w, http.StatusBadRequest, "sessionId is required")
		return nil, clientToken{}, false
	}
	sess, ok := s.findSession(w, who, sessionID, missing)
	if !ok {
		return nil, clientToken{}, false
	}
	if token == "" {
		writeError(w, http.StatusBadRequest, "token is required")
		return nil, clientToken{}, false
	}
	// The token is checked as session.connect checks it: the service joins
	// with it. The message never quotes the token.
	ct, err := s.parseClientToken(token, s.clock())
	if err != nil {
		why := "it does not verify"
		if te := (*TokenError)(nil); errors.As(err, &te) {
			why = te.Reason
		}
		writeError(w, http.StatusBadRequest, "Invalid token: "+why)
		return nil, clientToken{}, false
	}
	if ct.sessionID != sess.id || ct.owner.id != sess.owner.id {
		writeError(w, http.StatusBadRequest, "Invalid token: it was not generated for this session")
		return nil, clientToken{}, false
	}
	return sess, ct, true
}

// joinService connects a service to sess with what the token grants, as
// a client would: connectionCreated is emitted. Its Participant only
// records signals; it ignores gavel-unpublish, since no app of the
// customer's runs there to honour it.
func (s *Server) joinService(sess *session, ct clientToken, m serviceMember) *connection {
	c := &connection{id: newUUID(s.rng), sess: sess, data: ct.data, role: ct.role, createdAt: s.nowMillis(), streams: map[string]*stream{}}
	c.p = &Participant{srv: s, conn: c, sessionID: sess.id, connectionID: c.id, role: ct.role,
		subscriptions: map[string]bool{}, ignoreUnpublish: true}
	s.addConnection(c)
	s.st.media.integrations.byConn[c.id] = m
	return c
}

// leaveService disconnects a service's connection on its own initiative
// (stop requested): the member is detached first, so the removal hook does
// not end it a second time.
func (s *Server) leaveService(c *connection) {
	delete(s.st.media.integrations.byConn, c.id)
	if _, live := c.sess.conns[c.id]; live {
		s.removeConnection(c, ReasonClientDisconnected)
	}
}

// ---- SIP ----

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

// ---- Experience Composer ----

type render struct {
	id          string
	seq         int64
	sess        *session
	owner       owner
	ct          clientToken
	url         string
	resolution  string
	name        string
	callbackURL string
	createdAt   int64
	updatedAt   int64
	status      opentok.RenderStatus
	reason      string
	conn        *connection
	streamID    string
}

type renderObject struct {
	ID            string               `json:"id"`
	SessionID     string               `json:"sessionId"`
	ProjectID     string               `json:"projectId,omitempty"`
	ApplicationID string               `json:"applicationId,omitempty"`
	CreatedAt     int64                `json:"createdAt"`
	UpdatedAt     int64                `json:"updatedAt"`
	URL           string               `json:"url"`
	Resolution    string               `json:"resolution"`
	Status        opentok.RenderStatus `json:"status"`
	StreamID      string               `json:"streamId,omitempty"`
	Reason        string               `json:"reason,omitempty"`
}

func (rn *render) object() renderObject {
	pid, aid := ownerFields(rn.owner)
	return renderObject{ID: rn.id, SessionID: rn.sess.id, ProjectID: pid, ApplicationID: aid, CreatedAt: rn.createdAt,
		UpdatedAt: rn.updatedAt, URL: rn.url, Resolution: rn.resolution, Status: rn.status, StreamID: rn.streamID, Reason: rn.reason}
}

// renderEvent is the Experience Composer callback (the callback reference above): reason
// only when stopped or failed.
type renderEvent struct {
	ID        string               `json:"id"`
	SessionID string               `json:"sessionId"`
	StreamID  string               `json:"streamId,omitempty"`
	Status    opentok.RenderStatus `json:"status"`
	Reason    string               `json:"reason,omitempty"`
}

// emitRender sends a status callback to the render's statusCallbackUrl if
// it gave one, else to the project's Experience Composer URL.
func (s *Server) emitRender(rn *render) {
	ev := renderEvent{ID: rn.id, SessionID: rn.sess.id, StreamID: rn.streamID, Status: rn.status, Reason: rn.reason}
	if rn.callbackURL != "" {
		s.emitTo(GroupRender, rn.callbackURL, rn.sess.id, ev)
		return
	}
	s.emit(GroupRender, rn.sess.id, ev)
}

func (s *Server) startRender(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		SessionID   string `json:"sessionId"`
		Token       string `json:"token"`
		URL         string `json:"url"`
		MaxDuration *int   `json:"maxDuration"`
		Resolution  string `json:"resolution"`
		Properties  *struct {
			Name string `json:"name"`
		} `json:"properties"`
		StatusCallbackURL string `json:"statusCallbackUrl"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if !httpURL(body.URL) {
		writeError(w, http.StatusBadRequest, "url must be an http or https URL")
		return
	}
	maxDuration := defaultRenderDuration
	if body.MaxDuration != nil {
		maxDuration = *body.MaxDuration
	}
	if maxDuration < opentok.MinRenderDuration || maxDuration > opentok.MaxRenderDuration {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("maxDuration must be between %d and %d seconds", opentok.MinRenderDuration, opentok.MaxRenderDuration))
		return
	}
	res := body.Resolution
	if res == "" {
		res = defaultRenderResolution
	}
	if !validResolution(res) {
		writeError(w, http.StatusBadRequest, "resolution is not a supported resolution")
		return
	}
	name := ""
	if body.Properties != nil {
		name = body.Properties.Name
	}
	if len(name) > 200 {
		writeError(w, http.StatusBadRequest, "properties.name must be at most 200 characters")
		return
	}
	if body.StatusCallbackURL != "" && !httpURL(body.StatusCallbackURL) {
		writeError(w, http.StatusBadRequest, "statusCallbackUrl must be an http or https URL")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ct, ok := s.joinTarget(w, who, body.SessionID, body.Token, http.StatusBadRequest)
	if !ok {
		return
	}
	if ct.role == opentok.RoleSubscriber {
		writeError(w, http.StatusBadRequest, "Invalid token: an Experience Composer publishes, so the token needs a publishing role")
		return
	}
	st := &s.st.media.integrations
	st.seq++
	now := s.nowMillis()
	rn := &render{id: newUUID(s.rng), seq: st.seq, sess: sess, owner: who, ct: ct, url: body.URL, resolution: res, name: name,
		callbackURL: body.StatusCallbackURL, createdAt: now, updatedAt: now, status: opentok.RenderStarting}
	st.renders[rn.id] = rn
	s.after(renderLoadDelay, func() { s.renderLoaded(rn) })
	s.after(time.Duration(maxDuration)*time.Second, func() { s.endRender(rn, renderMaxDuration) })
	writeJSON(w, http.StatusAccepted, rn.object())
}

// renderLoaded publishes the page into the session once it has loaded.
func (s *Server) renderLoaded(rn *render) {
	if rn.status != opentok.RenderStarting {
		return
	}
	rn.conn = s.joinService(rn.sess, rn.ct, rn)
	x := &stream{id: newUUID(s.rng), conn: rn.conn, name: rn.name, videoType: "camera", hasAudio: true, hasVideo: true,
		layoutClasses: []string{}, createdAt: s.nowMillis()}
	s.addStream(x)
	rn.streamID, rn.status, rn.updatedAt = x.id, opentok.RenderStarted, s.nowMillis()
	s.emitRender(rn)
}

// endRender stops a starting or started render: its connection leaves the
// session as a client that disconnects does.
func (s *Server) endRender(rn *render, reason string) {
	if rn.status != opentok.RenderStarting && rn.status != opentok.RenderStarted {
		return
	}
	if rn.conn != nil {
		s.leaveService(rn.conn)
	}
	rn.status, rn.reason, rn.updatedAt = opentok.RenderStopped, reason, s.nowMillis()
	s.emitRender(rn)
}

// connectionGone stops a render whose connection was force-disconnected.
// The service documents no reason for this; "Stop Requested" is the
// closest documented one, a moderator having asked for it.
func (rn *render) connectionGone(s *Server) {
	rn.conn = nil
	s.endRender(rn, renderStopRequested)
}

// lookupRender finds a render of the caller's project, answering 404 itself.
func (s *Server) lookupRender(w http.ResponseWriter, r *http.Request, who owner) (*render, bool) {
	rn, ok := s.st.media.integrations.renders[r.PathValue("render")]
	if !ok || rn.owner.id != who.id {
		writeError(w, http.StatusNotFound, "Render not found: "+r.PathValue("render"))
		return nil, false
	}
	return rn, true
}

func (s *Server) getRender(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.lookupRender(w, r, who)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, rn.object())
}

// stopRender answers 200 with no body: OpenTok Python accepts only 200
// (as the official SDKs send it, which sdk_test.go runs). Stopping a stopped render changes nothing and succeeds.
func (s *Server) stopRender(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rn, ok := s.lookupRender(w, r, who)
	if !ok {
		return
	}
	s.endRender(rn, renderStopRequested)
	w.WriteHeader(http.StatusOK)
}

// listRenders pages through the project's renders, newest first; count is
// the project's total.
func (s *Server) listRenders(w http.ResponseWriter, r *http.Request, who owner) {
	offset, count, _, bad := listQuery(r)
	if bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*render
	for _, rn := range s.st.media.integrations.renders {
		if rn.owner.id == who.id {
			all = append(all, rn)
		}
	}
	writeNewestFirst(w, all, func(rn *render) int64 { return rn.seq }, offset, count, (*render).object)
}

// ---- Audio Connector ----

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

// ---- Live captions ----

type captionsRun struct {
	id           string
	sess         *session
	owner        owner
	languageCode string
	maxDuration  int
	callbackURL  string
	createdAt    int64
	updatedAt    int64
	status       opentok.CaptionsStatus
	reason       string
}

// captionsObject is the GET captions reply (the Video API REST reference above); the status
// callbacks carry the same body, as the callback reference implies.
type captionsObject struct {
	CaptionID     string                 `json:"captionId"`
	ProjectID     string                 `json:"projectId,omitempty"`
	ApplicationID string                 `json:"applicationId,omitempty"`
	SessionID     string                 `json:"sessionId"`
	Status        opentok.CaptionsStatus `json:"status"`
	CreatedAt     int64                  `json:"createdAt"`
	UpdatedAt     int64                  `json:"updatedAt"`
	Duration      int                    `json:"duration"`
	LanguageCode  string                 `json:"languageCode"`
	Reason        string                 `json:"reason"`
	Provider      string                 `json:"provider"`
}

// object reports duration as the run's maximum duration in seconds, the
// value the request set (the REST reference gives the field, not its meaning).
func (c *captionsRun) object() captionsObject {
	pid, aid := ownerFields(c.owner)
	return captionsObject{CaptionID: c.id, ProjectID: pid, ApplicationID: aid, SessionID: c.sess.id, Status: c.status,
		CreatedAt: c.createdAt, UpdatedAt: c.updatedAt, Duration: c.maxDuration, LanguageCode: c.languageCode,
		Reason: c.reason, Provider: captionsProvider}
}

func (s *Server) emitCaptions(c *captionsRun) {
	if c.callbackURL != "" {
		s.emitTo(GroupCaptions, c.callbackURL, c.sess.id, c.object())
		return
	}
	s.emit(GroupCaptions, c.sess.id, c.object())
}

// startCaptions serves POST /captions: 202 {"captionsId"}. partialCaptions
// is accepted and ignored, as no text is produced.
func (s *Server) startCaptions(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		SessionID         string `json:"sessionId"`
		Token             string `json:"token"`
		LanguageCode      string `json:"languageCode"`
		MaxDuration       *int   `json:"maxDuration"`
		StatusCallbackURL string `json:"statusCallbackUrl"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	lang := body.LanguageCode
	if lang == "" {
		lang = defaultCaptionsLanguage
	}
	if !languageCodeShape(lang) {
		writeError(w, http.StatusBadRequest, "languageCode must be a language-REGION code such as en-US")
		return
	}
	maxDuration := defaultCaptionsDuration
	if body.MaxDuration != nil {
		maxDuration = *body.MaxDuration
	}
	if maxDuration < opentok.MinCaptionsDuration || maxDuration > opentok.MaxCaptionsDuration {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("maxDuration must be between %d and %d seconds", opentok.MinCaptionsDuration, opentok.MaxCaptionsDuration))
		return
	}
	if body.StatusCallbackURL != "" && !httpURL(body.StatusCallbackURL) {
		writeError(w, http.StatusBadRequest, "statusCallbackUrl must be an http or https URL")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ct, ok := s.joinTarget(w, who, body.SessionID, body.Token, http.StatusBadRequest)
	if !ok {
		return
	}
	if ct.role != opentok.RoleModerator {
		writeError(w, http.StatusBadRequest, "Invalid token: live captions need a token with the moderator role")
		return
	}
	if !sess.routed {
		writeError(w, http.StatusConflict, "Live captions are only supported in routed sessions; this session is relayed")
		return
	}
	st := &s.st.media.integrations
	if _, running := st.liveCaptions[sess.id]; running {
		// Body as vonage-python's captions_error_already_enabled.json fixture.
		writeJSON(w, http.StatusConflict, map[string]any{"code": 60003, "message": "Audio captioning is already enabled",
			"description": "Audio captioning is already enabled"})
		return
	}
	now := s.nowMillis()
	c := &captionsRun{id: newUUID(s.rng), sess: sess, owner: who, languageCode: lang, maxDuration: maxDuration,
		callbackURL: body.StatusCallbackURL, createdAt: now, updatedAt: now, status: opentok.CaptionsStarted}
	st.captions[c.id] = c
	st.liveCaptions[sess.id] = c
	s.emitCaptions(c)
	s.after(time.Duration(maxDuration)*time.Second, func() { s.endCaptions(c, captionsMaxDuration) })
	writeJSON(w, http.StatusAccepted, map[string]string{"captionsId": c.id})
}

// endCaptions stops a running captions run; a stopped one is left alone.
func (s *Server) endCaptions(c *captionsRun, reason string) {
	if c.status != opentok.CaptionsStarted {
		return
	}
	st := &s.st.media.integrations
	if st.liveCaptions[c.sess.id] == c {
		delete(st.liveCaptions, c.sess.id)
	}
	c.status, c.reason, c.updatedAt = opentok.CaptionsStopped, reason, s.nowMillis()
	s.emitCaptions(c)
}

func (s *Server) lookupCaptions(w http.ResponseWriter, r *http.Request, who owner) (*captionsRun, bool) {
	c, ok := s.st.media.integrations.captions[r.PathValue("captions")]
	if !ok || c.owner.id != who.id {
		writeError(w, http.StatusNotFound, "No matching captionsId was found: "+r.PathValue("captions"))
		return nil, false
	}
	return c, true
}

// stopCaptions answers 202, the only status OpenTok Python accepts; a
// stopped run stays stopped and the call still succeeds.
func (s *Server) stopCaptions(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.lookupCaptions(w, r, who)
	if !ok {
		return
	}
	s.endCaptions(c, "")
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) getCaptions(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.lookupCaptions(w, r, who)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, c.object())
}

// ---- helpers ----

func httpURL(raw string) bool { return absoluteURL(raw, "http", "https") }

// absoluteURL reports whether raw is an absolute URL with a host and one of
// the schemes.
func absoluteURL(raw string, schemes ...string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return false
	}
	return slices.ContainsFunc(schemes, func(s string) bool { return strings.EqualFold(u.Scheme, s) })
}

// languageCodeShape accepts xx-XX, as the Live Captions guide lists no fixed set.
func languageCodeShape(c string) bool {
	if len(c) != 5 || c[2] != '-' {
		return false
	}
	lower := func(b byte) bool { return b >= 'a' && b <= 'z' }
	upper := func(b byte) bool { return b >= 'A' && b <= 'Z' }
	return lower(c[0]) && lower(c[1]) && upper(c[3]) && upper(c[4])
}
