package emulatorcmd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/gavelhq/gavel/opentok/opentoktest/emulatorcmd"
	"github.com/golang-jwt/jwt/v5"
)

// syncBuffer is a buffer the command writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// emulator is `gavel emulator` running in-process.
type emulator struct {
	out, errOut *syncBuffer
	cancel      context.CancelFunc
	done        chan struct{} // closed when the command returns
	err         error         // what it returned, once done is closed
}

func start(t *testing.T, args ...string) *emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &emulator{out: &syncBuffer{}, errOut: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	cmd := emulatorcmd.Command()
	cmd.SetArgs(args)
	cmd.SetOut(e.out)
	cmd.SetErr(e.errOut)
	go func() {
		e.err = cmd.ExecuteContext(ctx)
		close(e.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			t.Error("the emulator did not stop")
		}
	})
	return e
}

// waitFor waits until stdout contains s.
func (e *emulator) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if out := e.out.String(); strings.Contains(out, s) {
			return out
		}
		select {
		case <-e.done:
			t.Fatalf("the emulator exited (%v) before printing %q:\n%s\nstderr:\n%s", e.err, s, e.out, e.errOut)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no %q in the output after 15 s:\n%s", s, e.out)
	return ""
}

func (e *emulator) stop(t *testing.T) {
	t.Helper()
	e.cancel()
	select {
	case <-e.done:
		if e.err != nil {
			t.Fatalf("the emulator stopped with %v\nstderr:\n%s", e.err, e.errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the emulator did not stop within 10 s of cancellation")
	}
}

// printed is what the banner tells a user.
type printed struct {
	url, apiKey, apiSecret string
	appID, keyFile         string
}

var (
	exportLine    = regexp.MustCompile(`(?m)^export GAVEL_API_KEY=(\S+) GAVEL_API_SECRET=(\S+) GAVEL_API_URL=(\S+)$`)
	appExportLine = regexp.MustCompile(`(?m)^export GAVEL_APPLICATION_ID=(\S+) GAVEL_PRIVATE_KEY_FILE=(\S+) GAVEL_API_URL=(\S+)$`)
	appLines      = regexp.MustCompile(`(?m)^\s+application\s+id\s+(\S+)\n\s+private key\s+(\S+)`)
	urlLine       = regexp.MustCompile(`(?m)^Video API emulator listening on (\S+)$`)
)

// apiSection is the [api] section of gavel's config file, both ways.
type apiSection struct {
	APIKey         string `toml:"api_key"`
	APISecret      string `toml:"api_secret"`
	ApplicationID  string `toml:"application_id"`
	PrivateKeyFile string `toml:"private_key_file"`
	URL            string `toml:"url"`
}

// parseBanner reads the banner and checks that the two config snippets
// (legacy project, then application) and the two export lines agree.
func parseBanner(t *testing.T, out string) printed {
	t.Helper()
	var p printed
	m := exportLine.FindStringSubmatch(out)
	ma := appExportLine.FindStringSubmatch(out)
	a := appLines.FindStringSubmatch(out)
	u := urlLine.FindStringSubmatch(out)
	if m == nil || ma == nil || a == nil || u == nil {
		t.Fatalf("banner lacks an export line, the application or the URL:\n%s", out)
	}
	p.apiKey, p.apiSecret, p.url, p.appID, p.keyFile = m[1], m[2], m[3], a[1], a[2]
	if p.url != u[1] || ma[3] != u[1] {
		t.Errorf("exports say %s and %s, the banner %s", p.url, ma[3], u[1])
	}
	if ma[1] != p.appID || ma[2] != p.keyFile {
		t.Errorf("application export %v disagrees with the banner's %s %s", ma[1:3], p.appID, p.keyFile)
	}
	var snippets []apiSection
	for rest := out; ; {
		start := strings.Index(rest, "[api]\n")
		if start < 0 {
			break
		}
		end := strings.Index(rest[start:], "\n\n")
		if end < 0 {
			t.Fatalf("an [api] snippet runs to the end:\n%s", out)
		}
		var cfg struct {
			API apiSection `toml:"api"`
		}
		md, err := toml.Decode(rest[start:start+end], &cfg)
		if err != nil || len(md.Undecoded()) > 0 {
			t.Fatalf("snippet does not decode as gavel's [api] section: %v (unknown keys %v)", err, md.Undecoded())
		}
		snippets = append(snippets, cfg.API)
		rest = rest[start+end:]
	}
	want := []apiSection{{APIKey: p.apiKey, APISecret: p.apiSecret, URL: p.url}, {ApplicationID: p.appID, PrivateKeyFile: p.keyFile, URL: p.url}}
	if !slices.Equal(snippets, want) {
		t.Errorf("config snippets %+v, want %+v (project, then application, as the banner says)", snippets, want)
	}
	return p
}

// callbackSink records session-monitoring callbacks.
type callbackSink struct {
	mu     sync.Mutex
	events []sunkCallback
}

// sunkCallback is what the tests read of a callback: a few fields and the
// Authorization it came with.
type sunkCallback struct {
	SessionID string `json:"sessionId"`
	Event     string `json:"event"`
	Stream    *struct {
		ID string `json:"id"`
	} `json:"stream"`
	auth string
}

func (s *callbackSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev sunkCallback
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ev.auth = r.Header.Get("Authorization")
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

// first is the first callback of kind event seen.
func (s *callbackSink) first(event string) (sunkCallback, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if ev.Event == event {
			return ev, true
		}
	}
	return sunkCallback{}, false
}

// signedWith reports whether auth is "Bearer <HS256 JWT>" made with secret.
func signedWith(auth, secret string) bool {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		return false
	}
	_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(secret), nil }, jwt.WithValidMethods([]string{"HS256"}))
	return err == nil
}

