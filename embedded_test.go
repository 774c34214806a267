package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relay/relaycmd"
	"github.com/gavelhq/gavel/events/relayclient"
)

// docConnectionCreated is the documented connectionCreated callback.
const docConnectionCreated = `{
  "sessionId": "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr",
  "projectId": "123456",
  "event": "connectionCreated",
  "timestamp": 1470257688309,
  "connection": {
    "id": "c053fcc8-c681-41d5-8ec2-7a9e1434a21e",
    "createdAt": 1470257688143,
    "data": "TOKENDATA"
  }
}`

// embeddedEnv is a user with no config, no credentials and no relay.
func embeddedEnv(t *testing.T) func(string) string {
	t.Helper()
	env := map[string]string{"HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir()}
	return func(k string) string { return env[k] }
}

// TestEmbeddedRelay: with nothing configured, the relay `gavel` embeds runs
// watch-only on the [relay] defaults (listen moved to a free port), takes a
// session callback and streams it to a console holding the token it issued.
func TestEmbeddedRelay(t *testing.T) {
	cfg, err := config.Load("", embeddedEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Relay.Listen != "127.0.0.1:8080" || !strings.HasSuffix(cfg.Relay.DataDir, "/gavel/relay") {
		t.Fatalf("defaults: listen %q, data_dir %q", cfg.Relay.Listen, cfg.Relay.DataDir)
	}
	if _, err := cfg.API.NewClient("test"); err == nil {
		t.Fatal("expected no Video API credentials in an empty environment")
	}
	cfg.Relay.Listen = "127.0.0.1:0" // the default port may be in use on this machine
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := relaycmd.StartEmbedded(ctx, cfg.Relay, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop() })
	if !e.WatchOnly || e.Token == "" {
		t.Errorf("WatchOnly %v, token %q", e.WatchOnly, e.Token)
	}
	if !strings.HasPrefix(e.StreamURL, "ws://127.0.0.1:") || !strings.HasSuffix(e.StreamURL, "/v1/stream") {
		t.Errorf("StreamURL %q", e.StreamURL)
	}
	base := strings.TrimSuffix(strings.Replace(e.StreamURL, "ws://", "http://", 1), "/v1/stream")
	if e.CallbackURL != base+"/v1/callbacks/session" {
		t.Errorf("CallbackURL %q, want %s/v1/callbacks/session", e.CallbackURL, base)
	}

	res, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %s", res.Status)
	}
	res, err = http.Post(e.CallbackURL, "application/json", strings.NewReader(docConnectionCreated))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("callback: %s %s", res.Status, body)
	}

	streamCtx, stopStream := context.WithTimeout(ctx, 10*time.Second)
	defer stopStream()
	errSeen := errors.New("seen")
	err = relayclient.Run(streamCtx, relayclient.Config{URL: e.StreamURL, Token: e.Token}, func(f relayclient.Frame) error {
		switch {
		case f.Event != nil && strings.Contains(string(f.Event.Event), `"connectionCreated"`):
			return errSeen
		case f.Snapshot != nil:
			for _, s := range f.Snapshot.Sessions {
				if s.ID == "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr" && s.Counts.Connections == 1 {
					return errSeen
				}
			}
		}
		return nil
	})
	if !errors.Is(err, errSeen) {
		t.Fatalf("the console never saw the connection: %v", err)
	}
	if err := e.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("relay still listening after Stop")
	}
}

// TestEmbeddedRelayAddressInUse: a taken listen address is a plain error
// that says which setting moves it, and `gavel` exits 1.
func TestEmbeddedRelayAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := config.Load("", embeddedEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Relay.Listen = ln.Addr().String()
	_, err = relaycmd.StartEmbedded(context.Background(), cfg.Relay, nil)
	if err == nil || !strings.Contains(err.Error(), "relay.listen") || !strings.Contains(err.Error(), "--listen") || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("error %v, want it to name the address, relay.listen and --listen", err)
	}

	env := map[string]string{"HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir()}
	code, _, errOut := gavel(t, env, "", "--listen", ln.Addr().String())
	if code != 1 || !strings.Contains(errOut, "relay.listen") || strings.Contains(errOut, "goroutine") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// TestListenNeedsTheEmbeddedRelay: --listen with --relay is a usage mistake.
func TestListenNeedsTheEmbeddedRelay(t *testing.T) {
	code, _, errOut := gavel(t, map[string]string{"HOME": t.TempDir()}, "", "--relay", "ws://127.0.0.1:1/v1/stream", "--token", "t", "--listen", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errOut, "--listen") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
