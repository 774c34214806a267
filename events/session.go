package events

// Session is one session in the one form gavel has for it: what a console
// shows, what a relay's snapshot frame carries and what the relay's state
// file holds. A console restores its state from snapshot frames with
// RestoreState, directly, so it holds exactly the relay's state and
// applies the rest of the log to it exactly as the relay does.
//
// Two functions fill it. State.Sessions and State.Session give the view a
// console renders: the live connections and streams and the figures.
// State.Snapshot adds what only the reducer needs (marked "snapshot only"
// below): the tombstones that keep a late callback from reviving the dead,
// and where each connection's and stream's fields came from. Live,
// Counts, MuteAll and MuteExcept derive from the rest; RestoreState
// recomputes them and ignores what a snapshot says of them.
//
// Wire protocol v1 carries it (docs/protocol.md): fields may be added,
// never renamed or removed.
type Session struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id,omitempty"`
	// Live is true while the session has a live connection (or a stream,
	// which cannot exist without one even if the callback naming it is
	// missing): a session ID is reused, so it says nothing about
	// sessionCreated/sessionDestroyed.
	Live bool `json:"live"`
	// LastEventAt is the latest timestamp of any event of the session (ms).
	LastEventAt int64             `json:"last_event_at"`
	Connections []ConnectionState `json:"connections"` // by CreatedAt, then ID
	Streams     []StreamState     `json:"streams"`     // by CreatedAt, then ID
	Archives    []ArchiveState    `json:"archives,omitempty"`
	Broadcasts  []BroadcastState  `json:"broadcasts,omitempty"`
	Counts      Counts            `json:"counts"`
	// MuteAll is true while a mute-all is in force: streams published
	// meanwhile are muted too, except MuteExcept.
	MuteAll    bool     `json:"mute_all,omitempty"`
	MuteExcept []string `json:"mute_except,omitempty"`
	// MuteWindows are the session's recent mute-alls (the last few), which
	// decide whether a stream whose callback arrives late was muted.
	MuteWindows []MuteWindow `json:"mute_windows,omitempty"`
	// EndedConnections and EndedStreams (snapshot only) are the tombstones
	// of the connections and streams that ended, by ID: IDs are never
	// reused, so a late or retried create of one of them changes nothing.
	EndedConnections []Ended `json:"ended_connections,omitempty"`
	EndedStreams     []Ended `json:"ended_streams,omitempty"`
}

// ConnectionState is one live connection.
type ConnectionState struct {
	ID string `json:"id"`
	// Data is the token's connection data: untrusted text. Empty when only a
	// reconcile has seen the connection (the REST list does not carry it).
	Data string `json:"data,omitempty"`
	// CreatedAt is when it connected (ms); for a connection known only from
	// a reconcile, when the reconcile found it.
	CreatedAt int64 `json:"created_at"`
	Streams   int   `json:"streams"` // live streams it publishes
	// ReportedBy (snapshot only) says which report set Data and
	// CreatedAt, so a better one still replaces them: "" its own
	// connectionCreated, ReportedByStream a streamCreated's copy of it,
	// ReportedByReconcile the REST list.
	ReportedBy string `json:"reported_by,omitempty"`
	// LastAt (snapshot only) is the latest timestamp of the events that
	// created it or named it (ms): a reconcile does not destroy what it
	// heard of after the REST lists were taken.
	LastAt int64 `json:"last_at,omitempty"`
}

// StreamState is one live stream.
type StreamState struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connection_id,omitempty"`
	Name         string `json:"name"`
	// VideoType is camera, screen, custom, or "" for audio-only.
	VideoType string `json:"video_type,omitempty"`
	CreatedAt int64  `json:"created_at"`
	// Unattributed is true for a stream known only from the REST list,
	// which does not say whose it is; the streamCreated callback attributes
	// it when (if) it arrives.
	Unattributed bool `json:"unattributed,omitempty"`
	// Muted is true once a moderator's force-mute (or mute-all) of it
	// succeeded. The service reports no audio changes, so a publisher who
	// unmuted since still shows muted; no callback says otherwise.
	Muted bool `json:"muted,omitempty"`
	// ReportedBy (snapshot only): "" its streamCreated callback,
	// ReportedByReconcile the REST list (then Unattributed is true).
	ReportedBy string `json:"reported_by,omitempty"`
	// LastAt (snapshot only), as for a connection.
	LastAt int64 `json:"last_at,omitempty"`
}

// Values of ReportedBy, from the least trusted up. A report replaces the
// fields only of one that is not more trusted, whatever the arrival order.
const (
	ReportedByReconcile = "reconcile" // the REST list: no data, no createdAt, no owner
	ReportedByStream    = "stream"    // a streamCreated callback's copy of its connection
)

// Ended is the tombstone of a connection or stream.
type Ended struct {
	ID string `json:"id"`
	// DiedAt is when it ended (ms): the latest timestamp of the events that
	// said so. Tombstones are forgotten some time after it (State.Prune).
	DiedAt int64 `json:"died_at"`
}

// MuteWindow is one mute-all: from its audit's time to its mute_all_off's
// (To 0 while in force), in ms, and the streams it spared. Every stream
// live at some moment inside it was muted by the service.
type MuteWindow struct {
	From   int64    `json:"from"`
	To     int64    `json:"to,omitempty"`
	Except []string `json:"except,omitempty"`
}

// ArchiveState is the latest known status of an archive.
type ArchiveState struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Name       string `json:"name,omitempty"`
	Reason     string `json:"reason,omitempty"`
	OutputMode string `json:"output_mode,omitempty"`
	URL        string `json:"url,omitempty"`
	CreatedAt  int64  `json:"created_at"`
	// UpdatedAt is when Status was reached: the callback's updatedAt, else
	// its createdAt, else its timestamp (Event.Timestamp).
	UpdatedAt int64 `json:"updated_at"`
}

// BroadcastState is the latest known status of a broadcast.
type BroadcastState struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	UpdatedAt int64  `json:"updated_at"`
}

// Counts are a session's figures. None is reported by the service as such:
// all derive from the connection and stream callbacks.
type Counts struct {
	Connections int `json:"connections"`
	// Publishers are connections with at least one live stream; Viewers the
	// rest (subscriber-only). A stream known only from a reconcile has no
	// connection yet, so its publisher counts as a viewer until attributed.
	Publishers int `json:"publishers"`
	Viewers    int `json:"viewers"`
	Streams    int `json:"streams"` // Camera + Screen + Custom + AudioOnly
	Camera     int `json:"camera"`
	Screen     int `json:"screen"`
	// Custom counts videoType custom and any type the service may add.
	Custom    int `json:"custom"`
	AudioOnly int `json:"audio_only"` // no videoType
	// Recording is true while an archive is started or paused; Broadcasting
	// while a broadcast is started.
	Recording    bool `json:"recording"`
	Broadcasting bool `json:"broadcasting"`
}
