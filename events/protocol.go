package events

import (
	"encoding/base64"
	"encoding/json"
	"time"
)

// Wire protocol v1 between relay and console (docs/protocol.md): JSON text
// frames over a WebSocket at GET /v1/stream?since=<seq>&epoch=<epoch>,
// subprotocol StreamProtocol when the console asks for one.
// Fields may be added; none is ever renamed.

// StreamPath is where a relay serves the stream.
const StreamPath = "/v1/stream"

// Frame types.
const (
	FrameHello    = "hello"
	FrameSnapshot = "snapshot"
	FrameEvent    = "event"
	FrameAudit    = "audit"
	FrameCommand  = "command"
	FrameResult   = "result"
	// FramePresence is who else is connected, and the questions they have
	// open: sent to consoles that said where they are (ActionWhere), on
	// every change. Not a record: it has no seq and is not in the log.
	FramePresence = "presence"
)

// Sources of an event frame.
const (
	SourceCallback  = "callback"  // POSTed by the Video API
	SourceReconcile = "reconcile" // synthesised by the relay from the REST lists
)

// WebSocket subprotocols of GET /v1/stream. A browser cannot set
// Authorization on a WebSocket, so it carries its console token in
// Sec-WebSocket-Protocol instead (the Kubernetes convention), as
// TokenProtocol(token) alongside StreamProtocol, which the relay echoes.
// The token protocol is never echoed: a response header is one more place
// a credential would be logged.
const (
	// StreamProtocol names wire protocol v1; the relay selects it whenever
	// a console offers it.
	StreamProtocol = "gavel.v1"
	// TokenProtocolPrefix starts the protocol that carries a console token:
	// the prefix, then the token in base64url without padding ("=" is not
	// allowed in a protocol name).
	TokenProtocolPrefix = "base64url.bearer.authorization.gavel."
)

// TokenProtocol is the subprotocol that carries token, to offer after
// StreamProtocol.
func TokenProtocol(token string) string {
	return TokenProtocolPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))
}

// Close code and reason prefix for a console that fell behind; it
// reconnects with since=<seq>.
const (
	CloseLagging       = 4000
	ResumeReasonPrefix = "resume since="
)

// Hello is the relay's first frame on every connection.
type Hello struct {
	Type     string `json:"type"` // "hello"
	Epoch    string `json:"epoch"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Relay    string `json:"relay"`
}

// SnapshotFrame carries the state as of Seq, possibly in parts.
type SnapshotFrame struct {
	Type     string    `json:"type"` // "snapshot"
	Seq      uint64    `json:"seq"`
	Part     int       `json:"part"`
	Parts    int       `json:"parts"`
	Sessions []Session `json:"sessions"`
	// Bans are the bans in force, and Rules the rules set in force (if
	// any), on the last part only.
	Bans   []Ban         `json:"bans,omitempty"`
	Rules  *RulesInForce `json:"rules,omitempty"`
	Alerts []Alert       `json:"alerts,omitempty"` // newest first
}

// EventFrame is one callback (or reconcile event) from the log.
type EventFrame struct {
	Type       string          `json:"type"` // "event"
	Seq        uint64          `json:"seq"`
	ReceivedAt time.Time       `json:"received_at"`
	Source     string          `json:"source"`
	Event      json.RawMessage `json:"event"` // the callback as the service sent it
	// Group is the callback URL it arrived at (session, archive, …), which
	// render and captions bodies need to be decoded.
	Group Group `json:"group,omitempty"`
	// Superseded marks a late create of a connection or stream the relay
	// already knows is gone: a console must not apply it (its state, if
	// rebuilt from a snapshot, has no tombstone to stop it).
	Superseded bool `json:"superseded,omitempty"`
	// Duplicate marks a callback the service sent again after the log's
	// duplicate window (it retries for up to a day): the relay applied
	// the first one and not this; a console neither applies nor lists it.
	Duplicate bool `json:"duplicate,omitempty"`
}

// AuditFrame is one moderation action from the log.
type AuditFrame struct {
	Type  string `json:"type"` // "audit"
	Seq   uint64 `json:"seq"`
	Audit Audit  `json:"audit"`
}

// Audit records who did what to whom and how it ended; refused attempts too.
type Audit struct {
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Role    Role      `json:"role,omitempty"`
	Action  string    `json:"action"`
	Session string    `json:"session,omitempty"`
	Target  string    `json:"target,omitempty"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error"`
	// Except are the streams a mute_all left alone: with the outcome, it
	// is what lets every console show which streams the service muted.
	Except []string `json:"except,omitempty"`
	// Detail says why an automatic action (actor "rule:<name>") was taken,
	// or what a dry-run rule would have done.
	Detail string `json:"detail,omitempty"`
	// Ban is the ban a "ban" entry puts in force.
	Ban *Ban `json:"ban,omitempty"`
	// Rules is the rules set a "rules" entry puts in force.
	Rules *Rules `json:"rules,omitempty"`
	// Alert is the alert an "alert" entry raises.
	Alert *Alert `json:"alert,omitempty"`
}

// Command is a console's request for a moderation action.
type Command struct {
	Type       string          `json:"type"` // "command"
	ID         string          `json:"id"`
	Action     string          `json:"action"`
	Session    string          `json:"session,omitempty"`
	Connection string          `json:"connection,omitempty"`
	Stream     string          `json:"stream,omitempty"`
	Params     json.RawMessage `json:"params,omitempty"`
}

