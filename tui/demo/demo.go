// Package demo runs, in-process, everything `gavel demo` shows: a Video API
// emulator full of simulated sessions, a relay that receives the emulator's
// callbacks, and a console token for it. The console then connects to the
// relay exactly as it connects to a real one, so the demo exercises the same
// paths as production: REST, callbacks, the event log, the WebSocket stream.
//
// Nothing leaves the machine: both servers listen on loopback ports chosen
// by the kernel, and the relay's log lives in a temporary directory that
// Close removes.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// Defaults of Options.
const (
	DefaultSeed    = 1
	DefaultSpeed   = 5    // scenario time runs 5× faster than real time
	DefaultViewers = 2000 // town hall audience
	// TokenName is the console token's name, which the audit trail shows.
	TokenName = "demo"
	// NetworkDrops is the demo relay's [relay.alerts] network_drops.
	NetworkDrops = 3
	tokenTTL     = 24 * time.Hour
)

// Options tunes the simulation; the zero value is the demo `gavel demo` runs.
type Options struct {
	// Seed makes the sessions, names and actions repeatable (default 1).
	Seed uint64
	// Speed is how much faster than real time the scenarios run (default 5:
	// the town hall fills in about half a minute, calls come and go).
	Speed float64
	// Viewers is the town hall's audience (default 2000).
	Viewers int
	// NoScenarios starts the emulator and relay empty (for tests).
	NoScenarios bool
}

func (o Options) withDefaults() Options {
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	if o.Speed == 0 {
		o.Speed = DefaultSpeed
	}
	if o.Viewers == 0 {
		o.Viewers = DefaultViewers
	}
	return o
}

// Demo is a running emulator + relay pair with scenarios playing on it.
type Demo struct {
	emu     *opentoktest.Server
	addr    string
	token   string
	dataDir string

	cancelScenarios context.CancelFunc
	scenarios       sync.WaitGroup
	relay           *relay.Running

	mu   sync.Mutex
	errs []error // scenarios that failed unexpectedly

	closeOnce sync.Once
	closeErr  error
}

// Start starts the emulator, the relay and the scenarios. It returns as
// soon as the relay is listening: the scenarios fill the emulator in the
// background, so a console connecting at once sees sessions appear. The
// demo runs until Close (or until ctx ends; call Close anyway to wait for
// it and remove the temporary directory).
func Start(ctx context.Context, opts Options) (d *Demo, err error) {
	opts = opts.withDefaults()
	if opts.Speed < 0 || opts.Viewers < 0 {
		return nil, fmt.Errorf("demo: speed and viewers must be positive (got %v, %d)", opts.Speed, opts.Viewers)
	}
	secret := make([]byte, relay.MinSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("demo: relay secret: %w", err)
	}
	token, err := relay.IssueToken(secret, TokenName, events.RoleModerator, tokenTTL, time.Now())
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	dataDir, err := os.MkdirTemp("", "gavel-demo-*")
	if err != nil {
		return nil, fmt.Errorf("demo: data dir: %w", err)
	}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
			_ = os.RemoveAll(dataDir)
		}
	}()

	// The relay's address comes first: the emulator needs it for its
	// callback URLs, and the relay needs the emulator as its Video API.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: relay listen: %w", err)
	}
	cleanup = append(cleanup, func() { _ = ln.Close() })
	addr := ln.Addr().String()
	callbacks := "http://" + addr + "/v1/callbacks/"
	emu, err := opentoktest.NewServer(
		opentoktest.WithSeed(opts.Seed),
		opentoktest.WithCallbackURL(opentoktest.GroupSession, callbacks+string(events.GroupSession)),
		opentoktest.WithCallbackURL(opentoktest.GroupArchive, callbacks+string(events.GroupArchive)),
		opentoktest.WithCallbackURL(opentoktest.GroupBroadcast, callbacks+string(events.GroupBroadcast)),
		opentoktest.WithTimeScale(opts.Speed),
	)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cleanup = append(cleanup, func() { _ = emu.Close() })
	client, err := emu.Client(false)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	// ctx ending stops the relay, as Close does (Close also waits for it).
	r, err := relay.Start(ctx, ln, relay.Config{
		Listen:  addr,
		DataDir: dataDir,
		Secret:  secret,
		Name:    "demo",
		// The flaky session loses about 15 connections a minute at the
		// default speed; three in a minute make an incident, so the
		// demo shows an alert within seconds rather than a minute.
		Alerts: relay.AlertsConfig{NetworkDrops: NetworkDrops},
	}, client)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d = &Demo{
		emu:     emu,
		addr:    addr,
		token:   token,
		dataDir: dataDir,
		relay:   r,
	}

	scenCtx, cancelScenarios := context.WithCancel(ctx)
	d.cancelScenarios = cancelScenarios
	if !opts.NoScenarios {
		for _, sc := range scenarios(opts) {
			d.scenarios.Add(1)
			go func() {
				defer d.scenarios.Done()
				if err := sc.Run(scenCtx, emu); err != nil && !errors.Is(err, context.Canceled) && scenCtx.Err() == nil {
					d.mu.Lock()
					d.errs = append(d.errs, err)
					d.mu.Unlock()
				}
			}()
		}
	}
	return d, nil
}

// scenarios is the demo's mix: a large town hall, a classroom, calls coming
// and going and a session on a bad network, each on its own script so the
// town hall's crowd does not hold the others up.
func scenarios(o Options) []opentoktest.Scenario {
	seed := func(i uint64) uint64 { return o.Seed*0x9e3779b97f4a7c15 + i }
	return []opentoktest.Scenario{
		opentoktest.TownHall{Seed: seed(1), Viewers: o.Viewers, Speed: o.Speed},
		opentoktest.Classroom{Seed: seed(2), Speed: o.Speed},
		opentoktest.OneToOne{Seed: seed(3), Calls: 8, Speed: o.Speed},
		opentoktest.FlakyNetwork{Seed: seed(4), Speed: o.Speed},
	}
}

// RelayURL is the relay's console stream, ws://127.0.0.1:PORT/v1/stream.
func (d *Demo) RelayURL() string { return "ws://" + d.addr + "/v1/stream" }

// Token is a moderator console token for the relay, named "demo".
func (d *Demo) Token() string { return d.token }

// Relay is the demo's relay, for what serves beside it (the SSH console).
func (d *Demo) Relay() *relay.Server { return d.relay.Server() }

// Emulator is the Video API emulator the scenarios play on.
func (d *Demo) Emulator() *opentoktest.Server { return d.emu }

// DataDir is the relay's temporary data directory, removed by Close.
func (d *Demo) DataDir() string { return d.dataDir }

// Err reports the scenarios that stopped with an unexpected error, if any.
func (d *Demo) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return errors.Join(d.errs...)
}

// Close stops the scenarios, the emulator and the relay, waits for them,
// and removes the relay's data directory. It is safe to call twice.
func (d *Demo) Close() error {
	d.closeOnce.Do(func() {
		d.cancelScenarios()
		d.scenarios.Wait()
		relayErr := d.relay.Stop()
		// The scenarios' and the relay's REST clients use the default
		// transport: drop their idle keep-alive connections, which the
		// emulator's graceful shutdown would otherwise wait for.
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
		emuErr := d.emu.Close()
		d.closeErr = errors.Join(emuErr, relayErr, os.RemoveAll(d.dataDir))
	})
	return d.closeErr
}
