package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/golang-jwt/jwt/v5"
)

const relaySecret = "relay-secret-0123456789abcdef0123456789"

func TestRelayTokenCommand(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "GAVEL_RELAY_SECRET": relaySecret}
	code, out, errOut := gavel(t, env, "", "relay", "token", "--name", "alice", "--role", "moderator", "--ttl", "2h")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	claims, err := relay.VerifyToken([]byte(relaySecret), strings.TrimSpace(out), time.Now())
	if err != nil {
		t.Fatalf("the minted token does not verify with the relay secret: %v", err)
	}
	if claims.Name != "alice" || claims.Role != events.RoleModerator || time.Until(claims.Expires) > 2*time.Hour+time.Minute {
		t.Errorf("claims %+v", claims)
	}

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no name", env, []string{"relay", "token", "--role", "admin"}, "--name is required"},
		{"bad role", env, []string{"relay", "token", "--name", "a", "--role", "root"}, `--role: expected viewer, moderator or admin, got "root"`},
		{"bad ttl", env, []string{"relay", "token", "--name", "a", "--ttl", "0s"}, "--ttl"},
		{"no secret", map[string]string{"HOME": t.TempDir()}, []string{"relay", "token", "--name", "a"}, "relay.secret (or GAVEL_RELAY_SECRET): expected at least 32 bytes"},
	} {
		code, out, errOut := gavel(t, tc.env, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%s: exit %d, stderr %q (want %q), stdout %q", tc.name, code, errOut, tc.want, out)
		}
	}
}

// TestEventsCommandPrintsTheStream runs `gavel events` against a real relay
// and reads its NDJSON: a hello, a snapshot holding the first event, then a
// second event appended while it runs.
func TestEventsCommandPrintsTheStream(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := relay.NewServer(ctx, relay.Config{DataDir: t.TempDir(), Secret: []byte(relaySecret)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	body := `{"sessionId":"S1","projectId":"1","event":"sessionCreated","timestamp":1}`
	if _, _, err := srv.Log().Append(ctx, events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(body)}, "m1"); err != nil {
		t.Fatal(err)
	}
	// The snapshot holds the first event only once the hub has applied it;
	// attaching earlier would (rightly) give an empty snapshot and the
	// first event live.
	for wait := time.Now().Add(10 * time.Second); srv.Hub().Applied() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the hub never applied the first event")
		}
	}
	token, _ := relay.IssueToken([]byte(relaySecret), "bob", events.RoleViewer, time.Hour, time.Now())

	pr, pw := io.Pipe()
	cmdCtx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(cmdCtx, []string{"events", "--relay", "ws://" + ln.Addr().String() + "/v1/stream", "--token", token},
			strings.NewReader(""), pw, io.Discard, func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] })
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var types []string
	deadline := time.AfterFunc(10*time.Second, stop)
	defer deadline.Stop()
	for lines.Scan() {
		var f struct {
			Type  string          `json:"type"`
			Seq   uint64          `json:"seq"`
			Event json.RawMessage `json:"event"`
			Name  string          `json:"name"`
		}
		if err := json.Unmarshal(lines.Bytes(), &f); err != nil {
			t.Fatalf("not one JSON object per line: %q", lines.Text())
		}
		types = append(types, f.Type)
		if f.Type == events.FrameHello && f.Name != "bob" {
			t.Errorf("hello names %q", f.Name)
		}
		if f.Type == events.FrameSnapshot {
			// The first event is in the snapshot; a second one must arrive live.
			live := `{"sessionId":"S1","projectId":"1","event":"sessionDestroyed","timestamp":2}`
			if _, _, err := srv.Log().Append(ctx, events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(live)}, "m2"); err != nil {
				t.Fatal(err)
			}
		}
		if f.Type == events.FrameEvent {
			if f.Seq != 2 || !strings.Contains(string(f.Event), `"sessionDestroyed"`) {
				t.Errorf("event line %s", lines.Text())
			}
			stop()
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if code := <-done; code != 0 {
		t.Errorf("gavel events exited %d after an interrupt", code)
	}
	if len(types) < 2 || types[0] != events.FrameHello || types[len(types)-1] != events.FrameEvent {
		t.Errorf("frames %v, want hello … event", types)
	}
}

func TestEventsCommandNeedsARelay(t *testing.T) {
	code, _, errOut := gavel(t, map[string]string{"HOME": t.TempDir()}, "", "events")
	if code != 2 || !strings.Contains(errOut, "no relay: pass --relay") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// lineWriter hands each line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- string(w.buf[:i]):
		default:
		}
		w.buf = w.buf[i+1:]
	}
}

