package opentoktest

// Live captions: a transcriber that joins a session and reports its status
// (https://developer.vonage.com/en/video/guides/live-caption).

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

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
