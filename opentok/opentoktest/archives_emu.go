package opentoktest

// Archives (the Archiving guide:
// https://developer.vonage.com/en/video/guides/archiving/overview; the callback
// reference: https://tokbox.com/developer/callbacks/): the REST endpoints and the life of
// an archive,
//
//	started ⇄ paused (nobody publishes / someone publishes again)
//	started|paused → stopped (stop call, 60 s after the session empties,
//	                 60 min paused, 4 h recording)
//	stopped → available (2 s later, with a URL) → expired (72 h later)
//	available → deleted (DELETE)
//
// with an archive callback on every status change.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Archive statuses (the Archiving guide above). There is no "resumed": a paused archive goes
// back to started.
const (
	archiveStarted   = "started"
	archivePaused    = "paused"
	archiveStopped   = "stopped"
	archiveAvailable = "available"
	archiveExpired   = "expired"
	archiveDeleted   = "deleted"
)

// Reasons a stopped archive gives (the Archiving guide above, from the OpenAPI text).
const (
	reasonUserInitiated   = "user initiated"
	reasonSessionEnded    = "session ended"
	reasonIdleExceeded    = "maximum idle time exceeded"
	reasonDurationExceded = "maximum duration exceeded"
)

// Service times of the archive life (the Archiving guide above). archiveUploadDelay is the
// emulator's choice: the real service takes as long as encoding takes.
const (
	archiveUploadDelay = 2 * time.Second
	archiveIdleStop    = 60 * time.Minute
	archiveMaxDuration = 4 * time.Hour
	archiveExpiry      = 72 * time.Hour
)

// Defaults the service applies (the OpenTok REST reference, Creating a session:
// https://tokbox.com/developer/rest/#session_id_production; the Archiving guide above).
const (
	defaultResolution = "640x480"
	// defaultArchiveBitrate only sizes the emulated file; the service does
	// not report a bitrate unless one was asked for.
	defaultArchiveBitrate = 2_000_000
	audioOnlyBitrate      = 64_000
)

type archive struct {
	id        string
	sessionID string
	owner     owner
	seq       int64
	auto      bool // started by archiveMode=always

	name             string
	outputMode       string // composed or individual
	streamMode       string // auto or manual
	hasAudio         bool
	hasVideo         bool
	resolution       string // "" for individual archives
	layout           layoutSpec
	multiArchiveTag  string
	maxBitrate       int
	qp               int
	hasTranscription bool
	transcriptLang   string
	transcriptSum    bool

	status    string
	reason    string
	createdAt int64 // ms
	updatedAt int64 // ms
	// selected is the streams of a streamMode=manual archive, from PATCH.
	selected map[string]mediaFlags

	// startedAt is when the current started stretch began; recordedMs sums
	// the finished ones. Paused time is not recorded.
	startedAt  int64
	recordedMs int64
	// pauseGen invalidates the idle-stop timer of an earlier pause.
	pauseGen int

	size     int64
	duration int
	url      string
	sha256   string
}

func (a *archive) recording() bool { return a.status == archiveStarted || a.status == archivePaused }

// archiveStartBody is the start request. Every field is a pointer because
// OpenTok Python sends null for the ones it leaves unset (as the official SDKs send it, which sdk_test.go runs).
type archiveStartBody struct {
	SessionID               *string     `json:"sessionId"`
	Name                    *string     `json:"name"`
	HasAudio                *bool       `json:"hasAudio"`
	HasVideo                *bool       `json:"hasVideo"`
	OutputMode              *string     `json:"outputMode"`
	Resolution              *string     `json:"resolution"`
	Layout                  *layoutBody `json:"layout"`
	StreamMode              *string     `json:"streamMode"`
	MultiArchiveTag         *string     `json:"multiArchiveTag"`
	MaxBitrate              *int        `json:"maxBitrate"`
	QuantizationParameter   *int        `json:"quantizationParameter"`
	HasTranscription        *bool       `json:"hasTranscription"`
	TranscriptionProperties *struct {
		PrimaryLanguageCode *string `json:"primaryLanguageCode"`
		HasSummary          *bool   `json:"hasSummary"`
	} `json:"transcriptionProperties"`
}

