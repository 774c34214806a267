package config

import (
	"errors"
	"testing"

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
