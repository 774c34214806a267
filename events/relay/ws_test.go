package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// wsRelay is a hub served over real loopback HTTP, as server.go mounts it.
type wsRelay struct {
	url     string // ws://…/v1/stream
	hub     *Hub
	log     *Log
	metrics *Metrics
	srv     *httptest.Server
}

func startWSRelay(t testing.TB, l *Log, cfg HubConfig, wrap func(net.Listener) net.Listener) *wsRelay {
	t.Helper()
	cfg.Log = l
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	if cfg.InstanceName == "" {
		cfg.InstanceName = "relay-test"
	}
	h := NewHub(cfg)
	runHub(t, h)
	// The relay's own check, as server.go mounts it.
	auth := func(r *http.Request) (Claims, error) { return authenticateStream(authTestSecret, r, time.Now()) }
	mux := http.NewServeMux()
	mux.Handle("GET /v1/stream", h.ServeWS(auth))
	srv := httptest.NewUnstartedServer(mux)
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		srv.Close()
	})
	eventually(t, "hub ready", h.Ready)
	return &wsRelay{url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/stream", hub: h, log: l, metrics: cfg.Metrics, srv: srv}
}

func wsToken(t testing.TB, name string, role events.Role, ttl time.Duration) string {
	t.Helper()
	tok, err := IssueToken(authTestSecret, name, role, ttl, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wsConsole is a bare WebSocket console: it reads frames itself.
type wsConsole struct {
	t    testing.TB
	conn *websocket.Conn
}

func dialWS(t testing.TB, r *wsRelay, token, query string, d *websocket.Dialer) *wsConsole {
	t.Helper()
	if d == nil {
		d = websocket.DefaultDialer
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	u := r.url
	if query != "" {
		u += "?" + query
	}
	conn, resp, err := d.DialContext(t.Context(), u, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", u, err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsConsole{t: t, conn: conn}
}

// frame reads one frame as a generic map plus its raw bytes.
func (c *wsConsole) frame() (map[string]any, []byte) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("frame %s: %v", data, err)
	}
	return m, data
}

func (c *wsConsole) hello() events.Hello {
	c.t.Helper()
	m, data := c.frame()
	if m["type"] != "hello" {
		c.t.Fatalf("first frame %s, want hello", data)
	}
	var h events.Hello
	_ = json.Unmarshal(data, &h)
	return h
}

// seqs reads event/audit frames until it has one with seq last, failing
// on anything else; it returns their seqs in order.
func (c *wsConsole) seqs(last uint64) []uint64 {
	c.t.Helper()
	var out []uint64
	for len(out) == 0 || out[len(out)-1] < last {
		m, data := c.frame()
		if m["type"] != "event" && m["type"] != "audit" {
			c.t.Fatalf("got %s, want event frames up to seq %d", data, last)
		}
		out = append(out, uint64(m["seq"].(float64)))
	}
	return out
}

// snapshot reads a snapshot's parts and returns its seq and sessions.
func (c *wsConsole) snapshot() (uint64, []events.Session) {
	c.t.Helper()
	var all []events.Session
	for {
		_, data := c.frame()
		var sf events.SnapshotFrame
		if err := json.Unmarshal(data, &sf); err != nil || sf.Type != "snapshot" {
			c.t.Fatalf("got %s, want a snapshot part", data)
		}
		all = append(all, sf.Sessions...)
		if sf.Part == sf.Parts {
			return sf.Seq, all
		}
	}
}

// closeFrame reads until the relay's close frame and returns it.
func (c *wsConsole) closeFrame() (*websocket.CloseError, []uint64) {
	c.t.Helper()
	var seqs []uint64
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, data, err := c.conn.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce, seqs
		}
		if err != nil {
			c.t.Fatalf("read: %v, want a close frame", err)
		}
		var f struct {
			Seq uint64 `json:"seq"`
		}
		_ = json.Unmarshal(data, &f)
		if f.Seq != 0 {
			seqs = append(seqs, f.Seq)
		}
	}
}

