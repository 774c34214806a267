package opentok

import (
	"context"
	"net/http"
	"strings"
)

// CaptionsService runs live captions: the service transcribes up to 50 audio
// streams of a routed session and sends the text to clients.
type CaptionsService service

// Live-captions limits on maxDuration, in seconds (the Live Captions guide:
// https://developer.vonage.com/en/video/guides/live-caption; the limits in the
// Interactive broadcast guide:
// https://developer.vonage.com/en/video/guides/broadcast/interactive).
const (
	MinCaptionsDuration = 300
	MaxCaptionsDuration = 14400
)

// CaptionsOptions start live captions.
type CaptionsOptions struct {
	// SessionID is the session to caption; it must be routed.
	SessionID string `json:"sessionId"`
	// Token is a client token with the moderator role.
	Token string `json:"token"`
	// LanguageCode is the spoken language, e.g. "en-US" (xx-XX).
	LanguageCode string `json:"languageCode"`
	// MaxDuration stops captions after this many seconds, 300–14400;
	// 0 leaves the service's default (14400).
	MaxDuration int `json:"maxDuration,omitempty"`
	// PartialCaptions asks for interim results as words are recognised; nil
	// leaves the service's default, so false can be sent on purpose.
	PartialCaptions *bool `json:"partialCaptions,omitempty"`
	// StatusCallbackURL receives this run's status callbacks.
	StatusCallbackURL string `json:"statusCallbackUrl,omitempty"`
}

// CaptionsStatus is where a captions run is in its life.
type CaptionsStatus string

// Captions statuses (the Live Captions guide above).
const (
	CaptionsStarted CaptionsStatus = "started"
	CaptionsStopped CaptionsStatus = "stopped"
	CaptionsPaused  CaptionsStatus = "paused"
	CaptionsFailed  CaptionsStatus = "failed"
)

// Captions is a captions run as the service reports it.
type Captions struct {
	// ID is the captions ID Start returned (the GET reply names it captionId).
	ID        string `json:"captionId"`
	SessionID string `json:"sessionId"`
	ProjectID string `json:"projectId,omitempty"`
	// ApplicationID is set instead of ProjectID in the unified environment.
	ApplicationID string         `json:"applicationId,omitempty"`
	Status        CaptionsStatus `json:"status"`
	CreatedAt     int64          `json:"createdAt"` // ms since the epoch
	UpdatedAt     int64          `json:"updatedAt"` // ms since the epoch
	Duration      int            `json:"duration"`  // seconds
	LanguageCode  string         `json:"languageCode"`
	// Reason says why captions stopped or failed.
	Reason string `json:"reason,omitempty"`
	// Provider is the transcription engine the service used.
	Provider string `json:"provider,omitempty"`
}

func (o CaptionsOptions) validate(op string) error {
	if err := requireSessionAndToken(op, o.SessionID, o.Token); err != nil {
		return err
	}
	if !validLanguageCode(o.LanguageCode) {
		return invalid(op, "languageCode", "must be a language-REGION code such as en-US (got %q)", o.LanguageCode)
	}
	if err := checkRange(op, "maxDuration", o.MaxDuration, MinCaptionsDuration, MaxCaptionsDuration); err != nil {
		return err
	}
	return checkCallbackURL(op, o.StatusCallbackURL)
}

// validLanguageCode accepts xx-XX: the Live Captions guide lists no fixed set of languages,
// so only the shape is checked and the service judges the rest.
func validLanguageCode(c string) bool {
	if len(c) != 5 || c[2] != '-' {
		return false
	}
	lower := func(b byte) bool { return b >= 'a' && b <= 'z' }
	upper := func(b byte) bool { return b >= 'A' && b <= 'Z' }
	return lower(c[0]) && lower(c[1]) && upper(c[3]) && upper(c[4])
}

// captionsNotFound is the 404 meaning of every call naming a captions run.
func captionsNotFound() map[int]string {
	return map[int]string{http.StatusNotFound: "no live captions with that ID exist in this project"}
}

// Start starts live captions and returns the captions ID. Never retried: a
// retry would meet its own captions and fail with a conflict.
func (s *CaptionsService) Start(ctx context.Context, opts CaptionsOptions) (string, error) {
	const op = "captions start"
	if err := opts.validate(op); err != nil {
		return "", err
	}
	var reply struct {
		ID string `json:"captionsId"`
	}
	err := s.client.join(ctx, endpoint{
		op:   op,
		path: s.client.projectPath("captions"),
		body: opts,
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the captions options (check the language code, and that the token has the moderator role)",
			http.StatusConflict:   "captions are already running in this session",
		},
		// 409 has a second documented cause: captions need a routed session.
		explain: func(status int, msg string) string {
			m := strings.ToLower(msg)
			if status == http.StatusConflict && (strings.Contains(m, "relayed") || strings.Contains(m, "routed")) {
				return "the session is relayed — captions need a routed session"
			}
			return ""
		},
	}, &reply, &reply.ID, "captions", opts.Token)
	if err != nil {
		return "", err
	}
	return reply.ID, nil
}

// Stop stops live captions. The service answers 202. Never retried, like
// every stop.
func (s *CaptionsService) Stop(ctx context.Context, captionsID string) error {
	const op = "captions stop"
	if err := requireID(op, "captionsId", captionsID); err != nil {
		return err
	}
	return s.client.do(ctx, endpoint{
		op:       op,
		method:   http.MethodPost,
		path:     s.client.projectPath("captions", captionsID, "stop"),
		meanings: captionsNotFound(),
	}, nil)
}

// Get returns the state of a captions run.
func (s *CaptionsService) Get(ctx context.Context, captionsID string) (*Captions, error) {
	const op = "captions get"
	if err := requireID(op, "captionsId", captionsID); err != nil {
		return nil, err
	}
	var c Captions
	err := s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodGet,
		path:       s.client.projectPath("captions", captionsID),
		idempotent: true,
		meanings:   captionsNotFound(),
	}, &c)
	if err != nil {
		return nil, err
	}
	return &c, nil
}
