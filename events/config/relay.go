package config

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// Relay is the [relay] section of the config file.
type Relay struct {
	Listen               string            `toml:"listen"`
	DataDir              string            `toml:"data_dir"`
	NatsURL              string            `toml:"nats_url"`
	Secret               string            `toml:"secret"`
	SignatureSecret      string            `toml:"signature_secret"`
	SignatureSecrets     map[string]string `toml:"signature_secrets"` // [relay.signature_secrets]: a callback group's own secret, by group name
	MaxCallbackBytes     int64             `toml:"max_callback_bytes"`
	ReconcileInterval    Duration          `toml:"reconcile_interval"`
	Name                 string            `toml:"name"`
	ReadTimeout          Duration          `toml:"read_timeout"`
	MaxConnections       int               `toml:"max_connections"`
	SignatureStrict      bool              `toml:"signature_strict"`
	ReconcileConcurrency int               `toml:"reconcile_concurrency"`
	ReconcileRate        float64           `toml:"reconcile_rate"`
	SignatureMaxAge      Duration          `toml:"signature_max_age"`
	Rules                Rules             `toml:"rules"`
	Alerts               Alerts            `toml:"alerts"`
	Webhooks             []Webhook         `toml:"webhooks"`
	SSH                  SSH               `toml:"ssh"`
}

// SSH is [relay.ssh]: the console served over SSH to the users listed,
// each known by their public keys. The tui/sshconsole package reads it.
type SSH struct {
	Listen      string    `toml:"listen"`        // e.g. ":2222"; empty: no SSH
	HostKeyFile string    `toml:"host_key_file"` // default <data_dir>/ssh_host_ed25519_key, created at first start
	MaxSessions int       `toml:"max_sessions"`
	IdleTimeout Duration  `toml:"idle_timeout"`
	Users       []SSHUser `toml:"users"`
}

// SSHUser is one [[relay.ssh.users]]: a name for the audit trail, a role
// as console tokens have, and the keys that prove it.
type SSHUser struct {
	Name     string   `toml:"name"`
	Role     string   `toml:"role"`
	Keys     []string `toml:"keys"`      // authorized_keys lines
	KeysFile string   `toml:"keys_file"` // or an authorized_keys file
}

// Defaults of [relay.ssh].
const (
	DefaultSSHMaxSessions = 50
	DefaultSSHIdleTimeout = 12 * time.Hour
)

// Webhook is one [[relay.webhooks]]: where alerts are delivered.
type Webhook struct {
	URL      string   `toml:"url"`
	Secret   string   `toml:"secret"` // signs standard deliveries; pagerduty's routing key
	Format   string   `toml:"format"` // standard (default), slack, pagerduty
	RetryMin Duration `toml:"retry_min"`
	Events   []string `toml:"events"` // alert (default), ban, audit
}

// Alerts is the [relay.alerts] section: when the relay raises an alert.
type Alerts struct {
	NetworkDrops  int      `toml:"network_drops"` // networkDisconnected in one session within network_window; negative: never
	NetworkWindow Duration `toml:"network_window"`
	LogLag        Duration `toml:"log_lag"` // the relay behind its log this long raises relay_behind; negative: never
	// SessionConnections: a session over this many raises session_crowded;
	// 0: over its cap when nothing removes the excess; negative: never.
	SessionConnections int `toml:"session_connections"`
}

// Rules is the [relay.rules] section: what the relay enforces by itself.
type Rules struct {
	MaxConnections int            `toml:"max_connections"` // per session; 0 = no cap
	SessionCaps    map[string]int `toml:"session_caps"`    // [relay.rules.session_caps]: by session id
	EnforceCap     bool           `toml:"enforce_cap"`
	CapGrace       Duration       `toml:"cap_grace"`
	CapExempt      []string       `toml:"cap_exempt"`
	BanIdentity    []string       `toml:"ban_identity"`
	Mode           string         `toml:"mode"` // "enforce" (default) or "dry-run"
}

// relayRules is the relay's form of the section; errors name the key.
func (r Rules) relayRules() (relay.RulesConfig, error) {
	dry := false
	switch strings.ToLower(strings.TrimSpace(r.Mode)) {
	case "", "enforce":
	case "dry-run":
		dry = true
	default:
		return relay.RulesConfig{}, fmt.Errorf("relay.rules.mode %q: expected \"enforce\" or \"dry-run\"", r.Mode)
	}
	return relay.RulesConfig{MaxConnections: r.MaxConnections, SessionCaps: r.SessionCaps, EnforceCap: r.EnforceCap,
		CapGrace: r.CapGrace.Duration, CapExempt: r.CapExempt, BanIdentity: r.BanIdentity, DryRun: dry}, nil
}

// Environment variables that override the [relay] and [console] keys. A
// group's own signature secret is EnvSignatureSecret + "_" + the group in
// upper case (GAVEL_SIGNATURE_SECRET_ARCHIVE): see SignatureSecretEnv.
const (
	EnvRelaySecret     = "GAVEL_RELAY_SECRET"
	EnvSignatureSecret = "GAVEL_SIGNATURE_SECRET"
	EnvRelayURL        = "GAVEL_RELAY_URL"
	EnvRelayToken      = "GAVEL_RELAY_TOKEN"
)