func TestWSNoTokenIs401BeforeUpgrade(t *testing.T) {
	r := startWSRelay(t, hubLog(t, t.TempDir(), LogConfig{}), HubConfig{}, nil)
	expired, _ := IssueToken(authTestSecret, "alice", events.RoleViewer, time.Second, time.Now().Add(-time.Hour))
	forged, _ := IssueToken([]byte("not the relay's secret, 32 bytes!!"), "alice", events.RoleAdmin, time.Hour, time.Now())
	for name, header := range map[string]string{
		"no token": "", "expired": "Bearer " + expired, "forged": "Bearer " + forged, "not bearer": "Basic YWxpY2U6eA==",
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, r.srv.URL+"/v1/stream", nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if resp.Header.Get("Upgrade") != "" || resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Fatalf("the refusal carries upgrade headers: %v", resp.Header)
			}
			var body map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["error"] == "" {
				t.Fatalf("body is not a JSON error: %v %v", body, err)
			}
			if strings.HasPrefix(header, "Bearer ") && strings.Contains(body["error"], strings.TrimPrefix(header, "Bearer ")) {
				t.Fatalf("the error echoes the token: %q", body["error"])
			}
			// The gorilla client sees a failed handshake, not a connection.
			h := http.Header{}
			if header != "" {
				h.Set("Authorization", header)
			}
			conn, resp2, err := websocket.DefaultDialer.DialContext(t.Context(), r.url, h)
			if err == nil {
				conn.Close()
				t.Fatal("upgraded without a valid token")
			}
			if resp2 == nil || resp2.StatusCode != http.StatusUnauthorized {
				t.Fatalf("dial: %v, want a 401 handshake failure", err)
			}
		})
	}
	if n := r.hub.Consoles(); n != 0 {
		t.Fatalf("%d consoles attached after refusals", n)
	}
	if v := testutil.ToFloat64(r.metrics.consoles); v != 0 {
		t.Fatalf("consoles gauge %v after refusals", v)
	}
}

func TestWSBadRequests(t *testing.T) {
	r := startWSRelay(t, hubLog(t, t.TempDir(), LogConfig{}), HubConfig{}, nil)
	tok := wsToken(t, "alice", events.RoleViewer, time.Hour)
	for _, q := range []string{"since=abc", "since=-1", "since=1.5", "epoch=" + strings.Repeat("x", 200)} {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+tok)
		_, resp, err := websocket.DefaultDialer.DialContext(t.Context(), r.url+"?"+q, h)
		if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("?%s: %v, want 400", q, err)
		}
	}
	// A plain GET (no upgrade) with a good token is a 400 too.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, r.srv.URL+"/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET: %d, want 400", resp.StatusCode)
	}
}

func TestWSHelloFreshConsoleSnapshotThenLive(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	w := newHubWorkload(5)
	last := appendN(t, l, w, 60)
	r := startWSRelay(t, l, HubConfig{InstanceName: "relay-a"}, nil)

	c := dialWS(t, r, wsToken(t, "alice", events.RoleModerator, time.Hour), "", nil)
	h := c.hello()
	want := events.Hello{Type: "hello", Epoch: l.Epoch(), FirstSeq: 1, LastSeq: last, Name: "alice", Role: events.RoleModerator, Relay: "relay-a"}
	if h != want {
		t.Fatalf("hello = %+v, want %+v", h, want)
	}
	at, sessions := c.snapshot()
	if at != last {
		t.Fatalf("snapshot at %d, want %d", at, last)
	}
	sameLive(t, "snapshot", sessions, hubState(r.hub))
	more := appendN(t, l, w, 25)
	contiguous(t, "live", c.seqs(more), last+1)
}

func TestWSResumeGetsExactlyTheTail(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	w := newHubWorkload(6)
	last := appendN(t, l, w, 80)
	r := startWSRelay(t, l, HubConfig{}, nil)
	tok := wsToken(t, "bob", events.RoleViewer, time.Hour)

	for _, q := range []string{"since=30&epoch=" + l.Epoch(), "since=30", "since=0&epoch=" + l.Epoch(), "since=" + strconv.FormatUint(last, 10)} {
		t.Run(q, func(t *testing.T) {
			c := dialWS(t, r, tok, q, nil)
			c.hello()
			since, _ := strconv.ParseUint(strings.TrimPrefix(strings.Split(q, "&")[0], "since="), 10, 64)
			var got []uint64
			if since < last {
				got = c.seqs(last)
			}
			// Then live, continuing without a gap.
			appended, _, err := l.Append(t.Context(), w.next(), "")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, c.seqs(appended)...)
			contiguous(t, "tail", got, since+1)
			last = appended
		})
	}
}