// CommandParams are what a Command's params may hold, over every action
// (which action reads which: docs/protocol.md). The relay decodes into it;
// a console's params must decode into it with nothing left over.
type CommandParams struct {
	Type       string   `json:"type"`        // signal
	Data       string   `json:"data"`        // signal, token (connection data)
	Except     []string `json:"except"`      // mute_all: the streams to leave alone
	Archive    string   `json:"archive"`     // archive_stop
	Name       string   `json:"name"`        // archive_start
	OutputMode string   `json:"output_mode"` // archive_start
	Resolution string   `json:"resolution"`  // archive_start
	Layout     string   `json:"layout"`      // archive_start
	Role       string   `json:"role"`        // token
	TTL        string   `json:"ttl"`         // token
	Match      string   `json:"match"`       // ban: the identity to ban (else the connection's)
	All        bool     `json:"all"`         // ban: in every session, not only Command.Session
	For        string   `json:"for"`         // ban: how long, a Go duration ("24h"), at most 720h
	Reason     string   `json:"reason"`      // ban
	Ban        string   `json:"ban"`         // unban: the ban's id
	Rules      *Rules   `json:"rules"`       // rules: the whole set to put in force
	Alert      string   `json:"alert"`       // ack: the alert's id
	View       string   `json:"view"`        // where: the console's view
	Intent     string   `json:"intent"`      // intend: the destructive action a question is about
	Seq        uint64   `json:"seq"`         // state_at: as of this record
	At         string   `json:"at"`          // state_at: as of this moment (RFC 3339), instead of seq
	Step       int      `json:"step"`        // state_at: -1 the session's record before, +1 the one after
}

// StateAt is a state_at result's data: one session as it was after a
// record of the log.
type StateAt struct {
	// Seq is the session's last record folded in: at or before the seq
	// (or moment) asked for, or the one a step moved to; 0 when the
	// session had no record yet.
	Seq uint64 `json:"seq"`
	// At is when that record happened (the callback's time, else when the
	// relay stored it).
	At time.Time `json:"at,omitzero"`
	// Session is its state then; nil when it had none yet.
	Session *Session `json:"session,omitempty"`
	// FirstSeq and LastSeq are the log's bounds when asked: a step at
	// either end stays where it is.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// Records are the session's last records up to Seq (at most
	// StateAtRecords), oldest first, as event and audit frames: the
	// event tail of that moment.
	Records []json.RawMessage `json:"records,omitempty"`
}

// StateAtRecords bounds StateAt.Records.
const StateAtRecords = 100

// Result answers one Command.
type Result struct {
	Type  string          `json:"type"` // "result"
	ID    string          `json:"id"`
	OK    bool            `json:"ok"`
	Error *ResultError    `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// ResultError says why a command failed, in words, with the HTTP status of
// the Video API's answer (or 403 for a role that may not act, 429 for a
// console over its rate).
type ResultError struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// Role is what a console may do.
type Role string

const (
	RoleViewer    Role = "viewer"    // watch only
	RoleModerator Role = "moderator" // signal, mute, unpublish, disconnect, archive
	RoleAdmin     Role = "admin"     // everything, plus token and reconcile
)

// Actions a console may command.
const (
	ActionSignal       = "signal"
	ActionDisconnect   = "disconnect"
	ActionMute         = "mute"
	ActionMuteAll      = "mute_all"
	ActionMuteAllOff   = "mute_all_off"
	ActionUnpublish    = "unpublish"
	ActionArchiveStart = "archive_start"
	ActionArchiveStop  = "archive_stop"
	ActionToken        = "token"
	ActionReconcile    = "reconcile"
	ActionBan          = "ban"
	ActionUnban        = "unban"
	ActionRules        = "rules"
	ActionAck          = "ack"
	// ActionWhere, ActionIntend and ActionRelease are presence, not
	// moderation: where a console is, and the question it has open about
	// a target (which holds the target as a command would); they are
	// answered but never audited.
	ActionWhere   = "where"
	ActionIntend  = "intend"
	ActionRelease = "release"
	// ActionStateAt asks for a session's state after a record of the
	// log: history, answered but never audited.
	ActionStateAt = "state_at"
	// ActionAlert is the relay's own audit action (actor "rule:alert"):
	// no console sends it.
	ActionAlert = "alert"
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleViewer || r == RoleModerator || r == RoleAdmin }

// Allows reports whether a role may take an action (the design's table).
func (r Role) Allows(action string) bool {
	switch action {
	case ActionSignal, ActionDisconnect, ActionMute, ActionMuteAll, ActionMuteAllOff, ActionUnpublish, ActionArchiveStart, ActionArchiveStop,
		ActionBan, ActionUnban, ActionRules, ActionAck:
		return r == RoleModerator || r == RoleAdmin
	case ActionToken, ActionReconcile:
		return r == RoleAdmin
	case ActionIntend, ActionRelease:
		return r == RoleModerator || r == RoleAdmin
	case ActionWhere, ActionStateAt:
		return r.Valid()
	}
	return false
}

// Record is what the relay's log stores for each sequence number: an event
// or an audit entry, the frame minus its seq (which is the log's own).
type Record struct {
	Type       string          `json:"type"` // FrameEvent or FrameAudit
	ReceivedAt time.Time       `json:"received_at,omitzero"`
	Source     string          `json:"source,omitempty"`
	Group      Group           `json:"group,omitempty"`
	Event      json.RawMessage `json:"event,omitempty"`
	Audit      *Audit          `json:"audit,omitempty"`
}

// Frame turns a record read at seq into the frame sent to consoles.
func (r Record) Frame(seq uint64) any {
	if r.Type == FrameAudit && r.Audit != nil {
		return AuditFrame{Type: FrameAudit, Seq: seq, Audit: *r.Audit}
	}
	return EventFrame{Type: FrameEvent, Seq: seq, ReceivedAt: r.ReceivedAt, Source: r.Source, Event: r.Event, Group: r.Group}
}
