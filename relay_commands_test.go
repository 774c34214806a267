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
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/config"
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
		{"blank name", env, []string{"relay", "token", "--name", "  "}, "--name: blank"},
	} {
		code, out, errOut := gavel(t, tc.env, "", tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%s: exit %d, stderr %q (want %q), stdout %q", tc.name, code, errOut, tc.want, out)
		}
	}
}

// TestRelayTokenCommandJSON: with --json the token comes with its claims,
// as `gavel token --json` gives a client token's.
func TestRelayTokenCommandJSON(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "GAVEL_RELAY_SECRET": relaySecret}
	code, out, errOut := gavel(t, env, "", "relay", "token", "--name", "alice", "--role", "admin", "--ttl", "2h", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	claims, err := relay.VerifyToken([]byte(relaySecret), got["token"], time.Now())
	if err != nil {
		t.Fatalf("the token in %q does not verify: %v", out, err)
	}
	want := map[string]string{"token": got["token"], "name": "alice", "role": "admin", "expires_at": claims.Expires.UTC().Format(time.RFC3339)}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("--json %v, want %v", got, want)
	}
	if d := time.Until(claims.Expires); d < 2*time.Hour-time.Minute || d > 2*time.Hour {
		t.Errorf("expires in %s, want 2h", d)
	}
}

