package relay

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// TestStartServesUntilStop: Start serves on the listener it is given at
// once, Stop ends the relay and closes it, and a second Stop says the same.
func TestStartServesUntilStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	r, err := Start(t.Context(), ln, Config{DataDir: t.TempDir(), Secret: bytes.Repeat([]byte("k"), MinSecretBytes)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", resp.Status)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := r.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Error("the listener is still open after Stop")
	}
}

// TestStartRefusesAConfigMistake: a value NewServer refuses is an
// *exitcode.ConfigError (exit 2), and the listener is closed.
func TestStartRefusesAConfigMistake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(t.Context(), ln, Config{DataDir: t.TempDir(), Secret: []byte("short")}, nil)
	var ce *exitcode.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("err %v (%T), want an *exitcode.ConfigError", err, err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after a refused start: %v, want net.ErrClosed", err)
	}
}

// TestStartRefusesLimitsThatWouldBreakIt: a read timeout under a second
// would cut off genuine callbacks, and a handful of connections would
// starve consoles; each is refused naming its key.
func TestStartRefusesLimitsThatWouldBreakIt(t *testing.T) {
	secret := bytes.Repeat([]byte("k"), MinSecretBytes)
	for key, cfg := range map[string]Config{
		"read_timeout":          {DataDir: t.TempDir(), Secret: secret, ReadTimeout: 500 * time.Millisecond},
		"max_connections":       {DataDir: t.TempDir(), Secret: secret, MaxConnections: 3},
		"reconcile_concurrency": {DataDir: t.TempDir(), Secret: secret, ReconcileConcurrency: 1000},
		"reconcile_rate":        {DataDir: t.TempDir(), Secret: secret, ReconcileRate: 0.5},
		"rules.cap_grace":       {DataDir: t.TempDir(), Secret: secret, Rules: RulesConfig{MaxConnections: 5, CapGrace: -time.Second}},
		"rules.max_connections": {DataDir: t.TempDir(), Secret: secret, Rules: RulesConfig{MaxConnections: -1}},
		"rules.session_caps":    {DataDir: t.TempDir(), Secret: secret, Rules: RulesConfig{SessionCaps: map[string]int{"s": 0}}},
		"alerts.log_lag":        {DataDir: t.TempDir(), Secret: secret, Alerts: AlertsConfig{LogLag: time.Millisecond}},
		"alerts.network_window": {DataDir: t.TempDir(), Secret: secret, Alerts: AlertsConfig{NetworkWindow: 2 * time.Hour}},
		"webhooks[0].events":    {DataDir: t.TempDir(), Secret: secret, Webhooks: []WebhookConfig{{URL: "https://h.example", Events: []string{"everything"}}}},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Start(t.Context(), ln, cfg, nil)
		var ce *exitcode.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s out of range: err %v, want a ConfigError naming it", key, err)
		}
	}
}
