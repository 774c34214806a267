package opentok_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// Helpers shared by the streams, connections, moderation and signals tests.

// errCase is one documented error reply and what the client must make of it.
type errCase struct {
	status   int
	reply    string
	sentinel error
	// want, when set, is the exact err.Error(); {p} stands for the project ID.
	want string
}

// checkErrCases queues req once per case with the case's reply, in both
// environments, and checks what fn returns. fn must send exactly one request
// for each case (error statuses here are never retried).
func checkErrCases(t *testing.T, req call, cases []errCase, fn func(context.Context, *opentok.Client) error) {
	t.Helper()
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			for _, tc := range cases {
				r := req
				r.Status, r.Reply = tc.status, tc.reply
				api.expect(r)
				before := api.requests()
				err := fn(context.Background(), c)
				mustFailWith(t, err, tc.sentinel, strings.ReplaceAll(tc.want, "{p}", api.projectID))
				if n := api.requests() - before; n != 1 {
					t.Errorf("HTTP %d: %d requests, want 1", tc.status, n)
				}
			}
		})
	}
}

// mustRetryOnce answers req first with the transient status fail, then with
// ok and req.Reply, and checks that fn succeeds after exactly two requests:
// the call is idempotent, so the client retries it.
func mustRetryOnce(t *testing.T, e env, req call, fail, ok int, fn func(context.Context, *opentok.Client) error) {
	t.Helper()
	api, c := newFakeAPI(t, e)
	first, second := req, req
	first.Status, first.Reply = fail, fmt.Sprintf(`{"code":%d,"message":%q}`, fail, http.StatusText(fail))
	second.Status = ok
	api.expect(first, second)
	if err := fn(context.Background(), c); err != nil {
		t.Fatalf("after HTTP %d then %d: %v", fail, ok, err)
	}
	if n := api.requests(); n != 2 {
		t.Errorf("%d requests, want 2 (HTTP %d must be retried)", n, fail)
	}
}

// mustFailWith checks that err is an *APIError matching sentinel (nil for
// statuses no sentinel covers, such as 5xx) and, when want is not empty, that
// it reads exactly want.
func mustFailWith(t *testing.T, err, sentinel error, want string) {
	t.Helper()
	var apiErr *opentok.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("err %v (%T), want an *APIError", err, err)
		return
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("err %v: errors.Is(%v) is false", err, sentinel)
	}
	if want != "" && err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
}

// mustRefuseField checks that err is a *ValidationError naming field.
func mustRefuseField(t *testing.T, err error, field string) {
	t.Helper()
	var ve *opentok.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("err %v (%T), want a *ValidationError on %s", err, err, field)
		return
	}
	if ve.Field != field || !errors.Is(err, opentok.ErrInvalid) || !strings.Contains(err.Error(), field+": ") {
		t.Errorf("err %q (field %q), want a validation error on %s", err, ve.Field, field)
	}
}

// mustNotSend checks that validation stopped every call before the wire.
func mustNotSend(t *testing.T, api *fakeAPI) {
	t.Helper()
	if n := api.requests(); n != 0 {
		t.Errorf("%d request(s) reached the server; validation must stop them", n)
	}
}

const (
	coreSessionID = "2_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-"
	coreListPath  = "/v2/project/{p}/session/" + coreSessionID + "/stream"
	coreListReply = `{"count":1,"items":[{"id":"8b732909-0a06-46a2-8ea8-074e64d43422","videoType":"camera","name":"","layoutClassList":["full"]}]}`
)

func coreListStreams(c *opentok.Client) error {
	_, err := c.Streams.List(context.Background(), coreSessionID)
	return err
}

