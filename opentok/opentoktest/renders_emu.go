package opentoktest

// Experience Composer renders: a web page that joins a session as a
// publisher (https://developer.vonage.com/en/video/guides/experience-composer).

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

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