// TestRelayCommandOnEveryInterface: listening on every interface, `gavel
// relay` prints URLs with this host's name, which can be registered, and
// says that the Video API needs the public https name; the exact address
// is in the log.
func TestRelayCommandOnEveryInterface(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir(), "GAVEL_RELAY_SECRET": relaySecret}
	logs := &lineWriter{lines: make(chan string, 64)}
	rc := startRelayCommandOn(t, ":0", env, logs)
	_, port, err := net.SplitHostPort(rc.addr)
	if err != nil {
		t.Fatalf("listening on %q: %v", rc.addr, err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	base := net.JoinHostPort(host, port)
	var lines []string
	for range 4 {
		lines = append(lines, next(t, rc.out, "stdout"))
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{"callbacks: http://" + base + "/v1/callbacks/session", "consoles:  ws://" + base + "/v1/stream", "public https:// name"} {
		if !strings.Contains(text, want) {
			t.Errorf("stdout\n%s\nwant %q", text, want)
		}
	}
	if strings.Contains(text, "//[::]") || strings.Contains(text, "//0.0.0.0") {
		t.Errorf("a URL names every interface:\n%s", text)
	}
	resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rc.stop(t)
	close(logs.lines)
	logged := ""
	for l := range logs.lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "relay listening" {
			logged, _ = m["addr"].(string)
		}
	}
	if h, p, _ := net.SplitHostPort(logged); p != port || !net.ParseIP(h).IsUnspecified() {
		t.Errorf("log says it listens on %q, want every interface, port %s", logged, port)
	}
}

// TestRelayCommandExitCodes: `gavel relay` exits 2 for a mistake in its
// configuration and 1 when the system fails it (NATS unreachable, the
// address taken, the data directory unusable), naming what failed and
// never a NATS password.
func TestRelayCommandExitCodes(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		secret string
		args   []string
		code   int
		want   string
	}{
		{"NATS unreachable", relaySecret, []string{"--nats-url", "nats://bob:pw-s3cr3t@" + closedAddr}, 1, "connect to NATS nats://***@" + closedAddr},
		{"NATS URL malformed", relaySecret, []string{"--nats-url", "nats://bob:pw-s3cr3t@127.0.0.1:x"}, 2, "relay: nats_url: nats://***@127.0.0.1:x: expected nats://"},
		{"NATS URL not NATS", relaySecret, []string{"--nats-url", "http://bob:pw-s3cr3t@" + closedAddr}, 2, `relay: nats_url: http://***@` + closedAddr + `: scheme "http"`},
		{"address in use", relaySecret, []string{"--listen", taken.Addr().String()}, 1, "listen on " + taken.Addr().String()},
		{"address without a port", relaySecret, []string{"--listen", "127.0.0.1"}, 2, "listen on 127.0.0.1 (relay.listen or --listen)"},
		{"data directory is a file", relaySecret, []string{"--data", file}, 1, "data_dir " + file},
		{"no secret", "", nil, 2, "relay: secret: expected at least 32 bytes"},
	} {
		env := map[string]string{"HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir(), "GAVEL_RELAY_SECRET": c.secret}
		args := append([]string{"relay", "--listen", "127.0.0.1:0", "--data", t.TempDir()}, c.args...)
		code, out, errOut := gavel(t, env, "", args...)
		if code != c.code || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and %q", c.name, code, out, errOut, c.code, c.want)
		}
		if strings.Contains(errOut, "s3cr3t") {
			t.Errorf("%s: stderr shows the NATS password: %s", c.name, errOut)
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
	addr   string      // where it listens, as it printed
	out    *lineWriter // the lines of stdout after the first
	cancel context.CancelFunc
	done   chan int
}

// startRelayCommand runs `gavel relay` with env (and a fresh data
// directory) on a free loopback port until it says where it listens; its
// logs go to stderr.
func startRelayCommand(t *testing.T, env map[string]string, stderr io.Writer) *relayCommand {
	t.Helper()
	return startRelayCommandOn(t, "127.0.0.1:0", env, stderr)
}

// startRelayCommandOn is startRelayCommand with --listen listen.
func startRelayCommandOn(t *testing.T, listen string, env map[string]string, stderr io.Writer) *relayCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	out := &lineWriter{lines: make(chan string, 16)}
	rc := &relayCommand{out: out, cancel: cancel, done: make(chan int, 1)}
	go func() {
		rc.done <- run(ctx, []string{"relay", "--listen", listen, "--data", t.TempDir()}, strings.NewReader(""), out, stderr,
			func(k string) string { return env[k] })
	}()
	select {
	case l := <-out.lines:
		rest, ok := strings.CutPrefix(l, "relay listening on ")
		if !ok {
			t.Fatalf("first line %q", l)
		}
		rc.addr, _, _ = strings.Cut(rest, " ")
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
	interrupt(t, "gavel relay", rc.cancel, rc.done)
}

// interrupt cancels a command running in-process and fails unless it
// exits 0 in time.
func interrupt(t *testing.T, name string, cancel context.CancelFunc, done <-chan int) {
	t.Helper()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("%s exited %d after an interrupt", name, code)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not stop", name)
	}
}

// TestRelaySignatureSecretsConfig: [relay.signature_secrets] and
// GAVEL_SIGNATURE_SECRET_<GROUP> give groups their own callback secrets,
// the environment winning over the file; a key that is no callback group
// (or a malformed relay.nats_url) stops `gavel relay` and plain `gavel` at
// start with exit 2, naming the key and the groups, and quoting no secret.
func TestRelaySignatureSecretsConfig(t *testing.T) {
	file := writeConfig(t, "[relay]\nsignature_secret = \"default-s3cr3t\"\n[relay.signature_secrets]\narchive = \"file-archive-s3cr3t\"\ncaptions = \"file-captions-s3cr3t\"\n")
	env := map[string]string{"HOME": t.TempDir(),
		"GAVEL_SIGNATURE_SECRET_ARCHIVE":  "env-archive-s3cr3t",
		"GAVEL_SIGNATURE_SECRET_SIP":      "env-sip-s3cr3t",
		"GAVEL_SIGNATURE_SECRET_ARCHIVES": "not-a-group-s3cr3t", // not a group: never looked up
	}
	cfg, err := config.Load(file, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"archive": "env-archive-s3cr3t", "captions": "file-captions-s3cr3t", "sip": "env-sip-s3cr3t"}
	if cfg.Relay.SignatureSecret != "default-s3cr3t" || fmt.Sprint(cfg.Relay.SignatureSecrets) != fmt.Sprint(want) {
		t.Errorf("signature_secret %q, signature_secrets %v; want default-s3cr3t and %v", cfg.Relay.SignatureSecret, cfg.Relay.SignatureSecrets, want)
	}
	// The environment alone, with no file, is enough too.
	envOnly := map[string]string{"HOME": t.TempDir(), "GAVEL_SIGNATURE_SECRET_RENDER": "r"}
	cfg, err = config.Load("", func(k string) string { return envOnly[k] })
	if err != nil || fmt.Sprint(cfg.Relay.SignatureSecrets) != "map[render:r]" {
		t.Errorf("environment only: %v %v", cfg.Relay.SignatureSecrets, err)
	}

	for _, c := range []struct{ name, file, want string }{
		{"unknown group", "[relay.signature_secrets]\narchives = \"typo-s3cr3t\"\n",
			"config: relay.signature_secrets.archives: no such callback group; expected one of session, archive, broadcast, sip, render, captions"},
		{"empty secret", "[relay.signature_secrets]\nsession = \"\"\n",
			"config: relay.signature_secrets.session: empty; leave the key out to use signature_secret"},
		{"malformed NATS URL", "nats_url = \"nats://bob:s3cr3t@127.0.0.1:x\"\n",
			"relay: nats_url: nats://***@127.0.0.1:x: expected nats://[USER:PASSWORD@]HOST[:PORT]"},
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

// testRelay is a relay.Server on a loopback address, stopped and started
// again on the same address and data directory as an operator restarts one.
type testRelay struct {
	t      *testing.T
	dir    string
	addr   string
	srv    *relay.Server
	cancel context.CancelFunc
	served chan error
}

// startTestRelay serves a relay on addr ("127.0.0.1:0" for any port).
func startTestRelay(t *testing.T, dir, addr string) *testRelay {
	t.Helper()
	r := &testRelay{t: t, dir: dir, addr: addr}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *testRelay) start() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := relay.NewServer(ctx, relay.Config{DataDir: r.dir, Secret: []byte(relaySecret), Name: "test-relay"}, nil)
	if err != nil {
		cancel()
		r.t.Fatal(err)
	}
	var ln net.Listener
	// The address of a relay just stopped can take a moment to free.
	for i := 0; ; i++ {
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		if i > 100 {
			cancel()
			r.t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.addr, r.srv, r.cancel, r.served = ln.Addr().String(), srv, cancel, make(chan error, 1)
	go func() { r.served <- srv.Serve(ctx, ln) }()
}

func (r *testRelay) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.served
	r.cancel = nil
}

// appendEvent appends a callback and waits until the hub has applied it.
func (r *testRelay) appendEvent(body string) uint64 {
	r.t.Helper()
	seq, _, err := r.srv.Log().Append(r.t.Context(), events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(body)}, "")
	if err != nil {
		r.t.Fatal(err)
	}
	for wait := time.Now().Add(10 * time.Second); r.srv.Hub().Applied() < seq; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(wait) {
			r.t.Fatalf("the hub never applied seq %d", seq)
		}
	}
	return seq
}

// eventsCommand is `gavel events` running in-process, its stdout and
// stderr line by line.
type eventsCommand struct {
	out, errs *lineWriter
	cancel    context.CancelFunc
	done      chan int
}

func startEventsCommand(t *testing.T, args ...string) *eventsCommand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &eventsCommand{out: &lineWriter{lines: make(chan string, 256)}, errs: &lineWriter{lines: make(chan string, 256)}, cancel: cancel, done: make(chan int, 1)}
	go func() {
		c.done <- run(ctx, append([]string{"events"}, args...), strings.NewReader(""), c.out, c.errs,
			func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] })
	}()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop interrupts it and fails unless it exits 0.