// archive builds the archive the body asks for, or the 400 message of the
// first rule it breaks (the Archiving guide above).
func (b *archiveStartBody) archive() (*archive, string) {
	a := &archive{
		name: optValue(b.Name), outputMode: optValue(b.OutputMode), streamMode: optValue(b.StreamMode),
		hasAudio: optBool(b.HasAudio, true), hasVideo: optBool(b.HasVideo, true),
		resolution: optValue(b.Resolution), layout: defaultLayout(), multiArchiveTag: optValue(b.MultiArchiveTag),
		maxBitrate: optValue(b.MaxBitrate), qp: optValue(b.QuantizationParameter), hasTranscription: optBool(b.HasTranscription, false),
		sessionID: optValue(b.SessionID), selected: map[string]mediaFlags{},
	}
	if a.sessionID == "" {
		return nil, "Invalid request: sessionId is required"
	}
	if !a.hasAudio && !a.hasVideo {
		return nil, "Invalid request: hasAudio and hasVideo cannot both be false"
	}
	switch a.outputMode {
	case "":
		a.outputMode = "composed"
	case "composed", "individual":
	default:
		return nil, "Invalid outputMode: must be composed or individual"
	}
	composed := a.outputMode == "composed"
	switch a.streamMode {
	case "":
		a.streamMode = "auto"
	case "auto", "manual":
	default:
		return nil, "Invalid streamMode: must be auto or manual"
	}
	switch {
	case a.resolution != "" && !composed:
		return nil, "Invalid request: resolution is only allowed for composed archives, not individual ones"
	case a.resolution != "" && !validResolution(a.resolution):
		return nil, "Invalid resolution " + strconv.Quote(a.resolution) + ": must be 640x480, 480x640, 1280x720, 720x1280, 1920x1080 or 1080x1920"
	case a.resolution == "" && composed:
		a.resolution = defaultResolution
	}
	if b.Layout != nil {
		if !composed {
			return nil, "Invalid request: layout is only allowed for composed archives"
		}
		l, bad := b.Layout.spec()
		if bad != "" {
			return nil, bad
		}
		a.layout = l
	}
	if a.maxBitrate != 0 || a.qp != 0 {
		switch {
		case !composed:
			return nil, "Invalid request: maxBitrate and quantizationParameter are only allowed for composed archives"
		case a.maxBitrate != 0 && a.qp != 0:
			return nil, "Invalid request: maxBitrate and quantizationParameter cannot both be set"
		case a.maxBitrate != 0 && (a.maxBitrate < 100_000 || a.maxBitrate > 6_000_000):
			return nil, "Invalid maxBitrate: must be from 100000 to 6000000 bits/s"
		case a.qp != 0 && (a.qp < 15 || a.qp > 40):
			return nil, "Invalid quantizationParameter: must be from 15 to 40"
		}
	}
	if a.hasTranscription && composed {
		return nil, "Invalid request: hasTranscription is only allowed for individual archives"
	}
	if tp := b.TranscriptionProperties; tp != nil {
		if !a.hasTranscription {
			return nil, "Invalid request: transcriptionProperties need hasTranscription true"
		}
		a.transcriptLang, a.transcriptSum = optValue(tp.PrimaryLanguageCode), optBool(tp.HasSummary, false)
	}
	if a.hasTranscription && a.transcriptLang == "" {
		a.transcriptLang = "en-US"
	}
	return a, ""
}

func (s *Server) startArchive(w http.ResponseWriter, r *http.Request, who owner) {
	var body archiveStartBody
	if !decodeBody(w, r, &body) {
		return
	}
	a, bad := body.archive()
	if bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.startSession(w, who, a.sessionID, "archiving")
	if !ok {
		return
	}
	if len(sess.conns) == 0 {
		writeError(w, http.StatusNotFound, "Not found. There are no clients connected to the session: an archive needs at least one.")
		return
	}
	if busy := s.recordingArchive(sess.id, a.multiArchiveTag); busy != nil {
		writeError(w, http.StatusConflict, "Conflict. The session is already being recorded (archive "+busy.id+
			"); give each simultaneous archive its own multiArchiveTag.")
		return
	}
	reply := s.beginArchive(sess, a, who)
	writeJSON(w, http.StatusOK, reply)
}

// recordingArchive is an archive of the session still recording under tag
// ("" included): the reason another one cannot start (the Archiving guide above).
func (s *Server) recordingArchive(sessionID, tag string) *archive {
	for _, a := range s.sessionArchives(sessionID) {
		if a.recording() && a.multiArchiveTag == tag {
			return a
		}
	}
	return nil
}