func TestRetryAfter503(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(
				call{Method: "GET", Path: coreListPath, Status: 503, Reply: `{"code":503,"message":"Service Unavailable"}`},
				call{Method: "GET", Path: coreListPath, Status: 200, Reply: coreListReply},
			)
			got, err := c.Streams.List(context.Background(), coreSessionID)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ID != "8b732909-0a06-46a2-8ea8-074e64d43422" {
				t.Errorf("streams %+v", got)
			}
			if api.requests() != 2 {
				t.Errorf("%d requests, want 2", api.requests())
			}
		})
	}
}

func TestRetry429WithRetryAfterZero(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(
		call{Method: "GET", Path: coreListPath, Status: 429, Reply: `{"code":429,"message":"Too Many Requests"}`,
			ReplyHeader: map[string]string{"Retry-After": "0"}},
		call{Method: "GET", Path: coreListPath, Status: 200, Reply: coreListReply},
	)
	if err := coreListStreams(c); err != nil {
		t.Fatal(err)
	}
	if api.requests() != 2 {
		t.Errorf("%d requests, want 2", api.requests())
	}
}

func TestRetryAfterLongerThanPolicyIsNotWaited(t *testing.T) {
	// The harness policy caps one wait at 50 ms; the service asks for 2 s.
	api, c := newFakeAPI(t, unifiedEnv)
	api.expect(call{Method: "GET", Path: coreListPath, Status: 429, Reply: `{"code":429,"message":"Too Many Requests"}`,
		ReplyHeader: map[string]string{"Retry-After": "2"}})
	start := time.Now()
	err := coreListStreams(c)
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned after %v: the client waited for Retry-After", d)
	}
	mustFailWith(t, err, opentok.ErrRateLimited,
		`stream list: the Video API is rate-limiting this project; wait a moment and try again (service said: "Too Many Requests") [HTTP 429, GET /v2/project/`+testAppID+`/session/`+coreSessionID+`/stream]`)
	var apiErr *opentok.APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter != 2*time.Second {
		t.Errorf("RetryAfter %v, want 2s", apiErr.RetryAfter)
	}
	if api.requests() != 1 {
		t.Errorf("%d requests, want 1", api.requests())
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	for range 3 {
		api.expect(call{Method: "GET", Path: coreListPath, Status: 503, Reply: `{"code":503,"message":"Service Unavailable"}`})
	}
	err := coreListStreams(c)
	mustFailWith(t, err, nil,
		`stream list: the Video API is temporarily unavailable; try again (service said: "Service Unavailable") [HTTP 503, GET /v2/project/`+testAPIKey+`/session/`+coreSessionID+`/stream]`)
	var apiErr *opentok.APIError
	if errors.As(err, &apiErr) && !apiErr.Temporary() {
		t.Error("a 503 is not Temporary")
	}
	if api.requests() != 3 {
		t.Errorf("%d requests, want exactly MaxAttempts (3)", api.requests())
	}
}

// coreFlakyServer answers every request with 503 after running onRequest, and
// counts requests; it stands in for the Video API where the fake cannot.
func coreFlakyServer(t *testing.T, onRequest func(w http.ResponseWriter, r *http.Request) bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if onRequest != nil && onRequest(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":503,"message":"Service Unavailable"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func coreLegacyClient(t *testing.T, opts ...opentok.Option) *opentok.Client {
	t.Helper()
	creds, err := opentok.ProjectCredentials(testAPIKey, testAPISecret)
	if err != nil {
		t.Fatal(err)
	}
	c, err := opentok.New(creds, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCancelledContextStopsRetries(t *testing.T) {
	// A policy that would otherwise wait up to an hour between five attempts.
	slow := opentok.WithRetryPolicy(opentok.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Hour, MaxDelay: time.Hour})

	t.Run("during the request", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv, n := coreFlakyServer(t, func(http.ResponseWriter, *http.Request) bool { cancel(); return false })
		c := coreLegacyClient(t, opentok.WithBaseURL(srv.URL), slow)
		start := time.Now()
		if _, err := c.Streams.List(ctx, coreSessionID); err == nil {
			t.Fatal("no error")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v after cancel", d)
		}
		if n.Load() != 1 {
			t.Errorf("%d requests after cancel, want 1", n.Load())
		}
		// Already cancelled: nothing is sent at all.
		_, err := c.Streams.List(ctx, coreSessionID)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
		if n.Load() != 1 {
			t.Errorf("a cancelled context still sent a request")
		}
	})

	t.Run("during the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// The service asks for exactly 5 s; the context ends 50 ms into the wait.
		srv, n := coreFlakyServer(t, func(w http.ResponseWriter, _ *http.Request) bool {
			w.Header().Set("Retry-After", "5")
			time.AfterFunc(50*time.Millisecond, cancel)
			return false
		})
		c := coreLegacyClient(t, opentok.WithBaseURL(srv.URL), slow)
		start := time.Now()
		_, err := c.Streams.List(ctx, coreSessionID)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v: the wait ignored the cancelled context", d)
		}
		// The last reply is the most useful error, not a bare "context canceled".
		mustFailWith(t, err, nil, "")
		if n.Load() != 1 {
			t.Errorf("%d requests, want 1", n.Load())
		}
	})
}

