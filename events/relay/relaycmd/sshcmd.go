package relaycmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/tui"
	"github.com/gavelhq/gavel/tui/sshconsole"
)

// sshPlan is [relay.ssh] checked and listening, before the relay starts:
// a mistake in it stops `gavel relay` before the log is opened.
type sshPlan struct {
	cfg     sshconsole.Config
	console tui.Options
	ln      net.Listener // nil: no SSH
}

// sshOf checks [relay.ssh] and listens on its address, if it has one.
func sshOf(env Env, cfg config.Config, dataDir string) (*sshPlan, error) {
	sc, err := sshconsole.FromConfig(cfg.Relay.SSH, dataDir)
	if err != nil || sc.Listen == "" {
		return &sshPlan{}, err
	}
	p := &sshPlan{cfg: sc}
	if env.Console != nil {
		if p.console, err = env.Console(cfg.Console); err != nil {
			return nil, err
		}
	}
	if p.ln, err = net.Listen("tcp", sc.Listen); err != nil {
		return nil, listenError("ssh", sc.Listen, err)
	}
	return p, nil
}

func (p *sshPlan) close() {
	if p.ln != nil {
		_ = p.ln.Close()
	}
}

// start serves the SSH console of r until ctx ends, and prints how to
// reach it: the ssh line and the host key's fingerprint, which a user
// compares with what ssh shows the first time. The channel has Serve's
// error once it has returned (nil at once when there is no SSH).
func (p *sshPlan) start(ctx context.Context, r *relay.Server, out io.Writer, logger *slog.Logger) (<-chan error, error) {
	done := make(chan error, 1)
	if p.ln == nil {
		done <- nil
		return done, nil
	}
	srv, err := sshconsole.New(p.cfg, r, p.console, logger)
	if err != nil {
		p.close()
		return nil, err
	}
	a := p.ln.Addr().(*net.TCPAddr)
	host, _ := advertisedHost(a)
	h, _, _ := net.SplitHostPort(host)
	fmt.Fprintf(out, "  ssh:       ssh -p %s %s   (host key %s; users in [[relay.ssh.users]])\n", strconv.Itoa(a.Port), h, srv.Fingerprint())
	go func() { done <- srv.Serve(ctx, p.ln) }()
	return done, nil
}
