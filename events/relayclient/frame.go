package relayclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gavelhq/gavel/events"
)

// Frame is one frame from the relay, decoded by its type: exactly one of
// the pointers is set, except for a type this version does not know,
// which comes with Type and Raw only (the protocol may add frames).
type Frame struct {
	Type     string
	Raw      json.RawMessage // the frame as received
	Hello    *events.Hello
	Snapshot *events.SnapshotFrame
	Event    *events.EventFrame
	Audit    *events.AuditFrame
	Result   *events.Result
	// Decoded, when set, is Event's body decoded already (by a reader
	// that needed it first); the Mirror then does not decode it again.
	Decoded *events.Event
}

// Seq is the frame's sequence number: an event's or audit entry's, or the
// one a snapshot is as of; 0 for the others.
func (f Frame) Seq() uint64 {
	switch {
	case f.Event != nil:
		return f.Event.Seq
	case f.Audit != nil:
		return f.Audit.Seq
	case f.Snapshot != nil:
		return f.Snapshot.Seq
	}
	return 0
}

// DecodedEvent is an event frame's callback decoded: Decoded when a
// reader decoded it already, else decoded now. False for other frames
// and for a body that does not decode (the relay keeps those too).
func (f Frame) DecodedEvent() (*events.Event, bool) {
	if f.Event == nil {
		return nil, false
	}
	if f.Decoded != nil {
		return f.Decoded, true
	}
	ev, err := events.DecodeReceived(f.Event.Group, f.Event.Event, f.Event.ReceivedAt)
	if err != nil {
		return nil, false
	}
	return &ev, true
}

// ParseFrame decodes one frame.
func ParseFrame(data []byte) (Frame, error) {
	var head struct {
		Type string `json:"type"`
	}
	// The relay writes "type" first (its frames are structs), so the type
	// is read off the prefix and the frame is decoded once; anything else
	// takes the general path.
	if t, ok := typePrefix(data); ok {
		head.Type = t
	} else if err := json.Unmarshal(data, &head); err != nil {
		return Frame{}, fmt.Errorf("relayclient: frame is not JSON: %w", err)
	}
	f := Frame{Type: head.Type, Raw: json.RawMessage(data)}
	var err error
	switch head.Type {
	case events.FrameHello:
		f.Hello = new(events.Hello)
		err = json.Unmarshal(data, f.Hello)
	case events.FrameSnapshot:
		f.Snapshot = new(events.SnapshotFrame)
		err = json.Unmarshal(data, f.Snapshot)
	case events.FrameEvent:
		f.Event = new(events.EventFrame)
		err = json.Unmarshal(data, f.Event)
	case events.FrameAudit:
		f.Audit = new(events.AuditFrame)
		err = json.Unmarshal(data, f.Audit)
	case events.FrameResult:
		f.Result = new(events.Result)
		err = json.Unmarshal(data, f.Result)
	case "":
		return Frame{}, errors.New("relayclient: frame without a type")
	}
	if err != nil {
		return Frame{}, fmt.Errorf("relayclient: %s frame: %w", head.Type, err)
	}
	return f, nil
}

// typePrefix reads the frame type from a frame that starts {"type":"…",
// with a plain (unescaped) type name.
func typePrefix(data []byte) (string, bool) {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return "", false
	}
	rest := data[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}
