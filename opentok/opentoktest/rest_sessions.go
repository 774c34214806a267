package opentoktest

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gavelhq/gavel/opentok"
)

// createSession serves POST /session/create. The body is a form whatever the
// Content-Type says, every field is optional and unknown ones are ignored
// (as the official SDKs send it, which sdk_test.go runs: vonage-python sends the form as application/json and leaks
// media_mode).
func (s *Server) createSession(w http.ResponseWriter, r *http.Request, who owner) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	form, err := url.ParseQuery(string(data))
	if err != nil {
		writeError(w, http.StatusBadRequest, "Invalid form body")
		return
	}
	routed := true // the REST default is routed (the OpenTok REST reference, Creating a session: https://tokbox.com/developer/rest/#session_id_production)
	switch p := form.Get("p2p.preference"); p {
	case "", "disabled":
	case "enabled", "always":
		routed = false
	default:
		writeError(w, http.StatusBadRequest, "p2p.preference must be enabled or disabled")
		return
	}
	archiveMode := form.Get("archiveMode")
	switch archiveMode {
	case "":
		archiveMode = "manual"
	case "manual":
	case "always":
		if !routed {
			writeError(w, http.StatusBadRequest, "archiveMode always requires a routed session (p2p.preference=disabled)")
			return
		}
	default:
		writeError(w, http.StatusBadRequest, "archiveMode must be manual or always")
		return
	}
	location := form.Get("location")
	if location == "null" {
		location = "" // @vonage/video sends the literal null when unset
	}
	if location != "" {
		if a, err := netip.ParseAddr(location); err != nil || !a.Is4() {
			writeError(w, http.StatusBadRequest, "location must be an IPv4 address")
			return
		}
	}
	e2ee := strings.EqualFold(form.Get("e2ee"), "true")
	if e2ee && (!routed || archiveMode == "always") {
		writeError(w, http.StatusBadRequest, "e2ee requires a routed session and cannot be combined with archiveMode always")
		return
	}
	name, res := form.Get("archiveName"), form.Get("archiveResolution")
	if name != "" && (archiveMode != "always" || utf8.RuneCountInString(name) > 80) {
		writeError(w, http.StatusBadRequest, "archiveName is 1-80 characters and only allowed with archiveMode always")
		return
	}
	if res != "" && (archiveMode != "always" || !validResolution(res)) {
		writeError(w, http.StatusBadRequest, "archiveResolution must be a supported resolution and only with archiveMode always")
		return
	}

	s.mu.Lock()
	now := s.nowMillis()
	sess := &session{
		id: newSessionID(s.rng, who.id, location, now), owner: who, routed: routed, archiveMode: archiveMode,
		archiveName: name, archiveResolution: res, e2ee: e2ee, location: location, createdAt: now,
		conns: map[string]*connection{}, streams: map[string]*stream{}, muteExcept: map[string]bool{},
	}
	s.st.sessions[sess.id] = sess
	s.mu.Unlock()

	reply := map[string]any{
		"session_id": sess.id, "create_dt": s.clock().Format("Mon Jan 02 15:04:05 MST 2006"),
		"media_server_url": "", "session_status": nil, "ice_credential_expiration": 86100,
	}
	if who.application {
		reply["application_id"] = who.id
	} else {
		reply["project_id"], reply["partner_id"] = who.id, who.id
	}
	writeJSON(w, http.StatusOK, []any{reply})
}

// validResolution uses the client's list: one list of what the service accepts.
func validResolution(r string) bool {
	return slices.Contains(opentok.Resolutions, r)
}

