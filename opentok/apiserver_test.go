package opentok_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/golang-jwt/jwt/v5"
)

// This file is the test double every endpoint test uses: a real HTTP server
// on loopback that checks each request as the Video API would (method, path,
// query, auth header, JWT signature and claims, body) and answers with the
// status and body the test queued. It is deliberately strict: a request the
// test did not expect fails the test.

const (
	testAPIKey    = "47665971"
	testAPISecret = "0123456789abcdef0123456789abcdef01234567"
	testAppID     = "29f760f8-7ce1-46c9-ade3-f2dedee4ed5f"
)

// Credential kinds, so every endpoint test runs in both environments.
type env string

const (
	legacyEnv  env = "legacy"
	unifiedEnv env = "unified"
)

var bothEnvs = []env{legacyEnv, unifiedEnv}

var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// call is one expected request and the reply to give it.
type call struct {
	Method string
	Path   string // path after the host, with {p} standing for the project ID
	Query  url.Values
	// Body is the exact request body expected: JSON compared structurally,
	// a form compared as url.Values when Form is set, "" meaning no body.
	Body string
	Form bool
	// Reply.
	Status      int
	Reply       string
	ReplyHeader map[string]string
}

type fakeAPI struct {
	t         *testing.T
	env       env
	projectID string
	srv       *httptest.Server

	mu       sync.Mutex
	queue    []call
	received int
}

// newFakeAPI starts the server and returns a client pointed at it with
// retries that do not slow the test down.
func newFakeAPI(t *testing.T, e env, opts ...opentok.Option) (*fakeAPI, *opentok.Client) {
	t.Helper()
	f := &fakeAPI{t: t, env: e}
	var creds opentok.Credentials
	var err error
	if e == legacyEnv {
		f.projectID = testAPIKey
		creds, err = opentok.ProjectCredentials(testAPIKey, testAPISecret)
	} else {
		f.projectID = testAppID
		creds, err = opentok.ApplicationCredentials(testAppID, testRSAKey())
	}
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.srv.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.queue) > 0 {
			t.Errorf("%d expected request(s) never arrived, first: %s %s", len(f.queue), f.queue[0].Method, f.queue[0].Path)
		}
	})
	all := append([]opentok.Option{
		opentok.WithBaseURL(f.srv.URL),
		opentok.WithRetryPolicy(opentok.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 50 * time.Millisecond}),
	}, opts...)
	c, err := opentok.New(creds, all...)
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

// expect queues calls; requests must arrive in this order.
func (f *fakeAPI) expect(calls ...call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range calls {
		c.Path = strings.ReplaceAll(c.Path, "{p}", f.projectID)
		f.queue = append(f.queue, c)
	}
}

// requests is how many requests reached the server.
func (f *fakeAPI) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	t := f.t
	f.mu.Lock()
	f.received++
	if len(f.queue) == 0 {
		f.mu.Unlock()
		t.Errorf("unexpected request %s %s", r.Method, r.URL.RequestURI())
		http.Error(w, `{"code":-1,"message":"unexpected"}`, http.StatusTeapot)
		return
	}
	want := f.queue[0]
	f.queue = f.queue[1:]
	f.mu.Unlock()

	body, _ := io.ReadAll(r.Body)
	where := fmt.Sprintf("%s %s", want.Method, want.Path)
	if r.Method != want.Method {
		t.Errorf("%s: method %s", where, r.Method)
	}
	if r.URL.EscapedPath() != want.Path {
		t.Errorf("%s: path %s", where, r.URL.EscapedPath())
	}
	if want.Query != nil && !reflect.DeepEqual(r.URL.Query(), want.Query) {
		t.Errorf("%s: query %v, want %v", where, r.URL.Query(), want.Query)
	}
	if want.Query == nil && r.URL.RawQuery != "" {
		t.Errorf("%s: unexpected query %q", where, r.URL.RawQuery)
	}
	f.checkAuth(where, r)
	if r.Header.Get("Accept") != "application/json" {
		t.Errorf("%s: Accept %q", where, r.Header.Get("Accept"))
	}
	if !strings.HasPrefix(r.Header.Get("User-Agent"), "gavel") && !strings.Contains(r.Header.Get("User-Agent"), "gavel-opentok/") {
		t.Errorf("%s: User-Agent %q", where, r.Header.Get("User-Agent"))
	}
	checkBody(t, where, want, r.Header.Get("Content-Type"), body)

	for k, v := range want.ReplyHeader {
		w.Header().Set(k, v)
	}
	if want.Reply != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(want.Status)
	_, _ = io.WriteString(w, want.Reply)
}