func (c *eventsCommand) stop(t *testing.T) {
	t.Helper()
	if c.cancel == nil {
		return
	}
	cancel := c.cancel
	c.cancel = nil
	interrupt(t, "gavel events", cancel, c.done)
}

// next is its next line of w, or a failure after 20 s.
func next(t *testing.T, w *lineWriter, what string) string {
	t.Helper()
	select {
	case l := <-w.lines:
		return l
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s line in 20 s", what)
		return ""
	}
}

// TestEventsCommandReportsTheLink: with the relay down, `gavel events`
// says so on stderr once (not once per retry), then when it connects and
// where it starts; when the relay restarts it says it lost it, that it is
// unreachable, and that it resumes after the last seq it printed. Stdout
// holds only frames throughout.
func TestEventsCommandReportsTheLink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there until the relay starts
	token, _ := relay.IssueToken([]byte(relaySecret), "bob", events.RoleViewer, time.Hour, time.Now())
	url := "ws://" + addr + "/v1/stream"
	ev := startEventsCommand(t, "--relay", url, "--token", token)

	want := func(line, prefix string) {
		t.Helper()
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("stderr line %q, want %q…", line, prefix)
		}
	}
	want(next(t, ev.errs, "stderr"), "gavel events: relay unreachable (connection refused); retrying")
	// Retries at about 0.25, 0.5 and 1 s: none says it again.
	select {
	case l := <-ev.errs.lines:
		t.Errorf("a second line while still unreachable: %q", l)
	case <-time.After(1500 * time.Millisecond):
	}

	r := startTestRelay(t, t.TempDir(), addr)
	r.appendEvent(`{"sessionId":"S1","projectId":"1","event":"sessionCreated","timestamp":1}`)
	want(next(t, ev.errs, "stderr"), "gavel events: connected to "+url+" (relay test-relay) at seq ")
	for l := next(t, ev.out, "stdout"); !strings.Contains(l, `"type":"snapshot"`); l = next(t, ev.out, "stdout") {
	}
	seq := r.appendEvent(`{"sessionId":"S1","projectId":"1","event":"sessionDestroyed","timestamp":2}`)
	if l := next(t, ev.out, "stdout"); !strings.Contains(l, fmt.Sprintf(`"seq":%d`, seq)) {
		t.Fatalf("stdout %q, want event %d", l, seq)
	}

	r.stop()
	want(next(t, ev.errs, "stderr"), "gavel events: lost the relay (the relay shut down); reconnecting")
	// A retry may still reach the relay shutting down (a 503) before its
	// listener closes: another reason, one line of its own.
	for l := next(t, ev.errs, "stderr"); l != "gavel events: relay unreachable (connection refused); retrying"; l = next(t, ev.errs, "stderr") {
		want(l, "gavel events: relay unreachable (")
	}
	r.start()
	want(next(t, ev.errs, "stderr"), fmt.Sprintf("gavel events: connected to %s (relay test-relay); resuming after seq %d", url, seq))
	seq3 := r.appendEvent(`{"sessionId":"S2","projectId":"1","event":"sessionCreated","timestamp":3}`)
	for l := next(t, ev.out, "stdout"); !strings.Contains(l, fmt.Sprintf(`"seq":%d`, seq3)); l = next(t, ev.out, "stdout") {
		if strings.Contains(l, `"type":"snapshot"`) {
			t.Errorf("a snapshot after resuming: %s", l)
		}
	}
	ev.stop(t)
	close(ev.out.lines)
	for l := range ev.out.lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("stdout line is not JSON: %q", l)
		}
	}
	close(ev.errs.lines)
	for l := range ev.errs.lines {
		t.Errorf("another stderr line: %q", l)
	}
}