func TestWSWrongEpochOrTrimmedSinceGetsASnapshot(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	w := newHubWorkload(7)
	last := appendN(t, l, w, 40)
	r := startWSRelay(t, l, HubConfig{}, nil)
	tok := wsToken(t, "carol", events.RoleViewer, time.Hour)
	for _, q := range []string{"since=10&epoch=some-other-log", "since=" + strconv.FormatUint(last+5, 10)} {
		c := dialWS(t, r, tok, q, nil)
		c.hello()
		at, sessions := c.snapshot()
		if at != last {
			t.Errorf("?%s: snapshot at %d, want %d", q, at, last)
		}
		sameLive(t, q, sessions, hubState(r.hub))
	}

	// A since older than the log's head (records aged out) → snapshot.
	tl := hubLog(t, t.TempDir(), LogConfig{MaxAge: time.Second, DuplicateWindow: 500 * time.Millisecond})
	tw := newHubWorkload(8)
	appendN(t, tl, tw, 5)
	eventually(t, "records aged out", func() bool {
		first, _, err := tl.Bounds(t.Context())
		return err == nil && first == 6
	})
	tlast := appendN(t, tl, tw, 3)
	tr := startWSRelay(t, tl, HubConfig{}, nil)
	c := dialWS(t, tr, tok, "since=2&epoch="+tl.Epoch(), nil)
	if h := c.hello(); h.FirstSeq != 6 || h.LastSeq != tlast {
		t.Errorf("hello first/last = %d/%d, want 6/%d", h.FirstSeq, h.LastSeq, tlast)
	}
	if at, _ := c.snapshot(); at != tlast {
		t.Errorf("trimmed since: snapshot at %d, want %d", at, tlast)
	}
}

// smallBuffers shrinks the kernel's socket buffers so a console that does
// not read fills them after a few frames, as a slow link would.
type smallBuffers struct{ net.Listener }

func (s smallBuffers) Accept() (net.Conn, error) {
	c, err := s.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

func TestWSConsoleThatNeverReadsIsClosedWith4000(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	r := startWSRelay(t, l, HubConfig{SendQueue: 8}, func(ln net.Listener) net.Listener { return smallBuffers{ln} })
	tok := wsToken(t, "dave", events.RoleViewer, time.Hour)
	slowDialer := &websocket.Dialer{
		ReadBufferSize: 1024,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetReadBuffer(4096)
			}
			return c, err
		},
	}
	slow := dialWS(t, r, tok, "", slowDialer)
	slow.hello()
	slow.snapshot()
	fast := dialWS(t, r, tok, "", nil)
	fast.hello()
	fast.snapshot()

	// The fast console reads everything as it comes.
	var fastSeqs []uint64
	var fastMu sync.Mutex
	go func() {
		for {
			_ = fast.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, data, err := fast.conn.ReadMessage()
			if err != nil {
				return
			}
			var f struct {
				Seq uint64 `json:"seq"`
			}
			_ = json.Unmarshal(data, &f)
			fastMu.Lock()
			fastSeqs = append(fastSeqs, f.Seq)
			fastMu.Unlock()
		}
	}()

	// Large-ish events, appended until the hub gives up on the slow one.
	pad := strings.Repeat("p", 16<<10)
	var last uint64
	for i := 0; r.hub.Consoles() == 2; i++ {
		if i > 2000 {
			t.Fatal("the console that never reads was never closed")
		}
		body := fmt.Sprintf(`{"sessionId":"2_big","projectId":"1","event":"connectionCreated","timestamp":%d,"connection":{"id":"c%d","createdAt":%d,"data":%q}}`, 1_700_000_000_000+i, i, 1_700_000_000_000+i, pad)
		seq, _, err := l.Append(t.Context(), events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(body)}, "")
		if err != nil {
			t.Fatal(err)
		}
		last = seq
		eventually(t, "applied", func() bool { return r.hub.Applied() >= seq })
	}
	// Now the slow console reads: what was in flight, then the close.
	ce, got := slow.closeFrame()
	if ce.Code != events.CloseLagging {
		t.Fatalf("close code %d (%q), want 4000", ce.Code, ce.Text)
	}
	wantReason := events.ResumeReasonPrefix + "0"
	if len(got) > 0 {
		wantReason = events.ResumeReasonPrefix + strconv.FormatUint(got[len(got)-1], 10)
		contiguous(t, "slow console before the close", got, 1)
	}
	if ce.Text != wantReason {
		t.Fatalf("close reason %q, want %q (the last seq it was sent)", ce.Text, wantReason)
	}
	if v := testutil.ToFloat64(r.metrics.consoleLagging); v != 1 {
		t.Errorf("consoles_lagging_closed_total = %v, want 1", v)
	}
	// The other console was never held up: it has every record.
	more := appendN(t, l, newHubWorkload(9), 5)
	eventually(t, "fast console has everything", func() bool {
		fastMu.Lock()
		defer fastMu.Unlock()
		return len(fastSeqs) > 0 && fastSeqs[len(fastSeqs)-1] == more
	})
	fastMu.Lock()
	contiguous(t, "fast console", fastSeqs, 1)
	fastMu.Unlock()
	t.Logf("slow console closed after %d records; it had read %d; reason %q", last, len(got), ce.Text)

	// And the slow one resumes where it was told to.
	resume := strings.TrimPrefix(ce.Text, events.ResumeReasonPrefix)
	again := dialWS(t, r, tok, "since="+resume+"&epoch="+l.Epoch(), nil)
	again.hello()
	n, _ := strconv.ParseUint(resume, 10, 64)
	contiguous(t, "resumed console", again.seqs(more), n+1)
}

