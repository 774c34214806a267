package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

const testCallbackSecret = "callback-signature-secret-0123456789"

// receiverFixture is a receiver on a real loopback HTTP server, mounted as
// the server mounts it, over an embedded log, with its own registry.
type receiverFixture struct {
	log *Log
	reg *prometheus.Registry
	url string // base URL of the HTTP server
}

func newReceiverFixture(t testing.TB, cfg ReceiverConfig) *receiverFixture {
	t.Helper()
	fx := &receiverFixture{reg: prometheus.NewRegistry()}
	if cfg.Log == nil {
		cfg.Log = openTestLog(t, LogConfig{})
	}
	fx.log = cfg.Log
	cfg.Metrics = NewMetrics(fx.reg)
	rv := NewReceiver(cfg)
	mux := http.NewServeMux()
	for _, g := range events.Groups() {
		mux.Handle("/v1/callbacks/"+string(g), rv.Handler(g))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fx.url = srv.URL
	return fx
}

// post sends a callback and returns the status and the decoded JSON body.
func (fx *receiverFixture) post(t testing.TB, method string, group events.Group, body []byte, auth string) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, fx.url+"/v1/callbacks/"+string(group), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return doJSON(t, req)
}

func doJSON(t testing.TB, req *http.Request) (int, map[string]any, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s %s: answer %d is not JSON: %q", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m, resp.Header
}

// sessionBody is a connectionCreated callback, unique by i.
func sessionBody(i int) []byte {
	return fmt.Appendf(nil, `{"sessionId":"2_MX4xMjM0NTZ-fjE3MDAwMDAwMDAwMDB-dGVzdA","projectId":"123456","event":"connectionCreated","timestamp":%d,"connection":{"id":"c053fcc8-c681-41d5-8ec2-%012d","createdAt":%d,"data":"name=viewer"}}`, 1700000000000+i, i, 1700000000000+i)
}

// vonageClaims are the claims of Vonage's example token for body.
func vonageClaims(body []byte) jwt.MapClaims {
	sum := sha256.Sum256(body)
	return jwt.MapClaims{
		"iat": time.Now().Unix(), "jti": "c5ba8f24-1a14-4c10-bfdf-3fbe8ce511b5", "iss": "Vonage",
		"payload_hash": hex.EncodeToString(sum[:]), "api_key": "123456",
	}
}

