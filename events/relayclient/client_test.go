package relayclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/gorilla/websocket"
)

// ---- a scripted relay, for the client's own behaviour ----

// fakeRelay serves /v1/stream with a script per connection: n counts the
// connections (0, 1, …), q is the query each came with.
type fakeRelay struct {
	t      *testing.T
	srv    *httptest.Server
	url    string
	mu     sync.Mutex
	n      int
	dials  int
	query  []url.Values
	script func(n int, q url.Values, w http.ResponseWriter, r *http.Request)
}

func newFakeRelay(t *testing.T, script func(n int, q url.Values, w http.ResponseWriter, r *http.Request)) *fakeRelay {
	f := &fakeRelay{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		n := f.n
		f.n++
		f.dials++
		f.query = append(f.query, r.URL.Query())
		f.mu.Unlock()
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization = %q", got)
		}
		if r.URL.Query().Has("token") || r.URL.Query().Has("access_token") {
			t.Error("token in the query string")
		}
		f.script(n, r.URL.Query(), w, r)
	}))
	t.Cleanup(f.srv.Close)
	f.url = "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/v1/stream"
	return f
}

func (f *fakeRelay) queries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, q := range f.query {
		out = append(out, q.Encode())
	}
	return out
}

func upgrade(t *testing.T, w http.ResponseWriter, r *http.Request) *websocket.Conn {
	up := websocket.Upgrader{}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		t.Errorf("upgrade: %v", err)
		return nil
	}
	return c
}

func send(t *testing.T, c *websocket.Conn, frames ...any) {
	for _, f := range frames {
		if err := c.WriteJSON(f); err != nil {
			t.Logf("write: %v", err)
			return
		}
	}
}

func hello(epoch string) events.Hello {
	return events.Hello{Type: "hello", Epoch: epoch, FirstSeq: 1, Name: "t", Role: events.RoleViewer, Relay: "fake"}
}

func snap(seq uint64) events.SnapshotFrame {
	return events.SnapshotFrame{Type: "snapshot", Seq: seq, Part: 1, Parts: 1, Sessions: []events.Session{}}
}

func ev(seq uint64) events.EventFrame {
	return events.EventFrame{Type: "event", Seq: seq, Source: "callback", Group: events.GroupSession,
		Event: json.RawMessage(fmt.Sprintf(`{"sessionId":"2_s","event":"connectionCreated","timestamp":%d,"connection":{"id":"c%d","createdAt":%d}}`, seq, seq, seq))}
}

// waitClosed blocks until the client closes the connection.
func waitClosed(c *websocket.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return
		}
	}
}

