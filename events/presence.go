package events

import "time"

// Presence is one console connected to a relay of the fleet, as every
// other console sees it: who, with what role, how they came in, since
// when, and where they are looking.
type Presence struct {
	ID      string    `json:"id"` // unique per connection
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Via     string    `json:"via"` // ViaSSH or ViaWebSocket
	Relay   string    `json:"relay"`
	Since   time.Time `json:"since"`
	View    string    `json:"view,omitempty"`
	Session string    `json:"session,omitempty"`
}

// How a console came in.
const (
	ViaSSH       = "ssh"
	ViaWebSocket = "websocket"
)

// Intent is a destructive action someone has asked about or is running:
// the relay holds its target for them, and every console shows it on the
// target's row until it is answered.
type Intent struct {
	Name    string    `json:"name"`
	Console string    `json:"console"`
	Action  string    `json:"action"`
	Session string    `json:"session,omitempty"`
	Target  string    `json:"target,omitempty"` // the connection, stream or archive; "" for the session
	At      time.Time `json:"at"`
}

// PresenceFrame is the whole picture of who is on and what they are at,
// sent whole on every change (it is small).
type PresenceFrame struct {
	Type     string     `json:"type"` // "presence"
	Consoles []Presence `json:"consoles"`
	Intents  []Intent   `json:"intents"`
}

// Doing says an action under way, as a sentence about its holder reads:
// "ana is disconnecting Bob", "ana is starting a recording of this
// session" — the relay's refusals name the target after it, a console's
// row ends it with "…".
func Doing(action string) string {
	switch action {
	case ActionDisconnect:
		return "disconnecting"
	case ActionUnpublish:
		return "unpublishing"
	case ActionMuteAll:
		return "muting all in"
	case ActionMuteAllOff:
		return "ending mute-all in"
	case ActionArchiveStart:
		return "starting a recording of"
	case ActionArchiveStop:
		return "stopping"
	case ActionBan:
		return "banning"
	}
	return "acting on"
}
