package demo

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events/relayclient"
)

// TestDemoStreamsSessions: a console connecting to a demo with the token it
// hands out sees the scenarios' sessions, with live connections, within a
// few seconds; Close stops both servers and removes the relay's data.
func TestDemoStreamsSessions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	d, err := Start(ctx, Options{Speed: 20, Viewers: 200})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	t.Logf("Start took %v", time.Since(began))
	if !strings.HasPrefix(d.RelayURL(), "ws://127.0.0.1:") || !strings.HasSuffix(d.RelayURL(), "/v1/stream") {
		t.Errorf("RelayURL() = %q, want ws://127.0.0.1:PORT/v1/stream", d.RelayURL())
	}
	if d.Token() == "" || d.Emulator() == nil {
		t.Fatal("no token or emulator")
	}
	if _, err := os.Stat(d.DataDir()); err != nil {
		t.Fatalf("data dir: %v", err)
	}

	// Stream the relay into a mirror until it shows sessions with people in.
	mirror := relayclient.NewMirror()
	streamCtx, stopStream := context.WithTimeout(ctx, 15*time.Second)
	defer stopStream()
	errEnough := errors.New("enough")
	var live, connections int
	err = relayclient.Run(streamCtx, relayclient.Config{URL: d.RelayURL(), Token: d.Token()}, func(f relayclient.Frame) error {
		mirror.Apply(f)
		live, connections = 0, 0
		for _, s := range mirror.State.Sessions() {
			if s.Live {
				live++
				connections += s.Counts.Connections
			}
		}
		if live >= 3 && connections >= 20 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Fatalf("after 15 s the console saw %d live sessions with %d connections (want ≥ 3 and ≥ 20); stream: %v", live, connections, err)
	}
	t.Logf("sessions on screen after %v: %d live, %d connections", time.Since(began), live, connections)
	if err := d.Err(); err != nil {
		t.Errorf("scenarios failed: %v", err)
	}

	// Close: both ports closed, the data directory gone.
	relayAddr := mustHost(t, d.RelayURL())
	emuAddr := mustHost(t, d.Emulator().URL)
	if err := d.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(d.DataDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s still there after Close (stat: %v)", d.DataDir(), err)
	}
	for name, addr := range map[string]string{"relay": relayAddr, "emulator": emuAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections at %s after Close", name, addr)
		}
	}
}

// TestDemoTokenIsRefusedElsewhere: the token is the demo relay's own; a
// wrong one is refused at once, not retried.
func TestDemoRefusesAnotherToken(t *testing.T) {
	d, err := Start(context.Background(), Options{NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = relayclient.Run(ctx, relayclient.Config{URL: d.RelayURL(), Token: d.Token() + "x"}, func(relayclient.Frame) error { return nil })
	if !errors.Is(err, relayclient.ErrUnauthorized) {
		t.Errorf("a forged token: %v, want ErrUnauthorized", err)
	}
}

// TestDemoStopsWithContext: ending the context stops the demo; Close then
// returns promptly and cleans up.
func TestDemoStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d, err := Start(ctx, Options{Viewers: 50})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- d.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not return within 15 s of the context ending")
	}
	if _, err := os.Stat(d.DataDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir still there: %v", err)
	}
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