func checkBody(t *testing.T, where string, want call, contentType string, body []byte) {
	t.Helper()
	switch {
	case want.Body == "":
		if len(body) != 0 {
			t.Errorf("%s: unexpected body %s", where, body)
		}
	case want.Form:
		if contentType != "application/x-www-form-urlencoded" {
			t.Errorf("%s: Content-Type %q, want a form", where, contentType)
		}
		got, err := url.ParseQuery(string(body))
		if err != nil {
			t.Errorf("%s: body is not a form: %v", where, err)
			return
		}
		exp, _ := url.ParseQuery(want.Body)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: form\n got %v\nwant %v", where, got, exp)
		}
	default:
		if contentType != "application/json" {
			t.Errorf("%s: Content-Type %q, want application/json", where, contentType)
		}
		var got, exp any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%s: body is not JSON: %v: %s", where, err, body)
			return
		}
		if err := json.Unmarshal([]byte(want.Body), &exp); err != nil {
			t.Fatalf("%s: test's expected body is not JSON: %v", where, err)
		}
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%s: body\n got %s\nwant %s", where, body, want.Body)
		}
	}
}

// checkAuth verifies the REST JWT as the service does (the OpenTok REST reference,
// Authentication: https://tokbox.com/developer/rest/#authentication; the Video API
// reference: https://developer.vonage.com/en/api/video).
func (f *fakeAPI) checkAuth(where string, r *http.Request) {
	t := f.t
	var raw string
	var keyFunc jwt.Keyfunc
	var method string
	if f.env == legacyEnv {
		raw = r.Header.Get("X-OPENTOK-AUTH")
		if r.Header.Get("Authorization") != "" {
			t.Errorf("%s: legacy request carries an Authorization header", where)
		}
		keyFunc = func(*jwt.Token) (any, error) { return []byte(testAPISecret), nil }
		method = "HS256"
	} else {
		auth := r.Header.Get("Authorization")
		raw = strings.TrimPrefix(auth, "Bearer ")
		if raw == auth {
			t.Errorf("%s: Authorization %q, want Bearer", where, auth)
		}
		if r.Header.Get("X-OPENTOK-AUTH") != "" {
			t.Errorf("%s: unified request carries X-OPENTOK-AUTH", where)
		}
		keyFunc = func(*jwt.Token) (any, error) { return &testRSAKey().PublicKey, nil }
		method = "RS256"
	}
	if raw == "" {
		t.Errorf("%s: no REST JWT", where)
		return
	}
	// The header must be exactly {"alg":…,"typ":"JWT"}, alg first, as every SDK sends it.
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if want := `{"alg":"` + method + `","typ":"JWT"}`; string(hdr) != want {
		t.Errorf("%s: JWT header %s, want %s", where, hdr, want)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(raw, claims, keyFunc, jwt.WithValidMethods([]string{method})); err != nil {
		t.Errorf("%s: JWT does not verify: %v", where, err)
		return
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	now := float64(time.Now().Unix())
	if iat < now-60 || iat > now+5 {
		t.Errorf("%s: iat %v is not now (%v)", where, iat, now)
	}
	if exp <= iat || (f.env == legacyEnv && exp-iat > 300) {
		t.Errorf("%s: exp-iat = %v s; must be positive and at most 300 s in the legacy environment", where, exp-iat)
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Errorf("%s: no jti", where)
	}
	if f.env == legacyEnv {
		if claims["iss"] != testAPIKey || claims["ist"] != "project" {
			t.Errorf("%s: claims iss=%v ist=%v", where, claims["iss"], claims["ist"])
		}
	} else if claims["application_id"] != testAppID {
		t.Errorf("%s: application_id %v", where, claims["application_id"])
	}
}