// beginArchive registers a and starts it, returning its REST object as the
// start call answers it. An archive of a session nobody publishes in pauses
// right after starting: the reply says started, the callbacks say started
// then paused, as the service's do moments apart. Called with s.mu held.
func (s *Server) beginArchive(sess *session, a *archive, who owner) archiveJSON {
	store := &s.st.media.compositions
	a.id, a.owner, a.seq = newUUID(s.rng), sess.owner, store.nextSeq()
	a.createdAt = s.nowMillis()
	store.archives[a.id] = a
	s.setArchiveStatus(a, archiveStarted, "")
	reply := s.archiveObject(a, who)
	if sess.publishers() == 0 {
		s.setArchiveStatus(a, archivePaused, "")
	}
	s.after(archiveMaxDuration, func() {
		if !a.recording() {
			return
		}
		s.endArchive(a, reasonDurationExceded)
		// An automatic archive rolls over into the next file (the Archiving guide above).
		if a.auto && sess.publishers() > 0 {
			s.autoArchive(sess)
		}
	})
	return reply
}

// autoArchive starts the archive of an archiveMode=always session, named and
// sized as the session was created. Called with s.mu held.
func (s *Server) autoArchive(sess *session) {
	res := sess.archiveResolution
	if res == "" {
		res = defaultResolution
	}
	a := &archive{
		sessionID: sess.id, auto: true, name: sess.archiveName, outputMode: "composed", streamMode: "auto",
		hasAudio: true, hasVideo: true, resolution: res, layout: defaultLayout(), selected: map[string]mediaFlags{},
	}
	s.beginArchive(sess, a, sess.owner)
}

// archivesPublishersChanged pauses or resumes the session's archives and
// starts its automatic one. Called with s.mu held.
func (s *Server) archivesPublishersChanged(sess *session) {
	publishing := sess.publishers() > 0
	hasAuto := false
	for _, a := range s.sessionArchives(sess.id) {
		switch {
		case a.status == archiveStarted && !publishing:
			s.setArchiveStatus(a, archivePaused, "")
		case a.status == archivePaused && publishing:
			s.setArchiveStatus(a, archiveStarted, "")
		}
		if a.auto && a.recording() {
			hasAuto = true
		}
	}
	if publishing && !hasAuto && sess.archiveMode == "always" && sess.routed &&
		!s.st.media.compositions.session(sess.id).autoStopped && s.recordingArchive(sess.id, "") == nil {
		s.autoArchive(sess)
	}
}

// setArchiveStatus moves a to status, keeping the recorded time, and sends
// the archive callback every status change owes (the callback reference above).
func (s *Server) setArchiveStatus(a *archive, status, reason string) {
	now := s.nowMillis()
	if a.status == archiveStarted && status != archiveStarted {
		a.recordedMs += now - a.startedAt
	}
	if status == archiveStarted {
		a.startedAt = now
	}
	if status == archivePaused {
		a.pauseGen++
		gen := a.pauseGen
		s.after(archiveIdleStop, func() {
			if a.status == archivePaused && a.pauseGen == gen {
				s.endArchive(a, reasonIdleExceeded)
			}
		})
	}
	a.status, a.updatedAt = status, now
	if reason != "" {
		a.reason = reason
	}
	s.emit(GroupArchive, a.sessionID, s.archiveCallback(a))
}

// endArchive stops a recording archive and makes its file available a
// little later, then lets the cloud copy expire after 72 h.
func (s *Server) endArchive(a *archive, reason string) {
	s.setArchiveStatus(a, archiveStopped, reason)
	s.after(archiveUploadDelay, func() {
		if a.status != archiveStopped {
			return
		}
		a.duration = int(math.Ceil(float64(a.recordedMs) / 1000))
		bitrate := defaultArchiveBitrate
		switch {
		case a.maxBitrate != 0:
			bitrate = a.maxBitrate
		case !a.hasVideo:
			bitrate = audioOnlyBitrate
		}
		// A container header plus the media: never 0, even for an archive
		// that recorded a few milliseconds.
		a.size = 4096 + a.recordedMs*int64(bitrate)/8000
		file := "archive.mp4"
		if a.outputMode == "individual" {
			file = "archive.zip"
		}
		a.url = fmt.Sprintf("https://archives.opentoktest.invalid/%s/%s/%s", a.owner.id, a.id, file)
		sum := sha256.Sum256([]byte(a.id + "/" + strconv.FormatInt(a.size, 10)))
		a.sha256 = hex.EncodeToString(sum[:])
		s.setArchiveStatus(a, archiveAvailable, "")
		s.after(archiveExpiry, func() {
			if a.status == archiveAvailable {
				a.url = ""
				s.setArchiveStatus(a, archiveExpired, "")
			}
		})
	})
}

