package relay

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
)

// appendCallback appends rec as the receiver does (message id = the
// callback's hash), received at at, and returns its seq. Within the log's
// duplicate window it would be refused as a duplicate: it retries until
// the window has passed, which is what a retry later than the window
// meets.
func appendCallback(t *testing.T, l *Log, rec events.Record, at time.Time) uint64 {
	t.Helper()
	rec.ReceivedAt = at
	var seq uint64
	eventually(t, "the log's duplicate window to pass", func() bool {
		s, dup, err := l.Append(t.Context(), rec, callbackMsgID(rec.Group, rec.Event))
		if err != nil {
			t.Fatal(err)
		}
		seq = s
		return !dup
	})
	return seq
}

// subEventFrames reads a subscription's catch-up, then its queue, until
// it has the event frame at seq upTo, and returns its event frames by seq.
func subEventFrames(t *testing.T, sub *Subscription, upTo uint64) map[uint64]events.EventFrame {
	t.Helper()
	got := map[uint64]events.EventFrame{}
	handle := func(f outFrame) {
		var ef events.EventFrame
		if err := json.Unmarshal(f.data, &ef); err != nil {
			t.Fatal(err)
		}
		if ef.Type == events.FrameEvent {
			got[ef.Seq] = ef
		}
	}
	if err := sub.catchUp(t.Context(), func(f outFrame) error { handle(f); return nil }); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(20 * time.Second)
	for _, ok := got[upTo]; !ok; _, ok = got[upTo] {
		select {
		case f := <-sub.queue:
			handle(f)
		case <-timeout:
			t.Fatalf("timed out waiting for seq %d; have %d frames", upTo, len(got))
		}
	}
	return got
}

