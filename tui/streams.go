package tui

import (
	"fmt"
	"strings"

	"github.com/gavelhq/gavel/events"
)

// liveStreamRow is one live stream of the :streams view.
type liveStreamRow struct {
	id, session, label, name, kind, publisher string
	audio                                     string // audioMuted or ""
	createdAt                                 int64
	search                                    string // built on the first filter that needs it
	lsid                                      string // the session id in lower case, shared
}

func (r *liveStreamRow) rowKey() string { return r.id }

// rowSearch matches names fuzzily and ids as substrings (see fuzzy);
// "muted" finds the muted. Built when first asked, like presenceRow's.
func (r *liveStreamRow) rowSearch() string {
	if r.search == "" {
		r.search = strings.ToLower(r.name+" "+r.publisher+" "+r.kind+" "+r.audio) + "\x00" + strings.ToLower(r.id) + " " + r.lsid
	}
	return r.search
}

// streamsView is every live stream of every session, grouped by session
// (in id order), each session's by start time, as the state gives them.
type streamsView struct {
	stickyRows[*liveStreamRow]
	segs     segCache[liveStreamRow]
	sessions int // sessions with at least one stream
	muted    int // rows a moderator muted
	muteAll  int // sessions under mute-all
}

// audioMuted is the AUDIO cell of a stream a moderator force-muted (one
// by one or with mute-all): visible under NO_COLOR, and found by /. No
// callback reports a stream's audio, so it comes from the relay's audit
// entries (events.State.ApplyAudit); a participant may have unmuted since.
const audioMuted = "muted"

func (v *streamsView) set(all []events.Session, names *nameCache) {
	v.rows = v.rows[:0]
	v.sessions, v.muted, v.muteAll = 0, 0, 0
	v.segs.begin()
	for i := range all {
		s := &all[i]
		if len(s.Streams) == 0 {
			continue
		}
		v.sessions++
		if s.MuteAll {
			v.muteAll++
		}
		// A session has few streams: they are rebuilt, not carried over.
		seg := v.segs.rows(s, func(s *events.Session, _ []liveStreamRow) []liveStreamRow { return v.streamRows(s, names) })
		for j := range seg {
			v.rows = append(v.rows, &seg[j])
		}
	}
	v.segs.end()
	for i := range v.rows {
		if v.rows[i].audio == audioMuted {
			v.muted++
		}
	}
	v.refilter()
}

// streamRows are one session's streams, attributed as the session view
// attributes them.
func (v *streamsView) streamRows(s *events.Session, names *nameCache) []liveStreamRow {
	sid, label := Sanitize(s.ID), sessionLabel(s, names)
	lsid := strings.ToLower(sid)
	byConn := publisherNames(s, names)
	rows := make([]liveStreamRow, len(s.Streams))
	for i := range s.Streams {
		x := &s.Streams[i]
		id := Sanitize(x.ID)
		audio := ""
		if x.Muted {
			audio = audioMuted
		}
		rows[i] = liveStreamRow{id: id, session: sid, label: label, name: Sanitize(x.Name), kind: streamKind(x.VideoType),
			publisher: streamPublisher(x, byConn), audio: audio, createdAt: x.CreatedAt, lsid: lsid}
	}
	return rows
}

// selectedSession: enter opens the stream's session (selectedRow then puts
// the cursor on the stream).
func (v *streamsView) selectedSession() (string, bool) {
	if r, ok := v.current(); ok {
		return r.session, true
	}
	return "", false
}

func (v *streamsView) selectedRow() (sessionPane, string, bool) {
	if r, ok := v.current(); ok {
		return paneStreams, r.id, true
	}
	return paneStreams, "", false
}

var streamsCols = []column{
	{title: "TYPE", width: 6},
	{title: "NAME", width: 10, flex: true, maxw: 40},
	{title: "PUBLISHER", width: 12, flex: true, maxw: 48},
	{title: "SESSION", width: 10, flex: true, maxw: 34},
	{title: "HOST", width: 8, flex: true, maxw: 32},
	{title: "AUDIO", width: 8},
	{title: "AGE", width: 6, right: true},
}

// streamsIDCol is shown when the width allows: the stream's id, which
// an unnamed stream is known by.
var streamsIDCol = column{title: "STREAM", width: 12, flex: true, maxw: 40}

const streamsAudioCol = 5

func (v *streamsView) title() string {
	t := v.titled("streams")
	t += fmt.Sprintf(" in %d sessions", v.sessions)
	if v.muted > 0 {
		t += fmt.Sprintf(" · %d muted", v.muted)
	}
	if v.muteAll > 0 {
		t += fmt.Sprintf(" · %s under mute-all", plural(v.muteAll, "session"))
	}
	return t
}

func (v *streamsView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := streamsCols
	if width >= 100 {
		cols = append(cols[:len(cols):len(cols)], streamsIDCol)
	}
	cols = fit(cols, width)
	audioAt, ageAt := cellStart(cols, streamsAudioCol), cellStart(cols, streamsAudioCol+1)
	rc.table(b, cols, width, height, &v.list, len(v.shown), "  no live streams", v.filter, func(i int, selected bool) {
		r := v.rows[v.shown[i]]
		cells := []string{
			r.kind, orDash(r.name), orDash(r.publisher), shortID(r.session, cols[3].width), orDash(r.label),
			r.audio, age(rc.now, r.createdAt), "",
		}
		if len(cols) > len(streamsCols) {
			cells[len(cells)-1] = shortID(r.id, cols[len(cols)-1].width)
		}
		row := renderRow(cols, cells, width)
		if r.audio != "" && !selected { // the AUDIO cell in the warning style
			rc.flaggedRow(b, row, audioAt, ageAt, rc.styles.Warning)
		} else {
			b.WriteString(rc.rowStyle(selected, row))
		}
	})
}
