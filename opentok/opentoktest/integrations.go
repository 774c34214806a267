package opentoktest

// The services that join a session as a client on the project's behalf: SIP calls,
// Experience Composer renders, the Audio Connector, and live captions (the Video API REST
// reference, https://developer.vonage.com/en/api/video; their callbacks as the callback
// reference gives them, https://tokbox.com/developer/callbacks/). Each one that joins
// gets a real connection in the session, made with addConnection and ended with
// removeConnection like any client's, so session-monitoring callbacks, the connection
// list and SessionState see it; its connection data comes from the client token the
// request carried.

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
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

// ownerFields is how REST objects name the project: projectId in the legacy environment,
// applicationId in the unified one (the Archiving guide:
// https://developer.vonage.com/en/video/guides/archiving/overview; the Video API REST
// reference above).
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
