package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/golang-jwt/jwt/v5"
)

const testArchiveSecret = "archive-callback-secret-9876543210"

// lockedBuffer is a log destination the relay writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// archiveBody is an archive status callback, unique by i.
func archiveBody(i int) []byte {
	return fmt.Appendf(nil, `{"id":"b40ef09b-3811-4726-b508-%012d","event":"archive","createdAt":1700000000000,"updatedAt":%d,"name":"","partnerId":123456,"reason":"","resolution":"640x480","sessionId":"2_MX4xMjM0NTZ-fjE3MDAwMDAwMDAwMDB-dGVzdA","size":0,"status":"started","url":null}`, i, 1700000000000+i)
}

// signWith signs body as Vonage does, with secret.
func signWith(t testing.TB, secret string, body []byte) string {
	return "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(secret), vonageClaims(body))
}

// TestReceiverGroupSecretVerifiesThatGroupAlone: with a default secret and
// the archive group's own, each group takes only callbacks signed with its
// secret. A callback signed with the archive secret is stored at the
// archive URL and refused (401, counted) at the session URL; the default
// secret no longer opens the archive URL. No secret is ever answered,
// logged or exported as a metric.
func TestReceiverGroupSecretVerifiesThatGroupAlone(t *testing.T) {
	logs := &lockedBuffer{}
	fx := newReceiverFixture(t, ReceiverConfig{
		SignatureSecret:  testCallbackSecret,
		SignatureSecrets: map[events.Group]string{events.GroupArchive: testArchiveSecret},
		Logger:           slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	var answers []string
	post := func(group events.Group, body []byte, auth string, want int) {
		t.Helper()
		status, m, _ := fx.post(t, http.MethodPost, group, body, auth)
		answers = append(answers, fmt.Sprint(m))
		if status != want {
			t.Fatalf("%s callback: %d %v; want %d", group, status, m, want)
		}
	}

	archive := archiveBody(1)
	signedForArchive := signWith(t, testArchiveSecret, archive)
	post(events.GroupArchive, archive, signedForArchive, http.StatusOK)
	// The very same request at the session URL: session has no secret of
	// its own, so it verifies with the default, which did not sign this.
	before := callbackCount(t, fx.reg, events.GroupSession, OutcomeUnauthorized)
	post(events.GroupSession, archive, signedForArchive, http.StatusUnauthorized)
	session := sessionBody(1)
	post(events.GroupSession, session, signWith(t, testArchiveSecret, session), http.StatusUnauthorized)
	if got := callbackCount(t, fx.reg, events.GroupSession, OutcomeUnauthorized); got != before+2 {
		t.Fatalf("session unauthorized count %v; want %v", got, before+2)
	}
	post(events.GroupSession, session, signWith(t, testCallbackSecret, session), http.StatusOK)

	// The archive group verifies with its own secret only: neither the
	// default secret nor no signature gets in.
	archive2 := archiveBody(2)
	post(events.GroupArchive, archive2, signWith(t, testCallbackSecret, archive2), http.StatusUnauthorized)
	post(events.GroupArchive, archive2, "", http.StatusUnauthorized)
	if got := callbackCount(t, fx.reg, events.GroupArchive, OutcomeUnauthorized); got != 2 {
		t.Fatalf("archive unauthorized count %v; want 2", got)
	}
	// Groups without their own secret still use the default.
	sip := []byte(`{"sessionId":"2_x","projectId":"123456","event":"callCreated","timestamp":1700000000000,"call":{"id":"conf-1","connectionId":"c-sip","createdAt":1700000000000}}`)
	post(events.GroupSIP, sip, signWith(t, testArchiveSecret, sip), http.StatusUnauthorized)
	post(events.GroupSIP, sip, signWith(t, testCallbackSecret, sip), http.StatusOK)

	recs := readAllRecords(t, fx.log)
	if len(recs) != 3 || recs[0].Group != events.GroupArchive || recs[1].Group != events.GroupSession || recs[2].Group != events.GroupSIP {
		t.Fatalf("stored %d records %+v; want archive, session, sip", len(recs), recs)
	}

	families, err := fx.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := json.Marshal(families)
	for where, text := range map[string]string{"answers": strings.Join(answers, "\n"), "logs": logs.String(), "metrics": string(metrics)} {
		for _, secret := range []string{testCallbackSecret, testArchiveSecret} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain a signature secret: %s", where, text)
			}
		}
	}
	if !strings.Contains(logs.String(), `"msg":"callback refused"`) {
		t.Errorf("the refusals were not logged: %s", logs)
	}
}