func TestErrorBodies(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	cases := []struct {
		reply   string
		code    int
		message string
	}{
		{`upstream connect error or disconnect/reset before headers`, 0, "upstream connect error or disconnect/reset before headers"},
		{`{"code":"15202","message":"Signal payload 'data' must be set"}`, 15202, "Signal payload 'data' must be set"},
		{`{"code":15202,"message":"Signal payload 'data' must be set"}`, 15202, "Signal payload 'data' must be set"},
		{`{"code":400,"description":"Invalid session ID"}`, 400, "Invalid session ID"},
		{``, 0, ""},
	}
	for _, tc := range cases {
		api.expect(call{Method: "GET", Path: coreListPath, Status: 400, Reply: tc.reply})
		err := coreListStreams(c)
		var apiErr *opentok.APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s: err %v", tc.reply, err)
		}
		if apiErr.Code != tc.code || apiErr.Message != tc.message || !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("%s: code %d message %q, want %d %q", tc.reply, apiErr.Code, apiErr.Message, tc.code, tc.message)
		}
		if tc.message != "" && !strings.Contains(err.Error(), fmt.Sprintf("(service said: %q)", tc.message)) {
			t.Errorf("%s: error %q does not quote the service", tc.reply, err)
		}
	}
}

// coreClosingServer drops every connection without answering.
func coreClosingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	return coreFlakyServer(t, func(w http.ResponseWriter, _ *http.Request) bool {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return false
		}
		conn.Close()
		return true
	})
}

func TestTransportErrorNotRetriedWhenNotIdempotent(t *testing.T) {
	srv, n := coreClosingServer(t)
	c := coreLegacyClient(t, opentok.WithBaseURL(srv.URL),
		opentok.WithRetryPolicy(opentok.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	err := c.Signals.Send(context.Background(), coreSessionID, "", opentok.Signal{Type: "chat", Data: "hi"})
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.HasPrefix(err.Error(), "signal: ") || !strings.Contains(err.Error(), "POST /v2/project/") {
		t.Errorf("error %q does not name the operation and request", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d attempts, want 1: a signal must never be retried", n.Load())
	}

	// The same failure on an idempotent call is retried up to MaxAttempts.
	n.Store(0)
	if err := coreListStreams(c); err == nil || !strings.HasPrefix(err.Error(), "stream list: ") {
		t.Errorf("err %v", err)
	}
	if n.Load() != 3 {
		t.Errorf("%d attempts, want 3", n.Load())
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	var gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.EscapedPath()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(coreListReply))
	}))
	defer srv.Close()
	for _, base := range []string{srv.URL + "/prefix", srv.URL + "/prefix/"} {
		c := coreLegacyClient(t, opentok.WithBaseURL(base))
		if err := coreListStreams(c); err != nil {
			t.Fatal(err)
		}
		if want := "/prefix/v2/project/" + testAPIKey + "/session/" + coreSessionID + "/stream"; gotPath != want {
			t.Errorf("base %s: path %s, want %s", base, gotPath, want)
		}
	}
}