// TestEventsCommandSinceZero: --since 0 is a position like any other: the
// whole log from seq 1, no snapshot.
func TestEventsCommandSinceZero(t *testing.T) {
	r := startTestRelay(t, t.TempDir(), "127.0.0.1:0")
	r.appendEvent(`{"sessionId":"S1","projectId":"1","event":"sessionCreated","timestamp":1}`)
	last := r.appendEvent(`{"sessionId":"S1","projectId":"1","event":"sessionDestroyed","timestamp":2}`)
	token, _ := relay.IssueToken([]byte(relaySecret), "bob", events.RoleViewer, time.Hour, time.Now())
	ev := startEventsCommand(t, "--relay", "ws://"+r.addr+"/v1/stream", "--token", token, "--since", "0")
	var got []string
	for len(got) < 3 {
		var f struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
		}
		l := next(t, ev.out, "stdout")
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("stdout %q: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%s%d", f.Type, f.Seq))
	}
	if want := []string{"hello0", "event1", fmt.Sprintf("event%d", last)}; !slices.Equal(got, want) {
		t.Errorf("frames %v, want %v", got, want)
	}
	if l := next(t, ev.errs, "stderr"); !strings.HasSuffix(l, "; resuming after seq 0") {
		t.Errorf("stderr %q, want it to say it resumes after seq 0", l)
	}
}