func TestWSCommands(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	type call struct {
		claims Claims
		cmd    events.Command
	}
	calls := make(chan call, 16)
	handler := func(ctx context.Context, c Claims, cmd events.Command) events.Result {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("command context has no deadline")
		}
		calls <- call{c, cmd}
		if c.Role == events.RoleViewer {
			return events.Result{ID: cmd.ID, OK: false, Error: &events.ResultError{Status: 403, Message: "role viewer may not " + cmd.Action}}
		}
		return events.Result{ID: cmd.ID, OK: true, Data: json.RawMessage(`{"echo":"` + cmd.Session + `"}`)}
	}
	r := startWSRelay(t, l, HubConfig{Commands: handler, CommandRate: 1, CommandBurst: 3}, nil)

	viewer := dialWS(t, r, wsToken(t, "vera", events.RoleViewer, time.Hour), "", nil)
	viewer.hello()
	viewer.snapshot()
	send := func(c *wsConsole, frame string) {
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	result := func(c *wsConsole) events.Result {
		t.Helper()
		m, data := c.frame()
		if m["type"] != "result" {
			t.Fatalf("got %s, want a result", data)
		}
		var res events.Result
		_ = json.Unmarshal(data, &res)
		return res
	}

	send(viewer, `{"type":"command","id":"c1","action":"mute","session":"2_s","stream":"st1"}`)
	res := result(viewer)
	got := <-calls
	if got.claims.Name != "vera" || got.claims.Role != events.RoleViewer || got.claims.ID == "" {
		t.Errorf("claims reaching the handler: %+v", got.claims)
	}
	if got.cmd.Action != "mute" || got.cmd.Session != "2_s" || got.cmd.Stream != "st1" {
		t.Errorf("command reaching the handler: %+v", got.cmd)
	}
	if res.ID != "c1" || res.OK || res.Error == nil || res.Error.Status != 403 {
		t.Errorf("result = %+v, want the handler's 403 for c1", res)
	}

	// Frames that cannot be answered are ignored; answerable bad ones get
	// 400. Each spends its token's budget (burst 3), so each token here
	// sends no more than three.
	open := func(name string) *wsConsole {
		c := dialWS(t, r, wsToken(t, name, events.RoleViewer, time.Hour), "", nil)
		c.hello()
		c.snapshot()
		return c
	}
	bad := open("bea")
	send(bad, `not json at all`)
	send(bad, `{"type":"command","action":"mute"}`)
	send(bad, `{"type":"command","id":"c2"}`)
	if res := result(bad); res.ID != "c2" || res.OK || res.Error.Status != 400 {
		t.Errorf("command without an action: %+v, want 400 for c2", res)
	}
	other := open("ben")
	send(other, `{"type":"subscribe","id":"c3"}`)
	if res := result(other); res.ID != "c3" || res.Error == nil || res.Error.Status != 400 {
		t.Errorf("non-command frame: %+v, want 400 for c3", res)
	}
	if v := testutil.ToFloat64(r.metrics.commands.WithLabelValues("unknown", outcomeMalformed)); v < 2 {
		t.Errorf("malformed frames counted %v, want at least 2", v)
	}

	// A moderator's command gets the handler's answer, data and all.
	mod := dialWS(t, r, wsToken(t, "mo", events.RoleModerator, time.Hour), "", nil)
	mod.hello()
	mod.snapshot()
	send(mod, `{"type":"command","id":"m1","action":"signal","session":"2_x"}`)
	if res := result(mod); res.ID != "m1" || !res.OK || string(res.Data) != `{"echo":"2_x"}` {
		t.Errorf("moderator result = %+v", res)
	}
	if c := <-calls; c.claims.Name != "mo" || c.claims.Role != events.RoleModerator {
		t.Errorf("moderator claims = %+v", c.claims)
	}

	// Over the rate: the burst of 3 is spent after m1 and two more.
	statuses := map[int]int{}
	for i := range 6 {
		send(mod, fmt.Sprintf(`{"type":"command","id":"r%d","action":"signal","session":"2_x"}`, i))
	}
	for range 6 {
		res := result(mod)
		if res.OK {
			statuses[200]++
			<-calls
		} else {
			statuses[res.Error.Status]++
		}
	}
	if statuses[429] < 3 {
		t.Errorf("results %v, want at least 3 × 429 over a burst of 3 at 1/s", statuses)
	}
}

