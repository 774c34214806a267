package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
)

// hubLog opens a real log (embedded JetStream, file store) in dir.
func hubLog(t testing.TB, dir string, cfg LogConfig) *Log {
	t.Helper()
	cfg.DataDir = dir
	l, err := OpenLog(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// hubEvent is a session callback record: kind on connection conn of
// session sess at ts (ms).
func hubEvent(kind events.Kind, sess, conn string, ts int64) events.Record {
	var body string
	switch kind {
	case events.StreamCreated, events.StreamDestroyed:
		body = fmt.Sprintf(`{"sessionId":%q,"projectId":"123456","event":%q,"timestamp":%d,"stream":{"id":"st-%s","connection":{"id":%q,"createdAt":%d,"data":""},"createdAt":%d,"name":"","videoType":"camera"}}`,
			sess, kind, ts, conn, conn, ts, ts)
	default:
		body = fmt.Sprintf(`{"sessionId":%q,"projectId":"123456","event":%q,"timestamp":%d,"connection":{"id":%q,"createdAt":%d,"data":"d-%s"}}`,
			sess, kind, ts, conn, ts, conn)
	}
	return events.Record{Type: events.FrameEvent, ReceivedAt: time.UnixMilli(ts).UTC(), Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(body)}
}

// hubWorkload is a deterministic stream of connection and stream events
// over a few sessions, with some connections ending.
type hubWorkload struct {
	rng  *rand.Rand
	n    int
	live []string
}

func newHubWorkload(seed uint64) *hubWorkload {
	return &hubWorkload{rng: rand.New(rand.NewPCG(seed, seed+1))}
}

func (w *hubWorkload) next() events.Record {
	w.n++
	ts := int64(1_700_000_000_000 + w.n)
	sess := fmt.Sprintf("2_sess%d", w.n%5)
	if len(w.live) > 3 && w.rng.IntN(3) == 0 {
		i := w.rng.IntN(len(w.live))
		c := w.live[i]
		w.live = slices.Delete(w.live, i, i+1)
		parts := strings.SplitN(c, "/", 2)
		return hubEvent(events.ConnectionDestroyed, parts[0], parts[1], ts)
	}
	conn := fmt.Sprintf("c%d", w.n)
	w.live = append(w.live, sess+"/"+conn)
	if w.rng.IntN(2) == 0 {
		return hubEvent(events.StreamCreated, sess, conn, ts)
	}
	return hubEvent(events.ConnectionCreated, sess, conn, ts)
}

func appendN(t testing.TB, l *Log, w *hubWorkload, n int) uint64 {
	t.Helper()
	var seq uint64
	for range n {
		var err error
		if seq, _, err = l.Append(t.Context(), w.next(), ""); err != nil {
			t.Fatal(err)
		}
	}
	return seq
}

// runHub starts h.Run and stops it at cleanup (or when stop is called),
// returning Run's error.
func runHub(t testing.TB, h *Hub) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// replayState applies every record in the log to a fresh state: the
// truth the hub's state must equal.
func replayState(t testing.TB, l *Log, upTo uint64) *events.State {
	t.Helper()
	st := events.NewState()
	if upTo == 0 {
		return st
	}
	stop := errors.New("stop")
	err := l.Follow(t.Context(), 1, func(seq uint64, rec events.Record) error {
		if ev, err := events.Decode(rec.Group, rec.Event); err == nil {
			st.Apply(ev)
		}
		if seq >= upTo {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
	return st
}

// liveIDs lists every session's live connection and stream IDs.
func liveIDs(sessions []events.Session) map[string][]string {
	out := map[string][]string{}
	for _, s := range sessions {
		var ids []string
		for _, c := range s.Connections {
			ids = append(ids, "c:"+c.ID)
		}
		for _, x := range s.Streams {
			ids = append(ids, "s:"+x.ID+"@"+x.ConnectionID)
		}
		slices.Sort(ids)
		if len(ids) > 0 {
			out[s.ID] = ids
		}
	}
	return out
}

func sameLive(t testing.TB, what string, got, want []events.Session) {
	t.Helper()
	g, w := liveIDs(got), liveIDs(want)
	if len(g) != len(w) {
		t.Errorf("%s: %d live sessions, want %d", what, len(g), len(w))
	}
	for id, ids := range w {
		if !slices.Equal(g[id], ids) {
			t.Errorf("%s: session %s live = %v, want %v", what, id, g[id], ids)
		}
	}
}

func hubState(h *Hub) []events.Session {
	var out []events.Session
	h.State(func(s *events.State) { out = s.Sessions() })
	return out
}

func TestHubAppliesTheLogAndIsReadyWhenCaughtUp(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	w := newHubWorkload(1)
	last := appendN(t, l, w, 300)
	// A record that does not decode is kept and counted in the seq.
	bad := events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(`{"event":"connectionCreated"}`)}
	if seq, _, err := l.Append(t.Context(), bad, ""); err != nil || seq != last+1 {
		t.Fatalf("append bad record: seq %d, %v", seq, err)
	}
	last++
	h := NewHub(HubConfig{Log: l})
	if h.Ready() {
		t.Fatal("ready before Run")
	}
	runHub(t, h)
	eventually(t, "ready", h.Ready)
	if h.Applied() != last {
		t.Fatalf("ready at applied %d, want %d (the log's last when it started)", h.Applied(), last)
	}
	last = appendN(t, l, w, 50)
	eventually(t, "the live records", func() bool { return h.Applied() == last })
	sameLive(t, "hub", hubState(h), replayState(t, l, last).Sessions())
}

func TestHubSnapshotFileRestartsFromItsSeq(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "state.snapshot.json")
	l := hubLog(t, filepath.Join(dir, "log"), LogConfig{})
	w := newHubWorkload(2)
	last := appendN(t, l, w, 120)

	h := NewHub(HubConfig{Log: l, SnapshotPath: snap, SnapshotEvery: 50})
	stop := runHub(t, h)
	eventually(t, "caught up", func() bool { return h.Applied() == last })
	// Every 50 records a snapshot is written (at 50 and 100).
	eventually(t, "a periodic snapshot", func() bool {
		f, err := readSnapshotFile(snap)
		return err == nil && f.Seq >= 100
	})
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	f, err := readSnapshotFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if f.Seq != last || f.Epoch != l.Epoch() {
		t.Fatalf("snapshot at shutdown: seq %d epoch %q, want %d %q", f.Seq, f.Epoch, last, l.Epoch())
	}

	// Plant a marker in the saved state: a hub that loads the snapshot
	// has it; one that replayed the log from seq 1 would not.
	marked := events.NewState()
	if err := marked.UnmarshalJSON(f.State); err != nil {
		t.Fatal(err)
	}
	marked.Apply(mustDecode(t, hubEvent(events.ConnectionCreated, "2_marker", "m1", 1)))
	f.State, _ = marked.MarshalJSON()
	writeSnapshotFile(t, snap, f)

	more := appendN(t, l, w, 30)
	h2 := NewHub(HubConfig{Log: l, SnapshotPath: snap})
	runHub(t, h2)
	eventually(t, "restart caught up", func() bool { return h2.Applied() == more && h2.Ready() })
	got := hubState(h2)
	if _, ok := liveIDs(got)["2_marker"]; !ok {
		t.Fatal("the restarted hub did not start from the snapshot (marker missing)")
	}
	sameLive(t, "restarted hub", slices.DeleteFunc(got, func(s events.Session) bool { return s.ID == "2_marker" }), replayState(t, l, more).Sessions())

	// A snapshot of another epoch is ignored: the log is replayed.
	f.Epoch = "another-epoch"
	writeSnapshotFile(t, snap, f)
	h3 := NewHub(HubConfig{Log: l, SnapshotPath: snap})
	runHub(t, h3)
	eventually(t, "replay caught up", func() bool { return h3.Applied() == more && h3.Ready() })
	if _, ok := liveIDs(hubState(h3))["2_marker"]; ok {
		t.Fatal("a snapshot of another epoch was loaded")
	}
	sameLive(t, "replayed hub", hubState(h3), replayState(t, l, more).Sessions())

	// A damaged snapshot is ignored too.
	if err := os.WriteFile(snap, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	h4 := NewHub(HubConfig{Log: l, SnapshotPath: snap})
	runHub(t, h4)
	eventually(t, "replay after a damaged snapshot", func() bool { return h4.Applied() == more })
	sameLive(t, "hub after damaged snapshot", hubState(h4), replayState(t, l, more).Sessions())
}

func readSnapshotFile(path string) (snapshotFile, error) {
	var f snapshotFile
	data, err := os.ReadFile(path)
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal(data, &f)
}

func writeSnapshotFile(t testing.TB, path string, f snapshotFile) {
	t.Helper()
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustDecode(t testing.TB, rec events.Record) events.Event {
	t.Helper()
	ev, err := events.Decode(rec.Group, rec.Event)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// drainSub reads a subscription without HTTP: its catch-up, then its
// queue, until it has seen seq upTo. It returns the frames' seqs in order
// and the state a console would build from them.
// A resuming console starts from state, its picture as of its since.
func drainSub(t testing.TB, sub *Subscription, upTo uint64, state *events.State) (seqs []uint64, snapshotAt uint64, _ *events.State) {
	t.Helper()
	var snap []events.Session
	snapshotAt = ^uint64(0)
	pos := uint64(0)
	if sub.tail {
		pos = sub.since
	}
	handle := func(f outFrame) {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(f.data, &head); err != nil {
			t.Fatal(err)
		}
		switch head.Type {
		case events.FrameSnapshot:
			var sf events.SnapshotFrame
			if err := json.Unmarshal(f.data, &sf); err != nil {
				t.Fatal(err)
			}
			snap = append(snap, sf.Sessions...)
			if sf.Part == sf.Parts {
				snapshotAt, pos = sf.Seq, sf.Seq
				var err error
				if state, err = events.RestoreState(snap); err != nil {
					t.Fatal(err)
				}
			}
		case events.FrameEvent:
			var ef events.EventFrame
			if err := json.Unmarshal(f.data, &ef); err != nil {
				t.Fatal(err)
			}
			seqs, pos = append(seqs, ef.Seq), ef.Seq
			if ev, err := events.Decode(ef.Group, ef.Event); err == nil {
				state.Apply(ev)
			}
		default:
			t.Fatalf("unexpected frame %s", f.data)
		}
	}
	if err := sub.catchUp(t.Context(), func(f outFrame) error { handle(f); return nil }); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(20 * time.Second)
	for pos < upTo {
		select {
		case f := <-sub.queue:
			handle(f)
		case <-sub.stopped:
			t.Fatalf("subscription stopped (code %d) at %v", sub.code, seqs[max(0, len(seqs)-1):])
		case <-timeout:
			t.Fatalf("timed out at %v, want up to %d", seqs[max(0, len(seqs)-1):], upTo)
		}
	}
	return seqs, snapshotAt, state
}

// contiguous checks seqs run from first without a gap or a repeat.
func contiguous(t testing.TB, what string, seqs []uint64, first uint64) {
	t.Helper()
	for i, s := range seqs {
		if s != first+uint64(i) {
			t.Fatalf("%s: frame %d has seq %d, want %d (gap or duplicate); seqs from %d", what, i, s, first+uint64(i), seqs[max(0, i-3)])
		}
	}
}

// TestHubAttachUnderLoadNoGapNoDuplicate attaches consoles — fresh ones
// (snapshot) and resuming ones (tail) — while records are being appended
// as fast as the log takes them, and checks each sees every seq after its
// position exactly once, and ends with the hub's state.
func TestHubAttachUnderLoadNoGapNoDuplicate(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	w := newHubWorkload(3)
	appendN(t, l, w, 200)
	h := NewHub(HubConfig{Log: l})
	runHub(t, h)
	eventually(t, "ready", h.Ready)

	const total = 800
	appended := make(chan uint64, 1)
	go func() {
		var seq uint64
		for range total {
			var err error
			if seq, _, err = l.Append(context.Background(), w.next(), ""); err != nil {
				t.Error(err)
				break
			}
		}
		appended <- seq
	}()

	type attached struct {
		sub   *Subscription
		since uint64
		tail  bool
	}
	var subs []attached
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 12 {
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond) // spread the attaches over the appends
		applied := h.Applied()
		var since uint64
		hasSince := i%2 == 1
		if hasSince {
			since = uint64(rng.IntN(int(applied) + 1))
		}
		epoch := ""
		if i%4 == 3 {
			epoch = l.Epoch()
		}
		sub, hello, err := h.Attach(t.Context(), Claims{Name: fmt.Sprintf("console-%d", i)}, events.ViaWebSocket, since, hasSince, epoch)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sub.Detach)
		if hello.Epoch != l.Epoch() || hello.FirstSeq != 1 || hello.LastSeq < applied {
			t.Errorf("hello = %+v", hello)
		}
		if sub.tail != hasSince {
			t.Errorf("console %d (since %d, has %v): tail = %v", i, since, hasSince, sub.tail)
		}
		subs = append(subs, attached{sub, since, hasSince})
	}
	last := <-appended
	eventually(t, "all applied", func() bool { return h.Applied() == last })
	want := hubState(h)
	var wantFull []events.Session
	h.State(func(s *events.State) { wantFull = s.Snapshot() })
	for i, a := range subs {
		seqs, snapAt, st := drainSub(t, a.sub, last, replayState(t, l, a.since))
		what := fmt.Sprintf("console %d", i)
		if a.tail {
			if snapAt != ^uint64(0) {
				t.Errorf("%s: resuming console got a snapshot", what)
			}
			contiguous(t, what, seqs, a.since+1)
		} else {
			if snapAt == ^uint64(0) {
				t.Fatalf("%s: fresh console got no snapshot", what)
			}
			contiguous(t, what, seqs, snapAt+1)
		}
		sameLive(t, what, st.Sessions(), want)
		if got := st.Snapshot(); !reflect.DeepEqual(got, wantFull) {
			t.Errorf("%s: its state (tombstones and all) is not the hub's", what)
		}
	}
}

func TestHubDropsAConsoleWhoseQueueIsFull(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	h := NewHub(HubConfig{Log: l, SendQueue: 4})
	runHub(t, h)
	eventually(t, "ready", h.Ready)
	slow, _, err := h.Attach(t.Context(), Claims{Name: "slow"}, events.ViaWebSocket, 0, false, "")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Detach()
	fast, _, err := h.Attach(t.Context(), Claims{Name: "fast"}, events.ViaWebSocket, 0, false, "")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Detach()
	// The fast console reads as records come; the slow one never does.
	var got []uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = fast.catchUp(t.Context(), func(outFrame) error { return nil })
		for len(got) < 10 {
			select {
			case f := <-fast.queue:
				got = append(got, f.seq)
			case <-time.After(20 * time.Second):
				return
			}
		}
	}()
	appendN(t, l, newHubWorkload(4), 10)
	<-done
	contiguous(t, "fast console", got, 1)
	if len(got) != 10 {
		t.Fatalf("fast console got %d frames, want 10", len(got))
	}
	select {
	case <-slow.Stopped():
	default:
		t.Fatal("the slow console was not told to go")
	}
	if slow.code != events.CloseLagging || slow.reason != "" {
		t.Errorf("slow console stopped with %d %q, want 4000 and the resume hint", slow.code, slow.reason)
	}
	if n := h.Consoles(); n != 1 {
		t.Errorf("consoles attached = %d, want 1", n)
	}
}

func TestSnapshotFramesSplitIntoParts(t *testing.T) {
	mk := func(n int) []events.Session {
		out := make([]events.Session, n)
		for i := range out {
			out[i] = events.Session{ID: fmt.Sprintf("s%04d", i), Connections: []events.ConnectionState{}, Streams: []events.StreamState{}}
		}
		return out
	}
	for _, tc := range []struct{ sessions, parts int }{{0, 1}, {1, 1}, {500, 1}, {501, 2}, {1201, 3}} {
		frames := snapshotFrames(42, mk(tc.sessions), snapshotTail{})
		if len(frames) != tc.parts {
			t.Errorf("%d sessions: %d parts, want %d", tc.sessions, len(frames), tc.parts)
			continue
		}
		total := 0
		for i, f := range frames {
			var sf events.SnapshotFrame
			if err := json.Unmarshal(f.data, &sf); err != nil {
				t.Fatal(err)
			}
			if sf.Type != "snapshot" || sf.Seq != 42 || sf.Part != i+1 || sf.Parts != tc.parts || len(sf.Sessions) > SnapshotPartSessions || sf.Sessions == nil {
				t.Errorf("%d sessions, part %d: %+v", tc.sessions, i+1, sf)
			}
			if want := uint64(0); i == len(frames)-1 {
				if f.seq != 42 {
					t.Errorf("last part carries seq %d, want 42", f.seq)
				}
			} else if f.seq != want {
				t.Errorf("part %d carries seq %d: only the last part completes the snapshot", i+1, f.seq)
			}
			total += len(sf.Sessions)
		}
		if total != tc.sessions {
			t.Errorf("%d sessions: parts hold %d", tc.sessions, total)
		}
	}
	// Large sessions split by size too.
	big := mk(40)
	for i := range big {
		big[i].Connections = make([]events.ConnectionState, 1000)
		for j := range big[i].Connections {
			big[i].Connections[j] = events.ConnectionState{ID: fmt.Sprintf("c-%d-%d", i, j), Data: strings.Repeat("x", 40)}
		}
	}
	frames := snapshotFrames(7, big, snapshotTail{})
	if len(frames) < 2 {
		t.Fatalf("40 sessions of ~80 KB in %d part(s); want them split by size", len(frames))
	}
	for _, f := range frames {
		if len(f.data) > 2*snapshotPartBytes {
			t.Errorf("a part of %d bytes", len(f.data))
		}
	}
}

// A day-long town hall leaves a session with hundreds of thousands of
// tombstones: its snapshot goes in frames near snapshotPartBytes, which a
// console reads whole and joins back into the same state.
func TestSnapshotFramesSplitALargeSessionsTombstones(t *testing.T) {
	st := events.NewState()
	const people = 150_000
	for i := range people {
		id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		st.Apply(events.Event{Kind: events.ConnectionCreated, SessionID: "2_townhall", Timestamp: int64(i + 1), Connection: &events.Connection{ID: id, CreatedAt: int64(i + 1)}})
		if i%10 != 0 { // one in ten is still there
			st.Apply(events.Event{Kind: events.ConnectionDestroyed, SessionID: "2_townhall", Timestamp: int64(people + i), Connection: &events.Connection{ID: id}})
		}
	}
	snap := st.Snapshot()
	frames := snapshotFrames(9, snap, snapshotTail{})
	var got []events.Session
	for _, f := range frames {
		if len(f.data) > 2*snapshotPartBytes {
			t.Errorf("a part of %d bytes, want about %d at most", len(f.data), snapshotPartBytes)
		}
		var sf events.SnapshotFrame
		if err := json.Unmarshal(f.data, &sf); err != nil {
			t.Fatal(err)
		}
		got = append(got, sf.Sessions...)
	}
	if len(frames) < 5 {
		t.Errorf("%d tombstones in %d frame(s): not split", people*9/10, len(frames))
	}
	restored, err := events.RestoreState(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(restored.Snapshot(), snap) {
		t.Fatal("the session joined from its frames is not the one split")
	}
}

func TestHubAttachWaitsForRun(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	h := NewHub(HubConfig{Log: l})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := h.Attach(ctx, Claims{Name: "early"}, events.ViaWebSocket, 0, false, ""); err == nil {
		t.Fatal("Attach before Run succeeded: the console could be given a position the hub then jumps past")
	}
	runHub(t, h)
	sub, hello, err := h.Attach(t.Context(), Claims{Name: "on time"}, events.ViaWebSocket, 0, false, "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Detach()
	if hello.FirstSeq != 1 || hello.LastSeq != 0 {
		t.Errorf("empty log hello: first %d last %d, want 1 0", hello.FirstSeq, hello.LastSeq)
	}
}

func TestHubShutdownRefusesNewConsoles(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	h := NewHub(HubConfig{Log: l})
	runHub(t, h)
	sub, _, err := h.Attach(t.Context(), Claims{Name: "a"}, events.ViaWebSocket, 0, false, "")
	if err != nil {
		t.Fatal(err)
	}
	shutdownDone := make(chan struct{})
	go func() {
		h.Shutdown(t.Context())
		close(shutdownDone)
	}()
	<-sub.Stopped()
	if sub.code != closeGoingAway {
		t.Errorf("stopped with %d, want 1001", sub.code)
	}
	select {
	case <-shutdownDone:
		t.Fatal("Shutdown returned before the console's connection ended")
	case <-time.After(20 * time.Millisecond):
	}
	sub.Detach()
	<-shutdownDone
	if _, _, err := h.Attach(t.Context(), Claims{Name: "late"}, events.ViaWebSocket, 0, false, ""); !errors.Is(err, ErrHubClosing) {
		t.Fatalf("Attach after Shutdown: %v, want ErrHubClosing", err)
	}
}

// BenchmarkHubFanOut measures applying one record and queueing it for
// 100 consoles that keep up (decode, reduce, encode once, 100 queue sends).
func BenchmarkHubFanOut(b *testing.B) {
	l := hubLog(b, b.TempDir(), LogConfig{})
	h := NewHub(HubConfig{Log: l, SendQueue: 1 << 16})
	close(h.started) // apply is driven by hand below, not by Run
	for i := range 100 {
		sub, _, err := h.Attach(b.Context(), Claims{Name: fmt.Sprintf("c%d", i)}, events.ViaWebSocket, 0, false, "")
		if err != nil {
			b.Fatal(err)
		}
		go func() {
			for {
				select {
				case <-sub.queue:
				case <-sub.stopped:
					return
				}
			}
		}()
		defer sub.Detach()
	}
	w := newHubWorkload(11)
	recs := make([]events.Record, 1024)
	for i := range recs {
		recs[i] = w.next()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		_ = h.apply(uint64(i+1), recs[i%len(recs)])
	}
	b.StopTimer()
	if n := h.Consoles(); n != 100 {
		b.Fatalf("%d consoles left: some fell behind", n)
	}
}
