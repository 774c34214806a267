package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavelhq/gavel/internal/tmuxtest"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// TestSSHConsolesInARealTerminal: `gavel relay` with [relay.ssh] serves
// the console to real OpenSSH clients in tmux, each known by their key: a
// moderator (ana) and a viewer (ben) at once both see the session and
// each other (the header, :who); the viewer has no moderation keys, and
// pressing one says why; ana gets colours, ben (NO_COLOR) none; ana
// disconnects Bob after the question, both screens show him gone, and
// the audit trail, read in ben's console, names ana. A second moderator,
// cy, going for Bob a moment after ana is told ana is at it, and exactly
// one force disconnect reaches the Video API. A key nobody lists
// is refused at login; `ssh … events` prints the stream as JSON lines.
func TestSSHConsolesInARealTerminal(t *testing.T) {
	tmuxtest.Need(t, "ssh", "ssh-keygen")
	dir := t.TempDir()
	key := func(name string) (file, public string) {
		file = filepath.Join(dir, name)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name+"@laptop", "-f", file).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(file + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		return file, strings.TrimSpace(string(pub))
	}
	anaKey, anaPub := key("ana")
	benKey, benPub := key("ben")
	cyKey, cyPub := key("cy")
	strangerKey, _ := key("stranger")
	relayAddr, sshAddr := freeAddr(t), freeAddr(t)
	_, sshPort, _ := net.SplitHostPort(sshAddr)

	emu, err := opentoktest.NewServer(opentoktest.WithCallbackURL(opentoktest.GroupSession, "http://"+relayAddr+"/v1/callbacks/session"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	// The relay reaches the emulator through a proxy that counts the
	// force disconnects: exactly one may get there.
	target, _ := url.Parse(emu.URL)
	var disconnects atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/connection/") {
			disconnects.Add(1)
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	cfg := filepath.Join(dir, "gavel.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
[relay]
listen = %q
data_dir = %q

[relay.ssh]
listen = %q

[[relay.ssh.users]]
name = "ana"
role = "moderator"
keys = [%q]

[[relay.ssh.users]]
name = "ben"
role = "viewer"
keys = [%q]

[[relay.ssh.users]]
name = "cy"
role = "moderator"
keys = [%q]
`, relayAddr, filepath.Join(dir, "relay"), sshAddr, anaPub, benPub, cyPub), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": dir, "GAVEL_RELAY_SECRET": relaySecret,
		"GAVEL_API_KEY": opentoktest.DefaultAPIKey, "GAVEL_API_SECRET": opentoktest.DefaultAPISecret, "GAVEL_API_URL": proxy.URL}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 16)}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", cfg, "relay"}, strings.NewReader(""), out, io.Discard, func(k string) string { return env[k] })
	}()
	t.Cleanup(func() { interrupt(t, "gavel relay", cancel, done) })
	sshLine := ""
	for sshLine == "" {
		select {
		case l := <-out.lines:
			if strings.Contains(l, "ssh:") {
				sshLine = l
			}
		case code := <-done:
			t.Fatalf("gavel relay exited %d", code)
		case <-time.After(15 * time.Second):
			t.Fatal("gavel relay never printed its ssh line")
		}
	}
	if !strings.Contains(sshLine, "ssh -p "+sshPort+" 127.0.0.1") || !regexp.MustCompile(`host key SHA256:[A-Za-z0-9+/]{43}`).MatchString(sshLine) {
		t.Errorf("the ssh line %q: want the command and the host key's fingerprint", sshLine)
	}

	// A session with Alice (the host) and Bob.
	api, err := emu.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := api.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	join := func(name, role string) *opentoktest.Participant {
		tok, err := api.Token(sess.ID, opentok.TokenOptions{Role: opentok.RolePublisher, Data: fmt.Sprintf(`{"name":%q,"role":%q}`, name, role)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := emu.Join(sess.ID, tok.String())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	join("Alice", "host")
	bob := join("Bob", "guest")

	sshTo := func(key string, args ...string) []string {
		return append([]string{"-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
			"-o", "LogLevel=ERROR", "-p", sshPort, "whoever@127.0.0.1"}, args...)
	}
	console := func(key string, opts ...string) *tmuxtest.Pane {
		return tmuxtest.Start(t, 140, 30, "ssh -tt "+strings.Join(append(opts, sshTo(key)...), " "))
	}
	// ben's client sends NO_COLOR, as `NO_COLOR=1 ssh -o SendEnv=NO_COLOR` does.
	ana, ben, cy := console(anaKey), console(benKey, "-o", "SetEnv=NO_COLOR=1"), console(cyKey)
	conns := regexp.MustCompile(`Alice\s+(\d+)\s`)
	for who, p := range map[string]*tmuxtest.Pane{"ana": ana, "ben": ben, "cy": cy} {
		p.WaitFor(20*time.Second, who+"'s console with the session", func(s string) bool {
			m := conns.FindStringSubmatch(s)
			return strings.Contains(s, "sessions(live)[1]") && m != nil && m[1] == "2"
		})
	}
	// Each sees the other: the header, and :who with how they came in.
	for who, p := range map[string]*tmuxtest.Pane{"ana": ana, "ben": ben, "cy": cy} {
		p.WaitFor(10*time.Second, who+"'s header naming everyone", func(s string) bool {
			return strings.Contains(strings.SplitN(s, "\n", 2)[0], "3 on: ana, cy (moderator), ben (viewer)")
		})
	}
	ana.Keys(":")
	ana.Literal("who")
	ana.Keys("Enter")
	ana.WaitFor(5*time.Second, "ana's :who listing ben by ssh", func(s string) bool {
		return regexp.MustCompile(`(?m)^ben\s+viewer\s+ssh\s`).MatchString(s)
	})
	ana.Keys(":")
	ana.Literal("sessions")
	ana.Keys("Enter")
	ana.WaitFor(5*time.Second, "ana back on the sessions list", func(s string) bool { return strings.Contains(s, "sessions(live)[1]") })

	// Colours per session: ana's terminal gets them, ben's NO_COLOR none.
	colour := regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?(3[0-7]|38;[25]|9[0-7])[;m]`) // not 39: "the default colour"
	if !colour.MatchString(ana.CaptureANSI()) {
		t.Error("ana's console has no colours")
	}
	if c := colour.FindString(ben.CaptureANSI()); c != "" {
		t.Errorf("ben's console sent NO_COLOR but has colours: %q", c)
	}

	if f := tmuxtest.Footer(ana.Capture()); !strings.Contains(f, "record") {
		t.Errorf("ana (moderator) has no record key in the footer: %q", f)
	}
	screen := ben.Capture()
	if f := tmuxtest.Footer(screen); strings.Contains(f, "record") {
		t.Errorf("ben (viewer) is offered record in the footer: %q", f)
	}
	ben.Keys("r")
	ben.WaitFor(5*time.Second, "the viewer told why r does nothing", func(s string) bool {
		return strings.Contains(tmuxtest.Footer(s), "you are a viewer on this relay")
	})

	// ana and cy both go for Bob: each filters the session view for him.
	for who, p := range map[string]*tmuxtest.Pane{"ana": ana, "cy": cy} {
		p.Keys("Enter")
		p.WaitFor(5*time.Second, who+" in the session", func(s string) bool { return strings.Contains(s, "connections[2]") })
		p.Keys("/")
		p.Literal("Bob")
		p.Keys("Enter")
		p.WaitFor(5*time.Second, who+"'s session filtered to Bob", func(s string) bool { return strings.Contains(s, "</Bob> 1/2 connections") })
	}
	// ana presses d, cy a moment later: ana's question holds Bob, so cy's
	// closes at once saying who is at it, and cy's screen shows it on
	// Bob's row; then ana answers y.
	ana.Keys("d")
	ana.WaitFor(5*time.Second, "the question naming Bob", func(s string) bool {
		return strings.HasPrefix(tmuxtest.Footer(s), "Disconnect Bob (")
	})
	cy.WaitFor(5*time.Second, "ana's question on Bob's row", func(s string) bool { return strings.Contains(s, "⧗ ana is disconnecting…") })
	cy.Keys("d")
	cy.WaitFor(5*time.Second, "cy told ana is at it", func(s string) bool {
		return strings.HasPrefix(tmuxtest.Footer(s), "✗ ana is already disconnecting Bob (…")
	})
	time.Sleep(600 * time.Millisecond) // the question ignores keys for a moment
	ana.Keys("y")
	ana.WaitFor(10*time.Second, "Bob disconnected", func(s string) bool {
		return strings.HasPrefix(tmuxtest.Footer(s), "✓ disconnected Bob (")
	})
	if connected, why := bob.Connected(); connected || why != opentoktest.ReasonForceDisconnected {
		t.Errorf("Bob in the emulator: connected %v (%s)", connected, why)
	}
	if n := disconnects.Load(); n != 1 {
		t.Errorf("%d force disconnects reached the Video API, want 1", n)
	}
	ben.WaitFor(10*time.Second, "ben's list with Bob gone", func(s string) bool {
		m := conns.FindStringSubmatch(s)
		return m != nil && m[1] == "1"
	})
	ben.Keys(":")
	ben.Literal("audit")
	ben.Keys("Enter")
	ben.WaitFor(10*time.Second, "the trail naming ana", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, " ana ") && strings.Contains(l, " disconnect ") && strings.Contains(l, bob.ConnectionID()[len(bob.ConnectionID())-12:]) &&
				strings.HasSuffix(strings.TrimSpace(l), " ok") {
				return true
			}
		}
		return false
	})

	// A stranger's key is refused at login.
	refused := exec.Command("ssh", sshTo(strangerKey, "events")...)
	if b, err := refused.CombinedOutput(); err == nil || !strings.Contains(string(b), "Permission denied (publickey)") {
		t.Errorf("a stranger's key: %v\n%s", err, b)
	}

	// ssh … events: the stream as JSON lines, as ana.
	ectx, ecancel := context.WithTimeout(ctx, 15*time.Second)
	defer ecancel()
	events := exec.CommandContext(ectx, "ssh", sshTo(anaKey, "events")...)
	stdout, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	var lines []string
	for len(lines) < 2 && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	_ = events.Process.Kill()
	_ = events.Wait()
	if len(lines) < 2 || !strings.HasPrefix(lines[0], `{"type":"hello"`) || !strings.Contains(lines[0], `"name":"ana","role":"moderator"`) ||
		!strings.HasPrefix(lines[1], `{"type":"snapshot"`) || !strings.Contains(lines[1], sess.ID) {
		t.Errorf("ssh … events printed %q: want the hello (as ana) and the snapshot with the session", lines)
	}

	for who, p := range map[string]*tmuxtest.Pane{"ana": ana, "ben": ben, "cy": cy} {
		p.Keys("q")
		p.WaitFor(10*time.Second, who+"'s ssh to end", func(s string) bool { return strings.Contains(s, tmuxtest.ExitMarker+"0") })
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
