package opentok

import (
	"context"
	"net/http"
)

// RendersService runs Experience Composer renders: a headless browser that
// loads a web page and publishes it into a session as a stream.
type RendersService service

// Experience Composer limits on maxDuration, in seconds.
const (
	MinRenderDuration = 60
	MaxRenderDuration = 36000
)

// RenderOptions start a render.
type RenderOptions struct {
	// SessionID is the session the rendered page is published into.
	SessionID string `json:"sessionId"`
	// Token is a client token the page's publisher connects with.
	Token string `json:"token"`
	// URL is the http(s) page to load.
	URL string `json:"url"`
	// MaxDuration stops the render after this many seconds, 60–36000;
	// 0 leaves the service's default.
	MaxDuration int `json:"maxDuration,omitempty"`
	// Resolution is one of Resolutions; empty leaves the service's default.
	Resolution string `json:"resolution,omitempty"`
	// Properties of the published stream; nil leaves the defaults.
	Properties *RenderProperties `json:"properties,omitempty"`
	// StatusCallbackURL receives this render's status callbacks instead of
	// the project's Experience Composer URL.
	StatusCallbackURL string `json:"statusCallbackUrl,omitempty"`
}

// RenderProperties describe the stream the render publishes.
type RenderProperties struct {
	// Name is the stream name other clients see.
	Name string `json:"name,omitempty"`
}

// RenderStatus is where a render is in its life.
type RenderStatus string

// Render statuses (the Experience Composer guide:
// https://developer.vonage.com/en/video/guides/experience-composer; the callback
// reference: https://tokbox.com/developer/callbacks/).
const (
	RenderStarting RenderStatus = "starting"
	RenderStarted  RenderStatus = "started"
	RenderStopped  RenderStatus = "stopped"
	RenderFailed   RenderStatus = "failed"
)

// Render is an Experience Composer render as the service reports it.
type Render struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	ProjectID string `json:"projectId,omitempty"`
	// ApplicationID is set instead of ProjectID in the unified environment.
	ApplicationID string       `json:"applicationId,omitempty"`
	CreatedAt     int64        `json:"createdAt"` // ms since the epoch
	UpdatedAt     int64        `json:"updatedAt"` // ms since the epoch
	URL           string       `json:"url"`
	Resolution    string       `json:"resolution"`
	Status        RenderStatus `json:"status"`
	// StreamID is the stream the render publishes, once it has started.
	StreamID string `json:"streamId,omitempty"`
	// Reason says why a render stopped or failed, e.g. "Max duration exceeded".
	Reason string `json:"reason,omitempty"`
}

// RenderList is one page of renders, newest first.
type RenderList struct {
	Count int      `json:"count"` // all renders of the project, not just this page
	Items []Render `json:"items"`
}

func (o RenderOptions) validate(op string) error {
	if err := requireSessionAndToken(op, o.SessionID, o.Token); err != nil {
		return err
	}
	if err := checkURL(op, "url", o.URL, "http", "https"); err != nil {
		return err
	}
	if err := checkRange(op, "maxDuration", o.MaxDuration, MinRenderDuration, MaxRenderDuration); err != nil {
		return err
	}
	if o.Resolution != "" && !validResolution(o.Resolution) {
		return invalid(op, "resolution", "must be one of %v (got %q)", Resolutions, o.Resolution)
	}
	return checkCallbackURL(op, o.StatusCallbackURL)
}

// renderNotFound is the 404 meaning of every call naming a render (a
// function, not a shared map, so no caller can alter another's meanings).
func renderNotFound() map[int]string {
	return map[int]string{http.StatusNotFound: "no render with that ID exists in this project"}
}

// Start starts a render. The service answers 202 while the page loads; poll
// Get or wait for the callback. Never retried: a retry could start two.
func (s *RendersService) Start(ctx context.Context, opts RenderOptions) (*Render, error) {
	const op = "render start"
	if err := opts.validate(op); err != nil {
		return nil, err
	}
	var r Render
	err := s.client.join(ctx, endpoint{
		op:   op,
		path: s.client.projectPath("render"),
		body: opts,
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the render options (check the session ID, token and URL)",
		},
	}, &r, &r.ID, "render", opts.Token)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Get returns one render.
func (s *RendersService) Get(ctx context.Context, renderID string) (*Render, error) {
	const op = "render get"
	if err := requireID(op, "renderId", renderID); err != nil {
		return nil, err
	}
	var r Render
	err := s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodGet,
		path:       s.client.projectPath("render", renderID),
		idempotent: true,
		meanings:   renderNotFound(),
	}, &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// List returns a page of the project's renders. Renders cannot be filtered
// by session (the endpoint takes offset and count only), so a SessionID in
// opts is refused rather than silently ignored.
func (s *RendersService) List(ctx context.Context, opts ListOptions) (*RenderList, error) {
	const op = "render list"
	if err := opts.validate(op); err != nil {
		return nil, err
	}
	if opts.SessionID != "" {
		return nil, invalid(op, "sessionId", "renders cannot be filtered by session; list them all and filter by SessionID")
	}
	var list RenderList
	err := s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodGet,
		path:       s.client.projectPath("render"),
		query:      opts.query(),
		idempotent: true,
	}, &list)
	if err != nil {
		return nil, err
	}
	return &list, nil
}

// Stop stops a render; its stream leaves the session. The service answers
// 200 or 204, both success. Never retried, although it is a DELETE: a
// retry after a lost reply would report a stopped render as missing.
func (s *RendersService) Stop(ctx context.Context, renderID string) error {
	const op = "render stop"
	if err := requireID(op, "renderId", renderID); err != nil {
		return err
	}
	return s.client.do(ctx, endpoint{
		op:       op,
		method:   http.MethodDelete,
		path:     s.client.projectPath("render", renderID),
		meanings: renderNotFound(),
	}, nil)
}