// TestHubMarksRetriesLaterThanTheLogsWindowAsDuplicates: the Video API
// retries a callback for up to a day; the log de-duplicates for its window
// only. A retry after the window has a seq of its own, and every console
// — live, or catching up from the log — gets it marked "duplicate", so
// its tail does not list the event twice; the hub's restart keeps the
// index (from the state file, not a day's replay); a copy after the retry
// horizon is no retry and is not marked.
func TestHubMarksRetriesLaterThanTheLogsWindowAsDuplicates(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "state.json")
	l := hubLog(t, filepath.Join(dir, "log"), LogConfig{DuplicateWindow: 200 * time.Millisecond})
	h := NewHub(HubConfig{Log: l, SnapshotPath: snap})
	stop := runHub(t, h)
	eventually(t, "ready", h.Ready)
	live, _, err := h.Attach(t.Context(), Claims{Name: "live"}, events.ViaWebSocket, 0, true, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(live.Detach)

	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	created := hubEvent(events.ConnectionCreated, "2_town", "c1", t0.UnixMilli())
	destroyed := hubEvent(events.ConnectionDestroyed, "2_town", "c1", t0.Add(time.Minute).UnixMilli())
	seqCreated := appendCallback(t, l, created, t0)
	seqRetry := appendCallback(t, l, created, t0.Add(3*time.Hour))
	seqDestroyed := appendCallback(t, l, destroyed, t0.Add(3*time.Hour+time.Second))
	seqRetryAfterDeath := appendCallback(t, l, created, t0.Add(20*time.Hour))

	want := map[uint64]bool{seqCreated: false, seqRetry: true, seqDestroyed: false, seqRetryAfterDeath: true}
	check := func(who string, frames map[uint64]events.EventFrame) {
		t.Helper()
		for seq, dup := range want {
			if f, ok := frames[seq]; !ok || f.Duplicate != dup {
				t.Errorf("%s: seq %d duplicate = %v (present %v), want %v", who, seq, f.Duplicate, ok, dup)
			}
		}
	}
	liveFrames := subEventFrames(t, live, seqRetryAfterDeath)
	check("live console", liveFrames)
	resuming, _, err := h.Attach(t.Context(), Claims{Name: "resuming"}, events.ViaWebSocket, 0, true, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(resuming.Detach)
	check("console catching up from the log", subEventFrames(t, resuming, seqRetryAfterDeath))

	// A copy after the retry horizon is no retry: the first thing said
	// about a connection long dead, so superseded, not hidden.
	seqNoRetry := appendCallback(t, l, created, t0.Add(events.RetryHorizon+time.Hour))
	if f := subEventFrames(t, live, seqNoRetry)[seqNoRetry]; f.Duplicate || !f.Superseded {
		t.Errorf("the copy after the retry horizon: duplicate %v superseded %v, want false true", f.Duplicate, f.Superseded)
	}

	var c events.Counts
	h.State(func(s *events.State) { c = s.Counts("2_town") })
	if c.Connections != 0 {
		t.Errorf("2_town has %d live connections after its only one was destroyed", c.Connections)
	}

	// A restart loads the index with the state: the file holds every
	// record, so nothing is replayed, and a retry still is one.
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	f, err := readSnapshotFile(snap)
	if err != nil || f.Seq != seqNoRetry {
		t.Fatalf("state file: seq %d, %v; want seq %d", f.Seq, err, seqNoRetry)
	}
	h2 := NewHub(HubConfig{Log: l, SnapshotPath: snap})
	runHub(t, h2)
	eventually(t, "restarted hub ready", h2.Ready)
	after, _, err := h2.Attach(t.Context(), Claims{Name: "after restart"}, events.ViaWebSocket, seqNoRetry, true, l.Epoch())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(after.Detach)
	seqLate := appendCallback(t, l, destroyed, t0.Add(23*time.Hour))
	if f := subEventFrames(t, after, seqLate)[seqLate]; !f.Duplicate {
		t.Errorf("after a restart from the state file, a retry at seq %d is not marked duplicate", seqLate)
	}
}

// TestLateRetriesForgetByReceiveTimeInLogOrder: entries age by the
// records' receive times, so two relays following the same log mark the
// same records, whatever their own clocks say.
func TestLateRetriesForgetByReceiveTimeInLogOrder(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	rec := func(conn string, at time.Time) events.Record {
		r := hubEvent(events.ConnectionCreated, "2_s", conn, t0.UnixMilli())
		r.ReceivedAt = at
		return r
	}
	r := newLateRetries()
	if r.observe(1, rec("a", t0)) || r.observe(2, rec("b", t0.Add(time.Hour))) {
		t.Fatal("first sightings marked duplicate")
	}
	if !r.observe(3, rec("a", t0.Add(retryHorizon-time.Second))) {
		t.Error("a retry inside the horizon is not a duplicate")
	}
	if r.observe(4, rec("a", t0.Add(retryHorizon+time.Second))) {
		t.Error("a copy after the horizon is a duplicate")
	}
	if !r.repeats(5, rec("b", t0)) || r.repeats(2, rec("b", t0)) {
		t.Error("repeats: b is first seen at seq 2")
	}
	data, _ := r.MarshalBinary()
	back := newLateRetries()
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if back.Len() != r.Len() || !back.repeats(9, rec("b", t0)) {
		t.Errorf("round trip: %d entries, want %d", back.Len(), r.Len())
	}
	if err := back.UnmarshalBinary(data[:len(data)-1]); err == nil {
		t.Error("a truncated index loads")
	}
}

// TestHubPrunesByReceiveTime: a callback stamped in the year 9999 (a bug,
// a forgery, a clock far ahead) is read no later than 10 minutes after it
// was received, so its ended session is pruned with the rest rather than
// kept for ever.
func TestHubPrunesByReceiveTime(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := hubLog(t, filepath.Join(dir, "log"), LogConfig{})
	h := NewHub(HubConfig{Log: l, SnapshotPath: filepath.Join(dir, "state.json"), Now: clock})
	stop := runHub(t, h)
	year9999 := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMilli()
	var last uint64
	for _, rec := range []events.Record{
		hubEvent(events.ConnectionCreated, "2_future", "f1", year9999),
		hubEvent(events.ConnectionDestroyed, "2_future", "f1", year9999+1),
		hubEvent(events.ConnectionCreated, "2_now", "n1", t0.UnixMilli()),
		hubEvent(events.ConnectionDestroyed, "2_now", "n1", t0.UnixMilli()+1),
	} {
		rec.ReceivedAt = t0
		var err error
		if last, _, err = l.Append(t.Context(), rec, ""); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "applied", func() bool { return h.Applied() == last })
	if n := len(hubState(h)); n != 2 {
		t.Fatalf("%d sessions before pruning, want 2", n)
	}
	mu.Lock()
	now = t0.Add(DefaultPruneAfter + time.Hour)
	mu.Unlock()
	_ = stop() // saves the state, pruning it
	for _, s := range hubState(h) {
		t.Errorf("session %s (last event at %d) outlived pruning %s after it was received", s.ID, s.LastEventAt, DefaultPruneAfter+time.Hour)
	}
}

// BenchmarkLateRetriesObserve is the hub's cost per callback for the
// late-retry index: hashing it, looking it up, remembering it, forgetting
// what the horizon left behind. Callbacks arrive 10 a second, so past
// 864,000 the index holds a day; B/entry is the heap it holds per
// callback remembered.
func BenchmarkLateRetriesObserve(b *testing.B) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	prefix := []byte(`{"sessionId":"2_MX40NzEyMzQ1Nn5-MTcwMDAwMDAwMDAwMH5-fg","projectId":"47123456","event":"connectionCreated","timestamp":1764925200000,"connection":{"id":"`)
	body := make([]byte, 0, 512)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := newLateRetries()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		body = strconv.AppendInt(append(body[:0], prefix...), int64(i), 10)
		body = append(body, `","createdAt":1764925200000,"data":"{\"name\":\"viewer\",\"role\":\"viewer\"}"}}`...)
		rec := events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: body, ReceivedAt: t0.Add(time.Duration(i) * 100 * time.Millisecond)}
		r.observe(uint64(i+1), rec)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(r.Len()), "B/entry")
	runtime.KeepAlive(r)
}
