package opentoktest

// Archives and broadcasts share a shape on the wire (the Archiving guide:
// https://developer.vonage.com/en/video/guides/archiving/overview; the Video API REST
// reference: https://developer.vonage.com/en/api/video): start, stop, get, list, a layout
// PUT and a stream PATCH, a multi-…Tag that allows several at once per session, and a
// life tied to the session's — they stop on their own 60 s after its last client leaves.
// This file holds what they share; archives_emu.go and broadcasts_emu.go hold the rest.

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// compositionEmptyStop is how long archives and broadcasts outlive the
// session's last client (the Archiving guide above: "all clients gone → stopped after 60 s").
const compositionEmptyStop = 60 * time.Second

// Default and maximum page sizes of the archive and broadcast lists (the Archiving guide above).
const (
	defaultListCount = 50
	maxListCount     = 1000
)

// compositionStore holds archives and broadcasts. Guarded by Server.mu.
type compositionStore struct {
	archives   map[string]*archive
	broadcasts map[string]*broadcast
	sessions   map[string]*compositionSession
	// seq numbers archives and broadcasts in creation order, so lists are
	// newest first even when two share a millisecond.
	seq int64
}

// compositionSession is what the store remembers about a session.
type compositionSession struct {
	// emptyGen counts the times the session emptied, so a stop timer armed
	// for one emptying does nothing once clients came back and left again
	// (the later emptying has its own full 60 s).
	emptyGen int
	// autoStopped is set when someone stops the archiveMode=always archive
	// by hand: the service does not start another one until the session
	// has ended.
	autoStopped bool
}

func newCompositionStore() compositionStore {
	return compositionStore{
		archives:   map[string]*archive{},
		broadcasts: map[string]*broadcast{},
		sessions:   map[string]*compositionSession{},
	}
}

func (c *compositionStore) session(id string) *compositionSession {
	cs, ok := c.sessions[id]
	if !ok {
		cs = &compositionSession{}
		c.sessions[id] = cs
	}
	return cs
}

func (c *compositionStore) nextSeq() int64 {
	c.seq++
	return c.seq
}

// compositionRoutes adds the archive and broadcast endpoints.
func (s *Server) compositionRoutes(handle func(pattern string, h handler)) {
	const p = "/v2/project/{project}"
	handle("POST "+p+"/archive", s.startArchive)
	handle("GET "+p+"/archive", s.listArchives)
	handle("GET "+p+"/archive/{archive}", s.getArchive)
	handle("DELETE "+p+"/archive/{archive}", s.deleteArchive)
	handle("POST "+p+"/archive/{archive}/stop", s.stopArchive)
	handle("PUT "+p+"/archive/{archive}/layout", s.setArchiveLayout)
	handle("PATCH "+p+"/archive/{archive}/streams", s.changeArchiveStreams)

	handle("POST "+p+"/broadcast", s.startBroadcast)
	handle("GET "+p+"/broadcast", s.listBroadcasts)
	handle("GET "+p+"/broadcast/{broadcast}", s.getBroadcast)
	handle("POST "+p+"/broadcast/{broadcast}/stop", s.stopBroadcast)
	handle("PUT "+p+"/broadcast/{broadcast}/layout", s.setBroadcastLayout)
	handle("PATCH "+p+"/broadcast/{broadcast}/streams", s.changeBroadcastStreams)
}

// compositionsPublishersChanged pauses archives of a session nobody
// publishes in, resumes them when someone does, and starts the automatic
// archive of an archiveMode=always session. Called with s.mu held.
func (s *Server) compositionsPublishersChanged(sess *session) {
	s.archivesPublishersChanged(sess)
}

// compositionsSessionEmptied arms the 60 s stop of the session's archives
// and broadcasts. Called with s.mu held, when the last connection left.
func (s *Server) compositionsSessionEmptied(sess *session) {
	// The session has ended: its next life may archive automatically again.
	s.st.media.compositions.session(sess.id).autoStopped = false
	s.armEmptyStop(sess)
}

