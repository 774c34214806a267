package sshconsole

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/tui"
	"github.com/gavelhq/gavel/tui/demo"
)

// newKey is a fresh ed25519 key: the client's signer and the server's
// view of its public half.
func newKey(t *testing.T) (gossh.Signer, ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, signer.PublicKey()
}

// startSSH serves the SSH console of a fresh demo relay to users, with
// max_sessions and idle_timeout as given, until the test ends; it returns
// the server and its address.
func startSSH(t *testing.T, maxSessions int, idle time.Duration, users []User) (*Server, string) {
	srv, addr, _ := startSSHStoppable(t, maxSessions, idle, users)
	return srv, addr
}

// startSSHStoppable is startSSH with a stop that shuts the server down
// and waits for Serve to return.
func startSSHStoppable(t *testing.T, maxSessions int, idle time.Duration, users []User) (*Server, string, func() error) {
	t.Helper()
	d, err := demo.Start(context.Background(), demo.Options{NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	srv, err := New(Config{HostKeyFile: filepath.Join(t.TempDir(), "host_key"), MaxSessions: maxSessions, IdleTimeout: idle, Users: users},
		d.Relay(), tui.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return srv, ln.Addr().String(), stop
}

// dialSSH logs in to addr with signer's key.
func dialSSH(addr string, signer gossh.Signer) (*gossh.Client, error) {
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "whoever", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
}

// TestReloadedUsersCloseTheSessionsOfRemovedKeys: a user whose key is
// taken out of the config (SetUsers, as SIGHUP does) has their open
// session closed, told why, and cannot log in again; someone whose key
// stays keeps theirs.
func TestReloadedUsersCloseTheSessionsOfRemovedKeys(t *testing.T) {
	anaSigner, anaKey := newKey(t)
	benSigner, benKey := newKey(t)
	users := []User{{Name: "ana", Role: events.RoleModerator, Keys: []ssh.PublicKey{anaKey}}, {Name: "ben", Role: events.RoleViewer, Keys: []ssh.PublicKey{benKey}}}
	srv, addr := startSSH(t, 10, time.Hour, users)
	dial := func(signer gossh.Signer) (*gossh.Client, error) { return dialSSH(addr, signer) }
	// stream opens `events` as signer and waits for its hello.
	type stream struct {
		sess   *gossh.Session
		stderr *bytes.Buffer
		done   chan error
	}
	open := func(who string, signer gossh.Signer) stream {
		c, err := dial(signer)
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		t.Cleanup(func() { c.Close() })
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, _ := sess.StdoutPipe()
		st := stream{sess: sess, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
		sess.Stderr = st.stderr
		if err := sess.Start("events"); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		if !sc.Scan() || !strings.Contains(sc.Text(), `"name":"`+who+`"`) {
			t.Fatalf("%s's first line: %q", who, sc.Text())
		}
		go func() {
			for sc.Scan() {
			}
			st.done <- sess.Wait()
		}()
		return st
	}
	ana, ben := open("ana", anaSigner), open("ben", benSigner)

	srv.SetUsers(users[1:]) // ana's key is gone
	select {
	case err := <-ana.done:
		if err == nil || !strings.Contains(ana.stderr.String(), "your key is no longer listed in relay.ssh.users") {
			t.Errorf("ana's session ended with %v, stderr %q: want a non-zero exit saying why", err, ana.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ana's session stayed open after her key was removed")
	}
	select {
	case err := <-ben.done:
		t.Fatalf("ben's session ended too: %v %q", err, ben.stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	if c, err := dial(anaSigner); err == nil {
		c.Close()
		t.Error("ana's removed key still logs in")
	}
}

// TestSessionsPastTheLimitAreToldWhy: past max_sessions, a new session is
// told why and closed; the ones open stay.
func TestSessionsPastTheLimitAreToldWhy(t *testing.T) {
	signer, key := newKey(t)
	_, addr := startSSH(t, 1, time.Hour, []User{{Name: "ana", Role: events.RoleViewer, Keys: []ssh.PublicKey{key}}})
	client, err := dialSSH(addr, signer)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	first, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := first.StdoutPipe()
	if err := first.Start("events"); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("the first session: %v", err)
	}
	second, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	second.Stderr = &stderr
	if err := second.Run("events"); err == nil || !strings.Contains(stderr.String(), "1 sessions are open already (relay.ssh.max_sessions)") {
		t.Errorf("the second session: %v, stderr %q; want it closed, saying why", err, stderr.String())
	}
}

// TestAConsoleNobodyTypesIntoIsClosed: idle_timeout counts the person's
// keys, not the screen's traffic (a console draws every second): typing
// keeps a console open, and once nobody types it is closed, saying why.
func TestAConsoleNobodyTypesIntoIsClosed(t *testing.T) {
	signer, key := newKey(t)
	const idle = 600 * time.Millisecond
	_, addr := startSSH(t, 5, idle, []User{{Name: "ana", Role: events.RoleViewer, Keys: []ssh.PublicKey{key}}})
	var stderr safeBuffer
	sess, stdin := openConsole(t, addr, signer, io.Discard, &stderr)
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()
	for deadline := time.Now().Add(3 * idle); time.Now().Before(deadline); {
		if _, err := io.WriteString(stdin, "j"); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-ended:
			t.Fatalf("the console closed while someone typed: %v %q", err, stderr.String())
		case <-time.After(idle / 4):
		}
	}
	start := time.Now()
	select {
	case err := <-ended:
		if err == nil || !strings.Contains(stderr.String(), "no key pressed for 600ms (relay.ssh.idle_timeout)") {
			t.Errorf("closed with %v, stderr %q: want an exit saying why", err, stderr.String())
		}
		if waited := time.Since(start); waited < idle/2 {
			t.Errorf("closed %v after the last key, before idle_timeout", waited)
		}
	case <-time.After(10 * idle):
		t.Fatal("a console nobody typed into stayed open")
	}
}

// safeBuffer is a bytes.Buffer written by the SSH client's goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConsolesAreToldTheRelayIsStopping: a relay shutting down quits its
// consoles as a person pressing q would (leaving the terminal as it was)
// and tells them why, and Serve returns.
func TestConsolesAreToldTheRelayIsStopping(t *testing.T) {
	signer, key := newKey(t)
	_, addr, stop := startSSHStoppable(t, 5, time.Hour, []User{{Name: "ana", Role: events.RoleViewer, Keys: []ssh.PublicKey{key}}})
	var out safeBuffer
	sess, _ := openConsole(t, addr, signer, &out, io.Discard)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "sessions(live)"); {
		if time.Now().After(deadline) {
			t.Fatal("the console never drew its sessions list")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ended := make(chan error, 1)
	go func() { ended <- sess.Wait() }()
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the console stayed open after the relay stopped")
	}
	if !strings.Contains(out.String(), "gavel: the relay is shutting down; ssh in again in a moment") {
		t.Errorf("the console was not told why it ended; its last output: %q", tail(out.String(), 200))
	}
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// openConsole logs in with signer and opens a console (a PTY and a
// shell), its output to stdout and stderr; the client closes with the
// test.
func openConsole(t *testing.T, addr string, signer gossh.Signer, stdout, stderr io.Writer) (*gossh.Session, io.Writer) {
	t.Helper()
	client, err := dialSSH(addr, signer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 30, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := sess.StdinPipe()
	sess.Stdout, sess.Stderr = stdout, stderr
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	return sess, stdin
}
