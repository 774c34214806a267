package tui

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// incident is a town hall's bad minute as the relay's log holds it, with
// another session's records in between: people join, one loses the
// network, a moderator disconnects a heckler, the room cap removes a
// late joiner, a mute fails, the recording starts and stops, an alert.
type incident struct {
	t      *testing.T
	seq    uint64
	frames []relayclient.Frame
}

// at is the moment of the seq-th record: a few seconds apart.
func (in *incident) at() time.Time { return epoch.Add(time.Duration(in.seq) * 7 * time.Second) }

func (in *incident) conn(kind events.Kind, sid, cid, name, role, reason string) {
	in.seq++
	body := map[string]any{"sessionId": sid, "projectId": "47123456", "event": kind, "timestamp": in.at().UnixMilli(),
		"connection": map[string]any{"id": cid, "createdAt": epoch.UnixMilli(), "data": person(name, role)}}
	if reason != "" {
		body["reason"] = reason
	}
	in.event(body, events.GroupSession)
}

func (in *incident) event(body map[string]any, g events.Group) {
	raw, _ := json.Marshal(body)
	in.frames = append(in.frames, frame(in.t, events.EventFrame{Type: events.FrameEvent, Seq: in.seq, ReceivedAt: in.at(),
		Source: events.SourceCallback, Group: g, Event: raw}))
}

func (in *incident) audit(a events.Audit) {
	in.seq++
	a.At = in.at()
	in.frames = append(in.frames, frame(in.t, events.AuditFrame{Type: events.FrameAudit, Seq: in.seq, Audit: a}))
}

func (in *incident) archive(sid, status string) {
	in.seq++
	in.event(map[string]any{"id": "arch-1", "sessionId": sid, "projectId": "47123456", "event": "archive", "status": status,
		"name": "town hall", "createdAt": epoch.UnixMilli(), "updatedAt": in.at().UnixMilli()}, events.GroupArchive)
}

func newIncident(t *testing.T) *incident {
	in := &incident{t: t}
	in.frames = append(in.frames, frame(t, events.Hello{Type: events.FrameHello, Epoch: "e1", FirstSeq: 1, LastSeq: 18}))
	in.conn(events.ConnectionCreated, "th", "c-ana", "Ana", "host", "")
	in.conn(events.ConnectionCreated, "th", "c-ben", "Ben", "viewer", "")
	in.conn(events.ConnectionCreated, "other", "c-zed", "Zed", "viewer", "")
	in.conn(events.ConnectionCreated, "th", "c-cy", "Cy | heckler", "viewer", "")
	in.archive("th", "started")
	in.conn(events.ConnectionDestroyed, "th", "c-ben", "Ben", "viewer", events.ReasonNetworkDisconnected)
	in.audit(events.Audit{Actor: "ana", Role: events.RoleModerator, Action: events.ActionDisconnect, Session: "th", Target: "c-cy", OK: true})
	in.conn(events.ConnectionDestroyed, "th", "c-cy", "Cy | heckler", "viewer", events.ReasonForceDisconnected)
	in.conn(events.ConnectionCreated, "th", "c-dee", "Dee", "viewer", "")
	in.audit(events.Audit{Actor: "rule:cap", Action: "cap", Session: "th", Target: "c-dee", OK: true})
	in.conn(events.ConnectionDestroyed, "th", "c-dee", "Dee", "viewer", events.ReasonForceDisconnected)
	in.audit(events.Audit{Actor: "rule:alert", Action: events.ActionAlert, OK: true,
		Alert: &events.Alert{ID: "a1", Kind: "network", Session: "th", Text: "3 lost the network in a minute", At: in.at()}})
	in.audit(events.Audit{Actor: "ben", Role: events.RoleModerator, Action: events.ActionMute, Session: "th", Target: "st-ana",
		Error: "404: no such stream"})
	in.conn(events.ConnectionCreated, "th", "c-ben2", "Ben", "viewer", "")
	in.conn(events.ConnectionDestroyed, "other", "c-zed", "Zed", "viewer", "")
	in.archive("th", "stopped")
	in.conn(events.ConnectionDestroyed, "th", "c-ben2", "Ben", "viewer", "")
	in.conn(events.ConnectionDestroyed, "th", "c-ana", "Ana", "host", "")
	return in
}

