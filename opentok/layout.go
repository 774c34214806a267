package opentok

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
)

// This file holds what archives and broadcasts share: the composed layout, stream and
// output modes, and the calls that have the same shape under /archive and /broadcast (the
// Archiving guide: https://developer.vonage.com/en/video/guides/archiving/overview; the
// Video API REST reference: https://developer.vonage.com/en/api/video): start, get, stop,
// list, the layout PUT and the stream PATCH.

// LayoutType names how a composed archive or broadcast arranges the streams.
type LayoutType string

const (
	LayoutBestFit                LayoutType = "bestFit"                // a grid sized to the number of streams
	LayoutPIP                    LayoutType = "pip"                    // one stream full frame, one inset
	LayoutVerticalPresentation   LayoutType = "verticalPresentation"   // one large stream, the others in a column
	LayoutHorizontalPresentation LayoutType = "horizontalPresentation" // one large stream, the others in a row
	LayoutCustom                 LayoutType = "custom"                 // arranged by Layout.Stylesheet
)

// Layout is the arrangement of a composed archive or broadcast, set at start
// or changed while it runs.
type Layout struct {
	Type LayoutType `json:"type"`
	// Stylesheet is the CSS of a custom layout; required with LayoutCustom
	// and refused with any other type.
	Stylesheet string `json:"stylesheet,omitempty"`
	// ScreenshareType is the layout used while someone shares a screen; only
	// with LayoutBestFit, and never LayoutCustom (it has no stylesheet of its own).
	ScreenshareType LayoutType `json:"screenshareType,omitempty"`
}

// validate checks the layout rules of the Archiving guide above; prefix is "layout." when the
// layout is nested in a start body and "" when it is the whole PUT body, so
// the field named in the error is the one on the wire.
func (l Layout) validate(op, prefix string) error {
	switch l.Type {
	case LayoutBestFit, LayoutPIP, LayoutVerticalPresentation, LayoutHorizontalPresentation, LayoutCustom:
	default:
		return invalid(op, prefix+"type", "must be one of %s (got %q)", layoutTypeList, l.Type)
	}
	if l.Type == LayoutCustom && strings.TrimSpace(l.Stylesheet) == "" {
		return invalid(op, prefix+"stylesheet", "is required with type=custom")
	}
	if l.Type != LayoutCustom && l.Stylesheet != "" {
		return invalid(op, prefix+"stylesheet", "only allowed with type=custom")
	}
	if l.ScreenshareType != "" {
		if l.Type != LayoutBestFit {
			return invalid(op, prefix+"screenshareType", "only allowed with type=bestFit")
		}
		switch l.ScreenshareType {
		case LayoutBestFit, LayoutPIP, LayoutVerticalPresentation, LayoutHorizontalPresentation:
		default:
			return invalid(op, prefix+"screenshareType", "must be bestFit, pip, verticalPresentation or horizontalPresentation (got %q)", l.ScreenshareType)
		}
	}
	return nil
}

const layoutTypeList = "bestFit, pip, verticalPresentation, horizontalPresentation or custom"

// StreamMode says who decides which streams an archive or broadcast includes.
type StreamMode string

const (
	// StreamModeAuto includes every stream published in the session (the default).
	StreamModeAuto StreamMode = "auto"
	// StreamModeManual includes only the streams added with AddStream.
	StreamModeManual StreamMode = "manual"
)

func (m StreamMode) validate(op string) error {
	switch m {
	case "", StreamModeAuto, StreamModeManual:
		return nil
	}
	return invalid(op, "streamMode", "must be %q or %q (got %q)", StreamModeAuto, StreamModeManual, m)
}

// OutputMode says whether an archive is one composed video or one file per stream.
type OutputMode string

const (
	// OutputComposed records all streams into one video (the default).
	OutputComposed OutputMode = "composed"
	// OutputIndividual records each stream to its own file, delivered as a zip.
	OutputIndividual OutputMode = "individual"
)

// composition names the resource under /v2/project/{p}/ a shared call acts
// on; it is also the first word of the call's op and of its ID field.
type composition string

const (
	compositionArchive   composition = "archive"
	compositionBroadcast composition = "broadcast"
)

// startComposition sends POST /{kind} with the validated start options.
func startComposition[T any](ctx context.Context, c *Client, kind composition, opts any, meanings map[int]string, explain func(int, string) string) (*T, error) {
	return compositionReply[T](ctx, c, endpoint{
		op:       string(kind) + " start",
		method:   http.MethodPost,
		path:     c.projectPath(string(kind)),
		body:     opts,
		meanings: meanings,
		explain:  explain,
	})
}

// compositionCall sends a bodiless GET (action "") or POST (action "stop")
// to /{kind}/{id}[/action] and decodes the archive or broadcast the service
// returns. Only GETs are retried: the POSTs are stops, which must not act
// twice. extra adds the action's own error meanings to those every
// per-object call shares.
func compositionCall[T any](ctx context.Context, c *Client, kind composition, id, action string, extra map[int]string) (*T, error) {
	ep := endpoint{
		op:         string(kind) + " get",
		method:     http.MethodGet,
		path:       c.projectPath(string(kind), id),
		idempotent: true,
		meanings: map[int]string{
			http.StatusBadRequest: fmt.Sprintf("the %s ID is invalid", kind),
			http.StatusNotFound:   fmt.Sprintf("the %s does not exist", kind),
		},
	}
	if action != "" {
		ep.op, ep.method, ep.idempotent = string(kind)+" "+action, http.MethodPost, false
		ep.path = c.projectPath(string(kind), id, action)
	}
	if err := requireID(ep.op, string(kind)+"Id", id); err != nil {
		return nil, err
	}
	maps.Copy(ep.meanings, extra)
	return compositionReply[T](ctx, c, ep)
}

