package opentoktest

// Broadcasts (the Live Streaming Broadcast guide:
// https://developer.vonage.com/en/video/guides/broadcast/live-streaming; the callback
// reference: https://tokbox.com/developer/callbacks/): started on request, stopped on
// request, after maxDuration, or 60 s after the session's last client leaves; a broadcast
// callback (the broadcast object plus "event":"broadcast") on each change.

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	broadcastStarted = "started"
	broadcastStopped = "stopped"
)

// Broadcast limits and defaults (the Live Streaming Broadcast guide above; maxDuration and maxBitrate ranges
// as the REST reference and vonage-python validate them).
const (
	maxRTMPOutputs             = 5
	defaultBroadcastMaxSeconds = 14400 // 4 h
	minBroadcastMaxSeconds     = 60
	maxBroadcastMaxSeconds     = 36000 // 10 h
	defaultBroadcastBitrate    = 2_000_000
)

type broadcast struct {
	id        string
	sessionID string
	owner     owner
	seq       int64

	layout      layoutSpec
	hls         *hlsSettings
	rtmp        []rtmpTarget
	resolution  string
	maxDuration int // seconds
	maxBitrate  int
	streamMode  string
	tag         string
	hasAudio    bool
	hasVideo    bool
	selected    map[string]mediaFlags // streamMode=manual

	status    string
	createdAt int64
	updatedAt int64
}

type hlsSettings struct {
	LowLatency bool `json:"lowLatency"`
	DVR        bool `json:"dvr"`
}

type rtmpTarget struct{ id, serverURL, streamName string }

// broadcastStartBody is the start request; null fields are absent (as the official SDKs send it, which sdk_test.go runs).
type broadcastStartBody struct {
	SessionID *string     `json:"sessionId"`
	Layout    *layoutBody `json:"layout"`
	Outputs   *struct {
		HLS *struct {
			DVR        *bool `json:"dvr"`
			LowLatency *bool `json:"lowLatency"`
		} `json:"hls"`
		RTMP []struct {
			ID         *string `json:"id"`
			ServerURL  *string `json:"serverUrl"`
			StreamName *string `json:"streamName"`
		} `json:"rtmp"`
	} `json:"outputs"`
	Resolution        *string `json:"resolution"`
	MaxDuration       *int    `json:"maxDuration"`
	MaxBitrate        *int    `json:"maxBitrate"`
	StreamMode        *string `json:"streamMode"`
	MultiBroadcastTag *string `json:"multiBroadcastTag"`
	HasAudio          *bool   `json:"hasAudio"`
	HasVideo          *bool   `json:"hasVideo"`
}

// broadcast builds the broadcast the body asks for, or the 400 message of
// the first rule it breaks (the Live Streaming Broadcast guide above).
func (b *broadcastStartBody) broadcast() (*broadcast, string) {
	bc := &broadcast{
		sessionID: optValue(b.SessionID), layout: defaultLayout(), resolution: optValue(b.Resolution),
		maxDuration: optValue(b.MaxDuration), maxBitrate: optValue(b.MaxBitrate), streamMode: optValue(b.StreamMode),
		tag: optValue(b.MultiBroadcastTag), hasAudio: optBool(b.HasAudio, true), hasVideo: optBool(b.HasVideo, true),
		selected: map[string]mediaFlags{},
	}
	if bc.sessionID == "" {
		return nil, "Invalid request: sessionId is required"
	}
	if b.Outputs == nil || b.Outputs.HLS == nil && len(b.Outputs.RTMP) == 0 {
		return nil, "Invalid outputs: at least one of hls or rtmp is required"
	}
	if h := b.Outputs.HLS; h != nil {
		bc.hls = &hlsSettings{DVR: optBool(h.DVR, false), LowLatency: optBool(h.LowLatency, false)}
		if bc.hls.DVR && bc.hls.LowLatency {
			return nil, "Invalid outputs: hls dvr and lowLatency cannot both be true"
		}
	}
	if n := len(b.Outputs.RTMP); n > maxRTMPOutputs {
		return nil, fmt.Sprintf("Invalid outputs: a broadcast has at most %d RTMP outputs (got %d)", maxRTMPOutputs, n)
	}
	for i, t := range b.Outputs.RTMP {
		target := rtmpTarget{id: optValue(t.ID), serverURL: optValue(t.ServerURL), streamName: optValue(t.StreamName)}
		if strings.TrimSpace(target.serverURL) == "" || strings.TrimSpace(target.streamName) == "" {
			return nil, "Invalid outputs: rtmp[" + strconv.Itoa(i) + "] needs a serverUrl and a streamName"
		}
		bc.rtmp = append(bc.rtmp, target)
	}
	if !bc.hasAudio && !bc.hasVideo {
		return nil, "Invalid request: hasAudio and hasVideo cannot both be false"
	}
	switch {
	case bc.resolution == "":
		bc.resolution = defaultResolution
	case !validResolution(bc.resolution):
		return nil, "Invalid resolution " + strconv.Quote(bc.resolution) + ": must be 640x480, 480x640, 1280x720, 720x1280, 1920x1080 or 1080x1920"
	}
	switch bc.streamMode {
	case "":
		bc.streamMode = "auto"
	case "auto", "manual":
	default:
		return nil, "Invalid streamMode: must be auto or manual"
	}
	switch {
	case bc.maxDuration == 0:
		bc.maxDuration = defaultBroadcastMaxSeconds
	case bc.maxDuration < minBroadcastMaxSeconds || bc.maxDuration > maxBroadcastMaxSeconds:
		return nil, "Invalid maxDuration: must be from 60 to 36000 seconds"
	}
	switch {
	case bc.maxBitrate == 0:
		bc.maxBitrate = defaultBroadcastBitrate
	case bc.maxBitrate < 100_000 || bc.maxBitrate > 6_000_000:
		return nil, "Invalid maxBitrate: must be from 100000 to 6000000 bits/s"
	}
	if b.Layout != nil {
		l, bad := b.Layout.spec()
		if bad != "" {
			return nil, bad
		}
		bc.layout = l
	}
	return bc, ""
}

