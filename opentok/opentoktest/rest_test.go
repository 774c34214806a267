package opentoktest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/golang-jwt/jwt/v5"
)

// TestStalledReaderDoesNotFreezeTheEmulator: a client that asks for a large
// list and never reads the reply must not hold the emulator's lock; every
// other call goes on.
func TestStalledReaderDoesNotFreezeTheEmulator(t *testing.T) {
	srv, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, _ := srv.Client(false)
	ctx := context.Background()
	s, err := client.Sessions.Create(ctx, opentok.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Enough connections that the list (~100 bytes each) outgrows the
	// socket buffers, so writing it blocks until the client reads.
	for range 60000 {
		tok, _ := client.Token(s.ID, opentok.TokenOptions{})
		if _, err := srv.Join(s.ID, tok.Value); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := net.Dial("tcp", srv.URL[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	jwtTok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": srv.APIKey, "ist": "project", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(),
	}).SignedString([]byte(srv.APISecret))
	if err != nil {
		t.Fatal(err)
	}
	req := fmt.Sprintf("GET /v2/project/%s/session/%s/connection HTTP/1.1\r\nHost: x\r\nX-OPENTOK-AUTH: %s\r\n\r\n", srv.APIKey, s.ID, jwtTok)
	if _, err := fmt.Fprint(conn, req); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the handler run and the write block

	done := make(chan error, 1)
	go func() {
		_, err := client.Sessions.Create(ctx, opentok.SessionOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the emulator froze while a client was not reading its reply")
	}
}

// TestCloseIsNotHeldByAnUnusedConnection: Go's HTTP client sometimes dials
// a connection it then never sends a request on, and http.Server.Shutdown
// waits 5 s for such a one. Stopping the emulator (Ctrl-C on `gavel
// emulator`) must neither wait for it nor fail because of it.
func TestCloseIsNotHeldByAnUnusedConnection(t *testing.T) {
	srv, err := NewServer()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close with an unused client connection open: %v", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("Close waited for a connection that never sent a request")
	}
}