// DefaultRelay is the [relay] section when the file says nothing: the
// relay's own defaults, and the data directory under stateDir
// ($XDG_STATE_HOME/gavel or ~/.local/state/gavel).
func DefaultRelay(stateDir string) Relay {
	return Relay{Listen: relay.DefaultListen, DataDir: stateDir + "/relay",
		MaxCallbackBytes: relay.DefaultMaxCallbackBytes, ReconcileInterval: Duration{relay.DefaultReconcile},
		ReadTimeout: Duration{relay.DefaultReadTimeout}, MaxConnections: relay.DefaultMaxConnections,
		SignatureMaxAge: Duration{relay.DefaultSignatureMaxAge},
		Rules: Rules{CapGrace: Duration{events.DefaultCapGrace}, CapExempt: events.DefaultCapExempt(),
			BanIdentity: relay.DefaultBanIdentity(), Mode: "enforce"},
		Alerts:               Alerts{NetworkDrops: relay.DefaultNetworkDrops, NetworkWindow: Duration{relay.DefaultNetworkWindow}, LogLag: Duration{relay.DefaultLogLag}},
		ReconcileConcurrency: relay.DefaultReconcileConcurrency, ReconcileRate: relay.DefaultReconcileRate,
		SSH: SSH{MaxSessions: DefaultSSHMaxSessions, IdleTimeout: Duration{DefaultSSHIdleTimeout}}}
}

// ApplyEnv lets GAVEL_* variables override the file's secrets.
func (c *Relay) ApplyEnv(getenv func(string) string) {
	if v := getenv(EnvRelaySecret); v != "" {
		c.Secret = v
	}
	if v := getenv(EnvSignatureSecret); v != "" {
		c.SignatureSecret = v
	}
	// Only the known groups are looked up: the environment cannot be
	// listed through getenv, so a misspelt variable goes unnoticed (a
	// misspelt file key does not: ServerConfig refuses it).
	for _, g := range events.Groups() {
		if v := getenv(SignatureSecretEnv(g)); v != "" {
			if c.SignatureSecrets == nil {
				c.SignatureSecrets = map[string]string{}
			}
			c.SignatureSecrets[string(g)] = v
		}
	}
}

// SignatureSecretEnv is the variable that sets group's own signature
// secret: GAVEL_SIGNATURE_SECRET_ARCHIVE for the archive group.
func SignatureSecretEnv(group events.Group) string {
	return EnvSignatureSecret + "_" + strings.ToUpper(string(group))
}

// ServerConfig is the relay's configuration from the section, with
// secret to sign console tokens (relay.secret itself, or one of the
// caller's own) and the logger. A mistake in it is an
// *exitcode.ConfigError naming the key; the relay checks the other values
// itself when it starts (relay.NewServer).
func (c Relay) ServerConfig(secret []byte, logger *slog.Logger) (relay.Config, error) {
	var perGroup map[events.Group]string
	if len(c.SignatureSecrets) > 0 {
		perGroup = make(map[events.Group]string, len(c.SignatureSecrets))
		for k, v := range c.SignatureSecrets {
			perGroup[events.Group(k)] = v
		}
	}
	if err := relay.CheckSignatureSecrets(perGroup); err != nil {
		return relay.Config{}, &exitcode.ConfigError{Err: fmt.Errorf("config: relay.%w", err)}
	}
	rules, err := c.Rules.relayRules()
	if err != nil {
		return relay.Config{}, &exitcode.ConfigError{Err: fmt.Errorf("config: %w", err)}
	}
	listen := c.Listen
	if listen == "" { // listen = "" in the file means the default
		listen = relay.DefaultListen
	}
	return relay.Config{
		Listen:               listen,
		DataDir:              c.DataDir,
		NatsURL:              c.NatsURL,
		Secret:               secret,
		SignatureSecret:      c.SignatureSecret,
		SignatureSecrets:     perGroup,
		MaxCallbackBytes:     c.MaxCallbackBytes,
		Reconcile:            c.ReconcileInterval.Duration,
		Name:                 c.Name,
		ReadTimeout:          c.ReadTimeout.Duration,
		MaxConnections:       c.MaxConnections,
		SignatureStrict:      c.SignatureStrict,
		ReconcileConcurrency: c.ReconcileConcurrency,
		ReconcileRate:        c.ReconcileRate,
		SignatureMaxAge:      c.SignatureMaxAge.Duration,
		Rules:                rules,
		Alerts: relay.AlertsConfig{NetworkDrops: c.Alerts.NetworkDrops, NetworkWindow: c.Alerts.NetworkWindow.Duration, LogLag: c.Alerts.LogLag.Duration,
			SessionConnections: c.Alerts.SessionConnections},
		Webhooks: webhooks(c.Webhooks),
		Logger:   logger,
	}, nil
}

// TokenSecret is relay.secret as `gavel relay token` signs with it: a
// relay refuses a shorter one, so a token signed with it would be useless.
func (c Relay) TokenSecret() ([]byte, error) {
	if len(c.Secret) < relay.MinSecretBytes {
		return nil, &exitcode.ConfigError{Err: fmt.Errorf("relay.secret (or %s): expected at least %d bytes, got %d", EnvRelaySecret, relay.MinSecretBytes, len(c.Secret))}
	}
	return []byte(c.Secret), nil
}

func webhooks(ws []Webhook) []relay.WebhookConfig {
	var out []relay.WebhookConfig
	for _, w := range ws {
		out = append(out, relay.WebhookConfig{URL: w.URL, Secret: w.Secret, Format: w.Format, RetryMin: w.RetryMin.Duration, Events: w.Events})
	}
	return out
}