// listCompositions sends GET /{kind}?offset&count&sessionId.
func listCompositions[T any](ctx context.Context, c *Client, kind composition, opts ListOptions) (*T, error) {
	op := string(kind) + " list"
	if err := opts.validate(op); err != nil {
		return nil, err
	}
	if opts.SessionID != "" {
		if err := requireID(op, "sessionId", opts.SessionID); err != nil {
			return nil, err
		}
	}
	return compositionReply[T](ctx, c, endpoint{
		op:         op,
		method:     http.MethodGet,
		path:       c.projectPath(string(kind)),
		query:      opts.query(),
		idempotent: true,
	})
}

// compositionReply sends ep and decodes its JSON reply into a new T.
func compositionReply[T any](ctx context.Context, c *Client, ep endpoint) (*T, error) {
	var out T
	if err := c.do(ctx, ep, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// setLayout sends PUT /{kind}/{id}/layout. Repeating it sets the same
// layout again, so it may be retried.
func (c *Client) setLayout(ctx context.Context, kind composition, id string, l Layout) error {
	op := string(kind) + " layout"
	if err := requireID(op, string(kind)+"Id", id); err != nil {
		return err
	}
	if err := l.validate(op, ""); err != nil {
		return err
	}
	return c.do(ctx, endpoint{
		op:         op,
		method:     http.MethodPut,
		path:       c.projectPath(string(kind), id, "layout"),
		body:       l,
		idempotent: true,
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the layout",
		},
	}, nil)
}

// streamChange is the PATCH /{kind}/{id}/streams body: either addStream with
// the media to include, or removeStream alone.
type streamChange struct {
	AddStream    string `json:"addStream,omitempty"`
	RemoveStream string `json:"removeStream,omitempty"`
	HasAudio     *bool  `json:"hasAudio,omitempty"`
	HasVideo     *bool  `json:"hasVideo,omitempty"`
}

// addStream includes a stream in a manual-mode archive or broadcast. Not
// retried: a lost reply followed by a repeat would be reported as a failure
// of something that worked.
func (c *Client) addStream(ctx context.Context, kind composition, id, streamID string, hasAudio, hasVideo bool) error {
	op := string(kind) + " add stream"
	if err := requireID(op, "addStream", streamID); err != nil {
		return err
	}
	return c.changeStreams(ctx, op, kind, id, streamChange{AddStream: streamID, HasAudio: &hasAudio, HasVideo: &hasVideo})
}

// removeStream drops a stream from a manual-mode archive or broadcast.
func (c *Client) removeStream(ctx context.Context, kind composition, id, streamID string) error {
	op := string(kind) + " remove stream"
	if err := requireID(op, "removeStream", streamID); err != nil {
		return err
	}
	return c.changeStreams(ctx, op, kind, id, streamChange{RemoveStream: streamID})
}

func (c *Client) changeStreams(ctx context.Context, op string, kind composition, id string, body streamChange) error {
	if err := requireID(op, string(kind)+"Id", id); err != nil {
		return err
	}
	return c.do(ctx, endpoint{
		op:     op,
		method: http.MethodPatch,
		path:   c.projectPath(string(kind), id, "streams"),
		body:   body,
		meanings: map[int]string{
			http.StatusBadRequest:       "the service refused the stream change",
			http.StatusNotFound:         fmt.Sprintf("the %s or the stream does not exist", kind),
			http.StatusMethodNotAllowed: fmt.Sprintf("the %s uses streamMode=auto; only manual-mode %ss take stream changes", kind, kind),
		},
	}, nil)
}

// startConflict explains a 409 on archive or broadcast start, which the
// REST reference documents with two causes: a relayed session, or one already being
// recorded/broadcast under the same tag. The service's message says which.
func startConflict(relayed, busy, either string) func(status int, message string) string {
	return func(status int, message string) string {
		if status != http.StatusConflict {
			return ""
		}
		m := strings.ToLower(message)
		switch {
		case strings.Contains(m, "relayed") || strings.Contains(m, "p2p") || strings.Contains(m, "routed"):
			return relayed
		case strings.Contains(m, "already") || strings.Contains(m, "recording") || strings.Contains(m, "broadcasting"):
			return busy
		}
		return either
	}
}

// OwnerID is the project an archive or broadcast belongs to. The service
// sends projectId and partnerId as JSON strings in some replies and as
// numbers in others (archive callbacks, older REST replies; the callback reference:
// https://tokbox.com/developer/callbacks/; the Video API REST reference above);
// OwnerID reads both and holds the decimal text.
type OwnerID string

// UnmarshalJSON accepts a JSON string, a JSON number or null.
func (id *OwnerID) UnmarshalJSON(data []byte) error {
	s := strings.TrimSpace(string(data))
	switch {
	case s == "null":
		return nil
	case strings.HasPrefix(s, `"`):
		var v string
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("project ID: %w", err)
		}
		*id = OwnerID(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("project ID: want a string or a number, got %s", s)
	}
	*id = OwnerID(n.String())
	return nil
}

// checkResolution is the resolution rule archives and broadcasts share.
func checkResolution(op, r string) error {
	if r != "" && !validResolution(r) {
		return invalid(op, "resolution", "must be one of %v (got %q)", Resolutions, r)
	}
	return nil
}