// An ID is one path element: a "/" or "?" in it must be escaped, once.
func TestPathElementsEscapedOnce(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "GET", Path: "/v2/project/{p}/session/1_a%2Fb%3Fc/stream", Status: 200, Reply: coreListReply})
			if _, err := c.Streams.List(context.Background(), "1_a/b?c"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewNeedsCredentials(t *testing.T) {
	c, err := opentok.New(opentok.Credentials{})
	if err == nil || c != nil {
		t.Errorf("New with zero credentials: client %v, err %v", c, err)
	}
}

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	project, err := opentok.ProjectCredentials(testAPIKey, testAPISecret)
	if err != nil {
		t.Fatal(err)
	}
	key := testRSAKey()
	app, err := opentok.ApplicationCredentials(testAppID, key)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]string{
		testAPIKey: {testAPISecret},
		// Any recognisable piece of the private key: its private exponent,
		// a prime, the modulus, in the bases fmt might use.
		testAppID: {key.D.String()[:24], key.Primes[0].String()[:24], key.N.String()[:24], key.D.Text(16)[:24], "PRIVATE KEY"},
	}
	for id, creds := range map[string]opentok.Credentials{testAPIKey: project, testAppID: app} {
		wrapped := struct{ Creds opentok.Credentials }{creds}
		outputs := []string{
			creds.String(), creds.GoString(),
			fmt.Sprint(creds), fmt.Sprintf("%v", creds), fmt.Sprintf("%+v", creds), fmt.Sprintf("%#v", creds), fmt.Sprintf("%s", creds),
			fmt.Sprintf("%v", &creds), fmt.Sprintf("%+v", wrapped), fmt.Sprintf("%#v", wrapped),
		}
		for _, out := range outputs {
			if !strings.Contains(out, id) {
				t.Errorf("%q does not show the public identifier %s", out, id)
			}
			for _, s := range secrets[id] {
				if strings.Contains(out, s) {
					t.Errorf("%q contains secret material", out)
				}
			}
		}
	}
}

// fmt does not call String on unexported fields, so a Client or any struct
// that keeps Credentials in an unexported field is printed field by field.
func TestClientNeverPrintsTheSecret(t *testing.T) {
	creds, err := opentok.ProjectCredentials(testAPIKey, testAPISecret)
	if err != nil {
		t.Fatal(err)
	}
	c, err := opentok.New(creds)
	if err != nil {
		t.Fatal(err)
	}
	holder := struct{ creds opentok.Credentials }{creds}
	for _, v := range []any{c, *c, holder} {
		for _, verb := range []string{"%v", "%+v", "%#v"} {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, testAPISecret) {
				t.Errorf("%s of %T prints the API secret", verb, v)
			}
		}
	}
}

func TestParsePrivateKey(t *testing.T) {
	key := testRSAKey()
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{
		"PKCS#8": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		"PKCS#1": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	}
	for name, p := range forms {
		got, err := opentok.ParsePrivateKey(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !got.Equal(key) {
			t.Errorf("%s: parsed a different key", name)
		}
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string][]byte{
		"not PEM":        []byte("sup3r-s3cret-not-a-key"),
		"garbage DER":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("sup3r-s3cret-not-a-key")}),
		"garbage PKCS#1": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("sup3r-s3cret-not-a-key")}),
		"EC key":         pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"certificate":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("sup3r-s3cret-not-a-key")}),
	}
	for name, p := range bad {
		k, err := opentok.ParsePrivateKey(p)
		if err == nil || k != nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "sup3r-s3cret") || strings.Contains(err.Error(), "c3VwM3It") {
			t.Errorf("%s: error %q echoes the input", name, err)
		}
	}
}