func TestCheckSignatureSecrets(t *testing.T) {
	for _, ok := range []map[events.Group]string{nil, {}, {events.GroupArchive: "a"}, {events.GroupSession: "s", events.GroupCaptions: "c", events.GroupRender: "r"}} {
		if err := CheckSignatureSecrets(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, c := range []struct {
		secrets map[events.Group]string
		want    string
	}{
		{map[events.Group]string{"archives": "s3cr3t-value"}, "signature_secrets.archives: no such callback group; expected one of session, archive, broadcast, sip, render, captions"},
		{map[events.Group]string{"Archive": "s3cr3t-value"}, "signature_secrets.Archive: no such callback group"},
		// Sorted, so the same file always names the same key.
		{map[events.Group]string{"zzz": "x", events.GroupArchive: "a", "aaa": "y"}, "signature_secrets.aaa: no such"},
		{map[events.Group]string{events.GroupSIP: ""}, "signature_secrets.sip: empty; leave the key out to use signature_secret"},
	} {
		err := CheckSignatureSecrets(c.secrets)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want %q", c.secrets, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the error quotes a secret: %v", err)
		}
	}
}

// TestServerPerGroupSecrets runs a relay whose only signed group is
// archive, with its own secret: it refuses an unknown group at start, says
// at start which groups it verifies (by name, never the secret), and its
// callback URLs verify accordingly.
func TestServerPerGroupSecrets(t *testing.T) {
	_, err := NewServer(t.Context(), Config{DataDir: t.TempDir(), Secret: []byte(gwSecret),
		SignatureSecrets: map[events.Group]string{"archives": testArchiveSecret}}, nil)
	if err == nil || !strings.Contains(err.Error(), "relay: signature_secrets.archives: no such callback group; expected one of session, archive") {
		t.Fatalf("NewServer with an unknown group: %v", err)
	}

	logs := &lockedBuffer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := NewServer(ctx, Config{DataDir: t.TempDir(), Secret: []byte(gwSecret),
		SignatureSecrets: map[events.Group]string{events.GroupArchive: testArchiveSecret},
		Logger:           slog.New(slog.NewJSONHandler(logs, nil))}, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()
	post := func(group events.Group, body []byte, auth string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/callbacks/"+string(group), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		status, _, _ := doJSON(t, req)
		return status
	}
	archive := archiveBody(1)
	if got := post(events.GroupArchive, archive, ""); got != http.StatusUnauthorized {
		t.Errorf("unsigned archive callback: %d, want 401", got)
	}
	if got := post(events.GroupArchive, archive, signWith(t, testArchiveSecret, archive)); got != http.StatusOK {
		t.Errorf("archive callback signed with its secret: %d, want 200", got)
	}
	if got := post(events.GroupSession, sessionBody(1), ""); got != http.StatusOK {
		t.Errorf("unsigned session callback with no default secret: %d, want 200", got)
	}

	var signatures, warning map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for signatures == nil || warning == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no callback signature lines in the log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
		for line := range strings.Lines(logs.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			switch m["msg"] {
			case "callback signatures":
				signatures = m
			case "callbacks are not authenticated":
				warning = m
			}
		}
	}
	list := func(m map[string]any, key string) string { return fmt.Sprint(m[key]) }
	if list(signatures, "verified") != "[archive]" || list(signatures, "own_secret") != "[archive]" ||
		list(signatures, "unverified") != "[session broadcast sip render captions]" {
		t.Errorf("callback signatures line %v", signatures)
	}
	if warning["level"] != "WARN" || list(warning, "groups") != "[session broadcast sip render captions]" {
		t.Errorf("warning line %v", warning)
	}
	if strings.Contains(logs.String(), testArchiveSecret) {
		t.Errorf("the log holds the archive secret:\n%s", logs)
	}
}