// sessionArchives is the session's archives in creation order. Called with s.mu held.
func (s *Server) sessionArchives(sessionID string) []*archive {
	var out []*archive
	for _, a := range s.st.media.compositions.archives {
		if a.sessionID == sessionID {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y *archive) int { return int(x.seq - y.seq) })
	return out
}

// lookupArchive finds one of the caller's archives, answering 404 itself:
// another project's archive does not exist for the caller.
func (s *Server) lookupArchive(w http.ResponseWriter, r *http.Request, who owner) (*archive, bool) {
	id := r.PathValue("archive")
	a, ok := s.st.media.compositions.archives[id]
	if !ok || a.owner.id != who.id {
		writeError(w, http.StatusNotFound, "Not found. No archive with ID "+id+".")
		return nil, false
	}
	return a, true
}

func (s *Server) stopArchive(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.lookupArchive(w, r, who)
	if !ok {
		return
	}
	if !a.recording() {
		writeErrorCode(w, http.StatusConflict, 15002, "Conflict. The archive is not currently recording (status "+a.status+
			"): you can only stop an archive that has one of the following statuses: started OR paused")
		return
	}
	if a.auto {
		s.st.media.compositions.session(a.sessionID).autoStopped = true
	}
	s.endArchive(a, reasonUserInitiated)
	writeJSON(w, http.StatusOK, s.archiveObject(a, who))
}

func (s *Server) getArchive(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.lookupArchive(w, r, who); ok {
		writeJSON(w, http.StatusOK, s.archiveObject(a, who))
	}
}

func (s *Server) listArchives(w http.ResponseWriter, r *http.Request, who owner) {
	offset, count, sessionID, bad := listQuery(r)
	if bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*archive
	for _, a := range s.st.media.compositions.archives {
		if a.owner.id == who.id && (sessionID == "" || a.sessionID == sessionID) {
			all = append(all, a)
		}
	}
	writeNewestFirst(w, all, func(a *archive) int64 { return a.seq }, offset, count,
		func(a *archive) archiveJSON { return s.archiveObject(a, who) })
}

// deleteArchive removes the cloud copy of an available or uploaded archive;
// deleting a deleted one again is harmless (the 409 text lists it).
func (s *Server) deleteArchive(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.lookupArchive(w, r, who)
	if !ok {
		return
	}
	switch a.status {
	case archiveAvailable, "uploaded":
		a.url = ""
		s.setArchiveStatus(a, archiveDeleted, "")
	case archiveDeleted:
	default:
		writeErrorCode(w, http.StatusConflict, 15004,
			"You can only delete an archive that has one of the following statuses: available OR uploaded OR deleted")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setArchiveLayout(w http.ResponseWriter, r *http.Request, who owner) {
	var body layoutBody
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.lookupArchive(w, r, who)
	if !ok {
		return
	}
	if a.outputMode != "composed" {
		writeError(w, http.StatusBadRequest, "Invalid request: only composed archives have a layout")
		return
	}
	l, bad := body.spec()
	if bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	if !a.recording() {
		writeError(w, http.StatusConflict, "Conflict. The archive is not currently recording (status "+a.status+").")
		return
	}
	a.layout = l
	a.updatedAt = s.nowMillis()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) changeArchiveStreams(w http.ResponseWriter, r *http.Request, who owner) {
	var body streamChangeBody
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.lookupArchive(w, r, who)
	if !ok {
		return
	}
	if a.streamMode != "manual" {
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed. The archive uses streamMode auto; only manual-mode archives take stream changes.")
		return
	}
	if bad := body.check(); bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	if !a.recording() {
		writeError(w, http.StatusConflict, "Conflict. The archive is not currently recording (status "+a.status+").")
		return
	}
	if applyStreamChange(w, s.st.sessions[a.sessionID], a.selected, body) {
		a.updatedAt = s.nowMillis()
		w.WriteHeader(http.StatusNoContent)
	}
}
