package relaycmd

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok"
)

// embeddedTokenName is who the audit trail names for the in-process console.
const embeddedTokenName = "local"

// Embedded is the relay `gavel` runs in-process when no relay is
// configured: the design's single-moderator default. The console connects
// to it over a loopback WebSocket, as it would to a remote one.
type Embedded struct {
	StreamURL   string // ws://…/v1/stream, for the console
	CallbackURL string // http://…/v1/callbacks/session, to register with Vonage
	Token       string // a console token for StreamURL
	WatchOnly   bool   // no Video API client: it watches but cannot act

	relay *relay.Running
}

// StartEmbedded starts a relay (relay.Start) on rc.Listen with rc's data
// directory: listen first, so a taken address fails before the log is
// opened. client may be nil (watch only). Stop ends it and waits.
func StartEmbedded(ctx context.Context, rc config.Relay, client *opentok.Client) (*Embedded, error) {
	secret := []byte(rc.Secret)
	if len(secret) == 0 {
		// No relay.secret: the only console is this process's own, so a
		// random secret for this process alone is enough. It is never
		// written down; no token outlives the process.
		secret = make([]byte, relay.MinSecretBytes)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("embedded relay: secret: %w", err)
		}
	}
	cfg, err := rc.ServerConfig(secret, nil)
	if err != nil {
		return nil, err
	}
	// The token lasts as long as a console plausibly stays open; the
	// secret dies with the process anyway.
	token, err := relay.IssueToken(secret, embeddedTokenName, events.RoleAdmin, 30*24*time.Hour, time.Now())
	if err != nil {
		return nil, fmt.Errorf("embedded relay: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("embedded relay: %s is already in use (is `gavel relay` or another gavel running?): set relay.listen or pass --listen to use another address, or connect to that relay with --relay and --token", cfg.Listen)
		}
		return nil, listenError("embedded relay", cfg.Listen, err)
	}
	dial, callbackHost := hostsOf(ln.Addr().(*net.TCPAddr))
	r, err := relay.Start(ctx, ln, cfg, client)
	if err != nil {
		return nil, fmt.Errorf("embedded relay: %w", err)
	}
	return &Embedded{
		StreamURL:   "ws://" + dial + events.StreamPath,
		CallbackURL: "http://" + callbackHost + "/v1/callbacks/session",
		Token:       token,
		WatchOnly:   client == nil,
		relay:       r,
	}, nil
}

// Stop ends the relay (consoles are told to resume, the state is
// snapshotted, the log closed) and waits for it.
func (e *Embedded) Stop() error { return e.relay.Stop() }
