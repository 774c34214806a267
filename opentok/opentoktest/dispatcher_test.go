package opentoktest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// dispReceived is one request as the receiver saw it.
type dispReceived struct {
	body   []byte
	header http.Header
	at     time.Time
	status int
}

// dispReceiver is a real HTTP server recording every request. status, if set,
// chooses the answer to the n-th request (0-based) with that body.
type dispReceiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	reqs   []dispReceived
	tries  map[string]int
	status func(body []byte, n int) int
}

func newDispReceiver(t testing.TB, status func(body []byte, n int) int) *dispReceiver {
	t.Helper()
	rv := &dispReceiver{tries: map[string]int{}, status: status}
	rv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rv.mu.Lock()
		n := rv.tries[string(body)]
		rv.tries[string(body)] = n + 1
		code := http.StatusOK
		if rv.status != nil {
			code = rv.status(body, n)
		}
		rv.reqs = append(rv.reqs, dispReceived{body: body, header: r.Header.Clone(), at: time.Now(), status: code})
		rv.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(rv.srv.Close)
	return rv
}

func (rv *dispReceiver) requests() []dispReceived {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return slices.Clone(rv.reqs)
}

// delivered is the bodies answered 2xx, in arrival order.
func (rv *dispReceiver) delivered() []string {
	var out []string
	for _, r := range rv.requests() {
		if r.status >= 200 && r.status < 300 {
			out = append(out, string(r.body))
		}
	}
	return out
}

func dispStart(t testing.TB, cfg dispatchConfig) *dispatcher {
	t.Helper()
	d := newDispatcher(cfg)
	t.Cleanup(d.Close)
	return d
}

func dispFlush(t testing.TB, d *dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v (stats %+v)", err, d.Stats())
	}
}

// dispBody is a session-monitoring-like body with a sequence number.
func dispBody(session string, seq int) []byte {
	return fmt.Appendf(nil, `{"sessionId":%q,"projectId":"46000000","event":"connectionCreated","timestamp":%d,"seq":%d}`,
		session, 1700000000000+seq, seq)
}