// TestRelayCommandServes runs `gavel relay` by its flags and environment,
// as an operator starts it, against the emulator as its Video API: it
// says where it listens, answers health without a token and nothing else
// without one, takes a callback, serves it to a console holding a token
// from `gavel relay token`, acts for that console with the credentials
// from the environment, and exits 0 when interrupted.
func TestRelayCommandServes(t *testing.T) {
	emu, err := opentoktest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	api, err := emu.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := api.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := api.Token(sess.ID, opentok.TokenOptions{Role: opentok.RolePublisher, Data: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := emu.Join(sess.ID, tok.String())
	if err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"HOME": t.TempDir(), "GAVEL_RELAY_SECRET": relaySecret,
		"GAVEL_API_KEY": opentoktest.DefaultAPIKey, "GAVEL_API_SECRET": opentoktest.DefaultAPISecret, "GAVEL_API_URL": emu.URL}
	rc := startRelayCommand(t, env, io.Discard)
	addr := rc.addr
	base := "http://" + addr

	get := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d", code)
	}
	if code := get("/metrics"); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}
	body := fmt.Sprintf(`{"sessionId":%q,"projectId":%q,"event":"connectionCreated","timestamp":%d,"connection":{"id":%q,"createdAt":%d,"data":"alice"}}`,
		sess.ID, opentoktest.DefaultAPIKey, time.Now().UnixMilli(), alice.ConnectionID(), time.Now().UnixMilli())
	resp, err := http.Post(base+"/v1/callbacks/session", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("callback: %d", resp.StatusCode)
	}

	code, token, errOut := gavel(t, env, "", "relay", "token", "--name", "mona", "--role", "moderator")
	if code != 0 {
		t.Fatalf("relay token: %d %s", code, errOut)
	}
	conn, err := relayclient.Dial(t.Context(), relayclient.Config{URL: "ws://" + addr + "/v1/stream", Token: strings.TrimSpace(token)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if h := conn.Hello(); h.Name != "mona" || h.Role != events.RoleModerator {
		t.Errorf("hello %+v", h)
	}
	if err := conn.Send(events.Command{ID: "c1", Action: events.ActionSignal, Session: sess.ID, Connection: alice.ConnectionID(),
		Params: json.RawMessage(`{"type":"hello","data":"from the relay"}`)}); err != nil {
		t.Fatal(err)
	}
	sawSession := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); {
		f, err := conn.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Snapshot != nil {
			for _, s := range f.Snapshot.Sessions {
				sawSession = sawSession || s.ID == sess.ID && len(s.Connections) == 1
			}
		}
		if f.Event != nil && strings.Contains(string(f.Event.Event), alice.ConnectionID()) {
			sawSession = true
		}
		if f.Result != nil {
			if !f.Result.OK {
				t.Fatalf("signal refused: %+v", f.Result.Error)
			}
			break
		}
	}
	if !sawSession {
		t.Error("the console never saw the callback's session")
	}
	if got := alice.Signals(); len(got) != 1 || got[0].Data != "from the relay" {
		t.Errorf("alice received %+v", got)
	}

	rc.stop(t)
}

// relayCommand is `gavel relay` running in-process on a free loopback
// port, as an operator starts it.
type relayCommand struct {
	addr   string // where it listens, as it printed
	cancel context.CancelFunc
	done   chan int
}

// startRelayCommand runs `gavel relay` with env (and a fresh data
// directory) until it says where it listens; its logs go to stderr.
func startRelayCommand(t *testing.T, env map[string]string, stderr io.Writer) *relayCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := &lineWriter{lines: make(chan string, 16)}
	rc := &relayCommand{cancel: cancel, done: make(chan int, 1)}
	go func() {
		rc.done <- run(ctx, []string{"relay", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, strings.NewReader(""), out, stderr,
			func(k string) string { return env[k] })
	}()
	select {
	case l := <-out.lines:
		var ok bool
		if rc.addr, ok = strings.CutPrefix(l, "relay listening on "); !ok {
			t.Fatalf("first line %q", l)
		}
	case code := <-rc.done:
		t.Fatalf("gavel relay exited %d before listening", code)
	case <-time.After(15 * time.Second):
		t.Fatal("gavel relay never said where it listens")
	}
	return rc
}

