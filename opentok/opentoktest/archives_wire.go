package opentoktest

// Archives on the wire: the archive object REST answers with, and the
// archive status callback (https://tokbox.com/developer/callbacks/).

import (
	"encoding/json"
	"strconv"
)

// archiveStream is one entry of an archive's streams array.
type archiveStream struct {
	StreamID string `json:"streamId"`
	HasAudio bool   `json:"hasAudio"`
	HasVideo bool   `json:"hasVideo"`
}

// streams is what the archive records right now: every stream of the
// session (auto) or the ones added (manual), with the media both the stream
// and the archive carry.
func (s *Server) archiveStreams(a *archive) []archiveStream {
	out := []archiveStream{}
	sess := s.st.sessions[a.sessionID]
	if sess == nil {
		return out
	}
	for _, x := range publishOrder(sess) {
		want := mediaFlags{audio: true, video: true}
		if a.streamMode == "manual" {
			var ok bool
			if want, ok = a.selected[x.id]; !ok {
				continue
			}
		}
		out = append(out, archiveStream{StreamID: x.id, HasAudio: x.hasAudio && a.hasAudio && want.audio, HasVideo: x.hasVideo && a.hasVideo && want.video})
	}
	return out
}

// archiveJSON is the REST archive object, fields in the order of the
// vonage-python fixtures (the official SDKs' test fixtures).
type archiveJSON struct {
	ID                    string             `json:"id"`
	Status                string             `json:"status"`
	Name                  string             `json:"name"`
	Reason                string             `json:"reason"`
	SessionID             string             `json:"sessionId"`
	ProjectID             string             `json:"projectId,omitempty"`
	ApplicationID         string             `json:"applicationId,omitempty"`
	CreatedAt             int64              `json:"createdAt"`
	Size                  int64              `json:"size"`
	Duration              int                `json:"duration"`
	OutputMode            string             `json:"outputMode"`
	StreamMode            string             `json:"streamMode"`
	HasAudio              bool               `json:"hasAudio"`
	HasVideo              bool               `json:"hasVideo"`
	HasTranscription      bool               `json:"hasTranscription"`
	SHA256Sum             string             `json:"sha256sum"`
	Password              string             `json:"password"`
	UpdatedAt             int64              `json:"updatedAt"`
	MultiArchiveTag       *string            `json:"multiArchiveTag,omitempty"`
	Event                 string             `json:"event,omitempty"`
	Resolution            string             `json:"resolution,omitempty"`
	URL                   *string            `json:"url"`
	MaxBitrate            int                `json:"maxBitrate,omitempty"`
	QuantizationParameter int                `json:"quantizationParameter,omitempty"`
	Streams               *[]archiveStream   `json:"streams,omitempty"`
	Transcription         *transcriptionJSON `json:"transcription,omitempty"`
}

type transcriptionJSON struct {
	Status              string `json:"status"`
	URL                 string `json:"url,omitempty"`
	PrimaryLanguageCode string `json:"primaryLanguageCode"`
	HasSummary          bool   `json:"hasSummary"`
}

// archiveObject is a as the REST API shows it to who. Legacy replies carry
// projectId as a string and, as the REST reference says, do not echo
// multiArchiveTag; unified replies carry applicationId, event "archive" and
// multiArchiveTag, as the recorded vonage-python fixtures do (the Archiving guide above; the official SDKs' test fixtures).
func (s *Server) archiveObject(a *archive, who owner) archiveJSON {
	o := archiveJSON{
		ID: a.id, Status: a.status, Name: a.name, Reason: a.reason, SessionID: a.sessionID,
		CreatedAt: a.createdAt, Size: a.size, Duration: a.duration, OutputMode: a.outputMode, StreamMode: a.streamMode,
		HasAudio: a.hasAudio, HasVideo: a.hasVideo, HasTranscription: a.hasTranscription, SHA256Sum: a.sha256,
		UpdatedAt: a.updatedAt, Resolution: a.resolution, URL: archiveURL(a),
		MaxBitrate: a.maxBitrate, QuantizationParameter: a.qp,
	}
	if who.application {
		tag := a.multiArchiveTag
		o.ApplicationID, o.Event, o.MultiArchiveTag = a.owner.id, "archive", &tag
	} else {
		o.ProjectID = a.owner.id
	}
	if a.status == archiveStarted {
		streams := s.archiveStreams(a)
		o.Streams = &streams
	}
	if a.hasTranscription {
		t := &transcriptionJSON{Status: "requested", PrimaryLanguageCode: a.transcriptLang, HasSummary: a.transcriptSum}
		if a.status == archiveAvailable {
			t.Status, t.URL = "completed", a.url+".transcript.json"
		}
		o.Transcription = t
	}
	return o
}

// archiveURL is the download link, null unless the archive is available.
func archiveURL(a *archive) *string {
	if a.status != archiveAvailable || a.url == "" {
		return nil
	}
	u := a.url
	return &u
}

// archiveCallbackJSON is the archive status callback (the callback reference above): the
// callback reference's field list, with projectId a JSON number for legacy
// projects and applicationId for Vonage applications.
type archiveCallbackJSON struct {
	ID            string           `json:"id"`
	Event         string           `json:"event"`
	Status        string           `json:"status"`
	Name          string           `json:"name"`
	Reason        string           `json:"reason"`
	SessionID     string           `json:"sessionId"`
	ProjectID     any              `json:"projectId,omitempty"`
	ApplicationID string           `json:"applicationId,omitempty"`
	CreatedAt     int64            `json:"createdAt"`
	Size          int64            `json:"size"`
	Duration      int              `json:"duration"`
	OutputMode    string           `json:"outputMode"`
	HasAudio      bool             `json:"hasAudio"`
	HasVideo      bool             `json:"hasVideo"`
	Certificate   string           `json:"certificate"`
	SHA256Sum     string           `json:"sha256sum"`
	Password      string           `json:"password"`
	UpdatedAt     int64            `json:"updatedAt"`
	Resolution    string           `json:"resolution,omitempty"`
	URL           *string          `json:"url"`
	Streams       *[]archiveStream `json:"streams,omitempty"`
}

// archiveCallback is the callback body for a's current status. Its
// createdAt is when the start was requested, rounded down to the second,
// as the callback reference describes (the callback reference above).
func (s *Server) archiveCallback(a *archive) archiveCallbackJSON {
	cb := archiveCallbackJSON{
		ID: a.id, Event: "archive", Status: a.status, Name: a.name, Reason: a.reason, SessionID: a.sessionID,
		CreatedAt: a.createdAt - a.createdAt%1000, Size: a.size, Duration: a.duration, OutputMode: a.outputMode,
		HasAudio: a.hasAudio, HasVideo: a.hasVideo, SHA256Sum: a.sha256, UpdatedAt: a.updatedAt,
		Resolution: a.resolution, URL: archiveURL(a),
	}
	if a.owner.application {
		cb.ApplicationID = a.owner.id
	} else {
		cb.ProjectID = numericProjectID(a.owner.id)
	}
	if a.status == archiveStarted {
		streams := s.archiveStreams(a)
		cb.Streams = &streams
	}
	return cb
}

// numericProjectID is the API key as a JSON number, as archive callbacks
// carry it (the callback reference above; the Video API REST reference:
// https://developer.vonage.com/en/api/video); a key that is not all digits (WithProject
// allows any, and a leading zero is no JSON number) stays a string.
func numericProjectID(key string) any {
	if n, err := strconv.ParseUint(key, 10, 64); err == nil && strconv.FormatUint(n, 10) == key {
		return json.Number(key)
	}
	return key
}
