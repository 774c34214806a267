package sshconsole

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"path/filepath"
	"strings"
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

// TestReloadedUsersCloseTheSessionsOfRemovedKeys: a user whose key is
// taken out of the config (SetUsers, as SIGHUP does) has their open
// session closed, told why, and cannot log in again; someone whose key
// stays keeps theirs.
func TestReloadedUsersCloseTheSessionsOfRemovedKeys(t *testing.T) {
	d, err := demo.Start(context.Background(), demo.Options{NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	anaSigner, anaKey := newKey(t)
	benSigner, benKey := newKey(t)
	users := []User{{Name: "ana", Role: events.RoleModerator, Keys: []ssh.PublicKey{anaKey}}, {Name: "ben", Role: events.RoleViewer, Keys: []ssh.PublicKey{benKey}}}
	srv, err := New(Config{HostKeyFile: filepath.Join(t.TempDir(), "host_key"), MaxSessions: 10, IdleTimeout: time.Hour, Users: users}, d.Relay(), tui.Options{}, nil)
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
	t.Cleanup(func() { cancel(); <-done })

	dial := func(signer gossh.Signer) (*gossh.Client, error) {
		return gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{User: "whoever", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	}
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
	d, err := demo.Start(context.Background(), demo.Options{NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	signer, key := newKey(t)
	srv, err := New(Config{HostKeyFile: filepath.Join(t.TempDir(), "host_key"), MaxSessions: 1, IdleTimeout: time.Hour,
		Users: []User{{Name: "ana", Role: events.RoleViewer, Keys: []ssh.PublicKey{key}}}}, d.Relay(), tui.Options{}, nil)
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
	t.Cleanup(func() { cancel(); <-done })
	client, err := gossh.Dial("tcp", ln.Addr().String(), &gossh.ClientConfig{User: "ana", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
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
