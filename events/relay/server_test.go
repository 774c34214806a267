package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gorilla/websocket"
)

// newTestServer builds a relay without Video API credentials on a fresh
// data dir.
func newTestServer(t testing.TB) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	srv, err := NewServer(t.Context(), Config{DataDir: dir, Secret: []byte("0123456789abcdef0123456789abcdef"), Name: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv, dir
}

// TestUnknownRoutesSayWhatExists: a wrong method on an endpoint that
// exists is 405 with Allow, not "no such endpoint"; a POST to a path that
// is no callback URL — a callback URL registered with a typo — is 404
// naming the real ones, counted and logged, instead of vanishing.
func TestUnknownRoutesSayWhatExists(t *testing.T) {
	srv, _ := newTestServer(t)
	t.Cleanup(func() { _ = srv.log.Close() })
	logs := &lockedBuffer{}
	srv.cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	do := func(method, path string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, hs.URL+path, strings.NewReader(`{"event":"connectionCreated"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}
	for _, path := range []string{events.StreamPath, "/healthz", "/readyz", "/metrics"} {
		status, h, body := do(http.MethodPost, path)
		if status != http.StatusMethodNotAllowed || !strings.Contains(h.Get("Allow"), "GET") {
			t.Errorf("POST %s = %d Allow %q (%s), want 405 with Allow: GET", path, status, h.Get("Allow"), body)
		}
	}
	status, _, body := do(http.MethodPost, "/callbacks")
	if status != http.StatusNotFound || !strings.Contains(body, "/v1/callbacks/session") || !strings.Contains(body, "/v1/callbacks/archive") {
		t.Errorf("POST /callbacks = %d %s, want 404 naming the callback URLs", status, body)
	}
	if got := callbackCount(t, srv.registry, GroupUnknown, OutcomeNotFound); got != 1 {
		t.Errorf("callbacks_total{group=unknown,outcome=not_found} = %v after one misdirected callback, want 1", got)
	}
	if status, _, _ := do(http.MethodGet, "/nothing-here"); status != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", status)
	}
	if got := callbackCount(t, srv.registry, GroupUnknown, OutcomeNotFound); got != 1 {
		t.Errorf("a GET was counted as a misdirected callback: not_found = %v, want 1", got)
	}

	// Anyone can send these: a huge path is neither echoed nor logged
	// whole, and the log gets one line a minute however many come; the
	// counter counts them all.
	huge := "/" + strings.Repeat("a", 100_000)
	srv.lastNotFoundLog.Store(0) // as if the last line were a minute old
	before := len(logs.String())
	for range 3 {
		status, _, body := do(http.MethodPost, huge)
		if status != http.StatusNotFound || len(body) > 2000 {
			t.Fatalf("POST to a 100 KB path = %d with a %d-byte body, want 404 with the path cut short", status, len(body))
		}
	}
	if got := callbackCount(t, srv.registry, GroupUnknown, OutcomeNotFound); got != 4 {
		t.Errorf("not_found = %v after four misdirected callbacks, want 4", got)
	}
	if n := strings.Count(logs.String()[before:], "callback to an unknown path"); n != 1 {
		t.Errorf("%d log lines for three misdirected callbacks in a minute, want 1:\n%.2000s", n, logs.String()[before:])
	}
	if n := len(logs.String()) - before; n > 2000 {
		t.Errorf("the log grew %d bytes for them: the path must be cut short", n)
	}
}

// TestReceiverStoresACallbackWhoseSenderHungUp: once the body is read, the
// request's context ending (the sender gone, or the server shutting down)
// does not stop the durable append: the callback is stored and answered.
func TestReceiverStoresACallbackWhoseSenderHungUp(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	rv := NewReceiver(ReceiverConfig{Log: l})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/callbacks/session", bytes.NewReader(benchBody(1)))
	rec := httptest.NewRecorder()
	rv.Handler(events.GroupSession).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200: the append must not follow the request's context", rec.Code, rec.Body)
	}
	if _, last, err := l.Bounds(t.Context()); err != nil || last != 1 {
		t.Fatalf("log last seq %d (%v), want the callback stored at 1", last, err)
	}
}

// TestShutdownAnswersCallbacksInFlight: a relay stopped (SIGTERM) in the
// middle of a flood of callbacks answers those it is writing with 200 and
// keeps them, rather than 503s (retries, error lines) for records that
// may be stored anyway. Every 200 names a seq that is in the log. It holds
// while a console waits for a moderation command slower than the time
// consoles get to close: the two are drained side by side.
func TestShutdownAnswersCallbacksInFlight(t *testing.T) {
	t.Run("flood", func(t *testing.T) { shutdownDuringFlood(t, false) })
	t.Run("flood and a slow command", func(t *testing.T) { shutdownDuringFlood(t, true) })
}

func shutdownDuringFlood(t *testing.T, slowCommand bool) {
	srv, dir := newTestServer(t)
	srv.cfg.ConsoleDrain = 200 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	if slowCommand {
		// A Video API call that outlasts the consoles' drain.
		srv.hub.cfg.Commands = func(_ context.Context, _ Claims, cmd events.Command) events.Result {
			<-release
			return events.Result{ID: cmd.ID, OK: true}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	base := ln.Addr().String()
	if slowCommand {
		tok, err := IssueToken(srv.cfg.Secret, "mo", events.RoleModerator, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), "ws://"+base+events.StreamPath, http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		}()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"command","id":"slow","action":"signal","session":"2_s"}`)); err != nil {
			t.Fatal(err)
		}
	}
	url := "http://" + base + "/v1/callbacks/session"

	const senders = 16
	var (
		mu       sync.Mutex
		accepted = map[uint64]bool{}
		refused  []string
		next     uint64
	)
	tr := &http.Transport{MaxIdleConnsPerHost: senders}
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				mu.Lock()
				next++
				id := next
				mu.Unlock()
				resp, err := client.Post(url, "application/json", bytes.NewReader(benchBody(id)))
				if err != nil {
					return // the relay has stopped listening
				}
				var r receipt
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &r) == nil {
					accepted[r.Seq] = true
				} else {
					refused = append(refused, resp.Status+" "+string(body))
				}
				mu.Unlock()
			}
		})
	}
	// Shut down once the flood is in full swing.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d callbacks accepted in 20 s", n)
		}
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	wg.Wait()

	if len(refused) > 0 {
		t.Errorf("%d callbacks refused during shutdown, want none; first: %s", len(refused), refused[0])
	}
	l, err := OpenLog(t.Context(), LogConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, last, err := l.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for seq := range accepted {
		if seq == 0 || seq > last {
			t.Fatalf("a callback answered 200 at seq %d is not in the log (last seq %d)", seq, last)
		}
	}
	if uint64(len(accepted)) != last {
		t.Errorf("%d callbacks answered 200, %d in the log: each stored callback is answered, none twice", len(accepted), last)
	}
}