func (in *incident) timeline(session string, from, to time.Time) Timeline {
	b := NewTimelineBuilder(session, from, to)
	for _, f := range in.frames {
		b.Add(f)
	}
	return b.Timeline()
}

// Each format, reviewed by eye: the order, the reasons a connection
// ended, the moderator's action and its outcome, the counts.
func TestTimelineFormats(t *testing.T) {
	tl := newIncident(t).timeline("th", time.Time{}, time.Time{})
	for _, format := range TimelineFormats {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tl.Write(&buf, format, time.UTC); err != nil {
				t.Fatal(err)
			}
			requireGolden(t, buf.String())
		})
	}
}

func TestTimelineTellsTheIncident(t *testing.T) {
	tl := newIncident(t).timeline("th", time.Time{}, time.Time{})
	var got []string
	for _, e := range tl.Entries {
		got = append(got, e.Who+": "+e.What)
	}
	want := []string{
		"Ana: joined", "Ben: joined", "Cy | heckler: joined", "town hall: recording started", "Ben: lost network",
		"ana (moderator): disconnected Cy | heckler", "Cy | heckler: kicked", "Dee: joined", "Dee: room full — kicked",
		"rule:alert: 3 lost the network in a minute", "ben (moderator): muted st-ana", "Ben: joined", "town hall: recording stopped",
		"Ben: left", "Ana: left",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tl.Peak != 3 || !tl.PeakAt.Equal(epoch.Add(4*7*time.Second)) {
		t.Errorf("peak %d at %v, want 3 at the heckler's join", tl.Peak, tl.PeakAt)
	}
	if e := tl.Entries[10]; e.Outcome != "failed: 404: no such stream" || e.Kind != TimelineModeration {
		t.Errorf("the failed mute: %+v", e)
	}

	// A window: counts are those of the whole story, not of the window.
	win := newIncident(t).timeline("th", epoch.Add(8*7*time.Second), epoch.Add(11*7*time.Second))
	var in []string
	for _, e := range win.Entries {
		in = append(in, e.What)
		if e.What == "kicked" && e.Connections != 1 {
			t.Errorf("after the heckler left, %d connections, want 1 (Ana)", e.Connections)
		}
	}
	if strings.Join(in, ",") != "kicked,joined,room full — kicked" {
		t.Errorf("window 8–11: %q", in)
	}
}

func TestTimelineCSVOpensWithAHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := newIncident(t).timeline("th", time.Time{}, time.Time{}).Write(&buf, "csv", time.FixedZone("", 3600)); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "seq,time,session,kind,who,what,subject,outcome,connections" || len(rows) != 16 {
		t.Fatalf("header %q, %d rows", rows[0], len(rows))
	}
	if rows[1][1] != "2026-11-22T13:00:07.000+01:00" {
		t.Errorf("time in the zone asked for, with its offset: %q", rows[1][1])
	}
	if err := (Timeline{}).Write(&buf, "yaml", time.UTC); err == nil || !strings.Contains(err.Error(), "expected one of table, ndjson, csv, md") {
		t.Errorf("unknown format: %v", err)
	}
}

// Reading from the start of the log, the builder judges late creates
// itself: the relay marks "superseded" every create whose connection has
// ended by the time it is read, which on such a read is most of them.
func TestTimelineJudgesLateCreatesItself(t *testing.T) {
	in := &incident{t: t}
	in.conn(events.ConnectionCreated, "th", "c-ana", "Ana", "host", "")
	in.frames[0].Event.Superseded = true // the relay knows Ana has left since
	in.conn(events.ConnectionDestroyed, "th", "c-ana", "Ana", "host", "")
	in.conn(events.ConnectionDestroyed, "th", "c-bo", "Bo", "viewer", "")
	in.conn(events.ConnectionCreated, "th", "c-bo", "Bo", "viewer", "") // the service's late retry
	tl := in.timeline("th", time.Time{}, time.Time{})
	var got []string
	for _, e := range tl.Entries {
		got = append(got, e.Who+" "+e.What+" "+strconv.Itoa(e.Connections))
	}
	if strings.Join(got, ", ") != "Ana joined 1, Ana left 0, Bo left 0" || tl.Peak != 1 {
		t.Errorf("got %q, peak %d", got, tl.Peak)
	}
}
