package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

func frame(t testing.TB, v any) relayclient.Frame {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	f, err := relayclient.ParseFrame(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func connEvent(t testing.TB, seq uint64, kind events.Kind, sid, cid, name, reason string) relayclient.Frame {
	body := map[string]any{"sessionId": sid, "projectId": "47123456", "event": kind, "timestamp": epoch.UnixMilli() + int64(seq),
		"connection": map[string]any{"id": cid, "createdAt": epoch.UnixMilli(), "data": person(name, "viewer")}}
	if reason != "" {
		body["reason"] = reason
	}
	raw, _ := json.Marshal(body)
	return frame(t, events.EventFrame{Type: events.FrameEvent, Seq: seq, ReceivedAt: epoch, Source: events.SourceCallback,
		Group: events.GroupSession, Event: raw})
}

func TestFeedBatches(t *testing.T) {
	f := newFeed(Options{})
	if _, ok := f.batch(); !ok {
		t.Fatal("the first batch (link connecting) was not sent")
	}
	if _, ok := f.batch(); ok {
		t.Fatal("a batch with nothing new")
	}
	snap := events.NewState()
	snap.Apply(events.Event{Kind: events.ConnectionCreated, SessionID: "s0", Timestamp: 1, Connection: &events.Connection{ID: "c0", CreatedAt: 1, Data: person("Host", "host")}})
	f.apply(frame(t, events.Hello{Type: events.FrameHello, Epoch: "e1", LastSeq: 1}))
	f.apply(frame(t, events.SnapshotFrame{Type: events.FrameSnapshot, Seq: 1, Part: 1, Parts: 1, Sessions: snap.Sessions()}))
	f.apply(connEvent(t, 2, events.ConnectionCreated, "s1", "c1", "Ann", ""))
	f.status(relayclient.Status{State: relayclient.Live, Since: epoch})
	msg, ok := f.batch()
	if !ok || len(msg.Sessions) != 2 || msg.Seq != 2 || msg.Link.State != relayclient.Live {
		t.Fatalf("batch: ok %v, %d sessions, seq %d, link %v", ok, len(msg.Sessions), msg.Seq, msg.Link.State)
	}
	if len(msg.Events) != 1 || msg.Events[0].Text != "joined" || msg.Events[0].Name != "Ann" || msg.Events[0].Session != "s1" {
		t.Fatalf("events %+v", msg.Events)
	}
	s0 := &msg.Sessions[0].Connections[0]

	f.apply(connEvent(t, 3, events.ConnectionDestroyed, "s1", "c1", "Ann", events.ReasonNetworkDisconnected))
	msg, ok = f.batch()
	if !ok || len(msg.Sessions) != 2 || msg.Sessions[1].Live || msg.Events[0].Text != "lost network" {
		t.Fatalf("after the leave: %+v", msg)
	}
	if &msg.Sessions[0].Connections[0] != s0 {
		t.Error("an unchanged session was rebuilt")
	}
	// A duplicate changes nothing the UI shows, but its line is news.
	f.apply(connEvent(t, 4, events.ConnectionDestroyed, "s1", "c1", "Ann", events.ReasonNetworkDisconnected))
	if msg, ok = f.batch(); !ok || len(msg.Events) != 1 {
		t.Fatalf("duplicate: %v %d", ok, len(msg.Events))
	}
}

// Between two batches the feed keeps a bounded number of lines.
func TestFeedBoundsLines(t *testing.T) {
	f := newFeed(Options{})
	f.maxLines = 4
	for i := range 10 {
		f.apply(connEvent(t, uint64(i+1), events.ConnectionCreated, "s1", fmt.Sprintf("c%d", i), "x", ""))
	}
	msg, _ := f.batch()
	if len(msg.Events) > 4 || uint64(len(msg.Events))+msg.EventsDropped != 10 {
		t.Fatalf("%d lines, %d dropped", len(msg.Events), msg.EventsDropped)
	}
	if last := msg.Events[len(msg.Events)-1]; last.Seq != 10 {
		t.Fatalf("newest line seq %d", last.Seq)
	}
}

// However fast frames come, the UI gets a batch per interval at most, and
// every line.
func TestFeedCoalesces(t *testing.T) {
	f := newFeed(Options{})
	var mu sync.Mutex
	var sends, lines int
	done := make(chan struct{})
	ctx, cancel := contextWithCancel()
	defer cancel()
	go func() {
		defer close(done)
		f.pump(ctx, 20*time.Millisecond, func(m tea.Msg) {
			mu.Lock()
			sends++
			lines += len(m.(StateMsg).Events)
			mu.Unlock()
		})
	}()
	start := time.Now()
	const n = 3000
	for i := range n {
		f.apply(connEvent(t, uint64(i+1), events.ConnectionCreated, "s1", fmt.Sprintf("c%d", i), "x", ""))
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		got := lines
		mu.Unlock()
		if got == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	if lines != n {
		t.Fatalf("UI got %d of %d lines", lines, n)
	}
	if limit := int(elapsed/(20*time.Millisecond)) + 2; sends > limit {
		t.Fatalf("%d sends in %v (limit %d)", sends, elapsed, limit)
	}
	t.Logf("%d frames → %d batches in %v", n, sends, elapsed)
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// A console left running for days forgets what the relay forgets: ended
// sessions and tombstones past the prune horizon.
func TestFeedPrunesLikeTheRelay(t *testing.T) {
	f := newFeed(Options{})
	now := epoch
	f.now = func() time.Time { return now }
	f.pruned = now
	_ = f.apply(connEvent(t, 1, events.ConnectionCreated, "2_ended", "c1", "Gus", ""))
	_ = f.apply(connEvent(t, 2, events.ConnectionDestroyed, "2_ended", "c1", "Gus", events.ReasonClientDisconnected))
	_ = f.apply(connEvent(t, 3, events.ConnectionCreated, "2_live", "c2", "Ana", ""))
	if msg, _ := f.batch(); len(msg.Sessions) != 2 {
		t.Fatalf("%d sessions before the horizon", len(msg.Sessions))
	}
	now = now.Add(pruneAfter + pruneEvery)
	msg, ok := f.batch()
	if !ok || len(msg.Sessions) != 1 || msg.Sessions[0].ID != "2_live" {
		t.Fatalf("after the horizon: %v %+v", ok, msg.Sessions)
	}
	if n := f.mirror.State.Len(); n != 1 {
		t.Fatalf("the mirror still holds %d sessions", n)
	}
}

// A snapshot the relay sends damaged (a connection both live and ended)
// is refused: the picture stays, and the link says why instead of LIVE.
func TestFeedRefusesADamagedSnapshot(t *testing.T) {
	f := newFeed(Options{})
	f.apply(frame(t, events.Hello{Type: events.FrameHello, Epoch: "e1", LastSeq: 1}))
	f.apply(connEvent(t, 1, events.ConnectionCreated, "s1", "c1", "Ann", ""))
	f.status(relayclient.Status{State: relayclient.Live, Since: epoch})
	f.batch()
	bad := []events.Session{{ID: "s1", Connections: []events.ConnectionState{{ID: "c9"}}, EndedConnections: []events.Ended{{ID: "c9", DiedAt: 1}}}}
	f.apply(frame(t, events.SnapshotFrame{Type: events.FrameSnapshot, Seq: 2, Part: 1, Parts: 1, Sessions: bad}))
	msg, ok := f.batch()
	if !ok || msg.Link.State != relayclient.Stale || msg.Link.Err == nil || !strings.Contains(msg.Link.Err.Error(), "c9") {
		t.Fatalf("after a damaged snapshot: ok %v, link %+v", ok, msg.Link)
	}
	if len(msg.Sessions) != 1 || len(msg.Sessions[0].Connections) != 1 || msg.Sessions[0].Connections[0].ID != "c1" {
		t.Fatalf("the picture before the damaged snapshot was not kept: %+v", msg.Sessions)
	}
}

// TestFeedLeavesOutLateRetries: a frame the relay marks "duplicate" (the
// Video API sent the callback again after the log's window) is no news:
// the event tail does not list it twice, and the state is not touched.
func TestFeedLeavesOutLateRetries(t *testing.T) {
	f := newFeed(Options{})
	f.apply(frame(t, events.Hello{Type: events.FrameHello, Epoch: "e1"}))
	f.apply(frame(t, events.SnapshotFrame{Type: events.FrameSnapshot, Part: 1, Parts: 1}))
	f.apply(connEvent(t, 1, events.ConnectionCreated, "s1", "c1", "Ann", ""))
	if msg, ok := f.batch(); !ok || len(msg.Events) != 1 {
		t.Fatalf("the join: %v, %d lines", ok, len(msg.Events))
	}
	retry := connEvent(t, 2, events.ConnectionCreated, "s1", "c1", "Ann", "")
	retry.Event.Duplicate = true
	f.apply(retry)
	if msg, ok := f.batch(); ok && len(msg.Events) != 0 {
		t.Fatalf("the late retry is listed again: %+v", msg.Events)
	}
	if f.mirror.Seq != 2 {
		t.Errorf("the mirror's position is %d after the retry at seq 2", f.mirror.Seq)
	}
}

// TestFeedSaysWhichRuleKickedSomeone: a connection a rule claimed (the
// audit entry a rule appends before it acts) and then force-disconnected
// shows in the tail as banned or room full, not just kicked; one that
// leaves on its own, or a moderator's kick, keeps its words.
func TestFeedSaysWhichRuleKickedSomeone(t *testing.T) {
	f := newFeed(Options{})
	f.apply(frame(t, events.Hello{Type: events.FrameHello, Epoch: "e1"}))
	f.apply(frame(t, events.SnapshotFrame{Type: events.FrameSnapshot, Part: 1, Parts: 1}))
	seq := uint64(0)
	audit := func(a events.Audit) {
		seq++
		a.At, a.OK = epoch, true
		f.apply(frame(t, events.AuditFrame{Type: events.FrameAudit, Seq: seq, Audit: a}))
	}
	event := func(kind events.Kind, cid, name, reason string) {
		seq++
		f.apply(connEvent(t, seq, kind, "s1", cid, name, reason))
	}
	for _, c := range []string{"ban1", "cap1", "mod1", "own1"} {
		event(events.ConnectionCreated, c, c, "")
	}
	audit(events.Audit{Actor: "ana", Action: events.ActionBan, Session: "s1", Target: "ban1",
		Ban: &events.Ban{ID: "b1", Identity: "ban1", At: epoch, Expires: epoch.Add(time.Hour)}})
	audit(events.Audit{Actor: "rule:ban", Action: "ban", Session: "s1", Target: "ban1"})
	audit(events.Audit{Actor: "rule:cap", Action: "cap", Session: "s1", Target: "cap1"})
	audit(events.Audit{Actor: "rule:cap", Action: events.ActionSignal, Session: "s1", Target: "own1"})
	audit(events.Audit{Actor: "ana", Action: events.ActionDisconnect, Session: "s1", Target: "mod1"})
	event(events.ConnectionDestroyed, "ban1", "ban1", events.ReasonForceDisconnected)
	event(events.ConnectionDestroyed, "cap1", "cap1", events.ReasonForceDisconnected)
	event(events.ConnectionDestroyed, "mod1", "mod1", events.ReasonForceDisconnected)
	event(events.ConnectionDestroyed, "own1", "own1", events.ReasonClientDisconnected)
	// The banned one is back under a new connection and leaves by itself.
	event(events.ConnectionCreated, "ban2", "ban1", "")
	event(events.ConnectionDestroyed, "ban2", "ban1", events.ReasonClientDisconnected)
	msg, ok := f.batch()
	if !ok {
		t.Fatal("no batch")
	}
	got := map[string]string{}
	for _, l := range msg.Events {
		if l.Kind == events.ConnectionDestroyed {
			got[l.Subject] = l.Text
		}
	}
	want := map[string]string{"ban1": "banned — kicked", "cap1": "room full — kicked", "mod1": "kicked", "own1": "left", "ban2": "left"}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s's leaving reads %q, want %q", id, got[id], w)
		}
	}
	if len(f.removing) != 0 {
		t.Errorf("claims still held after their connections left: %v", f.removing)
	}
}