// TestWSCommandRateIsPerToken: the command budget belongs to the token,
// not the connection, so opening more connections (or reconnecting) with
// one token buys no more commands; another token has its own.
func TestWSCommandRateIsPerToken(t *testing.T) {
	handler := func(_ context.Context, _ Claims, cmd events.Command) events.Result {
		return events.Result{ID: cmd.ID, OK: true, Data: json.RawMessage(`{}`)}
	}
	// One command per 100 s: nothing refills while the test runs.
	r := startWSRelay(t, hubLog(t, t.TempDir(), LogConfig{}), HubConfig{Commands: handler, CommandRate: 0.01, CommandBurst: 3}, nil)
	open := func(tok string) *wsConsole {
		c := dialWS(t, r, tok, "", nil)
		c.hello()
		c.snapshot()
		return c
	}
	n := 0
	status := func(c *wsConsole) int {
		t.Helper()
		n++
		if err := c.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"command","id":"c%d","action":"signal","session":"2_s"}`, n)); err != nil {
			t.Fatal(err)
		}
		_, data := c.frame()
		var res events.Result
		if err := json.Unmarshal(data, &res); err != nil || res.Type != events.FrameResult || res.ID != fmt.Sprintf("c%d", n) {
			t.Fatalf("got %s, want the result of c%d", data, n)
		}
		if res.OK {
			return http.StatusOK
		}
		return res.Error.Status
	}

	tok := wsToken(t, "mo", events.RoleModerator, time.Hour)
	a, b := open(tok), open(tok)
	got := []int{status(a), status(a), status(b), status(b), status(a)}
	if want := []int{200, 200, 200, 429, 429}; !slices.Equal(got, want) {
		t.Errorf("two connections with one token, burst 3: %v, want %v", got, want)
	}

	// The same person with another token (another jti) is not held back.
	other := open(wsToken(t, "mo", events.RoleModerator, time.Hour))
	if got := status(other); got != http.StatusOK {
		t.Errorf("another token's first command: %d, want 200", got)
	}

	// Reconnecting does not refill the bucket.
	a.conn.Close()
	b.conn.Close()
	if got := status(open(tok)); got != http.StatusTooManyRequests {
		t.Errorf("the spent token on a new connection: %d, want 429", got)
	}

	// Malformed frames spend the budget too: once it is gone they are
	// answered 429, not with a free 400 each.
	third := open(wsToken(t, "mo", events.RoleModerator, time.Hour))
	var answers []int
	for i := range 4 {
		if err := third.conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"command","id":"m%d"}`, i)); err != nil {
			t.Fatal(err)
		}
		_, data := third.frame()
		var res events.Result
		if err := json.Unmarshal(data, &res); err != nil || res.OK || res.Error == nil {
			t.Fatalf("got %s, want a refusal", data)
		}
		answers = append(answers, res.Error.Status)
	}
	if want := []int{400, 400, 400, 429}; !slices.Equal(answers, want) {
		t.Errorf("malformed frames over a burst of 3: %v, want %v", answers, want)
	}
}

