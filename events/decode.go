package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// DecodeError is a callback body the decoder refuses; it names the field.
type DecodeError struct {
	Field   string // JSON path of the offending field, e.g. "stream.connection.id"; "" for the body itself
	Problem string // what is wrong, e.g. "is missing", "must be a string"
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "callback: " + e.Problem
	}
	return "callback: " + e.Field + ": " + e.Problem
}

func badField(field, format string, args ...any) error {
	return &DecodeError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// wire holds a callback's fields undecoded, so each can be read tolerantly:
// a number where a string is usual, null where a value is, unknown fields
// ignored (and kept in Event.Raw).
type wire struct {
	Event         json.RawMessage `json:"event"`
	SessionID     json.RawMessage `json:"sessionId"`
	ProjectID     json.RawMessage `json:"projectId"`
	PartnerID     json.RawMessage `json:"partnerId"`
	ApplicationID json.RawMessage `json:"applicationId"`
	Timestamp     json.RawMessage `json:"timestamp"`
	Reason        json.RawMessage `json:"reason"`
	Connection    json.RawMessage `json:"connection"`
	Stream        json.RawMessage `json:"stream"`
	Call          json.RawMessage `json:"call"`
	State         json.RawMessage `json:"state"`
	ReasonCode    json.RawMessage `json:"reason_code"`
	ReasonMessage json.RawMessage `json:"reason_message"`

	// Status objects (archive, broadcast, render, captions).
	ID            json.RawMessage `json:"id"`
	CaptionID     json.RawMessage `json:"captionId"`
	Status        json.RawMessage `json:"status"`
	Name          json.RawMessage `json:"name"`
	OutputMode    json.RawMessage `json:"outputMode"`
	Resolution    json.RawMessage `json:"resolution"`
	URL           json.RawMessage `json:"url"`
	StreamID      json.RawMessage `json:"streamId"`
	CreatedAt     json.RawMessage `json:"createdAt"`
	UpdatedAt     json.RawMessage `json:"updatedAt"`
	Size          json.RawMessage `json:"size"`
	Duration      json.RawMessage `json:"duration"`
	BroadcastURLs json.RawMessage `json:"broadcastUrls"`
}

// Decode reads one callback body that arrived at a URL of the given group.
// It accepts every variant the service is known to send (projectId as a
// string or a number, applicationId instead, numbers as strings, nulls) and
// keeps event types it does not know, with their own Kind. It refuses, with
// a *DecodeError naming the field, only a body it cannot make sense of: not
// a JSON object, no event type, or an object without the IDs that say what
// it is about.
func Decode(group Group, body []byte) (Event, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Event{}, &DecodeError{Problem: "body is not a JSON object"}
	}
	var w wire
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return Event{}, &DecodeError{Problem: "body is not valid JSON: " + err.Error()}
	}
	r := reader{}
	ev := Event{Raw: json.RawMessage(bytes.Clone(trimmed))}
	ev.Kind = Kind(r.str("event", w.Event))
	if ev.Kind == "" {
		switch group {
		case GroupRender:
			ev.Kind = RenderStatus
		case GroupCaptions:
			ev.Kind = CaptionsStatus
		case GroupArchive:
			ev.Kind = ArchiveStatus
		case GroupBroadcast:
			ev.Kind = BroadcastStatus
		default:
			if r.err == nil {
				r.err = badField("event", "is missing: a %s callback names its type", group)
			}
		}
	}
	ev.SessionID = r.str("sessionId", w.SessionID)
	ev.ProjectID = r.id("projectId", w.ProjectID)
	if ev.ProjectID == "" {
		ev.ProjectID = r.id("partnerId", w.PartnerID)
	}
	if ev.ProjectID == "" {
		ev.ProjectID = r.str("applicationId", w.ApplicationID)
	}
	ev.Timestamp = r.num("timestamp", w.Timestamp)
	ev.Reason = r.str("reason", w.Reason)

	switch ev.Kind {
	case SessionCreated, SessionDestroyed:
		r.require("sessionId", ev.SessionID)
	case ConnectionCreated, ConnectionDestroyed:
		r.require("sessionId", ev.SessionID)
		ev.Connection = r.connection("connection", w.Connection)
	case StreamCreated, StreamDestroyed:
		r.require("sessionId", ev.SessionID)
		// A reconcile stream comes from the REST list, which does not say
		// whose it is: only there may the connection be absent.
		ev.Stream = r.stream("stream", w.Stream, ev.Reason == ReasonReconciled)
	case ArchiveStatus:
		a := &Archive{
			ID: r.str("id", w.ID), Status: r.str("status", w.Status), Name: r.str("name", w.Name), Reason: ev.Reason,
			SessionID: ev.SessionID, OutputMode: r.str("outputMode", w.OutputMode), Resolution: r.str("resolution", w.Resolution),
			URL: r.str("url", w.URL), CreatedAt: r.num("createdAt", w.CreatedAt), UpdatedAt: r.num("updatedAt", w.UpdatedAt),
			Size: r.num("size", w.Size), Duration: r.num("duration", w.Duration),
		}
		r.require("id", a.ID)
		r.require("status", a.Status)
		r.require("sessionId", a.SessionID)
		ev.Archive, ev.Timestamp = a, firstNonZero(a.UpdatedAt, a.CreatedAt, ev.Timestamp)
	case BroadcastStatus:
		b := &Broadcast{ID: r.str("id", w.ID), Status: r.str("status", w.Status), SessionID: ev.SessionID,
			CreatedAt: r.num("createdAt", w.CreatedAt), UpdatedAt: r.num("updatedAt", w.UpdatedAt), HLS: r.hls(w.BroadcastURLs)}
		r.require("id", b.ID)
		r.require("status", b.Status)
		r.require("sessionId", b.SessionID)
		ev.Broadcast, ev.Timestamp = b, firstNonZero(b.UpdatedAt, b.CreatedAt, ev.Timestamp)
	case CallCreated, CallUpdated, CallDestroyed, MuteForced:
		r.require("sessionId", ev.SessionID)
		ev.Call = r.call(w)
	case RenderStatus:
		x := &Render{ID: r.str("id", w.ID), SessionID: ev.SessionID, StreamID: r.str("streamId", w.StreamID), Status: r.str("status", w.Status), Reason: ev.Reason}
		r.require("id", x.ID)
		r.require("status", x.Status)
		ev.Render = x
	case CaptionsStatus:
		id := r.str("captionId", w.CaptionID)
		if id == "" {
			id = r.str("id", w.ID)
		}
		c := &Captions{ID: id, SessionID: ev.SessionID, Status: r.str("status", w.Status), Reason: ev.Reason}
		r.require("captionId", c.ID)
		r.require("status", c.Status)
		ev.Captions, ev.Timestamp = c, firstNonZero(r.num("updatedAt", w.UpdatedAt), r.num("createdAt", w.CreatedAt), ev.Timestamp)
	}
	if r.err != nil {
		return Event{}, r.err
	}
	return ev, nil
}