// stop interrupts the relay and fails unless it exits 0 in time.
func (rc *relayCommand) stop(t *testing.T) {
	t.Helper()
	rc.cancel()
	select {
	case code := <-rc.done:
		if code != 0 {
			t.Errorf("gavel relay exited %d after an interrupt", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("gavel relay did not stop")
	}
}

// TestRelaySignatureSecretsConfig: [relay.signature_secrets] and
// GAVEL_SIGNATURE_SECRET_<GROUP> give groups their own callback secrets,
// the environment winning over the file; a key that is no callback group
// stops `gavel relay` and plain `gavel` at start with exit 2, naming the
// key and the groups, and quoting no secret.
func TestRelaySignatureSecretsConfig(t *testing.T) {
	file := writeConfig(t, "[relay]\nsignature_secret = \"default-s3cr3t\"\n[relay.signature_secrets]\narchive = \"file-archive-s3cr3t\"\ncaptions = \"file-captions-s3cr3t\"\n")
	env := map[string]string{"HOME": t.TempDir(),
		"GAVEL_SIGNATURE_SECRET_ARCHIVE":  "env-archive-s3cr3t",
		"GAVEL_SIGNATURE_SECRET_SIP":      "env-sip-s3cr3t",
		"GAVEL_SIGNATURE_SECRET_ARCHIVES": "not-a-group-s3cr3t", // not a group: never looked up
	}
	cfg, err := loadConfig(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"archive": "env-archive-s3cr3t", "captions": "file-captions-s3cr3t", "sip": "env-sip-s3cr3t"}
	if cfg.Relay.SignatureSecret != "default-s3cr3t" || fmt.Sprint(cfg.Relay.SignatureSecrets) != fmt.Sprint(want) {
		t.Errorf("signature_secret %q, signature_secrets %v; want default-s3cr3t and %v", cfg.Relay.SignatureSecret, cfg.Relay.SignatureSecrets, want)
	}
	// The environment alone, with no file, is enough too.
	envOnly := map[string]string{"HOME": t.TempDir(), "GAVEL_SIGNATURE_SECRET_RENDER": "r"}
	cfg, err = loadConfig("", func(k string) string { return envOnly[k] })
	if err != nil || fmt.Sprint(cfg.Relay.SignatureSecrets) != "map[render:r]" {
		t.Errorf("environment only: %v %v", cfg.Relay.SignatureSecrets, err)
	}

	for _, c := range []struct{ name, file, want string }{
		{"unknown group", "[relay.signature_secrets]\narchives = \"typo-s3cr3t\"\n",
			"config: relay.signature_secrets.archives: no such callback group; expected one of session, archive, broadcast, sip, render, captions"},
		{"empty secret", "[relay.signature_secrets]\nsession = \"\"\n",
			"config: relay.signature_secrets.session: empty; leave the key out to use signature_secret"},
	} {
		file := writeConfig(t, "[relay]\nlisten = \"127.0.0.1:0\"\n"+c.file)
		for _, args := range [][]string{{"relay"}, {}} {
			env := map[string]string{"HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir(), "GAVEL_RELAY_SECRET": relaySecret}
			code, out, errOut := gavel(t, env, "", append([]string{"--config", file}, args...)...)
			if code != 2 || !strings.Contains(errOut, c.want) || out != "" {
				t.Errorf("%s: gavel %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", c.name, args, code, out, errOut, c.want)
			}
			if strings.Contains(errOut, "s3cr3t") {
				t.Errorf("%s: the error quotes the secret: %s", c.name, errOut)
			}
		}
	}
}

// signedCallback signs body as Vonage's secure callbacks are signed.
func signedCallback(t *testing.T, secret string, body []byte) string {
	t.Helper()
	sum := sha256.Sum256(body)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": "Vonage", "iat": time.Now().Unix(), "jti": "j-" + strconv.FormatInt(time.Now().UnixNano(), 10),
		"payload_hash": hex.EncodeToString(sum[:]),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestRelayCommandPerGroupSecrets runs `gavel relay` with a default
// signature secret and the archive group's own from the environment: the
// archive URL takes callbacks signed with the archive secret only, the
// session URL with the default only, and the log says which group uses
// which kind of secret without ever printing one.
func TestRelayCommandPerGroupSecrets(t *testing.T) {
	const defaultSecret, archiveSecret = "default-callback-s3cr3t", "archive-callback-s3cr3t"
	env := map[string]string{"HOME": t.TempDir(), "GAVEL_RELAY_SECRET": relaySecret,
		"GAVEL_SIGNATURE_SECRET": defaultSecret, "GAVEL_SIGNATURE_SECRET_ARCHIVE": archiveSecret}
	logs := &lineWriter{lines: make(chan string, 64)}
	rc := startRelayCommand(t, env, logs)
	post := func(group string, body []byte, auth string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+rc.addr+"/v1/callbacks/"+group, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	archive := []byte(`{"id":"b40ef09b-3811-4726-b508-e58a7e2bd8a6","event":"archive","createdAt":1470257688000,"updatedAt":1470257688000,"partnerId":123456,"sessionId":"2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr","status":"started"}`)
	session := []byte(docConnectionCreated)
	for _, c := range []struct {
		name, group string
		body        []byte
		secret      string
		want        int
	}{
		{"archive, archive secret", "archive", archive, archiveSecret, http.StatusOK},
		{"archive, default secret", "archive", archive, defaultSecret, http.StatusUnauthorized},
		{"session, archive secret", "session", session, archiveSecret, http.StatusUnauthorized},
		{"session, default secret", "session", session, defaultSecret, http.StatusOK},
	} {
		if got := post(c.group, c.body, signedCallback(t, c.secret, c.body)); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	rc.stop(t)
	close(logs.lines)
	var signatures map[string]any
	for line := range logs.lines {
		if strings.Contains(line, "s3cr3t") {
			t.Errorf("a log line holds a secret: %s", line)
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "callback signatures" {
			signatures = m
		}
	}
	if fmt.Sprint(signatures["verified"]) != "[session archive broadcast sip render captions]" ||
		fmt.Sprint(signatures["own_secret"]) != "[archive]" || fmt.Sprint(signatures["unverified"]) != "[]" {
		t.Errorf("callback signatures line %v", signatures)
	}
}