func (s *Server) startBroadcast(w http.ResponseWriter, r *http.Request, who owner) {
	var body broadcastStartBody
	if !decodeBody(w, r, &body) {
		return
	}
	bc, bad := body.broadcast()
	if bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.startSession(w, who, bc.sessionID, "broadcasting")
	if !ok {
		return
	}
	for _, other := range s.sessionBroadcasts(sess.id) {
		if other.status == broadcastStarted && other.tag == bc.tag {
			writeError(w, http.StatusConflict, "Conflict. Session is already composed for given tag: it is already broadcasting (broadcast "+
				other.id+"); give each simultaneous broadcast its own multiBroadcastTag.")
			return
		}
	}
	store := &s.st.media.compositions
	bc.id, bc.owner, bc.seq = newUUID(s.rng), sess.owner, store.nextSeq()
	bc.createdAt = s.nowMillis()
	store.broadcasts[bc.id] = bc
	s.setBroadcastStatus(bc, broadcastStarted)
	s.after(time.Duration(bc.maxDuration)*time.Second, func() {
		if bc.status == broadcastStarted {
			s.endBroadcast(bc)
		}
	})
	if len(sess.conns) == 0 {
		// Nobody to broadcast: it ends as it would had everyone just left.
		s.armEmptyStop(sess)
	}
	writeJSON(w, http.StatusOK, s.broadcastObject(bc, who))
}

func (s *Server) setBroadcastStatus(bc *broadcast, status string) {
	bc.status, bc.updatedAt = status, s.nowMillis()
	cb := s.broadcastObject(bc, bc.owner)
	cb.Event = "broadcast"
	s.emit(GroupBroadcast, bc.sessionID, cb)
}

func (s *Server) endBroadcast(bc *broadcast) { s.setBroadcastStatus(bc, broadcastStopped) }

// sessionBroadcasts is the session's broadcasts in creation order. Called with s.mu held.
func (s *Server) sessionBroadcasts(sessionID string) []*broadcast {
	var out []*broadcast
	for _, b := range s.st.media.compositions.broadcasts {
		if b.sessionID == sessionID {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(x, y *broadcast) int { return int(x.seq - y.seq) })
	return out
}

// lookupBroadcast finds one of the caller's broadcasts, answering 404 itself.
func (s *Server) lookupBroadcast(w http.ResponseWriter, r *http.Request, who owner) (*broadcast, bool) {
	id := r.PathValue("broadcast")
	bc, ok := s.st.media.compositions.broadcasts[id]
	if !ok || bc.owner.id != who.id {
		writeError(w, http.StatusNotFound, "Not found. No broadcast with ID "+id+".")
		return nil, false
	}
	return bc, true
}

func (s *Server) stopBroadcast(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bc, ok := s.lookupBroadcast(w, r, who)
	if !ok {
		return
	}
	if bc.status != broadcastStarted {
		// OpenTok Python's wording for this 409 (the Live Streaming Broadcast guide above; as the official SDKs send it, which sdk_test.go runs).
		writeError(w, http.StatusConflict, "Conflict. The broadcast was not found or already stopped.")
		return
	}
	s.endBroadcast(bc)
	writeJSON(w, http.StatusOK, s.broadcastObject(bc, who))
}

func (s *Server) getBroadcast(w http.ResponseWriter, r *http.Request, who owner) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bc, ok := s.lookupBroadcast(w, r, who); ok {
		writeJSON(w, http.StatusOK, s.broadcastObject(bc, who))
	}
}

func (s *Server) listBroadcasts(w http.ResponseWriter, r *http.Request, who owner) {
	offset, count, sessionID, bad := listQuery(r)
	if bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*broadcast
	for _, bc := range s.st.media.compositions.broadcasts {
		if bc.owner.id == who.id && (sessionID == "" || bc.sessionID == sessionID) {
			all = append(all, bc)
		}
	}
	writeNewestFirst(w, all, func(bc *broadcast) int64 { return bc.seq }, offset, count,
		func(bc *broadcast) broadcastJSON { return s.broadcastObject(bc, who) })
}