// armEmptyStop stops the session's archives ("session ended") and
// broadcasts 60 s of service time from now, unless clients are back by then
// or the session empties again in the meantime.
func (s *Server) armEmptyStop(sess *session) {
	cs := s.st.media.compositions.session(sess.id)
	cs.emptyGen++
	gen := cs.emptyGen
	if !s.compositionsRunning(sess.id) {
		return // nothing to stop: no timer per emptied session under load
	}
	s.after(compositionEmptyStop, func() {
		if cs.emptyGen != gen || len(sess.conns) > 0 {
			return
		}
		for _, a := range s.sessionArchives(sess.id) {
			if a.recording() {
				s.endArchive(a, reasonSessionEnded)
			}
		}
		for _, b := range s.sessionBroadcasts(sess.id) {
			if b.status == broadcastStarted {
				s.endBroadcast(b)
			}
		}
	})
}

// compositionsRunning reports whether the session has an archive recording
// or a broadcast running. Called with s.mu held.
func (s *Server) compositionsRunning(sessionID string) bool {
	for _, a := range s.st.media.compositions.archives {
		if a.sessionID == sessionID && a.recording() {
			return true
		}
	}
	for _, b := range s.st.media.compositions.broadcasts {
		if b.sessionID == sessionID && b.status == broadcastStarted {
			return true
		}
	}
	return false
}