// firstStream is the first streamCreated seen: its session and stream IDs.
func (s *callbackSink) firstStream() (string, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if ev.Event == "streamCreated" && ev.Stream != nil {
			return ev.SessionID, ev.Stream.ID, true
		}
	}
	return "", "", false
}

// TestEmulatorServesWhatItPrints: the credentials and URL it prints work
// with the opentok client, the scenario's sessions show up in callbacks and
// through REST, and cancelling stops it cleanly.
func TestEmulatorServesWhatItPrints(t *testing.T) {
	sink := &callbackSink{}
	receiver := httptest.NewServer(sink)
	defer receiver.Close()
	const sessionSecret, archiveSecret = "session-callbacks-s3cret", "archive-callbacks-s3cret"
	e := start(t, "--listen", "127.0.0.1:0", "--scenario", "classroom", "--speed", "50", "--seed", "3",
		"--callback-url", receiver.URL, "--api-key", "12345678", "--api-secret", "s3cret-for-the-test",
		"--signature-secret", sessionSecret, "--archive-signature-secret", archiveSecret)
	out := e.waitFor(t, "Press Ctrl-C to stop.")
	p := parseBanner(t, out)
	if p.apiKey != "12345678" || p.apiSecret != "s3cret-for-the-test" || !strings.HasPrefix(p.url, "http://127.0.0.1:") {
		t.Errorf("printed %+v, want the given credentials and a loopback URL", p)
	}
	if !strings.Contains(out, "throwaway credentials") || !strings.Contains(out, "classroom, seed 3") ||
		!strings.Contains(out, "session monitoring → "+receiver.URL+" (signed with --signature-secret)") ||
		!strings.Contains(out, "archive → "+receiver.URL+" (signed with --archive-signature-secret)") {
		t.Errorf("banner does not say what runs and where callbacks go:\n%s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	// The legacy project: create a session and list its streams.
	creds, err := opentok.ProjectCredentials(p.apiKey, p.apiSecret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := opentok.New(creds, opentok.WithBaseURL(p.url))
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatalf("session create with the printed credentials: %v", err)
	}
	if streams, err := client.Streams.List(ctx, s.ID); err != nil && !errors.Is(err, opentok.ErrNotFound) || len(streams) != 0 {
		t.Errorf("streams of a new session: %v, %v; want none", streams, err)
	}

	// The classroom publishes within seconds (at 50×): the callback names a
	// stream the REST API lists.
	var sessionID, streamID string
	for deadline := time.Now().Add(10 * time.Second); ; {
		var ok bool
		if sessionID, streamID, ok = sink.firstStream(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no streamCreated callback from the classroom within 10 s; stderr:\n%s", e.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	streams, err := client.Streams.List(ctx, sessionID)
	if err != nil {
		t.Fatalf("list the classroom's streams: %v", err)
	}
	found := false
	for _, x := range streams {
		found = found || x.ID == streamID
	}
	if !found {
		t.Errorf("stream %s from the callback is not in the REST list %+v", streamID, streams)
	}

	// Each kind of callback is signed with its own secret.
	if ev, _ := sink.first("streamCreated"); !signedWith(ev.auth, sessionSecret) || signedWith(ev.auth, archiveSecret) {
		t.Errorf("streamCreated Authorization %q: want it signed with --signature-secret alone", ev.auth)
	}
	if _, err := client.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sessionID}); err != nil {
		t.Fatalf("archive the classroom: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ev, ok := sink.first("archive"); ok {
			if !signedWith(ev.auth, archiveSecret) || signedWith(ev.auth, sessionSecret) {
				t.Errorf("archive callback Authorization %q: want it signed with --archive-signature-secret alone", ev.auth)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no archive callback within 10 s; stderr:\n%s", e.errOut)
		}
	}

	// The application: the printed ID and key file work too, and the file
	// is private.
	st, err := os.Stat(p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	pemBytes, err := os.ReadFile(p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := opentok.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	appCreds, err := opentok.ApplicationCredentials(p.appID, key)
	if err != nil {
		t.Fatal(err)
	}
	appClient, err := opentok.New(appCreds, opentok.WithBaseURL(p.url))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := appClient.Sessions.Create(ctx, opentok.SessionOptions{}); err != nil {
		t.Errorf("session create with the printed application: %v", err)
	}

	e.stop(t)
	if !strings.Contains(e.out.String(), "Stopping") {
		t.Errorf("no word on stopping:\n%s", e.out)
	}
	if _, err := os.Stat(p.keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("key file %s still there after stopping (%v)", p.keyFile, err)
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(p.url, "http://"), time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after stopping", p.url)
	}
}

// TestEmulatorDefaults: with no flags but --listen it serves the default
// project, runs no scenario and registers no callbacks.
func TestEmulatorDefaults(t *testing.T) {
	e := start(t, "--listen", "127.0.0.1:0")
	out := e.waitFor(t, "Press Ctrl-C to stop.")
	p := parseBanner(t, out)
	if !strings.Contains(out, "Callbacks: none") || !strings.Contains(out, "Scenario:  none") {
		t.Errorf("banner:\n%s", out)
	}
	creds, err := opentok.ProjectCredentials(p.apiKey, p.apiSecret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := opentok.New(creds, opentok.WithBaseURL(p.url))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := client.Sessions.Create(ctx, opentok.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	// A wrong secret is refused, as the service refuses it.
	bad, _ := opentok.ProjectCredentials(p.apiKey, "not-the-secret")
	badClient, _ := opentok.New(bad, opentok.WithBaseURL(p.url))
	if _, err := badClient.Sessions.Create(ctx, opentok.SessionOptions{}); !errors.Is(err, opentok.ErrAuth) {
		t.Errorf("wrong secret: %v, want an auth error", err)
	}
	e.stop(t)
}

func TestEmulatorRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--scenario", "webinar"}, []string{"--scenario", "webinar", "townhall, classroom, onetoone, flaky, mix, none"}},
		{[]string{"--speed", "0"}, []string{"--speed", "positive"}},
		{[]string{"--speed", "-3"}, []string{"--speed", "positive"}},
		{[]string{"--time-scale", "0"}, []string{"--time-scale", "positive"}},
		{[]string{"--callback-url", "ftp://x/cb"}, []string{"--callback-url", "http:// or https://"}},
		{[]string{"--archive-callback-url", "localhost:8080"}, []string{"--archive-callback-url", "http:// or https://"}},
		{[]string{"--api-key", "123"}, []string{"--api-key and --api-secret"}},
		{[]string{"--application-id", "0b1e6c2a-4d3f-4a5b-9c8d-7e6f5a4b3c2d"}, []string{"--application-id and --private-key-file"}},
		{[]string{"--application-id", "x", "--private-key-file", "/nonexistent/key.pem"}, []string{"--private-key-file", "/nonexistent/key.pem"}},
		{[]string{"--scenario-owner", "team"}, []string{"--scenario-owner", `"team"`, "project or application"}},
		{[]string{"--listen", "4010"}, []string{"--listen", "host:port"}},
	} {
		cmd := emulatorcmd.Command()
		out := &syncBuffer{}
		cmd.SetArgs(tc.args)
		cmd.SetOut(out)
		cmd.SetErr(out)
		err := cmd.ExecuteContext(context.Background())
		var ue *exitcode.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err %v (%T), want a usage error", tc.args, err, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q does not say %q", tc.args, err, w)
			}
		}
		if strings.Contains(out.String(), "listening") {
			t.Errorf("%v: started anyway:\n%s", tc.args, out)
		}
	}
}

func TestEmulatorPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := emulatorcmd.Command()
	cmd.SetArgs([]string{"--listen", ln.Addr().String()})
	cmd.SetOut(&syncBuffer{})
	cmd.SetErr(&syncBuffer{})
	err = cmd.ExecuteContext(context.Background())
	var ue *exitcode.UsageError
	if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("port in use: %v, want a runtime error naming the address", err)
	}
}