func fastConfig(u string) relayclient.Config {
	return relayclient.Config{URL: u, Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

func TestRunGivesUpAtOnceOnA401(t *testing.T) {
	f := newFakeRelay(t, func(_ int, _ url.Values, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"relay token: expired: mint a new one"}`))
	})
	start := time.Now()
	err := relayclient.Run(t.Context(), fastConfig(f.url), func(relayclient.Frame) error { return nil })
	var de *relayclient.DialError
	if !errors.As(err, &de) || de.Status != 401 || !errors.Is(err, relayclient.ErrUnauthorized) {
		t.Fatalf("Run = %v, want a 401 DialError", err)
	}
	if !strings.Contains(err.Error(), "expired: mint a new one") {
		t.Errorf("error %q does not carry the relay's reason", err)
	}
	if f.dials != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("%d dials; a refused token must not be retried", f.dials)
	}
}

func TestRunResumesAfterGapAndDropAndSkipsDuplicates(t *testing.T) {
	f := newFakeRelay(t, func(n int, _ url.Values, w http.ResponseWriter, r *http.Request) {
		c := upgrade(t, w, r)
		if c == nil {
			return
		}
		defer c.Close()
		switch n {
		case 0: // a snapshot, two events, then a gap
			send(t, c, hello("E1"), snap(0), ev(1), ev(2), ev(4))
			waitClosed(c)
		case 1: // a duplicate, the rest, then "you are lagging"
			send(t, c, hello("E1"), ev(2), ev(3), ev(4), ev(5))
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(events.CloseLagging, "resume since=5"))
			waitClosed(c)
		case 2: // a network drop: the connection just ends
			send(t, c, hello("E1"), ev(6))
			c.UnderlyingConn().Close()
		default:
			send(t, c, hello("E1"), ev(7))
			waitClosed(c)
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var seqs []uint64
	var types []string
	var statuses []relayclient.Status
	cfg := fastConfig(f.url)
	cfg.OnStatus = func(s relayclient.Status) { statuses = append(statuses, s) }
	err := relayclient.Run(ctx, cfg, func(fr relayclient.Frame) error {
		types = append(types, fr.Type)
		if fr.Event != nil {
			seqs = append(seqs, fr.Event.Seq)
			if fr.Event.Seq == 7 {
				cancel()
			}
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3, 4, 5, 6, 7}) {
		t.Fatalf("events handed on: %v, want 1…7 once each", seqs)
	}
	want := []string{"", "epoch=E1&since=2", "epoch=E1&since=5", "epoch=E1&since=6"}
	if got := f.queries(); !slices.Equal(got, want) {
		t.Fatalf("queries %q, want %q", got, want)
	}
	if types[0] != "hello" || types[1] != "snapshot" {
		t.Errorf("frames start %v, want hello, snapshot", types[:2])
	}
	var states []string
	for _, s := range statuses {
		states = append(states, fmt.Sprintf("%s/%d", s.State, s.Attempt))
	}
	wantStates := []string{"CONNECTING/0", "LIVE/0", "RECONNECTING/1", "LIVE/0", "RECONNECTING/1", "LIVE/0", "RECONNECTING/1", "LIVE/0"}
	if !slices.Equal(states, wantStates) {
		t.Errorf("statuses %v, want %v", states, wantStates)
	}
	var gap *relayclient.GapError
	if !errors.As(statuses[2].Err, &gap) || gap.Last != 2 || gap.Got != 4 {
		t.Errorf("first drop's reason = %v, want a gap after 2 at 4", statuses[2].Err)
	}
	var ce *relayclient.CloseError
	if !errors.As(statuses[4].Err, &ce) || ce.Code != 4000 || !ce.HasResume || ce.Resume != 5 {
		t.Errorf("second drop's reason = %v, want 4000 resume since=5", statuses[4].Err)
	}
}

func TestRunTurnsStaleAndBack(t *testing.T) {
	release := make(chan struct{})
	f := newFakeRelay(t, func(n int, _ url.Values, w http.ResponseWriter, r *http.Request) {
		if n > 0 {
			select {
			case <-release:
			default:
				http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
				return
			}
		}
		c := upgrade(t, w, r)
		if c == nil {
			return
		}
		defer c.Close()
		send(t, c, hello("E"), snap(0))
		if n == 0 {
			return // drop at once
		}
		waitClosed(c)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	statuses := make(chan relayclient.Status, 1000)
	cfg := fastConfig(f.url)
	cfg.StaleAfter = 30 * time.Millisecond
	cfg.MaxBackoff = 20 * time.Millisecond
	cfg.OnStatus = func(s relayclient.Status) { statuses <- s }
	done := make(chan error, 1)
	go func() { done <- relayclient.Run(ctx, cfg, func(relayclient.Frame) error { return nil }) }()

	next := func() relayclient.Status {
		select {
		case s := <-statuses:
			return s
		case <-time.After(20 * time.Second):
			t.Fatal("no status change")
		}
		return relayclient.Status{}
	}
	for s := next(); s.State != relayclient.Live; s = next() {
	}
	var down relayclient.Status
	for down = next(); down.State != relayclient.Stale; down = next() {
		if down.State != relayclient.Reconnecting {
			t.Fatalf("status %v while down, want RECONNECTING then STALE", down.State)
		}
	}
	if down.Attempt < 1 || down.Err == nil || time.Since(down.Since) < cfg.StaleAfter {
		t.Errorf("stale status %+v", down)
	}
	close(release)
	for s := next(); s.State != relayclient.Live; s = next() {
		if s.State != relayclient.Stale {
			t.Fatalf("status %v after STALE, want STALE until LIVE", s.State)
		}
	}
	cancel()
	<-done
}

func TestRunForgetsThePositionOfAnotherEpoch(t *testing.T) {
	f := newFakeRelay(t, func(n int, q url.Values, w http.ResponseWriter, r *http.Request) {
		c := upgrade(t, w, r)
		if c == nil {
			return
		}
		defer c.Close()
		if n == 0 {
			send(t, c, hello("E1"), snap(0), ev(1), ev(2), ev(3))
			_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "resume since=3"))
			waitClosed(c)
			return
		}
		// The log was reset: a new epoch, a snapshot at 1 and seq 2 again.
		send(t, c, hello("E2"), snap(1), ev(2))
		waitClosed(c)
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got []string
	_ = relayclient.Run(ctx, fastConfig(f.url), func(fr relayclient.Frame) error {
		got = append(got, fmt.Sprintf("%s%d", fr.Type, fr.Seq()))
		if fr.Event != nil && len(got) > 6 {
			cancel()
		}
		return nil
	})
	want := []string{"hello0", "snapshot0", "event1", "event2", "event3", "hello0", "snapshot1", "event2"}
	if !slices.Equal(got, want) {
		t.Fatalf("frames %v, want %v", got, want)
	}
	if q := f.queries(); q[1] != "epoch=E1&since=3" {
		t.Errorf("reconnect query %q", q[1])
	}
}

func TestRunReturnsTheHandlersError(t *testing.T) {
	f := newFakeRelay(t, func(_ int, _ url.Values, w http.ResponseWriter, r *http.Request) {
		if c := upgrade(t, w, r); c != nil {
			defer c.Close()
			send(t, c, hello("E"), snap(0), ev(1))
			waitClosed(c)
		}
	})
	boom := errors.New("boom")
	err := relayclient.Run(t.Context(), fastConfig(f.url), func(fr relayclient.Frame) error {
		if fr.Event != nil {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the handler's error", err)
	}
}

func TestParseFrame(t *testing.T) {
	for _, tc := range []struct {
		in   string
		typ  string
		seq  uint64
		okay bool
	}{
		{`{"type":"hello","epoch":"e","first_seq":1,"last_seq":0}`, "hello", 0, true},
		{`{"type":"snapshot","seq":9,"part":1,"parts":1,"sessions":[]}`, "snapshot", 9, true},
		{`{"type":"event","seq":3,"event":{}}`, "event", 3, true},
		{`{"type":"audit","seq":4,"audit":{"actor":"a","action":"mute","ok":true,"error":""}}`, "audit", 4, true},
		{`{"type":"result","id":"c1","ok":true}`, "result", 0, true},
		{`{"type":"something-new","x":1}`, "something-new", 0, true},
		{`{"seq":3}`, "", 0, false},
		{`nope`, "", 0, false},
		{`{"type":"event","seq":"three"}`, "", 0, false},
	} {
		f, err := relayclient.ParseFrame([]byte(tc.in))
		if (err == nil) != tc.okay || (tc.okay && (f.Type != tc.typ || f.Seq() != tc.seq || string(f.Raw) != tc.in)) {
			t.Errorf("ParseFrame(%s) = %+v, %v", tc.in, f, err)
		}
	}
}

// ---- the real relay ----

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func token(t testing.TB, name string, role events.Role) string {
	t.Helper()
	tok, err := relay.IssueToken(testSecret, name, role, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// realRelay is a log, a hub, the callback receiver and the stream on one
// loopback address, as the relay's server mounts them; stop closes it all
// as a relay shutting down does, and it can be started again on the same
// data dir and address.
type realRelay struct {
	log    *relay.Log
	hub    *relay.Hub
	srv    *http.Server
	addr   string
	cancel context.CancelFunc
	done   chan error
	served chan struct{}
}

func startRealRelay(t testing.TB, dir, addr, signatureSecret string) *realRelay {
	t.Helper()
	l, err := relay.OpenLog(t.Context(), relay.LogConfig{DataDir: filepath.Join(dir, "log")})
	if err != nil {
		t.Fatal(err)
	}
	h := relay.NewHub(relay.HubConfig{Log: l, SnapshotPath: filepath.Join(dir, "state.json"), SnapshotEvery: 50, InstanceName: "test",
		Commands: func(_ context.Context, c relay.Claims, cmd events.Command) events.Result {
			return events.Result{ID: cmd.ID, OK: true, Data: json.RawMessage(fmt.Sprintf(`{"by":%q}`, c.Name))}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	mux := http.NewServeMux()
	rv := relay.NewReceiver(relay.ReceiverConfig{Log: l, SignatureSecret: signatureSecret})
	for _, g := range []events.Group{events.GroupSession, events.GroupArchive, events.GroupBroadcast} {
		mux.Handle("/v1/callbacks/"+string(g), rv.Handler(g))
	}
	mux.Handle("GET /v1/stream", h.ServeWS(func(r *http.Request) (relay.Claims, error) {
		return relay.VerifyToken(testSecret, relay.BearerToken(r), time.Now())
	}))
	var ln net.Listener
	// The address of a relay being restarted can take a moment to free.
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := &realRelay{log: l, hub: h, srv: &http.Server{Handler: mux}, addr: ln.Addr().String(), cancel: cancel, done: done, served: make(chan struct{})}
	go func() {
		defer close(r.served)
		_ = r.srv.Serve(ln)
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *realRelay) url() string { return "ws://" + r.addr + "/v1/stream" }

func (r *realRelay) stop() {
	if r.cancel == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.hub.Shutdown(ctx)
	_ = r.srv.Shutdown(ctx)
	<-r.served
	r.cancel()
	<-r.done
	_ = r.log.Close()
	r.cancel = nil
}

func appendEvents(t testing.TB, l *relay.Log, from, n int) uint64 {
	t.Helper()
	var seq uint64
	for i := from; i < from+n; i++ {
		kind := events.ConnectionCreated
		id := i
		if i%4 == 3 {
			kind, id = events.ConnectionDestroyed, i-2 // some connections leave
		}
		body := fmt.Sprintf(`{"sessionId":"2_s%d","projectId":"1","event":%q,"timestamp":%d,"connection":{"id":"c%d","createdAt":%d,"data":""}}`,
			id%3, kind, 1_700_000_000_000+i, id, 1_700_000_000_000+id)
		var err error
		seq, _, err = l.Append(t.Context(), events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(body)}, "")
		if err != nil {
			t.Fatal(err)
		}
	}
	return seq
}

// console is a relayclient.Run with a Mirror, as the TUI runs one.
type console struct {
	mu        sync.Mutex
	mirror    *relayclient.Mirror
	seqs      []uint64 // event and audit seqs, in the order handed on
	snapshots []uint64 // the seqs of complete snapshots
	results   []events.Result
	statuses  []relayclient.LinkState
	client    *relayclient.Client
	done      chan error
	cancel    context.CancelFunc
}

func startConsole(t testing.TB, u, tok string) *console {
	t.Helper()
	c := &console{mirror: relayclient.NewMirror(), done: make(chan error, 1)}
	cfg := relayclient.Config{URL: u, Token: tok, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnStatus: func(s relayclient.Status) {
			c.mu.Lock()
			c.statuses = append(c.statuses, s.State)
			c.mu.Unlock()
		}}
	c.client = relayclient.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		c.done <- c.client.Run(ctx, func(f relayclient.Frame) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.mirror.Apply(f)
			if f.Event != nil || f.Audit != nil {
				c.seqs = append(c.seqs, f.Seq())
			}
			if f.Snapshot != nil && f.Snapshot.Part == f.Snapshot.Parts {
				c.snapshots = append(c.snapshots, f.Snapshot.Seq)
			}
			if f.Result != nil {
				c.results = append(c.results, *f.Result)
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
	})
	return c
}

func (c *console) at() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mirror.Seq
}

func (c *console) sessions() []events.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mirror.State.Sessions()
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

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

func hubSessions(h *relay.Hub) []events.Session {
	var out []events.Session
	h.State(func(s *events.State) { out = s.Sessions() })
	return out
}

// TestRunResumeFromZeroGetsTheWholeLog: Since 0 asks for a snapshot,
// unless Resume says 0 is a position (gavel events --since 0): then the
// relay sends every record from seq 1 and no snapshot.
func TestRunResumeFromZeroGetsTheWholeLog(t *testing.T) {
	r := startRealRelay(t, t.TempDir(), "127.0.0.1:0", "")
	last := appendEvents(t, r.log, 0, 3)
	eventually(t, "hub applied", func() bool { return r.hub.Applied() == last })
	for _, resume := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		var got []string
		_ = relayclient.Run(ctx, relayclient.Config{URL: r.url(), Token: token(t, "alice", events.RoleViewer), Resume: resume}, func(fr relayclient.Frame) error {
			got = append(got, fmt.Sprintf("%s%d", fr.Type, fr.Seq()))
			if fr.Seq() == last {
				cancel()
			}
			return nil
		})
		cancel()
		want := []string{"hello0", "snapshot3"}
		if resume {
			want = []string{"hello0", "event1", "event2", "event3"}
		}
		if !slices.Equal(got, want) {
			t.Errorf("Resume %v, Since 0: frames %v, want %v", resume, got, want)
		}
	}
}

func TestRunSurvivesARelayRestartWithoutAGap(t *testing.T) {
	dir := t.TempDir()
	r := startRealRelay(t, dir, "127.0.0.1:0", "")
	addr := r.addr
	appendEvents(t, r.log, 0, 40)
	// Attach once the hub has applied all 40, so the console's snapshot is
	// at 40 (the assertions below count from there).
	eventually(t, "hub applied the first 40", func() bool { return r.hub.Applied() == 40 })
	a := startConsole(t, r.url(), token(t, "alice", events.RoleModerator))
	eventually(t, "console caught up", func() bool { return a.at() == 40 })
	last := appendEvents(t, r.log, 40, 30)
	eventually(t, "live events", func() bool { return a.at() == last })

	// A command and its answer over the client.
	if err := a.client.Send(events.Command{ID: "k1", Action: "signal", Session: "2_s0"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "result", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.results) == 1
	})
	if res := a.results[0]; res.ID != "k1" || !res.OK || string(res.Data) != `{"by":"alice"}` {
		t.Errorf("result %+v", res)
	}

	// The relay goes away (closing consoles with 1001 and a resume hint);
	// a new one starts on the same data dir and address.
	r.stop()
	eventually(t, "console noticed", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return slices.Contains(a.statuses, relayclient.Reconnecting)
	})
	if err := a.client.Send(events.Command{ID: "k2", Action: "signal"}); !errors.Is(err, relayclient.ErrNotConnected) {
		t.Errorf("Send while down = %v, want ErrNotConnected", err)
	}
	r2 := startRealRelay(t, dir, addr, "")
	last = appendEvents(t, r2.log, 70, 50)
	eventually(t, "console resumed", func() bool { return a.at() == last })
	// A console that starts after the restart sees the same.
	b := startConsole(t, r2.url(), token(t, "bob", events.RoleViewer))
	eventually(t, "second console", func() bool { return b.at() == last })
	eventually(t, "hub caught up", func() bool { return r2.hub.Applied() == last })

	a.mu.Lock()
	seqs := slices.Clone(a.seqs)
	a.mu.Unlock()
	// It joined with a snapshot at 40; after that every record once, in
	// order, across the restart.
	for i, s := range seqs {
		if s != uint64(41+i) {
			t.Fatalf("console's seqs %v…: gap or duplicate at %d", seqs[max(0, i-3):i+1], i)
		}
	}
	if uint64(len(seqs)) != last-40 {
		t.Fatalf("console got %d records, want %d", len(seqs), last-40)
	}
	a.mu.Lock()
	snapshots := a.snapshots
	a.mu.Unlock()
	if !slices.Equal(snapshots, []uint64{40}) {
		t.Errorf("snapshots at %v, want only the first one at 40: the resume after the restart must be a tail", snapshots)
	}
	want := liveIDs(hubSessions(r2.hub))
	for name, c := range map[string]*console{"resumed": a, "new": b} {
		got := liveIDs(c.sessions())
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s console's state %v, want the relay's %v", name, got, want)
		}
	}
}

// TestEndToEndWithTheEmulator runs scenarios on the emulator, whose
// callbacks (signed, some duplicated, some reordered) reach the real
// receiver; two consoles follow the relay, and end with the emulator's
// ground truth.
func TestEndToEndWithTheEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("end to end")
	}
	for _, sc := range []opentoktest.Scenario{
		opentoktest.Classroom{Seed: 7, Students: 30, Speed: 400, Duration: 10 * time.Minute},
		// People dropping off the network and coming back: destroyed
		// connections and streams, late and reordered.
		opentoktest.FlakyNetwork{Seed: 3, Participants: 8, DropRate: 2, Speed: 400, Duration: 10 * time.Minute},
	} {
		t.Run(sc.Name(), func(t *testing.T) { endToEnd(t, sc) })
	}
}

func endToEnd(t *testing.T, sc opentoktest.Scenario) {
	const sigSecret = "callback-signature-secret-0123456789"
	r := startRealRelay(t, t.TempDir(), "127.0.0.1:0", sigSecret)
	base := "http://" + r.addr + "/v1/callbacks/"
	emu, err := opentoktest.NewServer(
		opentoktest.WithCallbackURL(opentoktest.GroupSession, base+"session"),
		opentoktest.WithCallbackURL(opentoktest.GroupArchive, base+"archive"),
		opentoktest.WithSignatureSecret(sigSecret),
		opentoktest.WithTimeScale(1000),
		opentoktest.WithSeed(42),
		opentoktest.WithFaults(opentoktest.Faults{Duplicate: 0.1, Reorder: 0.1}),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()

	one := startConsole(t, r.url(), token(t, "alice", events.RoleModerator))
	two := startConsole(t, r.url(), token(t, "bob", events.RoleViewer))

	if err := sc.Run(t.Context(), emu); err != nil {
		t.Fatal(err)
	}
	// A third console joins late: it starts from a snapshot of the
	// classroom in full swing.
	three := startConsole(t, r.url(), token(t, "carol", events.RoleViewer))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := emu.FlushCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
	if st := emu.CallbackStats(); st.Delivered == 0 {
		t.Fatalf("no callback delivered: %+v", st)
	}
	_, last, err := r.log.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "hub applied the log", func() bool { return r.hub.Applied() == last })
	eventually(t, "consoles caught up", func() bool { return one.at() == last && two.at() == last && three.at() == last })
	three.mu.Lock()
	if len(three.snapshots) != 1 || three.snapshots[0] == 0 {
		t.Errorf("the late console's snapshots: %v, want one of the classroom", three.snapshots)
	}
	three.mu.Unlock()

	truth := map[string][]string{}
	for _, s := range emu.Sessions() {
		var ids []string
		for _, c := range s.Connections {
			ids = append(ids, "c:"+c.ID)
		}
		for _, x := range s.Streams {
			ids = append(ids, "s:"+x.ID+"@"+x.ConnectionID)
		}
		slices.Sort(ids)
		if len(ids) > 0 {
			truth[s.ID] = ids
		}
	}
	if len(truth) == 0 {
		t.Fatal("the scenario left nobody connected: nothing to compare")
	}
	for name, got := range map[string]map[string][]string{
		"relay": liveIDs(hubSessions(r.hub)), "console 1": liveIDs(one.sessions()), "console 2": liveIDs(two.sessions()),
		"late console": liveIDs(three.sessions()),
	} {
		if fmt.Sprint(got) != fmt.Sprint(truth) {
			t.Errorf("%s: live connections and streams\n got %v\nwant %v", name, got, truth)
		}
	}
	n := 0
	for _, ids := range truth {
		n += len(ids)
	}
	t.Logf("%d records; ground truth: %d sessions, %d live connections and streams", last, len(truth), n)
}

// TestMirrorRestoresTheSnapshot checks the snapshot path of a Mirror:
// the state restored from a relay's snapshot parts is the relay's own,
// tombstones included, so a late create of the dead stays dead without
// the relay's "superseded" mark, and a damaged snapshot is refused.
func TestMirrorRestoresTheSnapshot(t *testing.T) {
	st := events.NewState()
	apply := func(group events.Group, body string) {
		t.Helper()
		e, err := events.Decode(group, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		st.Apply(e)
	}
	for i := range 20 {
		apply(events.GroupSession, fmt.Sprintf(`{"sessionId":"2_a","projectId":"1","event":"connectionCreated","timestamp":%d,"connection":{"id":"c%d","createdAt":%d,"data":"name=%d"}}`, 1000+i, i, 1000+i, i))
	}
	for i := range 12 {
		vt := []string{"camera", "screen", "custom", ""}[i%4]
		vtField := ""
		if vt != "" {
			vtField = `,"videoType":"` + vt + `"`
		}
		apply(events.GroupSession, fmt.Sprintf(`{"sessionId":"2_a","projectId":"1","event":"streamCreated","timestamp":%d,"stream":{"id":"s%d","connection":{"id":"c%d","createdAt":%d,"data":"name=%d"},"createdAt":%d,"name":"n%d"%s}}`, 2000+i, i, i, 1000+i, i, 2000+i, i, vtField))
	}
	apply(events.GroupSession, `{"sessionId":"2_a","projectId":"1","event":"connectionDestroyed","reason":"clientDisconnected","timestamp":3000,"connection":{"id":"c3","createdAt":1003}}`)
	apply(events.GroupSession, `{"sessionId":"2_a","projectId":"1","event":"streamDestroyed","reason":"mediaStopped","timestamp":3001,"stream":{"id":"s5","connection":{"id":"c5"},"createdAt":2005}}`)
	// A stream only a reconcile has seen: unattributed.
	for _, e := range events.Reconcile(st, "2_b", []string{"rc1"}, []events.RESTStream{{ID: "rs1", VideoType: "camera", Name: "x"}}, 4000) {
		st.Apply(e)
	}
	apply(events.GroupArchive, `{"id":"a1","event":"archive","status":"started","name":"rec","sessionId":"2_a","createdAt":3500,"partnerId":1,"size":0,"duration":0,"reason":""}`)
	apply(events.GroupSession, `{"sessionId":"2_gone","projectId":"1","event":"connectionCreated","timestamp":10,"connection":{"id":"g1","createdAt":10}}`)
	apply(events.GroupSession, `{"sessionId":"2_gone","projectId":"1","event":"connectionDestroyed","timestamp":20,"connection":{"id":"g1","createdAt":10}}`)

	// Mutes a moderator made: one stream, then a mute-all sparing another.
	st.ApplyAudit(events.Audit{Action: events.ActionMute, Session: "2_a", Target: "s1", OK: true})
	st.ApplyAudit(events.Audit{Action: events.ActionMuteAll, Session: "2_a", OK: true, Except: []string{"s2", "s4"}})
	apply(events.GroupSession, `{"sessionId":"2_a","projectId":"1","event":"streamCreated","timestamp":3600,"stream":{"id":"s20","connection":{"id":"c19","createdAt":1019,"data":"name=19"},"createdAt":3600,"videoType":"camera"}}`)

	want := st.Sessions()
	var mutedN int
	for _, x := range want[0].Streams {
		if x.Muted {
			mutedN++
		}
	}
	if !want[0].MuteAll || mutedN == 0 || mutedN == len(want[0].Streams) {
		t.Fatalf("the fixture should hold muted and unmuted streams under a mute-all: %+v", want[0])
	}
	snap := st.Snapshot()
	wj, _ := json.Marshal(snap)

	// A Mirror fed a two-part snapshot and then an event.
	m := relayclient.NewMirror()
	raw := func(v any) relayclient.Frame {
		data, _ := json.Marshal(v)
		f, err := relayclient.ParseFrame(data)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	m.Apply(raw(events.Hello{Type: "hello", Epoch: "E"}))
	if m.Apply(raw(events.SnapshotFrame{Type: "snapshot", Seq: 9, Part: 1, Parts: 2, Sessions: snap[:1]})) {
		t.Error("a first part changed the picture: it must wait for the last")
	}
	if !m.Apply(raw(events.SnapshotFrame{Type: "snapshot", Seq: 9, Part: 2, Parts: 2, Sessions: snap[1:]})) || m.Seq != 9 || m.Epoch != "E" || m.Err != nil {
		t.Fatalf("after the snapshot: seq %d epoch %q err %v", m.Seq, m.Epoch, m.Err)
	}
	if mj, _ := json.Marshal(m.State.Snapshot()); string(mj) != string(wj) {
		t.Fatalf("mirror after snapshot\n got %s\nwant %s", mj, wj)
	}
	if vj, _ := json.Marshal(m.State.Sessions()); string(vj) != mustJSON(t, want) {
		t.Fatalf("mirror's views after snapshot\n got %s\nwant %s", vj, mustJSON(t, want))
	}
	// c3 ended before the snapshot; its connectionCreated arrives late,
	// unmarked (as from a relay that marks nothing).
	late := json.RawMessage(`{"sessionId":"2_a","projectId":"1","event":"connectionCreated","timestamp":1003,"connection":{"id":"c3","createdAt":1003,"data":"name=3"}}`)
	if m.Apply(raw(events.EventFrame{Type: "event", Seq: 10, Source: "callback", Group: events.GroupSession, Event: late})) {
		t.Error("a late create of a connection that ended before the snapshot changed the picture")
	}
	body := json.RawMessage(`{"sessionId":"2_a","projectId":"1","event":"connectionDestroyed","timestamp":5000,"connection":{"id":"c0","createdAt":1000}}`)
	if !m.Apply(raw(events.EventFrame{Type: "event", Seq: 11, Source: "callback", Group: events.GroupSession, Event: body})) || m.Seq != 11 {
		t.Fatal("event not applied")
	}
	if s, _ := m.State.Session("2_a"); s.Counts.Connections != 18 {
		t.Errorf("after the event: %d connections, want 18", s.Counts.Connections)
	}

	// A snapshot that contradicts itself is refused, and the picture kept.
	bad := slices.Clone(snap)
	bad[0].EndedConnections = append(bad[0].EndedConnections, events.Ended{ID: bad[0].Connections[0].ID, DiedAt: 1})
	before := mustJSON(t, m.State.Snapshot())
	if m.Apply(raw(events.SnapshotFrame{Type: "snapshot", Seq: 12, Part: 1, Parts: 1, Sessions: bad})) || m.Err == nil ||
		!strings.Contains(m.Err.Error(), "twice") {
		t.Fatalf("a damaged snapshot: err %v", m.Err)
	}
	if after := mustJSON(t, m.State.Snapshot()); after != before {
		t.Error("a refused snapshot changed the picture")
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestParseFrameEitherWay: the fast path (type first, as the relay writes
// frames) and the general path (type anywhere) decode the same frame, and a
// body that is not JSON after a good prefix is still refused.
func TestParseFrameEitherWay(t *testing.T) {
	first := []byte(`{"type":"event","seq":7,"source":"callback","event":{"event":"sessionCreated","sessionId":"s"}}`)
	later := []byte(`{"seq":7,"source":"callback","type":"event","event":{"event":"sessionCreated","sessionId":"s"}}`)
	a, err := relayclient.ParseFrame(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := relayclient.ParseFrame(later)
	if err != nil {
		t.Fatal(err)
	}
	if a.Type != "event" || b.Type != "event" || a.Event == nil || b.Event == nil || a.Event.Seq != 7 || b.Event.Seq != 7 ||
		string(a.Event.Event) != string(b.Event.Event) {
		t.Errorf("fast %+v, general %+v", a.Event, b.Event)
	}
	if _, err := relayclient.ParseFrame([]byte(`{"type":"event","seq":`)); err == nil {
		t.Error("a truncated frame with a good prefix was accepted")
	}
	if f, err := relayclient.ParseFrame([]byte(`{"type":"future-frame","x":1}`)); err != nil || f.Type != "future-frame" {
		t.Errorf("unknown frame type: %+v, %v", f, err)
	}
}

// TestDialAcceptsTheRelayAddressAsPeoplePasteIt: the relay prints its
// callback URLs as http:// and people drop the path; those can only mean
// the stream, while a scheme that is not a relay's is refused by name.
func TestDialAcceptsTheRelayAddressAsPeoplePasteIt(t *testing.T) {
	r := startRealRelay(t, t.TempDir(), "127.0.0.1:0", "")
	tok := token(t, "alice", events.RoleViewer)
	for _, u := range []string{"ws://" + r.addr, "ws://" + r.addr + "/", "http://" + r.addr, r.url()} {
		c, err := relayclient.Dial(t.Context(), relayclient.Config{URL: u, Token: tok})
		if err != nil {
			t.Errorf("Dial(%q) = %v, want the relay's hello", u, err)
			continue
		}
		if h := c.Hello(); h.Name != "alice" {
			t.Errorf("Dial(%q): hello names %q, want alice", u, h.Name)
		}
		c.Close()
	}
	for _, u := range []string{"ftp://" + r.addr + "/v1/stream", "ws:///v1/stream"} {
		_, err := relayclient.Dial(t.Context(), relayclient.Config{URL: u, Token: tok})
		var de *relayclient.DialError
		if !errors.As(err, &de) || de.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "ws://HOST/v1/stream") {
			t.Errorf("Dial(%q) = %v, want a 400 DialError showing the expected form", u, err)
		}
	}
}