func (s *Server) setBroadcastLayout(w http.ResponseWriter, r *http.Request, who owner) {
	var body layoutBody
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bc, ok := s.lookupBroadcast(w, r, who)
	if !ok {
		return
	}
	l, bad := body.spec()
	if bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	if bc.status != broadcastStarted {
		writeError(w, http.StatusConflict, "Conflict. The broadcast is not running (status "+bc.status+").")
		return
	}
	bc.layout = l
	bc.updatedAt = s.nowMillis()
	w.WriteHeader(http.StatusOK)
}

func (s *Server) changeBroadcastStreams(w http.ResponseWriter, r *http.Request, who owner) {
	var body streamChangeBody
	if !decodeBody(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	bc, ok := s.lookupBroadcast(w, r, who)
	if !ok {
		return
	}
	if bc.streamMode != "manual" {
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed. The broadcast uses streamMode auto; only manual-mode broadcasts take stream changes.")
		return
	}
	if bad := body.check(); bad != "" {
		writeError(w, http.StatusBadRequest, bad)
		return
	}
	if bc.status != broadcastStarted {
		writeError(w, http.StatusConflict, "Conflict. The broadcast is not running (status "+bc.status+").")
		return
	}
	if applyStreamChange(w, s.st.sessions[bc.sessionID], bc.selected, body) {
		bc.updatedAt = s.nowMillis()
		w.WriteHeader(http.StatusNoContent)
	}
}

// broadcastJSON is the broadcast object (the Live Streaming Broadcast guide above), fields in the order of
// the vonage-python fixtures.
type broadcastJSON struct {
	ID                string            `json:"id"`
	SessionID         string            `json:"sessionId"`
	ProjectID         string            `json:"projectId,omitempty"`
	ApplicationID     string            `json:"applicationId,omitempty"`
	CreatedAt         int64             `json:"createdAt"`
	BroadcastURLs     broadcastURLsJSON `json:"broadcastUrls"`
	UpdatedAt         int64             `json:"updatedAt"`
	Status            string            `json:"status"`
	StreamMode        string            `json:"streamMode"`
	HasAudio          bool              `json:"hasAudio"`
	HasVideo          bool              `json:"hasVideo"`
	MaxDuration       int               `json:"maxDuration"`
	MultiBroadcastTag string            `json:"multiBroadcastTag,omitempty"`
	MaxBitrate        int               `json:"maxBitrate"`
	Settings          broadcastSettings `json:"settings"`
	Event             string            `json:"event,omitempty"`
	Resolution        string            `json:"resolution"`
}

type broadcastSettings struct {
	HLS *hlsSettings `json:"hls,omitempty"`
}

type broadcastURLsJSON struct {
	RTMP      []rtmpJSON `json:"rtmp,omitempty"`
	HLSStatus string     `json:"hlsStatus,omitempty"`
	HLS       string     `json:"hls,omitempty"`
}

type rtmpJSON struct {
	Status     string `json:"status"`
	ID         string `json:"id,omitempty"`
	ServerURL  string `json:"serverUrl"`
	StreamName string `json:"streamName"`
}

// broadcastObject is bc as the REST API shows it to who: projectId (a
// string) for legacy projects, applicationId and event "broadcast" for
// Vonage applications, as the vonage-python fixtures carry it. Outputs are
// live while the broadcast runs, then ended (HLS) and offline (RTMP).
func (s *Server) broadcastObject(bc *broadcast, who owner) broadcastJSON {
	o := broadcastJSON{
		ID: bc.id, SessionID: bc.sessionID, CreatedAt: bc.createdAt, UpdatedAt: bc.updatedAt, Status: bc.status,
		StreamMode: bc.streamMode, HasAudio: bc.hasAudio, HasVideo: bc.hasVideo, MaxDuration: bc.maxDuration,
		MultiBroadcastTag: bc.tag, MaxBitrate: bc.maxBitrate, Resolution: bc.resolution,
	}
	if who.application {
		o.ApplicationID, o.Event = bc.owner.id, "broadcast"
	} else {
		o.ProjectID = bc.owner.id
	}
	hlsStatus, rtmpStatus := "live", "live"
	if bc.status != broadcastStarted {
		hlsStatus, rtmpStatus = "ended", "offline"
	}
	if bc.hls != nil {
		h := *bc.hls
		o.Settings.HLS = &h
		o.BroadcastURLs.HLS = "https://broadcast.opentoktest.invalid/" + bc.id + "/playlist.m3u8"
		if h.DVR {
			o.BroadcastURLs.HLS += "?DVR"
		}
		o.BroadcastURLs.HLSStatus = hlsStatus
	}
	for _, t := range bc.rtmp {
		o.BroadcastURLs.RTMP = append(o.BroadcastURLs.RTMP, rtmpJSON{Status: rtmpStatus, ID: t.id, ServerURL: t.serverURL, StreamName: t.streamName})
	}
	return o
}