func signClaims(t testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signBody(t testing.TB, body []byte) string {
	return "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), vonageClaims(body))
}

// callbackCount reads callbacks_total{group,outcome} through the registry.
func callbackCount(t testing.TB, reg *prometheus.Registry, group events.Group, outcome string) float64 {
	t.Helper()
	return gatheredValue(t, reg, "gavel_relay_callbacks_total", map[string]string{"group": string(group), "outcome": outcome})
}

// callbackTotal sums callbacks_total{outcome} over groups.
func callbackTotal(t testing.TB, reg *prometheus.Registry, outcome string) float64 {
	t.Helper()
	return gatheredValue(t, reg, "gavel_relay_callbacks_total", map[string]string{"outcome": outcome})
}

// gatheredValue sums the samples of a counter or gauge family whose labels
// include want.
func gatheredValue(t testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metrics
				}
			}
			sum += sampleValue(m)
		}
	}
	return sum
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// readLog returns every record in the log, in seq order.
func readAllRecords(t testing.TB, l *Log) []events.Record {
	t.Helper()
	first, last, err := l.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if last < first {
		return nil
	}
	var out []events.Record
	errDone := errors.New("done")
	err = l.Follow(t.Context(), first, func(seq uint64, rec events.Record) error {
		out = append(out, rec)
		if seq == last {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
	return out
}

// TestReceiverEmulatorCallbacksLandExactlyOnce drives real signed callbacks
// from the emulator — a town hall, and an archive recorded start to end —
// with half of them sent twice, and checks that every callback the service
// emitted is in the log exactly once. Archive callbacks are signed with a
// secret of their own, as Vonage allows, and verified with it.
func TestReceiverEmulatorCallbacksLandExactlyOnce(t *testing.T) {
	fx := newReceiverFixture(t, ReceiverConfig{SignatureSecret: testCallbackSecret,
		SignatureSecrets: map[events.Group]string{events.GroupArchive: testArchiveSecret}})
	emu, err := opentoktest.NewServer(
		opentoktest.WithCallbackURL(opentoktest.GroupSession, fx.url+"/v1/callbacks/session"),
		opentoktest.WithCallbackURL(opentoktest.GroupArchive, fx.url+"/v1/callbacks/archive"),
		opentoktest.WithSignatureSecret(testCallbackSecret),
		opentoktest.WithGroupSignatureSecret(opentoktest.GroupArchive, testArchiveSecret),
		opentoktest.WithFaults(opentoktest.Faults{Duplicate: 0.5}),
		opentoktest.WithTimeScale(1000),
		opentoktest.WithSeed(7),
		opentoktest.WithLogf(t.Logf),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	townhall := opentoktest.TownHall{Seed: 7, Viewers: 120, Panelists: 3, JoinOver: 20 * time.Second, Speed: 1000, Duration: 90 * time.Second}
	if err := townhall.Run(ctx, emu); err != nil {
		t.Fatal(err)
	}
	client, err := emu.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := client.Token(sess.ID, opentok.TokenOptions{Role: opentok.RolePublisher})
	if err != nil {
		t.Fatal(err)
	}
	p, err := emu.Join(sess.ID, tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(opentoktest.PublishOptions{Name: "host"}); err != nil {
		t.Fatal(err)
	}
	archive, err := client.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sess.ID, Name: "receiver-test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Archives.Stop(ctx, archive.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Leave(); err != nil {
		t.Fatal(err)
	}
	// The archive's upload ends with "available" a little later (service
	// time, scaled): wait for it, then for every callback to be sent.
	for {
		a, err := client.Archives.Get(ctx, archive.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status == opentok.ArchiveAvailable {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("archive still %s", a.Status)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := emu.FlushCallbacks(ctx); err != nil {
		t.Fatal(err)
	}

	st := emu.CallbackStats()
	t.Logf("emulator: %+v", st)
	if st.Failed != 0 || st.Dropped != 0 || st.Retried != 0 {
		t.Fatalf("callbacks failed or retried: %+v", st)
	}
	if st.Duplicated == 0 || st.Delivered != st.Enqueued+st.Duplicated {
		t.Fatalf("expected duplicates, all delivered: %+v", st)
	}

	recs := readAllRecords(t, fx.log)
	if uint64(len(recs)) != st.Enqueued {
		t.Fatalf("log has %d records; the emulator emitted %d callbacks", len(recs), st.Enqueued)
	}
	seen := map[string]bool{}
	perGroup := map[events.Group]int{}
	for i, r := range recs {
		key := string(r.Group) + "\n" + string(r.Event)
		if seen[key] {
			t.Fatalf("record %d is a second copy of %s", i+1, r.Event)
		}
		seen[key] = true
		perGroup[r.Group]++
		if r.Type != events.FrameEvent || r.Source != events.SourceCallback || r.ReceivedAt.IsZero() {
			t.Fatalf("record %d: %+v", i+1, r)
		}
		if _, err := events.Decode(r.Group, r.Event); err != nil {
			t.Fatalf("record %d does not decode: %v", i+1, err)
		}
	}
	if perGroup[events.GroupSession] == 0 || perGroup[events.GroupArchive] < 3 {
		t.Fatalf("records per group: %v", perGroup)
	}
	if got := callbackTotal(t, fx.reg, OutcomeAccepted); got != float64(st.Enqueued) {
		t.Errorf("accepted = %v; want %d", got, st.Enqueued)
	}
	if got := callbackTotal(t, fx.reg, OutcomeDuplicate); got != float64(st.Duplicated) {
		t.Errorf("duplicate = %v; want %d", got, st.Duplicated)
	}
	if got := callbackCount(t, fx.reg, events.GroupArchive, OutcomeAccepted); got != float64(perGroup[events.GroupArchive]) {
		t.Errorf("archive accepted = %v; want %d", got, perGroup[events.GroupArchive])
	}
	for _, o := range []string{OutcomeMalformed, OutcomeUnauthorized, OutcomeTooLarge, OutcomeNotAllowed, OutcomeError} {
		if got := callbackTotal(t, fx.reg, o); got != 0 {
			t.Errorf("%s = %v; want 0", o, got)
		}
	}
	if got := gatheredValue(t, fx.reg, "gavel_relay_log_last_seq", nil); got != float64(st.Enqueued) {
		t.Errorf("log_last_seq = %v; want %d", got, st.Enqueued)
	}
}

// TestReceiverRefusesAndCarriesOn sends every kind of bad request, each
// followed by a good callback that must be accepted, and checks the
// answers, their reasons and the counts.
func TestReceiverRefusesAndCarriesOn(t *testing.T) {
	fx := newReceiverFixture(t, ReceiverConfig{SignatureSecret: testCallbackSecret})
	g := events.GroupSession
	good := 0
	carryOn := func(t *testing.T) {
		t.Helper()
		good++
		body := sessionBody(good)
		status, m, _ := fx.post(t, http.MethodPost, g, body, signBody(t, body))
		if status != http.StatusOK || m["duplicate"] != false {
			t.Fatalf("good callback after a bad one: %d %v", status, m)
		}
		if seq := uint64(m["seq"].(float64)); seq != uint64(good) {
			t.Fatalf("good callback got seq %d; want %d", seq, good)
		}
	}

	body := sessionBody(1000)
	wrongHash := vonageClaims([]byte("another body"))
	otherIssuer := vonageClaims(body)
	otherIssuer["iss"] = "Mallory"
	expired := vonageClaims(body)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	none := signClaims(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, vonageClaims(body))
	hs512 := signClaims(t, jwt.SigningMethodHS512, []byte(testCallbackSecret), vonageClaims(body))
	huge := append(append([]byte(`{"event":"connectionCreated","pad":"`), bytes.Repeat([]byte("x"), DefaultMaxCallbackBytes)...), `"}`...)
	notJSON := []byte(`this is not json`)
	noEvent := []byte(`{"sessionId":"2_x","projectId":"1","timestamp":1}`)

	cases := []struct {
		name    string
		method  string
		body    []byte
		auth    string
		chunked bool
		status  int
		outcome string
		reason  string
	}{
		{"unsigned", "POST", body, "", false, 401, OutcomeUnauthorized, "missing signature"},
		{"wrong secret", "POST", body, "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte("not-the-secret"), vonageClaims(body)), false, 401, OutcomeUnauthorized, "signature is invalid"},
		{"garbage token", "POST", body, "Bearer not.a.jwt", false, 401, OutcomeUnauthorized, "bad signature"},
		{"payload_hash of another body", "POST", body, "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), wrongHash), false, 401, OutcomeUnauthorized, "payload_hash"},
		{"other issuer", "POST", body, "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), otherIssuer), false, 401, OutcomeUnauthorized, "issuer"},
		{"expired", "POST", body, "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), expired), false, 401, OutcomeUnauthorized, "expired"},
		{"alg none", "POST", body, "Bearer " + none, false, 401, OutcomeUnauthorized, "bad signature"},
		{"HS512", "POST", body, "Bearer " + hs512, false, 401, OutcomeUnauthorized, "signing method HS512 is invalid"},
		{"oversized", "POST", huge, "", false, 413, OutcomeTooLarge, "exceeds the limit of 262144 bytes"},
		{"oversized, chunked", "POST", huge, "", true, 413, OutcomeTooLarge, "exceeds the limit of 262144 bytes"},
		{"not JSON", "POST", notJSON, "sign", false, 400, OutcomeMalformed, "callback: body is not a JSON object"},
		{"no event type", "POST", noEvent, "sign", false, 400, OutcomeMalformed, "callback: event: is missing"},
		{"GET", "GET", nil, "", false, 405, OutcomeNotAllowed, "GET is not allowed"},
		{"PUT", "PUT", body, "sign", false, 405, OutcomeNotAllowed, "PUT is not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := c.auth
			if auth == "sign" {
				auth = signBody(t, c.body)
			}
			var rd io.Reader = bytes.NewReader(c.body)
			if c.chunked {
				rd = io.MultiReader(rd) // hides the length: sent chunked
			}
			req, err := http.NewRequestWithContext(t.Context(), c.method, fx.url+"/v1/callbacks/"+string(g), rd)
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			before := callbackCount(t, fx.reg, g, c.outcome)
			status, m, h := doJSON(t, req)
			if status != c.status {
				t.Fatalf("status %d (%v); want %d", status, m, c.status)
			}
			reason, _ := m["error"].(string)
			if !strings.Contains(reason, c.reason) {
				t.Fatalf("reason %q; want it to say %q", reason, c.reason)
			}
			if c.status == 400 {
				_, derr := events.Decode(g, c.body)
				if derr == nil || reason != derr.Error() {
					t.Fatalf("reason %q; want the decoder's %v", reason, derr)
				}
			}
			if c.status == 405 && h.Get("Allow") != "POST" {
				t.Fatalf("Allow: %q", h.Get("Allow"))
			}
			if c.status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if got := callbackCount(t, fx.reg, g, c.outcome); got != before+1 {
				t.Fatalf("%s count %v; want %v", c.outcome, got, before+1)
			}
			carryOn(t)
		})
	}

	// Accepted forms of a signature: bare JWT, lower-case scheme, no
	// payload_hash claim (Vonage calls checking it optional).
	noHash := vonageClaims(nil)
	delete(noHash, "payload_hash")
	for name, auth := range map[string]func([]byte) string{
		"bare JWT": func(b []byte) string {
			return signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), vonageClaims(b))
		},
		"lower-case bearer": func(b []byte) string {
			return "bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), vonageClaims(b))
		},
		"no payload_hash": func([]byte) string {
			return "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), noHash)
		},
	} {
		good++
		b := sessionBody(good)
		if status, m, _ := fx.post(t, "POST", g, b, auth(b)); status != 200 {
			t.Fatalf("%s: %d %v", name, status, m)
		}
	}

	// An unknown event type is accepted and kept as sent.
	good++
	unknown := []byte(`{"sessionId":"2_x","projectId":"123456","event":"streamPropertyChanged","timestamp":1700000000000,"stream":{"id":"s1"},"changedProperty":"hasAudio"}`)
	status, m, _ := fx.post(t, "POST", g, unknown, signBody(t, unknown))
	if status != 200 {
		t.Fatalf("unknown event: %d %v", status, m)
	}
	rec, err := fx.log.Get(t.Context(), uint64(m["seq"].(float64)))
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(rec.Event, unknown) || rec.Group != g {
		t.Fatalf("kept %+v", rec)
	}

	// A retry of a stored callback is answered 200 with the original seq.
	b := sessionBody(1)
	status, m, _ = fx.post(t, "POST", g, b, signBody(t, b))
	if status != 200 || m["duplicate"] != true || m["seq"].(float64) != 1 {
		t.Fatalf("retry: %d %v", status, m)
	}

	want := fmt.Sprintf(`
# HELP gavel_relay_callbacks_total Callback requests by URL group and outcome (accepted, duplicate, malformed, unauthorized, too_large, not_allowed, error).
# TYPE gavel_relay_callbacks_total counter
gavel_relay_callbacks_total{group="session",outcome="accepted"} %d
gavel_relay_callbacks_total{group="session",outcome="duplicate"} 1
gavel_relay_callbacks_total{group="session",outcome="malformed"} 2
gavel_relay_callbacks_total{group="session",outcome="not_allowed"} 2
gavel_relay_callbacks_total{group="session",outcome="too_large"} 2
gavel_relay_callbacks_total{group="session",outcome="unauthorized"} 8
`, good)
	if err := testutil.GatherAndCompare(fx.reg, strings.NewReader(want), "gavel_relay_callbacks_total"); err != nil {
		t.Fatal(err)
	}
	first, last, err := fx.log.Bounds(t.Context())
	if err != nil || first != 1 || last != uint64(good) {
		t.Fatalf("log bounds %d, %d (%v); want 1, %d: refused callbacks must not be stored", first, last, err, good)
	}
}

func TestReceiverWithoutSecretAcceptsUnsigned(t *testing.T) {
	fx := newReceiverFixture(t, ReceiverConfig{})
	for _, g := range events.Groups() {
		body := []byte(fmt.Sprintf(`{"id":"x-%s","sessionId":"2_x","status":"started","event":"%s","createdAt":1}`, g, g))
		if g == events.GroupSession || g == events.GroupSIP {
			body = []byte(fmt.Sprintf(`{"sessionId":"2_x","event":"sessionCreated","timestamp":1,"group":"%s"}`, g))
		}
		status, m, _ := fx.post(t, "POST", g, body, "Bearer ignored-without-a-secret")
		if status != 200 {
			t.Fatalf("%s: %d %v", g, status, m)
		}
		rec, err := fx.log.Get(t.Context(), uint64(m["seq"].(float64)))
		if err != nil || rec.Group != g {
			t.Fatalf("%s: stored %+v %v", g, rec, err)
		}
	}
	// The same bytes at another URL are another callback.
	body := []byte(`{"sessionId":"2_x","event":"sessionCreated","timestamp":1,"group":"session"}`)
	status, m, _ := fx.post(t, "POST", events.GroupSIP, body, "")
	if status != 200 || m["duplicate"] != false {
		t.Fatalf("same bytes at the sip URL: %d %v", status, m)
	}
	if got := callbackTotal(t, fx.reg, OutcomeAccepted); got != float64(len(events.Groups())+1) {
		t.Fatalf("accepted %v", got)
	}
}

func TestReceiverAnswers503WhenTheLogFails(t *testing.T) {
	fx := newReceiverFixture(t, ReceiverConfig{})
	body := sessionBody(1)
	if status, m, _ := fx.post(t, "POST", events.GroupSession, body, ""); status != 200 {
		t.Fatalf("%d %v", status, m)
	}
	if err := fx.log.Close(); err != nil {
		t.Fatal(err)
	}
	status, m, h := fx.post(t, "POST", events.GroupSession, sessionBody(2), "")
	if status != http.StatusServiceUnavailable || !strings.Contains(m["error"].(string), "retry") || h.Get("Retry-After") == "" {
		t.Fatalf("with the log closed: %d %v %v", status, m, h)
	}
	if got := callbackCount(t, fx.reg, events.GroupSession, OutcomeError); got != 1 {
		t.Fatalf("error count %v", got)
	}
}

// A limit configured up to NATS's 1 MiB can let through a body whose
// record (body plus envelope) no longer fits in one message: that is
// refused with 413, not answered 503 for the service to retry for 24 h.
func TestReceiverRecordTooLargeForTheLogIs413(t *testing.T) {
	fx := newReceiverFixture(t, ReceiverConfig{MaxBodyBytes: 1 << 20})
	pad := strings.Repeat("x", 1<<20-200)
	body := []byte(`{"sessionId":"2_x","event":"connectionCreated","timestamp":1,"connection":{"id":"c1","createdAt":1,"data":"` + pad + `"}}`)
	if len(body) > 1<<20 {
		t.Fatalf("body %d bytes: over the receiver's limit", len(body))
	}
	status, m, _ := fx.post(t, "POST", events.GroupSession, body, "")
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("%d %v", status, m)
	}
	if got := callbackCount(t, fx.reg, events.GroupSession, OutcomeTooLarge); got != 1 {
		t.Fatalf("too_large count %v", got)
	}
}
