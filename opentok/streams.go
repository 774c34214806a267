package opentok

import (
	"context"
	"fmt"
	"net/http"
)

// StreamsService lists and inspects streams and sets their layout classes.
type StreamsService service

// VideoType says what a stream's video shows, so a console can tell a
// camera from a screen share when it lays streams out.
type VideoType string

const (
	VideoCamera VideoType = "camera" // a camera, or audio only
	VideoScreen VideoType = "screen" // a screen share
	VideoCustom VideoType = "custom" // a custom video source
)

// Stream is the REST view of a published stream. It carries no connection ID and no
// audio/video flags (the Moderation REST guide:
// https://developer.vonage.com/en/video/guides/moderation/rest): correlate streams to
// connections through the session-monitoring callbacks.
type Stream struct {
	ID        string    `json:"id"`
	VideoType VideoType `json:"videoType"`
	// Name is the publisher-supplied name, "" when the publisher gave none.
	Name string `json:"name"`
	// LayoutClassList is what composed archives and broadcasts lay out by.
	LayoutClassList []string `json:"layoutClassList"`
}

// StreamClasses sets the layout classes of one stream.
type StreamClasses struct {
	ID string `json:"id"`
	// LayoutClassList replaces the stream's classes; empty clears them.
	LayoutClassList []string `json:"layoutClassList"`
}

// layoutClassesRequest is the PUT body: {"items":[{"id":…,"layoutClassList":[…]}]}.
type layoutClassesRequest struct {
	Items []StreamClasses `json:"items"`
}

// streamMeanings are the documented meanings shared by the stream lookups
// (OpenAPI: 404 "The session exists but has not had any streams added to it
// yet", 408 "You passed in an invalid stream ID").
func streamMeanings(notFound, timeout string) map[int]string {
	return map[int]string{
		http.StatusBadRequest:     "the service refused the session or stream ID",
		http.StatusNotFound:       notFound,
		http.StatusRequestTimeout: timeout,
	}
}

// List returns the streams currently published in the session. A session
// that has never had a stream answers 404, so errors.Is(err, ErrNotFound)
// there means "no streams yet" rather than a missing session.
func (s *StreamsService) List(ctx context.Context, sessionID string) ([]Stream, error) {
	const op = "stream list"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return nil, err
	}
	var reply struct {
		Count int      `json:"count"`
		Items []Stream `json:"items"`
	}
	err := s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodGet,
		path:       s.client.projectPath("session", sessionID, "stream"),
		idempotent: true,
		meanings:   streamMeanings("the session exists but has had no streams", "invalid session ID"),
	}, &reply)
	if err != nil {
		return nil, err
	}
	return reply.Items, nil
}

// Get returns one stream of the session.
func (s *StreamsService) Get(ctx context.Context, sessionID, streamID string) (*Stream, error) {
	const op = "stream get"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return nil, err
	}
	if err := requireID(op, "streamId", streamID); err != nil {
		return nil, err
	}
	var st Stream
	err := s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodGet,
		path:       s.client.projectPath("session", sessionID, "stream", streamID),
		idempotent: true,
		meanings:   streamMeanings("no such stream in the session", "no such stream in the session"),
	}, &st)
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// SetLayoutClasses replaces the layout classes of the given streams, which
// decide where each stream goes in composed archives and broadcasts. It is
// safe to repeat: the classes are set, not added.
func (s *StreamsService) SetLayoutClasses(ctx context.Context, sessionID string, classes []StreamClasses) error {
	const op = "stream layout classes"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	if len(classes) == 0 {
		return invalid(op, "items", "at least one stream is required")
	}
	items := make([]StreamClasses, len(classes))
	for i, c := range classes {
		if err := requireID(op, fmt.Sprintf("items[%d].id", i), c.ID); err != nil {
			return err
		}
		items[i] = c
		// The service expects a list; an empty one, not null, clears the classes.
		if items[i].LayoutClassList == nil {
			items[i].LayoutClassList = []string{}
		}
	}
	return s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodPut,
		path:       s.client.projectPath("session", sessionID, "stream"),
		body:       layoutClassesRequest{Items: items},
		idempotent: true,
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the stream IDs or layout classes",
		},
	}, nil)
}