// TestEventsCommandSincePastTheLog: a --since the relay cannot resume
// from (past the end of its log) gets a snapshot, and stderr takes back
// its "resuming" with why.
func TestEventsCommandSincePastTheLog(t *testing.T) {
	r := startTestRelay(t, t.TempDir(), "127.0.0.1:0")
	last := r.appendEvent(`{"sessionId":"S1","projectId":"1","event":"sessionCreated","timestamp":1}`)
	token, _ := relay.IssueToken([]byte(relaySecret), "bob", events.RoleViewer, time.Hour, time.Now())
	ev := startEventsCommand(t, "--relay", "ws://"+r.addr+"/v1/stream", "--token", token, "--since", "500")
	if l := next(t, ev.errs, "stderr"); !strings.HasSuffix(l, "; resuming after seq 500") {
		t.Errorf("stderr %q, want it to say it resumes after seq 500", l)
	}
	want := fmt.Sprintf("seq 501 is not in the relay's log any more: starting again from a snapshot at seq %d", last)
	if l := next(t, ev.errs, "stderr"); !strings.HasSuffix(l, want) {
		t.Errorf("stderr %q, want %q", l, want)
	}
}

// TestEventsCommandLeavesOutLateRetries: a callback the Video API sent
// again after the log's duplicate window has a seq of its own; `gavel
// events` leaves it out as the console does, and --duplicates prints it
// marked.
func TestEventsCommandLeavesOutLateRetries(t *testing.T) {
	r := startTestRelay(t, t.TempDir(), "127.0.0.1:0")
	joined := `{"sessionId":"S1","projectId":"1","event":"connectionCreated","timestamp":1,"connection":{"id":"c1","createdAt":1,"data":""}}`
	first := r.appendEvent(joined)
	retry := r.appendEvent(joined) // no message id: as after the window
	last := r.appendEvent(`{"sessionId":"S1","projectId":"1","event":"connectionDestroyed","timestamp":2,"connection":{"id":"c1","createdAt":1,"data":""}}`)
	token, _ := relay.IssueToken([]byte(relaySecret), "bob", events.RoleViewer, time.Hour, time.Now())
	for _, tc := range []struct {
		flags []string
		want  []string
	}{
		{nil, []string{"hello0", fmt.Sprintf("event%d", first), fmt.Sprintf("event%d", last)}},
		{[]string{"--duplicates"}, []string{"hello0", fmt.Sprintf("event%d", first), fmt.Sprintf("event%d(duplicate)", retry), fmt.Sprintf("event%d", last)}},
	} {
		args := append([]string{"--relay", "ws://" + r.addr + "/v1/stream", "--token", token, "--since", "0"}, tc.flags...)
		ev := startEventsCommand(t, args...)
		var got []string
		for len(got) < len(tc.want) {
			var f struct {
				Type      string `json:"type"`
				Seq       uint64 `json:"seq"`
				Duplicate bool   `json:"duplicate"`
			}
			l := next(t, ev.out, "stdout")
			if err := json.Unmarshal([]byte(l), &f); err != nil {
				t.Fatalf("stdout %q: %v", l, err)
			}
			s := fmt.Sprintf("%s%d", f.Type, f.Seq)
			if f.Duplicate {
				s += "(duplicate)"
			}
			got = append(got, s)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("gavel events %v: frames %v, want %v", tc.flags, got, tc.want)
		}
	}
}