// publishOrder is the session's streams in publishing order, so the
// streams array of archives reads the same on every call.
func publishOrder(sess *session) []*stream {
	out := make([]*stream, 0, len(sess.streams))
	for _, x := range sess.streams {
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b *stream) int {
		if a.createdAt != b.createdAt {
			return int(a.createdAt - b.createdAt)
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// mediaFlags is which media of a stream a composition includes.
type mediaFlags struct{ audio, video bool }

// layoutSpec is the composed layout of an archive or broadcast.
type layoutSpec struct {
	Type            string `json:"type"`
	Stylesheet      string `json:"stylesheet,omitempty"`
	ScreenshareType string `json:"screenshareType,omitempty"`
}

// defaultLayout is the layout of a composition started without one.
func defaultLayout() layoutSpec { return layoutSpec{Type: "bestFit"} }

// layoutBody is a layout as it arrives; null fields are absent (as the official SDKs send it, which sdk_test.go runs).
type layoutBody struct {
	Type            *string `json:"type"`
	Stylesheet      *string `json:"stylesheet"`
	ScreenshareType *string `json:"screenshareType"`
}

// spec checks the layout rules of the Archiving guide above and returns the service's 400
// message when one is broken.
func (b *layoutBody) spec() (layoutSpec, string) {
	l := layoutSpec{Type: optValue(b.Type), Stylesheet: optValue(b.Stylesheet), ScreenshareType: optValue(b.ScreenshareType)}
	switch l.Type {
	case "bestFit", "pip", "verticalPresentation", "horizontalPresentation", "custom":
	case "":
		return l, "Invalid layout: type is required"
	default:
		return l, "Invalid layout: type must be bestFit, pip, verticalPresentation, horizontalPresentation or custom (got " + strconv.Quote(l.Type) + ")"
	}
	if l.Type == "custom" && strings.TrimSpace(l.Stylesheet) == "" {
		return l, "Invalid layout: a custom layout needs a stylesheet"
	}
	if l.Type != "custom" && l.Stylesheet != "" {
		return l, "Invalid layout: stylesheet is only allowed with type custom"
	}
	if l.ScreenshareType != "" {
		if l.Type != "bestFit" {
			return l, "Invalid layout: screenshareType is only allowed with type bestFit"
		}
		switch l.ScreenshareType {
		case "bestFit", "pip", "verticalPresentation", "horizontalPresentation":
		default:
			return l, "Invalid layout: screenshareType must be bestFit, pip, verticalPresentation or horizontalPresentation (got " + strconv.Quote(l.ScreenshareType) + ")"
		}
	}
	return l, ""
}

// streamChangeBody is the PATCH …/streams body: addStream with the media to
// include, or removeStream alone.
type streamChangeBody struct {
	AddStream    *string `json:"addStream"`
	RemoveStream *string `json:"removeStream"`
	HasAudio     *bool   `json:"hasAudio"`
	HasVideo     *bool   `json:"hasVideo"`
}

// check returns the 400 message for a malformed change.
func (b *streamChangeBody) check() string {
	add, remove := optValue(b.AddStream), optValue(b.RemoveStream)
	switch {
	case add == "" && remove == "":
		return "Invalid request: set addStream or removeStream"
	case add != "" && remove != "":
		return "Invalid request: set only one of addStream and removeStream"
	case add != "" && !optBool(b.HasAudio, true) && !optBool(b.HasVideo, true):
		return "Invalid request: hasAudio and hasVideo cannot both be false"
	}
	return ""
}

// applyStreamChange serves the PATCH …/streams body on a manual-mode
// composition's stream selection, answering the error itself. Called with
// s.mu held, after the composition was found, is manual and is running.
func applyStreamChange(w http.ResponseWriter, sess *session, selected map[string]mediaFlags, body streamChangeBody) bool {
	if id := optValue(body.AddStream); id != "" {
		if sess == nil || sess.streams[id] == nil {
			writeError(w, http.StatusNotFound, "Not found. The stream "+id+" is not published in the session.")
			return false
		}
		selected[id] = mediaFlags{audio: optBool(body.HasAudio, true), video: optBool(body.HasVideo, true)}
		return true
	}
	id := optValue(body.RemoveStream)
	if _, ok := selected[id]; !ok {
		writeError(w, http.StatusNotFound, "Not found. The stream "+id+" is not in the composition.")
		return false
	}
	delete(selected, id)
	return true
}

// listQuery reads a list's offset, count and session filter (sessionId or
// session_id, vonage-python, as the official SDKs send it, which sdk_test.go runs) for archives, broadcasts and renders,
// and reports a 400 message.
func listQuery(r *http.Request) (offset, count int, sessionID, bad string) {
	q := r.URL.Query()
	offset, count = 0, defaultListCount
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, "", "Invalid offset: must be a non-negative integer"
		}
		offset = n
	}
	if v := q.Get("count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListCount {
			return 0, 0, "", "Invalid count: must be an integer from 1 to 1000"
		}
		count = n
	}
	sessionID = q.Get("sessionId")
	if sessionID == "" {
		sessionID = q.Get("session_id")
	}
	return offset, count, sessionID, ""
}

// writeNewestFirst answers a list the way the service's list endpoints do:
// the matched items newest first (by creation order), one page of them,
// and the count of all that matched.
func writeNewestFirst[T, J any](w http.ResponseWriter, matched []T, seq func(T) int64, offset, count int, object func(T) J) {
	slices.SortFunc(matched, func(a, b T) int { return cmp.Compare(seq(b), seq(a)) })
	items := []J{}
	if offset < len(matched) {
		for _, x := range matched[offset:min(offset+count, len(matched))] {
			items = append(items, object(x))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(matched), "items": items})
}

// startSession finds the session a start body names, answering 400, 404,
// 403 or the relayed 409 itself. Called with s.mu held.
func (s *Server) startSession(w http.ResponseWriter, who owner, id, feature string) (*session, bool) {
	sess, ok := s.findSession(w, who, id, http.StatusNotFound)
	if !ok {
		return nil, false
	}
	if !sess.routed {
		writeError(w, http.StatusConflict, "Conflict. The session is relayed (peer-to-peer); "+feature+" needs a routed session (media mode routed).")
		return nil, false
	}
	return sess, true
}

// optValue is *p, or the zero value for a field that was absent or null.
func optValue[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// optBool is *p, or def for a flag that was absent or null.
func optBool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