// TestStrictSignaturesRefuseTokensThatCouldBeReplayedOrReBodied: a token
// without payload_hash authorises any body, one without iat works for
// ever. Lenient (the default), both are accepted, and /metrics counts
// what each token carried so an operator can see whether strict mode is
// safe; strict, each is refused with its reason, as is an iat older than
// signature_max_age or from the future, while Vonage's own token shape
// still gets in.
func TestStrictSignaturesRefuseTokensThatCouldBeReplayedOrReBodied(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sign := func(body []byte, drop string, iat time.Time) string {
		c := vonageClaims(body)
		c["iat"] = iat.Unix()
		delete(c, drop)
		return "Bearer " + signClaims(t, jwt.SigningMethodHS256, []byte(testCallbackSecret), c)
	}
	type post struct {
		name   string
		drop   string // claim left out
		iat    time.Time
		strict int // status in strict mode; lenient mode takes all
		reason string
	}
	posts := []post{
		{"Vonage's token", "", now.Add(-2 * time.Second), http.StatusOK, ""},
		{"a day-late retry signed once", "", now.Add(-DefaultSignatureMaxAge + time.Minute), http.StatusOK, ""},
		{"no payload_hash", "payload_hash", now, http.StatusUnauthorized, "require payload_hash"},
		{"no iat", "iat", now, http.StatusUnauthorized, "require iat"},
		{"issued two days ago", "", now.Add(-48 * time.Hour), http.StatusUnauthorized, "more than signature_max_age"},
		{"issued tomorrow", "", now.Add(24 * time.Hour), http.StatusUnauthorized, "in the future"},
	}
	for _, strict := range []bool{false, true} {
		fx := newReceiverFixture(t, ReceiverConfig{SignatureSecret: testCallbackSecret, SignatureStrict: strict, Now: clock})
		for i, p := range posts {
			body := sessionBody(i)
			want, reason := http.StatusOK, ""
			if strict {
				want, reason = p.strict, p.reason
			}
			status, m, _ := fx.post(t, http.MethodPost, events.GroupSession, body, sign(body, p.drop, p.iat))
			if status != want || reason != "" && !strings.Contains(fmt.Sprint(m["error"]), reason) {
				t.Errorf("strict=%v, %s: %d %v; want %d %q", strict, p.name, status, m, want, reason)
			}
		}
		carried := func(hash, iat string) float64 {
			return gatheredValue(t, fx.reg, "gavel_relay_callback_signatures_total", map[string]string{"group": "session", "payload_hash": hash, "iat": iat})
		}
		if yy, ny, yn := carried("yes", "yes"), carried("no", "yes"), carried("yes", "no"); yy != 4 || ny != 1 || yn != 1 {
			t.Errorf("strict=%v: signatures carried hash+iat %v, iat only %v, hash only %v; want 4 1 1", strict, yy, ny, yn)
		}
	}
}

// TestSignatureStrictWithoutSecretsIsRefused: strict mode with no secret
// would verify nothing while its operator believes otherwise.
func TestSignatureStrictWithoutSecretsIsRefused(t *testing.T) {
	cfg := Config{DataDir: t.TempDir(), Secret: bytes.Repeat([]byte("k"), MinSecretBytes), SignatureStrict: true}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), "signature_strict") {
		t.Errorf("strict without secrets: %v, want an error naming signature_strict", err)
	}
	cfg = Config{DataDir: t.TempDir(), Secret: bytes.Repeat([]byte("k"), MinSecretBytes), SignatureSecret: testCallbackSecret, SignatureMaxAge: time.Second}
	if err := cfg.defaults(); err == nil || !strings.Contains(err.Error(), "signature_max_age") {
		t.Errorf("signature_max_age 1s: %v, want an error naming it", err)
	}
}

// TestReceiverCountsTimestampsFarFromTheirReceiveTime: a callback from
// the year 9999 is stored as sent (200: it is authentic, and refusing it
// would only have it retried for a day), counted, and read bounded.
func TestReceiverCountsTimestampsFarFromTheirReceiveTime(t *testing.T) {
	fx := newReceiverFixture(t, ReceiverConfig{})
	body := []byte(`{"sessionId":"2_future","projectId":"123456","event":"connectionCreated","timestamp":253402214400000,"connection":{"id":"c1","createdAt":253402214400000,"data":""}}`)
	if status, m, _ := fx.post(t, http.MethodPost, events.GroupSession, body, ""); status != http.StatusOK {
		t.Fatalf("%d %v", status, m)
	}
	if status, m, _ := fx.post(t, http.MethodPost, events.GroupSession, sessionBody(time.Now().Nanosecond()), ""); status != http.StatusOK {
		t.Fatalf("%d %v", status, m)
	}
	if n := gatheredValue(t, fx.reg, "gavel_relay_callback_timestamps_bounded_total", map[string]string{"group": "session"}); n != 2 {
		// sessionBody is stamped in 2023: more than a day before now too.
		t.Errorf("bounded timestamps counted %v, want 2", n)
	}
	recs := readAllRecords(t, fx.log)
	if len(recs) != 2 || !bytes.Equal(recs[0].Event, body) {
		t.Fatalf("stored %d records; the first as sent: %v", len(recs), len(recs) > 0 && bytes.Equal(recs[0].Event, body))
	}
}