func TestWSCommandsDisabled(t *testing.T) {
	r := startWSRelay(t, hubLog(t, t.TempDir(), LogConfig{}), HubConfig{}, nil)
	c := dialWS(t, r, wsToken(t, "ann", events.RoleAdmin, time.Hour), "", nil)
	c.hello()
	c.snapshot()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"command","id":"x","action":"token","session":"2_s"}`)); err != nil {
		t.Fatal(err)
	}
	_, data := c.frame()
	var res events.Result
	_ = json.Unmarshal(data, &res)
	if res.ID != "x" || res.OK || res.Error == nil || res.Error.Status != 501 || res.Error.Message != "commands are not enabled on this relay" {
		t.Errorf("result %s, want 501", data)
	}
}

func TestWSTokenExpiryClosesTheConnection(t *testing.T) {
	r := startWSRelay(t, hubLog(t, t.TempDir(), LogConfig{}), HubConfig{}, nil)
	// IssueToken counts whole seconds: this one expires 1–2 s from now.
	c := dialWS(t, r, wsToken(t, "eve", events.RoleViewer, 2*time.Second), "", nil)
	c.hello()
	c.snapshot()
	ce, _ := c.closeFrame()
	if ce.Code != websocket.ClosePolicyViolation || ce.Text != "token expired" {
		t.Fatalf("closed with %d %q, want 1008 \"token expired\"", ce.Code, ce.Text)
	}
}

func TestWSShutdownClosesConsolesWithAResumeHint(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	last := appendN(t, l, newHubWorkload(10), 12)
	r := startWSRelay(t, l, HubConfig{}, nil)
	c := dialWS(t, r, wsToken(t, "fay", events.RoleViewer, time.Hour), "since=4", nil)
	c.hello()
	c.seqs(last)
	done := make(chan struct{})
	go func() {
		r.hub.Shutdown(t.Context())
		close(done)
	}()
	ce, _ := c.closeFrame()
	if ce.Code != websocket.CloseGoingAway || ce.Text != "resume since="+strconv.FormatUint(last, 10) {
		t.Fatalf("closed with %d %q, want 1001 \"resume since=%d\"", ce.Code, ce.Text, last)
	}
	c.conn.Close()
	<-done
	h := http.Header{}
	h.Set("Authorization", "Bearer "+wsToken(t, "fay", events.RoleViewer, time.Hour))
	if _, resp, err := websocket.DefaultDialer.DialContext(t.Context(), r.url, h); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v, want 503", err)
	}
}

// dialProtocols opens the stream as a browser does: the token, if any, in
// the offered subprotocols; header is for the cases that mix in
// Authorization. It returns the connection (nil if refused), the answer and
// the refusal's error message.
func dialProtocols(t testing.TB, r *wsRelay, query string, protocols []string, header http.Header) (*websocket.Conn, *http.Response, string) {
	t.Helper()
	d := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: protocols}
	u := r.url
	if query != "" {
		u += "?" + query
	}
	conn, resp, err := d.DialContext(t.Context(), u, header)
	if resp == nil {
		t.Fatalf("dial %v: %v (no answer)", protocols, err)
	}
	if err == nil {
		t.Cleanup(func() { conn.Close() })
		return conn, resp, ""
	}
	raw, rerr := io.ReadAll(resp.Body)
	if rerr != nil {
		t.Fatalf("dial %v: %v; reading the HTTP %d body: %v", protocols, err, resp.StatusCode, rerr)
	}
	var body map[string]string
	if jerr := json.Unmarshal(raw, &body); jerr == nil && body["error"] != "" {
		return nil, resp, body["error"]
	}
	// gorilla's own handshake refusals (the Origin check) are plain text.
	return nil, resp, strings.TrimSpace(string(raw))
}

// TestWSTokenInSubprotocol: a browser, which cannot set Authorization,
// opens the stream with its token in Sec-WebSocket-Protocol next to
// gavel.v1. The relay answers gavel.v1 and never echoes the token; the
// console is who its token says, down to the token's expiry.
func TestWSTokenInSubprotocol(t *testing.T) {
	r := startWSRelay(t, hubLog(t, t.TempDir(), LogConfig{}), HubConfig{}, nil)
	tok := wsToken(t, "bea", events.RoleModerator, time.Hour)
	bearer := http.Header{"Authorization": {"Bearer " + tok}}
	// RFC 6455 lets a client split its protocols over several lines.
	twoLines := http.Header{}
	twoLines.Add("Sec-WebSocket-Protocol", events.TokenProtocol(tok))
	twoLines.Add("Sec-WebSocket-Protocol", events.StreamProtocol)
	for _, c := range []struct {
		name      string
		protocols []string
		header    http.Header
		want      string // the selected protocol
	}{
		{"browser", []string{events.StreamProtocol, events.TokenProtocol(tok)}, nil, events.StreamProtocol},
		{"token offered first", []string{events.TokenProtocol(tok), events.StreamProtocol}, nil, events.StreamProtocol},
		{"split over two header lines", nil, twoLines, events.StreamProtocol},
		{"a page from the relay's origin", []string{events.StreamProtocol, events.TokenProtocol(tok)},
			http.Header{"Origin": {r.srv.URL}}, events.StreamProtocol},
		{"the same token in both", []string{events.StreamProtocol, events.TokenProtocol(tok)}, bearer, events.StreamProtocol},
		{"Authorization with gavel.v1", []string{events.StreamProtocol}, bearer, events.StreamProtocol},
		{"Authorization, no protocols (the Go console)", nil, bearer, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, resp, refusal := dialProtocols(t, r, "", c.protocols, c.header)
			if conn == nil {
				t.Fatalf("refused with %d %q", resp.StatusCode, refusal)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); conn.Subprotocol() != c.want || len(got) > 1 || (c.want == "") != (len(got) == 0) {
				t.Fatalf("selected %q (header %q), want %q", conn.Subprotocol(), got, c.want)
			}
			for k, v := range resp.Header {
				if strings.Contains(fmt.Sprint(v), events.TokenProtocolPrefix) || strings.Contains(fmt.Sprint(v), tok) {
					t.Fatalf("the answer's %s header echoes the token: %q", k, v)
				}
			}
			ws := &wsConsole{t: t, conn: conn}
			if h := ws.hello(); h.Name != "bea" || h.Role != events.RoleModerator {
				t.Fatalf("hello %+v, want bea the moderator", h)
			}
		})
	}

	t.Run("closed at the token's expiry", func(t *testing.T) {
		// IssueToken counts whole seconds: this one expires 1–2 s from now.
		short := wsToken(t, "eve", events.RoleViewer, 2*time.Second)
		conn, resp, refusal := dialProtocols(t, r, "", []string{events.StreamProtocol, events.TokenProtocol(short)}, nil)
		if conn == nil {
			t.Fatalf("refused with %d %q", resp.StatusCode, refusal)
		}
		ws := &wsConsole{t: t, conn: conn}
		ws.hello()
		ws.snapshot()
		if ce, _ := ws.closeFrame(); ce.Code != websocket.ClosePolicyViolation || ce.Text != "token expired" {
			t.Fatalf("closed with %d %q, want 1008 \"token expired\"", ce.Code, ce.Text)
		}
	})
}

// TestWSSubprotocolTokenRefusedBeforeUpgrade: a bad token in the
// subprotocol is refused like one in Authorization — 401 before the
// upgrade, in the same words — and so is a token anywhere else.
func TestWSSubprotocolTokenRefusedBeforeUpgrade(t *testing.T) {
	r := startWSRelay(t, hubLog(t, t.TempDir(), LogConfig{}), HubConfig{}, nil)
	good := wsToken(t, "alice", events.RoleAdmin, time.Hour)
	other := wsToken(t, "mallory", events.RoleAdmin, time.Hour)
	expired, _ := IssueToken(authTestSecret, "alice", events.RoleViewer, time.Second, time.Now().Add(-time.Hour))
	forged, _ := IssueToken([]byte("not the relay's secret, 32 bytes!!"), "alice", events.RoleAdmin, time.Hour, time.Now())
	gavel := events.StreamProtocol

	// The same words as the same token in Authorization.
	_, _, viaHeader := dialProtocols(t, r, "", nil, http.Header{"Authorization": {"Bearer " + expired}})
	if !strings.Contains(viaHeader, "expired") {
		t.Fatalf("expired token in Authorization refused with %q", viaHeader)
	}

	for _, c := range []struct {
		name      string
		query     string
		protocols []string
		header    http.Header
		status    int
		want      string
	}{
		{"expired", "", []string{gavel, events.TokenProtocol(expired)}, nil, 401, viaHeader},
		{"forged", "", []string{gavel, events.TokenProtocol(forged)}, nil, 401, "bad signature"},
		{"not base64url", "", []string{gavel, events.TokenProtocolPrefix + "not*base64"}, nil, 401, "not base64url"},
		{"empty", "", []string{gavel, events.TokenProtocolPrefix}, nil, 401, "empty"},
		{"raw JWT, not encoded", "", []string{gavel, events.TokenProtocolPrefix + good}, nil, 401, "invalid"},
		{"two tokens", "", []string{gavel, events.TokenProtocol(good), events.TokenProtocol(other)}, nil, 401, "offer one"},
		{"different token in Authorization", "", []string{gavel, events.TokenProtocol(good)}, http.Header{"Authorization": {"Bearer " + other}}, 401, "different tokens"},
		{"no token", "", []string{gavel}, nil, 401, "missing bearer token"},
		{"token in the query", "token=" + good, []string{gavel}, nil, 401, "missing bearer token"},
		{"access_token in the query", "access_token=" + good, []string{gavel}, nil, 401, "missing bearer token"},
		{"a bad token offered alone", "", []string{events.TokenProtocol(expired)}, nil, 401, viaHeader},
		// The Origin check guards against cross-site pages; it comes after
		// the token, which it does not replace.
		{"a page from another origin", "", []string{gavel, events.TokenProtocol(good)}, http.Header{"Origin": {"https://elsewhere.example"}}, 403, "Forbidden"},
		// A good one offered alone: browsers would fail any 101 (there is
		// no protocol to select), so the relay says what to offer instead.
		{"a good token offered alone", "", []string{events.TokenProtocol(good)}, nil, 400, `offer "gavel.v1"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, resp, refusal := dialProtocols(t, r, c.query, c.protocols, c.header)
			if conn != nil {
				t.Fatalf("upgraded (protocol %q), want %d", conn.Subprotocol(), c.status)
			}
			if resp.StatusCode != c.status || !strings.Contains(refusal, c.want) {
				t.Fatalf("%d %q, want %d containing %q", resp.StatusCode, refusal, c.status, c.want)
			}
			if c.want == viaHeader && refusal != viaHeader {
				t.Fatalf("refused with %q; Authorization gets %q", refusal, viaHeader)
			}
			if resp.Header.Get("Sec-WebSocket-Accept") != "" || len(resp.Header.Values("Sec-WebSocket-Protocol")) != 0 {
				t.Fatalf("the refusal carries handshake headers: %v", resp.Header)
			}
			for _, secret := range []string{good, other, expired, forged} {
				if strings.Contains(refusal, secret) {
					t.Fatalf("the refusal quotes a token: %q", refusal)
				}
			}
		})
	}
	if n := r.hub.Consoles(); n != 0 {
		t.Fatalf("%d consoles attached after refusals", n)
	}
}

