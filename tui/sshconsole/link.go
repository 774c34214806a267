package sshconsole

import (
	"context"
	"errors"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
)

// connector attaches consoles to hub in-process as claims: the relay
// client resumes through it exactly as through a WebSocket (a console
// that fell behind is closed 4000 and attaches again with since).
func connector(hub *relay.Hub, claims relay.Claims) func(ctx context.Context, cfg relayclient.Config) (relayclient.Link, error) {
	return func(ctx context.Context, cfg relayclient.Config) (relayclient.Link, error) {
		hasSince := cfg.Since > 0 || cfg.Epoch != "" || cfg.Resume
		lc, err := hub.AttachLocal(ctx, claims, cfg.Since, hasSince, cfg.Epoch)
		if err != nil {
			return nil, err
		}
		return &localLink{lc: lc}, nil
	}
}

// localLink is a relay.LocalConsole as the relay client's Link.
type localLink struct{ lc *relay.LocalConsole }

func (l *localLink) Hello() events.Hello { return l.lc.Hello() }

func (l *localLink) Next() (relayclient.Frame, error) {
	f, err := l.lc.Next(context.Background())
	var ce *relay.LocalCloseError
	switch {
	case errors.As(err, &ce):
		return relayclient.Frame{}, relayclient.NewCloseError(ce.Code, ce.Reason)
	case err != nil:
		return relayclient.Frame{}, err
	}
	// A live record comes parsed by the hub, shared by every console of
	// this process: no console decodes it again.
	switch p := f.Parsed; {
	case p != nil && p.Event != nil:
		return relayclient.Frame{Type: events.FrameEvent, Raw: f.Data, Event: p.Event, Decoded: p.Decoded}, nil
	case p != nil && p.Audit != nil:
		return relayclient.Frame{Type: events.FrameAudit, Raw: f.Data, Audit: p.Audit}, nil
	}
	return relayclient.ParseFrame(f.Data)
}

func (l *localLink) Send(cmd events.Command) error { return l.lc.Send(cmd) }

func (l *localLink) Close() error { return l.lc.Close() }
