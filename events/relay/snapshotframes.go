package relay

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gavelhq/gavel/events"
)

// snapshotPartBytes is the size a snapshot part stops growing at (one
// session larger than it still goes, alone): consoles read frames whole.
const snapshotPartBytes = 1 << 20

// snapshotEndedPerEntry bounds the tombstones one snapshot entry carries
// (events.SplitEnded): about 0.6 MiB of them, so a session that saw
// hundreds of thousands of people come and go still reaches a console in
// frames near snapshotPartBytes, far below the frame size consoles read.
const snapshotEndedPerEntry = 10000

// snapshotFrames splits the state as of seq into frames of at most
// SnapshotPartSessions entries and about snapshotPartBytes; an empty
// state is one empty part. What is not a session's (bans, rules, alerts)
// goes with the last part.
func snapshotFrames(seq uint64, sessions []events.Session, tail snapshotTail) []outFrame {
	var parts [][]json.RawMessage
	var cur []json.RawMessage
	size := 0
	add := func(sess events.Session) {
		data, err := json.Marshal(sess)
		if err != nil {
			// A Session is plain data; this cannot fail.
			panic(fmt.Sprintf("relay hub: encode snapshot: %v", err))
		}
		if len(cur) > 0 && (len(cur) == SnapshotPartSessions || size+len(data) > snapshotPartBytes) {
			parts = append(parts, cur)
			cur, size = nil, 0
		}
		cur = append(cur, data)
		size += len(data)
	}
	for _, whole := range sessions {
		for _, sess := range events.SplitEnded(whole, snapshotEndedPerEntry) {
			add(sess)
		}
	}
	if len(cur) > 0 || len(parts) == 0 {
		parts = append(parts, cur)
	}
	out := make([]outFrame, 0, len(parts))
	for i, part := range parts {
		if part == nil {
			part = []json.RawMessage{}
		}
		var last snapshotTail
		if i == len(parts)-1 {
			last = tail
		}
		// events.SnapshotFrame with its sessions already encoded.
		data, err := json.Marshal(struct {
			Type     string            `json:"type"`
			Seq      uint64            `json:"seq"`
			Part     int               `json:"part"`
			Parts    int               `json:"parts"`
			Sessions []json.RawMessage `json:"sessions"`
			snapshotTail
		}{events.FrameSnapshot, seq, i + 1, len(parts), part, last})
		if err != nil {
			panic(fmt.Sprintf("relay hub: encode snapshot: %v", err))
		}
		f := outFrame{data: data}
		if i == len(parts)-1 {
			f.seq = seq
		}
		out = append(out, f)
	}
	return out
}

// snapshotTail is what a snapshot's last part carries besides sessions:
// the fields of events.SnapshotFrame after Sessions.
type snapshotTail struct {
	Bans   []events.Ban         `json:"bans,omitempty"`
	Rules  *events.RulesInForce `json:"rules,omitempty"`
	Alerts []events.Alert       `json:"alerts,omitempty"`
}

// tailOf takes the snapshot tail of st as of now; the hub's lock is held.
func tailOf(st *events.State, now time.Time) snapshotTail {
	t := snapshotTail{Bans: st.Bans(now), Alerts: st.Alerts()}
	if r, ok := st.Rules(); ok {
		t.Rules = &r
	}
	return t
}