// TestWSFrameOverTheReadLimitClosesThatConsole: consoles send only small
// commands, so a frame over maxReadSize is refused before it is read
// into memory — that console is closed with 1009 (message too big) —
// while a frame just under it is answered, and other consoles carry on.
func TestWSFrameOverTheReadLimitClosesThatConsole(t *testing.T) {
	l := hubLog(t, t.TempDir(), LogConfig{})
	r := startWSRelay(t, l, HubConfig{}, nil)
	big := dialWS(t, r, wsToken(t, "mallory", events.RoleViewer, time.Hour), "", nil)
	big.hello()
	big.snapshot()
	other := dialWS(t, r, wsToken(t, "ann", events.RoleViewer, time.Hour), "", nil)
	other.hello()
	other.snapshot()

	under := `{"type":"command","id":"under","action":"signal","session":"2_s","params":{"data":"` + strings.Repeat("x", maxReadSize-200) + `"}}`
	if err := big.conn.WriteMessage(websocket.TextMessage, []byte(under)); err != nil {
		t.Fatal(err)
	}
	if m, data := big.frame(); m["type"] != "result" || m["id"] != "under" {
		t.Fatalf("a frame of %d bytes got %s, want its result", len(under), data)
	}
	if err := big.conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", maxReadSize+1))); err != nil {
		t.Fatal(err)
	}
	if ce, _ := big.closeFrame(); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("a frame over the limit: closed with %d %q, want 1009", ce.Code, ce.Text)
	}
	last := appendN(t, l, newHubWorkload(1), 3)
	if got := other.seqs(last); got[len(got)-1] != last {
		t.Fatalf("the other console got %v, want up to %d", got, last)
	}
}
