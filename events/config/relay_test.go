package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// TestServerConfig: the [relay] section becomes the relay's Config, an
// empty listen (the file's listen = "" or an empty --listen) meaning the
// relay's default, and a per-group secret for no group is a ConfigError.
func TestServerConfig(t *testing.T) {
	rc := DefaultRelay("/state")
	rc.Listen = ""
	rc.SignatureSecrets = map[string]string{"archive": "a"}
	cfg, err := rc.ServerConfig([]byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != relay.DefaultListen || cfg.DataDir != "/state/relay" || cfg.Reconcile != relay.DefaultReconcile ||
		cfg.MaxCallbackBytes != relay.DefaultMaxCallbackBytes || cfg.SignatureSecrets["archive"] != "a" || string(cfg.Secret) != "secret" {
		t.Errorf("config %+v", cfg)
	}
	rc.SignatureSecrets = map[string]string{"archives": "a"}
	var ce *exitcode.ConfigError
	if _, err := rc.ServerConfig(nil, nil); !errors.As(err, &ce) {
		t.Errorf("unknown group: %v, want an *exitcode.ConfigError", err)
	}
}

// TestTokenSecret: `gavel relay token` signs only with a secret the relay
// would accept.
func TestTokenSecret(t *testing.T) {
	var ce *exitcode.ConfigError
	if _, err := (Relay{Secret: "short"}).TokenSecret(); !errors.As(err, &ce) {
		t.Errorf("short secret: %v, want an *exitcode.ConfigError", err)
	}
	long := string(make([]byte, relay.MinSecretBytes))
	if s, err := (Relay{Secret: long}).TokenSecret(); err != nil || string(s) != long {
		t.Errorf("long enough secret: %q, %v", s, err)
	}
}

// TestRulesConfig: [relay.rules] reaches the relay as written, its mode
// in either spelling; a mode it does not know is a ConfigError naming the
// key, and so are the values the relay refuses.
func TestRulesConfig(t *testing.T) {
	rc := DefaultRelay("/state")
	rc.Rules.MaxConnections, rc.Rules.EnforceCap, rc.Rules.Mode = 20, true, "Dry-Run"
	rc.Rules.SessionCaps = map[string]int{"1_MX4-town-hall": 3000}
	cfg, err := rc.ServerConfig([]byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Rules
	if r.MaxConnections != 20 || !r.EnforceCap || !r.DryRun || r.CapGrace != events.DefaultCapGrace || r.SessionCaps["1_MX4-town-hall"] != 3000 ||
		len(r.CapExempt) != 3 {
		t.Errorf("rules %+v", r)
	}
	rc.Rules.Mode = "sometimes"
	var ce *exitcode.ConfigError
	if _, err := rc.ServerConfig(nil, nil); !errors.As(err, &ce) || !strings.Contains(err.Error(), "relay.rules.mode") {
		t.Errorf("mode sometimes: %v, want a ConfigError naming relay.rules.mode", err)
	}
}

// TestAlertsAndWebhooksConfig: [relay.alerts] and [[relay.webhooks]] as a
// config file writes them reach the relay (which checks them at start:
// TestWebhookPayloads).
func TestAlertsAndWebhooksConfig(t *testing.T) {
	cfg := Default(func(string) string { return "" })
	err := decode("gavel.toml", []byte(`
[relay.alerts]
log_lag = "45s"
session_connections = 1500

[[relay.webhooks]]
url = "https://hooks.example.com/gavel"
secret = "whsec_c2VjcmV0"
events = ["alert", "ban"]
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := cfg.Relay.ServerConfig([]byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Alerts.LogLag != 45*time.Second || sc.Alerts.SessionConnections != 1500 || sc.Alerts.NetworkDrops != relay.DefaultNetworkDrops {
		t.Errorf("alerts %+v", sc.Alerts)
	}
	if len(sc.Webhooks) != 1 || len(sc.Webhooks[0].Events) != 2 || sc.Webhooks[0].Events[1] != "ban" {
		t.Errorf("webhooks %+v", sc.Webhooks)
	}
}