// TestBanCommands: `gavel ban add/list/lift` over the relay, as a
// moderator; a viewer's ban is refused in the relay's words; a command
// that does not say where the ban applies is a usage error.
func TestBanCommands(t *testing.T) {
	as, mod, viewer := consoleCommands(t)

	code, out, errOut := as(mod, "ban", "add", "--session", "1_MX4-class", "--match", "Troll", "--for", "2h", "--reason", "spam in chat")
	if code != 0 || !strings.Contains(out, "Banned Troll from session 1_MX4-class until") || !strings.Contains(out, "gavel ban lift ban-") {
		t.Fatalf("ban add: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = as(viewer, "--json", "ban", "list")
	var bans []events.Ban
	if err := json.Unmarshal([]byte(out), &bans); code != 0 || err != nil || len(bans) != 1 || bans[0].Identity != "Troll" || bans[0].By != "mia" ||
		bans[0].Reason != "spam in chat" || time.Until(bans[0].Expires) > 2*time.Hour {
		t.Fatalf("ban list --json: exit %d, %v: %s", code, err, out)
	}
	if code, out, _ = as(viewer, "ban", "list"); code != 0 || !strings.Contains(out, bans[0].ID) || !strings.Contains(out, "session 1_MX4-class") {
		t.Errorf("ban list: exit %d\n%s", code, out)
	}
	if code, _, errOut = as(viewer, "ban", "add", "--all", "--match", "Ana", "--for", "1h"); code != 1 || !strings.Contains(errOut, "refused (403)") {
		t.Errorf("a viewer's ban: exit %d, %s", code, errOut)
	}
	if code, _, errOut = as(mod, "ban", "add", "--match", "Ana", "--for", "1h"); code != 2 || !strings.Contains(errOut, "--session S or --all") {
		t.Errorf("no scope: exit %d, %s", code, errOut)
	}
	if code, out, errOut = as(mod, "ban", "lift", bans[0].ID); code != 0 || !strings.Contains(out, "Lifted "+bans[0].ID) {
		t.Errorf("ban lift: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut = as(mod, "ban", "lift", bans[0].ID); code != 1 || !strings.Contains(errOut, "no ban "+bans[0].ID+" in force") {
		t.Errorf("lifting it again: exit %d, %s", code, errOut)
	}
	if code, out, _ = as(viewer, "ban", "list"); code != 0 || !strings.Contains(out, "No bans in force.") {
		t.Errorf("ban list after the lift: exit %d\n%s", code, out)
	}
}

// TestRulesCommands: `gavel rules show/set` over the relay; set changes
// only what its flags name; a viewer may look but not change; a set that
// names nothing is a usage error.
func TestRulesCommands(t *testing.T) {
	as, mod, viewer := consoleCommands(t)
	if code, out, _ := as(viewer, "rules", "show"); code != 0 || !strings.Contains(out, "No rules in force") {
		t.Fatalf("rules show on a new relay: exit %d\n%s", code, out)
	}
	code, out, errOut := as(mod, "rules", "set", "--max-connections", "1500", "--enforce", "--grace", "2s", "--session-cap", "1_MX4-town=3000")
	if code != 0 || !strings.Contains(out, "Rules in force: cap 1500 (+1 per-session), enforced after 2s.") {
		t.Fatalf("rules set: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = as(viewer, "--json", "rules", "show")
	var in events.RulesInForce
	if err := json.Unmarshal([]byte(out), &in); code != 0 || err != nil || in.By != "mia" || in.Rules.MaxConnections != 1500 ||
		!in.Rules.EnforceCap || in.Rules.CapGraceMS != 2000 || in.Rules.SessionCaps["1_MX4-town"] != 3000 {
		t.Fatalf("rules show --json: exit %d, %v: %s", code, err, out)
	}
	if code, out, _ = as(mod, "rules", "set", "--no-session-cap", "1_MX4-town"); code != 0 || !strings.Contains(out, "cap 1500, enforced after 2s") {
		t.Errorf("dropping the session cap: exit %d\n%s", code, out)
	}
	if code, out, _ = as(viewer, "rules", "show"); code != 0 || strings.Contains(out, "1_MX4-town") || !strings.Contains(out, "put in force by mia") {
		t.Errorf("rules show: exit %d\n%s", code, out)
	}
	if code, _, errOut = as(viewer, "rules", "set", "--max-connections", "1"); code != 1 || !strings.Contains(errOut, "refused (403)") {
		t.Errorf("a viewer's set: exit %d, %s", code, errOut)
	}
	if code, _, errOut = as(mod, "rules", "set"); code != 2 || !strings.Contains(errOut, "nothing to change") {
		t.Errorf("a set of nothing: exit %d, %s", code, errOut)
	}
}

// consoleCommands starts a relay and returns a way to run gavel against
// it with a token (GAVEL_RELAY_URL set), and a moderator's (mia) and a
// viewer's (vic) tokens.
func consoleCommands(t *testing.T) (as func(token string, args ...string) (int, string, string), mod, viewer string) {
	r := startTestRelay(t, t.TempDir(), "127.0.0.1:0")
	mod, _ = relay.IssueToken([]byte(relaySecret), "mia", events.RoleModerator, time.Hour, time.Now())
	viewer, _ = relay.IssueToken([]byte(relaySecret), "vic", events.RoleViewer, time.Hour, time.Now())
	env := map[string]string{"HOME": t.TempDir(), "GAVEL_RELAY_URL": "ws://" + r.addr + "/v1/stream"}
	return func(token string, args ...string) (int, string, string) {
		t.Helper()
		return gavel(t, env, "", append(args, "--token", token)...)
	}, mod, viewer
}