// TestEmulatorScenarioUnderYourApplication: with --scenario-owner
// application and the user's own application ID and key, the scenario's
// participants belong to that application: its credentials see them (the
// legacy project's get 403, as on the service), and the user's key file is
// printed and left in place.
func TestEmulatorScenarioUnderYourApplication(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "private.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	const appID = "0b1e6c2a-4d3f-4a5b-9c8d-7e6f5a4b3c2d"
	sink := &callbackSink{}
	receiver := httptest.NewServer(sink)
	defer receiver.Close()
	e := start(t, "--listen", "127.0.0.1:0", "--scenario", "onetoone", "--speed", "50", "--callback-url", receiver.URL,
		"--scenario-owner", "application", "--application-id", appID, "--private-key-file", keyFile)
	out := e.waitFor(t, "Press Ctrl-C to stop.")
	p := parseBanner(t, out)
	if p.appID != appID || p.keyFile != keyFile || !strings.Contains(out, keyFile+" (yours)") {
		t.Errorf("banner names application %s key %s; want the given ones, marked yours:\n%s", p.appID, p.keyFile, out)
	}
	if !strings.Contains(out, "under the application: use its credentials") {
		t.Errorf("banner does not say whose the scenario's sessions are:\n%s", out)
	}

	var sessionID, streamID string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var ok bool
		if sessionID, streamID, ok = sink.firstStream(); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no streamCreated callback within 10 s; stderr:\n%s", e.errOut)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	appCreds, err := opentok.ApplicationCredentials(appID, key)
	if err != nil {
		t.Fatal(err)
	}
	app, _ := opentok.New(appCreds, opentok.WithBaseURL(p.url))
	streams, err := app.Streams.List(ctx, sessionID)
	if err != nil || !slices.ContainsFunc(streams, func(s opentok.Stream) bool { return s.ID == streamID }) {
		t.Errorf("the application lists the scenario's streams %+v, %v; want %s among them", streams, err, streamID)
	}
	if conns, err := app.Connections.List(ctx, sessionID); err != nil || conns.Count == 0 {
		t.Errorf("the application lists the scenario's connections %+v, %v; want its participants", conns, err)
	}
	projCreds, _ := opentok.ProjectCredentials(p.apiKey, p.apiSecret)
	project, _ := opentok.New(projCreds, opentok.WithBaseURL(p.url))
	if _, err := project.Streams.List(ctx, sessionID); !errors.Is(err, opentok.ErrAuth) {
		t.Errorf("the legacy project lists the application's session: %v, want 403", err)
	}

	e.stop(t)
	if _, err := os.Stat(keyFile); err != nil {
		t.Errorf("the user's key file is gone after stopping: %v", err)
	}
}
