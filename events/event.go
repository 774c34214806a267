// Package events is everything about the Video API callback stream: the
// typed event model and its tolerant decoder, the one pure reducer that turns
// events into the state of every session (shared by relay and console), and
// the relay ⇄ console wire protocol.
//
// The relay server lives in events/relay and the console's client of it in
// events/relayclient; this package does no I/O.
package events

import "encoding/json"

// Kind is a callback's event type as the service names it.
type Kind string

// The callbacks the Video API sends (the Session monitoring guide:
// https://developer.vonage.com/en/video/guides/session-monitoring). A callback of a type
// not listed here decodes with its own Kind and is kept, never refused.
const (
	SessionCreated      Kind = "sessionCreated"
	SessionDestroyed    Kind = "sessionDestroyed"
	ConnectionCreated   Kind = "connectionCreated"
	ConnectionDestroyed Kind = "connectionDestroyed"
	StreamCreated       Kind = "streamCreated"
	StreamDestroyed     Kind = "streamDestroyed"
	ArchiveStatus       Kind = "archive"   // every archive status change
	BroadcastStatus     Kind = "broadcast" // every broadcast status change
	CallCreated         Kind = "callCreated"
	CallUpdated         Kind = "callUpdated"
	CallDestroyed       Kind = "callDestroyed"
	MuteForced          Kind = "muteForced"
	RenderStatus        Kind = "render"   // Experience Composer status (the body has no event field)
	CaptionsStatus      Kind = "captions" // live captions status (the body has no event field)
)

// Group is the kind of callback URL an event arrived at; the service sends
// each group to its own URL, and render and captions bodies carry no
// "event" field, so the URL is what names them.
type Group string

const (
	GroupSession   Group = "session"
	GroupArchive   Group = "archive"
	GroupBroadcast Group = "broadcast"
	GroupSIP       Group = "sip"
	GroupRender    Group = "render"
	GroupCaptions  Group = "captions"
)

// Groups lists every callback group, in the order the docs name them: the
// URLs a relay mounts and the keys its per-group settings may use. A new
// slice each call, so no caller can change another's.
func Groups() []Group {
	return []Group{GroupSession, GroupArchive, GroupBroadcast, GroupSIP, GroupRender, GroupCaptions}
}

// Reasons the service gives for destroyed connections and streams, and the
// one gavel's reconcile adds for a connection or stream that vanished unseen.
const (
	ReasonClientDisconnected  = "clientDisconnected"
	ReasonForceDisconnected   = "forceDisconnected"
	ReasonNetworkDisconnected = "networkDisconnected"
	ReasonForceUnpublished    = "forceUnpublished"
	ReasonMediaStopped        = "mediaStopped"
	ReasonReconciled          = "reconciled"
)

// Event is one decoded callback. Exactly one of the object pointers is set
// for the kinds that carry one; Raw keeps the bytes as received, unknown
// fields included, so nothing the service sent is lost.
type Event struct {
	Kind      Kind
	SessionID string
	// ProjectID is projectId (a string in session callbacks, a number in
	// archive callbacks) or, in the unified environment, applicationId.
	ProjectID string
	// Timestamp orders events of one object: the callback's timestamp, or
	// for status callbacks their updatedAt (else createdAt), in ms.
	Timestamp int64
	Reason    string

	Connection *Connection
	Stream     *Stream
	Archive    *Archive
	Broadcast  *Broadcast
	Call       *Call
	Render     *Render
	Captions   *Captions

	Raw json.RawMessage
}

// Session is the session an event is about: a recording's or broadcast's
// own session when the body names one, else the callback's.
func (ev Event) Session() string {
	switch {
	case ev.Archive != nil && ev.Archive.SessionID != "":
		return ev.Archive.SessionID
	case ev.Broadcast != nil && ev.Broadcast.SessionID != "":
		return ev.Broadcast.SessionID
	}
	return ev.SessionID
}

// Connection is a client's connection to a session.
type Connection struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"createdAt"`
	// Data is the token's connection data, verbatim: untrusted text.
	Data string `json:"data"`
}

// Stream is a published stream. VideoType is camera, screen, custom, or ""
// for an audio-only stream.
type Stream struct {
	ID         string     `json:"id"`
	Connection Connection `json:"connection"`
	CreatedAt  int64      `json:"createdAt"`
	Name       string     `json:"name"`
	VideoType  string     `json:"videoType,omitempty"`
}

// Archive is an archive status callback's object.
type Archive struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Name       string `json:"name,omitempty"`
	Reason     string `json:"reason,omitempty"`
	SessionID  string `json:"sessionId"`
	OutputMode string `json:"outputMode,omitempty"`
	Resolution string `json:"resolution,omitempty"`
	URL        string `json:"url,omitempty"`
	CreatedAt  int64  `json:"createdAt"`
	UpdatedAt  int64  `json:"updatedAt,omitempty"`
	Size       int64  `json:"size"`
	Duration   int64  `json:"duration"`
}

// Broadcast is a broadcast status callback's object.
type Broadcast struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	SessionID string `json:"sessionId"`
	CreatedAt int64  `json:"createdAt"`
	UpdatedAt int64  `json:"updatedAt,omitempty"`
	HLS       string `json:"hls,omitempty"`
}

// Call is a SIP call (callCreated, callUpdated, callDestroyed, muteForced).
type Call struct {
	ID            string `json:"id"`
	ConnectionID  string `json:"connectionId"`
	CreatedAt     int64  `json:"createdAt"`
	State         string `json:"state,omitempty"`         // callUpdated: DIALING, RINGING, ON_HOLD, ACTIVE, HANGUP
	ReasonCode    string `json:"reasonCode,omitempty"`    // callDestroyed: SIP code or 700-706
	ReasonMessage string `json:"reasonMessage,omitempty"` // callDestroyed
}

// Render is an Experience Composer status callback's object.
type Render struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	StreamID  string `json:"streamId,omitempty"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
}

// Captions is a live captions status callback's object.
type Captions struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
}
