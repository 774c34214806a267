package relay

import (
	"context"
	"errors"
	"net"

	"github.com/gavelhq/gavel/opentok"
)

// Running is a relay serving in the background, as Start leaves it.
type Running struct {
	srv    *Server
	cancel context.CancelFunc
	done   chan error
}

// Server is the relay that is running, for what serves next to it (the
// SSH console).
func (r *Running) Server() *Server { return r.srv }

// Start builds the relay (NewServer) and serves it on ln in the
// background until ctx ends or Stop is called. Every relay gavel runs
// starts here: `gavel relay`, the one plain `gavel` runs in-process and
// the demo's. The caller listens first, so a taken address fails before
// the log is opened, and says how a failed listen reads in its own words.
// On error ln is closed; a mistake in cfg is an *exitcode.ConfigError, as
// NewServer says.
func Start(ctx context.Context, ln net.Listener, cfg Config, client *opentok.Client) (*Running, error) {
	ctx, cancel := context.WithCancel(ctx)
	srv, err := NewServer(ctx, cfg, client)
	if err != nil {
		cancel()
		_ = ln.Close()
		return nil, err
	}
	r := &Running{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- srv.Serve(ctx, ln) }()
	return r, nil
}

// Wait returns once the relay has stopped (its context ended, or serving
// failed) with Serve's error; a cancelled context is a clean stop, nil.
func (r *Running) Wait() error {
	err := <-r.done
	r.done <- err // a second Wait or Stop returns the same
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Stop ends the relay (consoles are told to resume, the state is
// snapshotted, the log closed) and waits for it.
func (r *Running) Stop() error {
	r.cancel()
	return r.Wait()
}