// reader decodes fields and keeps the first error, so Decode reads as a
// list of fields rather than a ladder of ifs.
type reader struct{ err error }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) require(field, v string) {
	if v == "" {
		r.fail(badField(field, "is missing"))
	}
}

// str reads a string; null or absent is "", a number is taken as its text.
func (r *reader) str(field string, raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	r.fail(badField(field, "must be a string"))
	return ""
}

// id reads an identifier sent as a string or a number (projectId).
func (r *reader) id(field string, raw json.RawMessage) string { return r.str(field, raw) }

// num reads an integer sent as a number or a numeric string; null is 0.
func (r *reader) num(field string, raw json.RawMessage) int64 {
	if isNull(raw) {
		return 0
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if v, err := n.Int64(); err == nil {
			return v
		}
		if f, err := n.Float64(); err == nil {
			return int64(f)
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return 0
		}
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v
		}
	}
	r.fail(badField(field, "must be a number"))
	return 0
}

func (r *reader) object(field string, raw json.RawMessage, into *wireObject) bool {
	if isNull(raw) {
		r.fail(badField(field, "is missing"))
		return false
	}
	if err := json.Unmarshal(raw, into); err != nil {
		r.fail(badField(field, "must be an object"))
		return false
	}
	return true
}

// wireObject is a connection or stream object, undecoded.
type wireObject struct {
	ID         json.RawMessage `json:"id"`
	CreatedAt  json.RawMessage `json:"createdAt"`
	Data       json.RawMessage `json:"data"`
	Name       json.RawMessage `json:"name"`
	VideoType  json.RawMessage `json:"videoType"`
	Connection json.RawMessage `json:"connection"`
}

func (r *reader) connection(field string, raw json.RawMessage) *Connection {
	var o wireObject
	if !r.object(field, raw, &o) {
		return nil
	}
	c := &Connection{ID: r.str(field+".id", o.ID), CreatedAt: r.num(field+".createdAt", o.CreatedAt), Data: r.str(field+".data", o.Data)}
	r.require(field+".id", c.ID)
	return c
}

func (r *reader) stream(field string, raw json.RawMessage, reconciled bool) *Stream {
	var o wireObject
	if !r.object(field, raw, &o) {
		return nil
	}
	s := &Stream{ID: r.str(field+".id", o.ID), CreatedAt: r.num(field+".createdAt", o.CreatedAt),
		Name: r.str(field+".name", o.Name), VideoType: r.str(field+".videoType", o.VideoType)}
	r.require(field+".id", s.ID)
	if reconciled && isNull(o.Connection) {
		return s
	}
	if c := r.connection(field+".connection", o.Connection); c != nil {
		s.Connection = *c
	}
	return s
}

func (r *reader) call(w wire) *Call {
	var o struct {
		ID           json.RawMessage `json:"id"`
		ConnectionID json.RawMessage `json:"connectionId"`
		CreatedAt    json.RawMessage `json:"createdAt"`
	}
	if isNull(w.Call) {
		r.fail(badField("call", "is missing"))
		return nil
	}
	if err := json.Unmarshal(w.Call, &o); err != nil {
		r.fail(badField("call", "must be an object"))
		return nil
	}
	c := &Call{ID: r.str("call.id", o.ID), ConnectionID: r.str("call.connectionId", o.ConnectionID), CreatedAt: r.num("call.createdAt", o.CreatedAt),
		State: r.str("state", w.State), ReasonCode: r.str("reason_code", w.ReasonCode), ReasonMessage: r.str("reason_message", w.ReasonMessage)}
	r.require("call.id", c.ID)
	return c
}

func (r *reader) hls(raw json.RawMessage) string {
	if isNull(raw) {
		return ""
	}
	var o struct {
		HLS json.RawMessage `json:"hls"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		r.fail(badField("broadcastUrls", "must be an object"))
		return ""
	}
	return r.str("broadcastUrls.hls", o.HLS)
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func firstNonZero(vs ...int64) int64 {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}