func dispBodySeq(t testing.TB, body string) (session string, seq int) {
	t.Helper()
	var v struct {
		SessionID string `json:"sessionId"`
		Seq       int    `json:"seq"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v.SessionID, v.Seq
}

func TestDispatchUnsigned(t *testing.T) {
	rv := newDispReceiver(t, nil)
	d := dispStart(t, dispatchConfig{Workers: 3})
	const sessions, per = 6, 100
	want := map[string]bool{}
	var wg sync.WaitGroup
	for s := range sessions {
		sid := fmt.Sprintf("1_session-%d", s)
		for i := range per {
			want[string(dispBody(sid, i))] = true
		}
		// One goroutine per session, as concurrent REST handlers would.
		wg.Go(func() {
			for i := range per {
				d.enqueue(callback{group: GroupSession, url: rv.srv.URL + "/cb", sessionID: sid, body: dispBody(sid, i)})
			}
		})
	}
	wg.Wait()
	dispFlush(t, d)

	reqs := rv.requests()
	if len(reqs) != sessions*per {
		t.Fatalf("received %d requests, want %d", len(reqs), sessions*per)
	}
	last := map[string]int{}
	seen := map[string]bool{}
	for _, r := range reqs {
		if !want[string(r.body)] {
			t.Fatalf("unexpected body %q", r.body)
		}
		if seen[string(r.body)] {
			t.Fatalf("body received twice: %q", r.body)
		}
		seen[string(r.body)] = true
		if ct := r.header["Content-Type"]; len(ct) != 1 || ct[0] != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if ua := r.header.Get("User-Agent"); ua != callbackUserAgent {
			t.Fatalf("User-Agent %q", ua)
		}
		if a := r.header.Get("Authorization"); a != "" {
			t.Fatalf("unsigned callback has Authorization %q", a)
		}
		sid, seq := dispBodySeq(t, string(r.body))
		if prev, ok := last[sid]; ok && seq != prev+1 {
			t.Fatalf("session %s: seq %d after %d", sid, seq, prev)
		}
		last[sid] = seq
	}
	st := d.Stats()
	if st != (DispatchStats{Enqueued: sessions * per, Delivered: sessions * per}) {
		t.Fatalf("stats %+v", st)
	}
}

// dispVerified is what dispVerify extracts from a signed request.
type dispVerified struct {
	IssuedAt      time.Time
	JTI           string
	APIKey, AppID string
}

// dispVerify checks a signed callback the way a careful dispReceiver
// would (the Secure callbacks guide), independently of the dispatcher's signer:
// golang-jwt pinned to HS256, iss, and payload_hash against the raw body.
func dispVerify(secret string, authorization string, body []byte) (dispVerified, error) {
	var out dispVerified
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return out, errors.New(`Authorization lacks "Bearer "`)
	}
	hdr, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return out, fmt.Errorf("header: %v", err)
	}
	if string(raw) != `{"alg":"HS256","typ":"JWT"}` {
		return out, fmt.Errorf("header %s", raw)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("Vonage"), jwt.WithIssuedAt())
	if err != nil {
		return out, err
	}
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return out, fmt.Errorf("iat: %v", err)
	}
	out.IssuedAt = iat.Time
	out.JTI, _ = claims["jti"].(string)
	out.APIKey, _ = claims["api_key"].(string)
	out.AppID, _ = claims["application_id"].(string)
	ph, _ := claims["payload_hash"].(string)
	sum := sha256.Sum256(body)
	if want := hex.EncodeToString(sum[:]); subtle.ConstantTimeCompare([]byte(ph), []byte(want)) != 1 {
		return out, fmt.Errorf("payload_hash %q, body hashes to %q", ph, want)
	}
	return out, nil
}

func TestDispatchSigned(t *testing.T) {
	const secret = "signature-secret-0123456789"
	rv := newDispReceiver(t, nil)
	d := dispStart(t, dispatchConfig{SignatureSecret: secret, APIKey: "46000000", ApplicationID: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"})
	const n = 50
	for i := range n {
		d.enqueue(callback{group: GroupArchive, url: rv.srv.URL, sessionID: fmt.Sprint("s", i%5), body: dispBody("s", i)})
	}
	dispFlush(t, d)
	reqs := rv.requests()
	if len(reqs) != n {
		t.Fatalf("received %d requests, want %d", len(reqs), n)
	}
	jtis := map[string]bool{}
	for _, r := range reqs {
		auth := r.header.Get("Authorization")
		v, err := dispVerify(secret, auth, r.body)
		if err != nil {
			t.Fatalf("verify: %v (Authorization %q)", err, auth)
		}
		if skew := time.Since(v.IssuedAt); skew < -2*time.Second || skew > 5*time.Second {
			t.Errorf("iat %v is %v from now", v.IssuedAt, skew)
		}
		if v.JTI == "" || jtis[v.JTI] {
			t.Errorf("jti %q empty or repeated", v.JTI)
		}
		jtis[v.JTI] = true
		if len(v.JTI) != 36 || v.JTI[14] != '4' {
			t.Errorf("jti %q is not a v4 UUID", v.JTI)
		}
		if v.APIKey != "46000000" || v.AppID != "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab" {
			t.Errorf("api_key %q application_id %q", v.APIKey, v.AppID)
		}

		// The verifier can fail: wrong secret, altered body, no prefix.
		if _, err := dispVerify(secret+"x", auth, r.body); err == nil {
			t.Fatal("verified with a tampered secret")
		}
		if _, err := dispVerify(secret, auth, append(slices.Clone(r.body), ' ')); err == nil {
			t.Fatal("verified a tampered body")
		}
		if _, err := dispVerify(secret, strings.TrimPrefix(auth, "Bearer "), r.body); err == nil {
			t.Fatal("verified without the Bearer prefix")
		}
	}
}

// TestDispatchSignedClaimsOrder pins the claim layout to Vonage's example (the Secure
// callbacks guide: https://developer.vonage.com/en/video/guides/secure-callbacks), and
// checks a project hook overrides the static claims.
func TestDispatchSignedClaimsOrder(t *testing.T) {
	rv := newDispReceiver(t, nil)
	d := dispStart(t, dispatchConfig{SignatureSecret: "k", APIKey: "static",
		Project: func(cb callback) (string, string) { return "key-" + cb.sessionID, "" }})
	d.enqueue(callback{url: rv.srv.URL, sessionID: "s1", body: []byte(`{}`)})
	dispFlush(t, d)
	tok := strings.TrimPrefix(rv.requests()[0].header.Get("Authorization"), "Bearer ")
	parts := strings.Split(tok, ".")
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	const prefix = `{"iat":`
	sum := sha256.Sum256([]byte(`{}`))
	suffix := `","iss":"Vonage","payload_hash":"` + hex.EncodeToString(sum[:]) + `","api_key":"key-s1"}`
	if !strings.HasPrefix(string(claims), prefix) || !strings.HasSuffix(string(claims), suffix) || !strings.Contains(string(claims), `,"jti":"`) {
		t.Fatalf("claims %s", claims)
	}
}

func TestDispatchBackoff(t *testing.T) {
	want := []time.Duration{0, 5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second,
		80 * time.Second, 160 * time.Second, 320 * time.Second, 640 * time.Second, 15 * time.Minute, 15 * time.Minute}
	for attempt, w := range want {
		if got := backoff(attempt); got != w {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, w)
		}
	}
	for _, attempt := range []int{11, 40, 64, 1000, 1 << 40} {
		if got := backoff(attempt); got != 15*time.Minute {
			t.Errorf("backoff(%d) = %v, want the 15 min cap", attempt, got)
		}
	}
	// Tries within 24 h: the first, 8 doubling waits (1275 s), then every
	// 15 min while the next try is still within the day.
	tries, waited := 1, time.Duration(0)
	for ; waited+backoff(tries) <= 24*time.Hour; tries++ {
		waited += backoff(tries)
	}
	if tries != 1+8+94 {
		t.Errorf("%d tries within 24 h, want 103", tries)
	}
}

func TestDispatchRetry(t *testing.T) {
	rv := newDispReceiver(t, func(_ []byte, n int) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	const scale = 1000 // 5 s → 5 ms, 10 s → 10 ms
	d := dispStart(t, dispatchConfig{TimeScale: scale})
	d.enqueue(callback{url: rv.srv.URL, sessionID: "s", body: []byte(`{"n":1}`)})
	dispFlush(t, d)
	reqs := rv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for _, r := range reqs {
		if string(r.body) != `{"n":1}` {
			t.Fatalf("retry body %q", r.body)
		}
	}
	// Timers never fire early, so the gaps are at least the scaled
	// backoffs; upper bounds would only measure the machine.
	if g := reqs[1].at.Sub(reqs[0].at); g < backoff(1)/scale {
		t.Errorf("first retry after %v, want ≥ %v", g, backoff(1)/scale)
	}
	if g := reqs[2].at.Sub(reqs[1].at); g < backoff(2)/scale {
		t.Errorf("second retry after %v, want ≥ %v", g, backoff(2)/scale)
	}
	if st := d.Stats(); st != (DispatchStats{Enqueued: 1, Delivered: 1, Retried: 2}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestDispatchGiveUp(t *testing.T) {
	rv := newDispReceiver(t, func([]byte, int) int { return http.StatusServiceUnavailable })
	var logs atomic.Value
	// One minute of service time: tries at 0, 5, 15 and 35 s; the next
	// would be at 75 s, past the budget.
	d := dispStart(t, dispatchConfig{TimeScale: 10000, RetryFor: time.Minute,
		Logf: func(format string, args ...any) { logs.Store(fmt.Sprintf(format, args...)) }})
	d.enqueue(callback{group: GroupSession, url: rv.srv.URL, sessionID: "s", body: []byte(`{}`)})
	dispFlush(t, d)
	if n := len(rv.requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	if st := d.Stats(); st != (DispatchStats{Enqueued: 1, Retried: 3, Failed: 1}) {
		t.Errorf("stats %+v", st)
	}
	if l, _ := logs.Load().(string); !strings.Contains(l, "given up after 4 tries") || !strings.Contains(l, "503") {
		t.Errorf("log %q", l)
	}
}

func TestDispatchBadURLFailsAtOnce(t *testing.T) {
	d := dispStart(t, dispatchConfig{TimeScale: 1})
	d.enqueue(callback{url: "http://bad host/", sessionID: "s", body: []byte(`{}`)})
	dispFlush(t, d)
	if st := d.Stats(); st != (DispatchStats{Enqueued: 1, Failed: 1}) {
		t.Errorf("stats %+v", st)
	}
}

// TestDispatchRetryReorders checks a retried callback holds back neither
// other sessions nor its own session's later callbacks (Vonage support, callback retries:
// https://api.support.vonage.com/hc/en-us/articles/6646236108700).
func TestDispatchRetryReorders(t *testing.T) {
	first := []byte(`{"sessionId":"A","seq":0}`)
	rv := newDispReceiver(t, func(body []byte, n int) int {
		if bytes.Equal(body, first) && n == 0 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	// 5 s → 50 ms: long enough for the others to go first.
	d := dispStart(t, dispatchConfig{Workers: 1, TimeScale: 100})
	d.enqueue(callback{url: rv.srv.URL, sessionID: "A", body: first})
	d.enqueue(callback{url: rv.srv.URL, sessionID: "A", body: []byte(`{"sessionId":"A","seq":1}`)})
	d.enqueue(callback{url: rv.srv.URL, sessionID: "B", body: []byte(`{"sessionId":"B","seq":0}`)})
	dispFlush(t, d)
	got := rv.delivered()
	want := []string{`{"sessionId":"A","seq":1}`, `{"sessionId":"B","seq":0}`, string(first)}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}

// dispFaultRun sends n callbacks over 8 sessions with faults and returns the
// dispatcher's stats and the dispReceiver's requests.
func dispFaultRun(t *testing.T, f Faults, seed int64, workers, n int) (DispatchStats, *dispReceiver) {
	t.Helper()
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	rv := newDispReceiver(t, nil)
	d := dispStart(t, dispatchConfig{Faults: f, Seed: seed, Workers: workers, TimeScale: 1000})
	for i := range n {
		sid := fmt.Sprint("1_s", i%8)
		d.enqueue(callback{url: rv.srv.URL, sessionID: sid, body: dispBody(sid, i)})
	}
	dispFlush(t, d)
	return d.Stats(), rv
}

func TestDispatchFaultDrop(t *testing.T) {
	const n = 1000
	st, rv := dispFaultRun(t, Faults{Drop: 0.3}, 7, 4, n)
	if st.Dropped < 230 || st.Dropped > 370 {
		t.Errorf("dropped %d of %d, want about 300", st.Dropped, n)
	}
	got := rv.delivered()
	if uint64(len(got)) != st.Enqueued-st.Dropped+st.Duplicated || st.Delivered != uint64(len(got)) || st.Enqueued != n {
		t.Errorf("received %d, stats %+v", len(got), st)
	}

	// Same seed, different worker count and timing: the same callbacks
	// are lost. Another seed loses others.
	_, rv2 := dispFaultRun(t, Faults{Drop: 0.3}, 7, 2, n)
	a, b := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(rv2.delivered()))
	if !slices.Equal(a, b) {
		t.Errorf("seed 7 delivered different sets: %d vs %d bodies", len(a), len(b))
	}
	_, rv3 := dispFaultRun(t, Faults{Drop: 0.3}, 8, 4, n)
	if c := slices.Sorted(slices.Values(rv3.delivered())); slices.Equal(a, c) {
		t.Error("seeds 7 and 8 dropped the same callbacks")
	}
}

func TestDispatchFaultDuplicate(t *testing.T) {
	const n = 200
	st, rv := dispFaultRun(t, Faults{Duplicate: 1}, 1, 4, n)
	count := map[string]int{}
	for _, b := range rv.delivered() {
		count[b]++
	}
	if len(count) != n {
		t.Fatalf("%d distinct bodies, want %d", len(count), n)
	}
	for b, c := range count {
		if c != 2 {
			t.Fatalf("body %s received %d times", b, c)
		}
	}
	if st != (DispatchStats{Enqueued: n, Delivered: 2 * n, Duplicated: n}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestDispatchFaultReorder(t *testing.T) {
	const n = 400
	st, rv := dispFaultRun(t, Faults{Reorder: 0.2}, 3, 1, n)
	got := rv.delivered()
	if len(got) != n || st.Delivered != n || st.Reordered == 0 {
		t.Fatalf("received %d, stats %+v", len(got), st)
	}
	seen := map[string]bool{}
	last := map[string]int{}
	inversions := 0
	for _, b := range got {
		if seen[b] {
			t.Fatalf("duplicate %s", b)
		}
		seen[b] = true
		sid, seq := dispBodySeq(t, b)
		if prev, ok := last[sid]; ok && seq < prev {
			inversions++
		}
		last[sid] = max(last[sid], seq)
	}
	if inversions == 0 {
		t.Fatal("no session saw its callbacks out of order")
	}
	t.Logf("%d held back, %d in-session inversions", st.Reordered, inversions)
}

// TestDispatchFlushWaitsForDelayAndRetry: every callback is delayed and
// then fails its first try, and Flush still returns only once all are in.
func TestDispatchFlushWaitsForDelayAndRetry(t *testing.T) {
	rv := newDispReceiver(t, func(_ []byte, n int) int {
		if n == 0 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	const n = 50
	d := dispStart(t, dispatchConfig{Faults: Faults{Delay: 1, MaxDelay: 30 * time.Second}, TimeScale: 1000, Seed: 5})
	for i := range n {
		d.enqueue(callback{url: rv.srv.URL, sessionID: fmt.Sprint(i % 3), body: dispBody("s", i)})
	}
	dispFlush(t, d)
	if got := len(rv.delivered()); got != n {
		t.Fatalf("Flush returned with %d of %d delivered", got, n)
	}
	if st := d.Stats(); st != (DispatchStats{Enqueued: n, Delivered: n, Retried: n, Delayed: n}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestDispatchFlushContext(t *testing.T) {
	rv := newDispReceiver(t, func([]byte, int) int { return http.StatusInternalServerError })
	d := dispStart(t, dispatchConfig{})
	d.enqueue(callback{url: rv.srv.URL, sessionID: "s", body: []byte(`{}`)})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := d.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush = %v, want deadline exceeded", err)
	}
	// Nothing pending: Flush returns at once.
	if err := dispIdle(t).Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func dispIdle(t *testing.T) *dispatcher { return dispStart(t, dispatchConfig{}) }

// dispHangingReceiver accepts requests and answers none until the test ends.
func dispHangingReceiver(t *testing.T) (url string, arrived <-chan struct{}) {
	release := make(chan struct{})
	in := make(chan struct{}, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: unblocks handlers
	return srv.URL, in
}

func TestDispatchCloseIsPrompt(t *testing.T) {
	url, arrived := dispHangingReceiver(t)
	rv := newDispReceiver(t, func([]byte, int) int { return http.StatusInternalServerError })
	d := newDispatcher(dispatchConfig{Workers: 2})
	other := "retrying"
	for shardOf(other, 2) == shardOf("hung", 2) {
		other += "+"
	}
	d.enqueue(callback{url: url, sessionID: "hung", body: []byte(`{}`)})
	d.enqueue(callback{url: rv.srv.URL, sessionID: other, body: []byte(`{}`)}) // 5 s backoff pending
	<-arrived
	for len(rv.requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	d.Close()
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close took %v", el)
	}
	d.Close() // idempotent
	if err := d.Flush(context.Background()); err == nil {
		t.Fatal("Flush after Close with callbacks pending returned nil")
	}
	done := make(chan struct{})
	go func() {
		d.enqueue(callback{url: url, sessionID: "late", body: []byte(`{}`)})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("enqueue after Close blocked")
	}
	if st := d.Stats(); st.Failed != 0 || st.Enqueued != 2 {
		t.Fatalf("stats %+v: abandoned callbacks are not failures", st)
	}
}

func TestDispatchBackpressure(t *testing.T) {
	url, arrived := dispHangingReceiver(t)
	d := dispStart(t, dispatchConfig{Workers: 1, QueueLen: 2})
	d.enqueue(callback{url: url, sessionID: "s", body: []byte(`{"n":0}`)})
	<-arrived // in flight; its slot is free again
	d.enqueue(callback{url: url, sessionID: "s", body: []byte(`{"n":1}`)})
	d.enqueue(callback{url: url, sessionID: "s", body: []byte(`{"n":2}`)})
	returned := make(chan struct{})
	go func() {
		d.enqueue(callback{url: url, sessionID: "s", body: []byte(`{"n":3}`)})
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("enqueue on a full queue did not block")
	case <-time.After(50 * time.Millisecond):
	}
	d.Close() // releases the blocked enqueue
	select {
	case <-returned:
	case <-time.After(time.Second):
		t.Fatal("Close did not release a blocked enqueue")
	}
}

// TestDispatchQueueDoesNotGrow: a queue that never drains completely
// must reuse its backing array rather than grow with every push.
func TestDispatchQueueDoesNotGrow(t *testing.T) {
	w := &dispatchWorker{wake: make(chan struct{}, 1)}
	w.push(&dispatchJob{})
	for range 100000 {
		w.push(&dispatchJob{})
		if w.pop() == nil {
			t.Fatal("empty queue")
		}
	}
	if c := cap(w.queue); c > 64 {
		t.Fatalf("backing array grew to %d for at most 2 queued jobs", c)
	}
}

func TestDispatchFaultsValidate(t *testing.T) {
	for _, tc := range []struct {
		f     Faults
		field string // "" = valid
	}{
		{Faults{}, ""},
		{Faults{Drop: 1, Duplicate: 1, Reorder: 1, Delay: 1, MaxDelay: time.Second}, ""},
		{Faults{Drop: -0.1}, "Drop"},
		{Faults{Duplicate: 1.5}, "Duplicate"},
		{Faults{Reorder: 2}, "Reorder"},
		{Faults{Delay: math.NaN()}, "Delay"},
		{Faults{Delay: 0.5}, "MaxDelay"},
		{Faults{MaxDelay: -time.Second}, "MaxDelay"},
	} {
		err := tc.f.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.f, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%+v: error %v, want one naming %s", tc.f, err, tc.field)
		}
	}
}

// BenchmarkDispatch measures sustained callbacks/s to a loopback dispReceiver
// through the default client, unsigned and signed.
func BenchmarkDispatch(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "unsigned"
		if signed {
			name = "signed"
		}
		b.Run(name, func(b *testing.B) {
			var got atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				got.Add(1)
			}))
			defer srv.Close()
			cfg := dispatchConfig{APIKey: "46000000"}
			if signed {
				cfg.SignatureSecret = "signature-secret-0123456789"
			}
			d := newDispatcher(cfg)
			defer d.Close()
			bodies, ids := make([][]byte, 64), make([]string, 64)
			for i := range bodies {
				ids[i] = fmt.Sprint("1_session-", i)
				bodies[i] = dispBody(ids[i], i)
			}
			url := srv.URL + "/callbacks/session"
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				s := i % len(bodies)
				d.enqueue(callback{group: GroupSession, url: url, sessionID: ids[s], body: bodies[s]})
			}
			if err := d.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if got.Load() != int64(b.N) {
				b.Fatalf("received %d of %d", got.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "callbacks/s")
		})
	}
}

// TestDispatchSignsEachGroupWithItsSecret: a group with a secret of its own
// is signed with that one alone; the others keep the default secret, or
// go unsigned when there is none.
func TestDispatchSignsEachGroupWithItsSecret(t *testing.T) {
	const def, archive = "default-secret-0123456789", "archive-secret-0123456789"
	for _, c := range []struct {
		name          string
		cfg           dispatchConfig
		sessionSecret string // "" = unsigned
	}{
		{"with a default", dispatchConfig{SignatureSecret: def, GroupSecrets: map[CallbackGroup]string{GroupArchive: archive}}, def},
		{"archive alone", dispatchConfig{GroupSecrets: map[CallbackGroup]string{GroupArchive: archive}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rv := newDispReceiver(t, nil)
			d := dispStart(t, c.cfg)
			d.enqueue(callback{group: GroupArchive, url: rv.srv.URL, sessionID: "s", body: dispBody("archive", 1)})
			d.enqueue(callback{group: GroupSession, url: rv.srv.URL, sessionID: "s", body: dispBody("session", 2)})
			dispFlush(t, d)
			reqs := rv.requests()
			if len(reqs) != 2 {
				t.Fatalf("received %d requests, want 2", len(reqs))
			}
			for _, r := range reqs {
				auth := r.header.Get("Authorization")
				if bytes.Contains(r.body, []byte("archive")) {
					if _, err := dispVerify(archive, auth, r.body); err != nil {
						t.Errorf("archive callback: %v, want it signed with the archive secret", err)
					}
					if _, err := dispVerify(def, auth, r.body); err == nil {
						t.Error("archive callback verifies with the default secret too")
					}
					continue
				}
				switch {
				case c.sessionSecret == "" && auth != "":
					t.Errorf("session callback signed (%q), want unsigned", auth)
				case c.sessionSecret != "":
					if _, err := dispVerify(c.sessionSecret, auth, r.body); err != nil {
						t.Errorf("session callback: %v, want it signed with the default secret", err)
					}
				}
			}
		})
	}
}