// signal serves both signal endpoints: to every client, or to one connection.
func (s *Server) signal(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		Type *string `json:"type"`
		Data *string `json:"data"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Data == nil {
		writeErrorCode(w, http.StatusBadRequest, 15202, "Signal payload 'data' must be set")
		return
	}
	typ := ""
	if body.Type != nil {
		typ = *body.Type
	}
	if len(typ) > 128 || len(*body.Data) > 8192 {
		writeError(w, http.StatusRequestEntityTooLarge, "Signal type must be at most 128 bytes and data at most 8 kB")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	sig := Signal{Type: typ, Data: *body.Data}
	if cid := r.PathValue("connection"); cid != "" {
		c, ok := sess.conns[cid]
		if !ok {
			writeError(w, http.StatusNotFound, "Not found. The client specified by the connectionId property is not connected to the session.")
			return
		}
		c.p.deliver(sig)
	} else {
		if len(sess.conns) == 0 {
			writeError(w, http.StatusNotFound, "Not found. No clients are actively connected to the OpenTok session.")
			return
		}
		for _, c := range sess.conns {
			c.p.deliver(sig)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) forceDisconnect(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	c, ok := sess.conns[r.PathValue("connection")]
	if !ok {
		writeError(w, http.StatusNotFound, "The client specified by the connectionId property is not connected to the session.")
		return
	}
	s.removeConnection(c, ReasonForceDisconnected)
	w.WriteHeader(http.StatusNoContent)
}

// muteStream force-mutes one stream's audio. Whether the service also
// refuses it in relayed sessions is not documented (the Moderation REST guide is silent),
// so the emulator allows it.
func (s *Server) muteStream(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	x, ok := lookupStream(w, r, sess)
	if !ok {
		return
	}
	x.audioMuted = true
	writeJSON(w, http.StatusOK, s.projectDetails(who))
}

// muteAll turns mute-all on (muting every current stream but the excluded
// ones, and every later one) or off (new streams are no longer muted;
// muted ones stay muted). It accepts every body the SDKs send (as the official SDKs send it, which sdk_test.go runs):
// excludedStreamIds, excludedStreams or excudedStreamIds; a list that is
// missing, null or []; active as a boolean or the string "true".
func (s *Server) muteAll(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		Active    any      `json:"active"`
		Excluded  []string `json:"excludedStreamIds"`
		Excluded2 []string `json:"excludedStreams"`
		Excluded3 []string `json:"excudedStreamIds"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	var active bool
	switch a := body.Active.(type) {
	case bool:
		active = a
	case string:
		active = strings.EqualFold(a, "true")
	default:
		writeError(w, http.StatusBadRequest, "active must be true or false")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	sess.muteAll = active
	sess.muteExcept = map[string]bool{}
	if active {
		for _, list := range [][]string{body.Excluded, body.Excluded2, body.Excluded3} {
			for _, id := range list {
				sess.muteExcept[id] = true
			}
		}
		for id, x := range sess.streams {
			if !sess.muteExcept[id] {
				x.audioMuted = true
			}
		}
	}
	writeJSON(w, http.StatusOK, s.projectDetails(who))
}

// projectDetails is the mute endpoints' reply body per the OpenAPI text.
func (s *Server) projectDetails(who owner) map[string]any {
	return map[string]any{"applicationId": who.id, "status": "ACTIVE", "name": "opentoktest", "environment": "standard", "createdAt": s.nowMillis()}
}

type restStream struct {
	ID              string   `json:"id"`
	VideoType       string   `json:"videoType"`
	Name            string   `json:"name"`
	LayoutClassList []string `json:"layoutClassList"`
}

func (x *stream) rest() restStream {
	return restStream{ID: x.id, VideoType: x.videoType, Name: x.name, LayoutClassList: append([]string{}, x.layoutClasses...)}
}

func (s *Server) listStreams(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	if !sess.hadStreams {
		// The documented 404 (the Moderation REST guide:
		// https://developer.vonage.com/en/video/guides/moderation/rest): the session exists but
		// has never had a stream. Once it has had one, an empty list is 200.
		writeError(w, http.StatusNotFound, "Not found. The session exists but has not had any streams.")
		return
	}
	items := make([]restStream, 0, len(sess.streams))
	for _, x := range sess.streams {
		items = append(items, x.rest())
	}
	slices.SortFunc(items, func(a, b restStream) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"count": len(items), "items": items})
}

// lookupStream finds the path's stream in sess, answering 404 itself.
func lookupStream(w http.ResponseWriter, r *http.Request, sess *session) (*stream, bool) {
	x, ok := sess.streams[r.PathValue("stream")]
	if !ok {
		writeError(w, http.StatusNotFound, "Stream not found")
	}
	return x, ok
}

func (s *Server) getStream(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	x, ok := lookupStream(w, r, sess)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, x.rest())
}

func (s *Server) setLayoutClasses(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		Items []struct {
			ID              string   `json:"id"`
			LayoutClassList []string `json:"layoutClassList"`
		} `json:"items"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if len(body.Items) == 0 {
		writeError(w, http.StatusBadRequest, "items must list at least one stream")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	for _, it := range body.Items {
		if _, ok := sess.streams[it.ID]; !ok {
			writeError(w, http.StatusBadRequest, "Invalid stream ID: "+it.ID)
			return
		}
	}
	for _, it := range body.Items {
		sess.streams[it.ID].layoutClasses = append([]string{}, it.LayoutClassList...)
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	snap := sess.snapshot()
	items := make([]map[string]any, 0, len(snap.Connections))
	for _, c := range snap.Connections {
		items = append(items, map[string]any{"connectionId": c.ID, "connectionState": "Connected", "createdAt": c.CreatedAt})
	}
	ownerKey := "projectId"
	if who.application {
		ownerKey = "applicationId"
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(items), ownerKey: who.id, "sessionId": sess.id, "items": items})
}

func (s *Server) playDTMF(w http.ResponseWriter, r *http.Request, who owner) {
	var body struct {
		Digits string `json:"digits"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.Digits == "" || strings.Trim(body.Digits, "0123456789*#p") != "" {
		writeError(w, http.StatusBadRequest, "digits must be non-empty and only 0-9, *, #, p")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.lookupSession(w, r, who)
	if !ok {
		return
	}
	if cid := r.PathValue("connection"); cid != "" {
		if _, ok := sess.conns[cid]; !ok {
			writeError(w, http.StatusNotFound, "Connection not found")
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}
